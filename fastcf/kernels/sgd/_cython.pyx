"""Cython twin of the biased-MF SGD epoch; ``reference.py`` is the specification.

Sub-epochs run in the schedule's order; inside one, the B blocks (a, (a + s) mod B) share no
user and no item and run in parallel. sgd_epoch syncs point to point (GCC or Clang with OpenMP):
thread t owns user ranges a ≡ t (mod T), and block (a, s) waits only for block (a + 1, s − 1),
the last to touch its item range, so there is no barrier between sub-epochs and a thread runs
ahead of a slow or descheduled one (on a loaded 2-core machine, barriers made 2 threads 3x
slower than 1). Every user and item range still sees its blocks in the schedule's order, so the
bits are those of one barrier per sub-epoch (``_use_wavefront(False)``, the SVD++ epoch and
other compilers). A block runs the same code whichever thread takes it, so results do not
depend on the thread count.

float32 on x86-64 CPUs with AVX2 and FMA (built by GCC or Clang): each rating's dot product
and factor step run in a small C kernel compiled for AVX2+FMA on its own and chosen at run
time (the module still runs on any x86-64 CPU), as p ← (1 − lr·reg) p + (lr·e) y with fused
multiply-adds, 16, 8 and 4 columns at a time; the reference's rounding differs by a few ulps
per step. Elsewhere (float64,
other CPUs or compilers, ``FASTCF_NO_SIMD``) the plain loops of ``_sgd_simd.h`` run. Either way every block
takes the same path, whichever thread runs it.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels.sgd.reference import n_blocks_of

__all__ = ["sgd_epoch", "svdpp_epoch"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef extern from "_sgd_simd.h" nogil:
    const int FCF_SGD_WAVEFRONT
    int fcf_sgd_team_size()
    void fcf_sgd_publish(long* done, long value)
    void fcf_sgd_wait(const long* done, long value)
    int fcf_sgd_simd_available()
    float fcf_sgd_rating_f32(int f, float* p, float* y, float base, float lr, float reg)
    void fcf_sgd_prefetch(const void* row, int bytes)


SIMD_AVAILABLE = bool(fcf_sgd_simd_available())
cdef bint _simd = SIMD_AVAILABLE


def _use_simd(enabled=None):
    """Whether float32 epochs take the AVX2+FMA path; ``enabled`` switches it (for tests)."""
    global _simd
    if enabled is not None:
        _simd = bool(enabled) and SIMD_AVAILABLE
    return _simd


cdef bint _wavefront = True


def _use_wavefront(enabled=None):
    """Whether sgd_epoch syncs point to point (True) or with a barrier per sub-epoch (tests, benchmarks)."""
    global _wavefront
    if enabled is not None:
        _wavefront = bool(enabled)
    return _wavefront


#: The build has the point-to-point waits (GCC or Clang with OpenMP).
WAVEFRONT_AVAILABLE = bool(FCF_SGD_WAVEFRONT)

cdef Py_ssize_t PREFETCH_AHEAD = 4


cdef inline floating _dot(int f, const floating* a, const floating* b) noexcept nogil:
    """a . b with eight partial sums (a fixed order), which the compiler keeps in vectors."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s
    cdef int j, end = f - f % 8
    for j in range(0, end, 8):
        s0 = s0 + a[j] * b[j]
        s1 = s1 + a[j + 1] * b[j + 1]
        s2 = s2 + a[j + 2] * b[j + 2]
        s3 = s3 + a[j + 3] * b[j + 3]
        s4 = s4 + a[j + 4] * b[j + 4]
        s5 = s5 + a[j + 5] * b[j + 5]
        s6 = s6 + a[j + 6] * b[j + 6]
        s7 = s7 + a[j + 7] * b[j + 7]
    s = ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
    for j in range(end, f):
        s = s + a[j] * b[j]
    return s


cdef inline void _update(int f, floating* p, floating* y, floating error, floating lr, floating reg) noexcept nogil:
    """p += lr (e y - reg p) and y += lr (e p - reg y), both from the old values."""
    cdef int j
    cdef floating pj, yj
    for j in range(f):
        pj = p[j]
        yj = y[j]
        p[j] = pj + lr * (error * yj - reg * pj)
        y[j] = yj + lr * (error * pj - reg * yj)


cdef double _block(
    int64_t start, int64_t end,
    const index_t* users, const index_t* items, const floating* ratings,   # IN
    floating* user_factors, floating* item_factors,                         # IN/OUT
    floating* user_bias, floating* item_bias,                               # IN/OUT
    int f, floating mu, floating lr, floating reg_f, floating reg_b, bint simd,
) noexcept nogil:
    cdef int64_t q, ahead
    cdef index_t u, i
    cdef floating* p
    cdef floating* y
    cdef floating error
    cdef double total = 0
    if floating is float:
        if simd:
            for q in range(start, end):
                ahead = q + PREFETCH_AHEAD
                if ahead < end:
                    # Rows are scattered in memory: fetch a later rating's rows while this one runs.
                    fcf_sgd_prefetch(user_factors + <int64_t>users[ahead] * f, f * sizeof(float))
                    fcf_sgd_prefetch(item_factors + <int64_t>items[ahead] * f, f * sizeof(float))
                u = users[q]
                i = items[q]
                error = fcf_sgd_rating_f32(
                    f, user_factors + <int64_t>u * f, item_factors + <int64_t>i * f,
                    ratings[q] - (mu + user_bias[u] + item_bias[i]), lr, reg_f,
                )
                total += <double>error * <double>error
                user_bias[u] += lr * (error - reg_b * user_bias[u])
                item_bias[i] += lr * (error - reg_b * item_bias[i])
            return total
    for q in range(start, end):
        u = users[q]
        i = items[q]
        p = user_factors + <int64_t>u * f
        y = item_factors + <int64_t>i * f
        error = ratings[q] - (mu + user_bias[u] + item_bias[i] + _dot(f, p, y))
        total += <double>error * <double>error
        user_bias[u] += lr * (error - reg_b * user_bias[u])
        item_bias[i] += lr * (error - reg_b * item_bias[i])
        _update(f, p, y, error, lr, reg_f)
    return total


def sgd_epoch(
    const int64_t[::1] block_ptr,         # IN  (B * B + 1,)
    const index_t[::1] users,             # IN  (nnz,)
    const index_t[::1] items,             # IN  (nnz,)
    const floating[::1] ratings,          # IN  (nnz,)
    floating[:, ::1] user_factors,        # IN/OUT (n_users, f)
    floating[:, ::1] item_factors,        # IN/OUT (n_items, f)
    floating[::1] user_bias,              # IN/OUT (n_users,)
    floating[::1] item_bias,              # IN/OUT (n_items,)
    double global_mean,
    double learning_rate,
    double reg_factors,
    double reg_bias,
    int n_threads,
):
    """One SGD epoch in place; see ``reference.sgd_epoch``."""
    cdef int n = n_blocks_of(np.asarray(block_ptr))
    cdef int f = user_factors.shape[1]
    cdef int s, a, block
    cdef floating mu = <floating>global_mean, lr = <floating>learning_rate
    cdef floating reg_f = <floating>reg_factors, reg_b = <floating>reg_bias
    cdef bint simd = _simd, wavefront = _wavefront
    sse_array = np.zeros(n * n, dtype=np.float64)
    cdef double[::1] sse = sse_array
    # Empty arrays have no element to take the address of: nothing to do.
    if users.shape[0] == 0:
        return 0.0
    done_array = np.zeros(n, dtype=np.int_)  # C long: sub-epochs finished by each user range
    cdef long[::1] done = done_array
    cdef int t = 0, team = 1
    if wavefront and FCF_SGD_WAVEFRONT and n_threads > 1:
        # Block (a, (a + s) mod B) of sub-epoch s follows, on its user range, block (a, s − 1)
        # (the same thread: user range a is always thread a mod T's) and, on its item range,
        # block (a + 1, s − 1) of user range a + 1. Waiting for exactly those two, instead of for
        # every block at a barrier, keeps each range's order of blocks, hence the same bits,
        # while a thread runs ahead of a neighbour that is slow or descheduled.
        with nogil, parallel(num_threads=n_threads):
            t = threadid()
            team = fcf_sgd_team_size()
            for s in range(n):
                a = t
                while a < n:
                    if s > 0:
                        fcf_sgd_wait(&done[(a + 1) % n], s)
                    block = a * n + (a + s) % n
                    sse[block] = _block(
                        block_ptr[block], block_ptr[block + 1], &users[0], &items[0], &ratings[0],
                        &user_factors[0, 0], &item_factors[0, 0], &user_bias[0], &item_bias[0],
                        f, mu, lr, reg_f, reg_b, simd,
                    )
                    fcf_sgd_publish(&done[a], s + 1)
                    a = a + team
    else:
        with nogil:
            for s in range(n):
                for a in prange(n, num_threads=n_threads, schedule="dynamic", chunksize=1):
                    block = a * n + (a + s) % n
                    sse[block] = _block(
                        block_ptr[block], block_ptr[block + 1], &users[0], &items[0], &ratings[0],
                        &user_factors[0, 0], &item_factors[0, 0], &user_bias[0], &item_bias[0],
                        f, mu, lr, reg_f, reg_b, simd,
                    )
    # Per-block sums added in a fixed order: the same total at every thread count.
    return float(sse_array.sum())


cdef double _svdpp_block(
    int64_t start, int64_t end,
    const index_t* users, const index_t* items, const floating* ratings,   # IN
    floating* user_factors, const floating* implicit_sums,                  # IN/OUT, IN
    floating* item_factors, floating* user_bias, floating* item_bias,      # IN/OUT
    floating* gradient_sums,                                                # IN/OUT
    int f, floating mu, floating lr, floating reg_f, floating reg_b,
) noexcept nogil:
    cdef int64_t q
    cdef index_t u, i
    cdef floating* p
    cdef const floating* z
    cdef floating* g
    cdef floating* y
    cdef floating error, dot, pj, yj
    cdef double total = 0
    cdef int j
    for q in range(start, end):
        u = users[q]
        i = items[q]
        p = user_factors + <int64_t>u * f
        z = implicit_sums + <int64_t>u * f
        g = gradient_sums + <int64_t>u * f
        y = item_factors + <int64_t>i * f
        dot = 0
        for j in range(f):
            dot = dot + (p[j] + z[j]) * y[j]
        error = ratings[q] - (mu + user_bias[u] + item_bias[i] + dot)
        total += <double>error * <double>error
        user_bias[u] += lr * (error - reg_b * user_bias[u])
        item_bias[i] += lr * (error - reg_b * item_bias[i])
        for j in range(f):
            pj = p[j]
            yj = y[j]
            g[j] = g[j] + error * yj
            p[j] = pj + lr * (error * yj - reg_f * pj)
            y[j] = yj + lr * (error * (pj + z[j]) - reg_f * yj)
    return total


def svdpp_epoch(
    const int64_t[::1] block_ptr,         # IN  (B * B + 1,)
    const index_t[::1] users,             # IN  (nnz,)
    const index_t[::1] items,             # IN  (nnz,)
    const floating[::1] ratings,          # IN  (nnz,)
    floating[:, ::1] user_factors,        # IN/OUT (n_users, f)
    const floating[:, ::1] implicit_sums, # IN  (n_users, f)
    floating[:, ::1] item_factors,        # IN/OUT (n_items, f)
    floating[::1] user_bias,              # IN/OUT (n_users,)
    floating[::1] item_bias,              # IN/OUT (n_items,)
    floating[:, ::1] gradient_sums,       # IN/OUT (n_users, f)
    double global_mean,
    double learning_rate,
    double reg_factors,
    double reg_bias,
    int n_threads,
):
    """One SVD++ epoch in place; see ``reference.svdpp_epoch``."""
    cdef int n = n_blocks_of(np.asarray(block_ptr))
    cdef int f = user_factors.shape[1]
    cdef int s, a, block
    cdef floating mu = <floating>global_mean, lr = <floating>learning_rate
    cdef floating reg_f = <floating>reg_factors, reg_b = <floating>reg_bias
    sse_array = np.zeros(n * n, dtype=np.float64)
    cdef double[::1] sse = sse_array
    if users.shape[0] == 0:
        return 0.0
    with nogil:
        for s in range(n):
            for a in prange(n, num_threads=n_threads, schedule="dynamic", chunksize=1):
                block = a * n + (a + s) % n
                sse[block] = _svdpp_block(
                    block_ptr[block], block_ptr[block + 1], &users[0], &items[0], &ratings[0],
                    &user_factors[0, 0], &implicit_sums[0, 0], &item_factors[0, 0], &user_bias[0], &item_bias[0],
                    &gradient_sums[0, 0], f, mu, lr, reg_f, reg_b,
                )
    return float(sse_array.sum())
