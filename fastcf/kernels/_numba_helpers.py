"""Small jitted helpers shared by several Numba twins."""

import numba


@numba.njit(inline="always")
def dot8(a, b, zero):
    """a . b with eight partial sums in a fixed order (whatever the alignment), so that LLVM can
    pack them into one vector and the result does not depend on where the row starts."""
    n = a.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    for j in range(0, n - n % 8, 8):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
    s = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
    for j in range(n - n % 8, n):
        s += a[j] * b[j]
    return s
