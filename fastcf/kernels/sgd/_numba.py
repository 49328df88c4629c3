"""Numba twin of the biased-MF SGD epoch; ``reference.py`` is the specification.

Sub-epochs run one after the other; inside one, the B blocks (a, (a + s) mod B) share no user
and no item and run in parallel (``prange`` over a). A block runs the same code whichever
thread takes it, so results do not depend on the thread count.
"""

import numba
import numpy as np

from fastcf.kernels._threads import numba_threads
from fastcf.kernels.sgd.reference import n_blocks_of

__all__ = ["sgd_epoch", "svdpp_epoch"]


@numba.njit(inline="always")
def _dot(a, b, zero):
    """a . b with eight partial sums, so that LLVM can pack them into one vector."""
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


@numba.njit(parallel=True, nogil=True, cache=True)
def _epoch(block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
           mu, lr, reg_f, reg_b, n, sse):
    zero = mu - mu
    for s in range(n):
        for a in numba.prange(n):
            block = a * n + (a + s) % n
            total = 0.0
            for q in range(block_ptr[block], block_ptr[block + 1]):
                u = users[q]
                i = items[q]
                p = user_factors[u]
                y = item_factors[i]
                error = ratings[q] - (mu + user_bias[u] + item_bias[i] + _dot(p, y, zero))
                total += np.float64(error) * np.float64(error)
                user_bias[u] += lr * (error - reg_b * user_bias[u])
                item_bias[i] += lr * (error - reg_b * item_bias[i])
                for j in range(p.shape[0]):
                    pj = p[j]
                    yj = y[j]
                    p[j] = pj + lr * (error * yj - reg_f * pj)
                    y[j] = yj + lr * (error * pj - reg_f * yj)
            sse[block] = total


def sgd_epoch(block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
              global_mean, learning_rate, reg_factors, reg_bias, n_threads):
    """One SGD epoch in place; see ``reference.sgd_epoch``."""
    t = user_factors.dtype.type
    n = n_blocks_of(block_ptr)
    sse = np.zeros(n * n, dtype=np.float64)
    with numba_threads(n_threads):
        _epoch(block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
               t(global_mean), t(learning_rate), t(reg_factors), t(reg_bias), n, sse)
    # Per-block sums added in a fixed order: the same total at every thread count.
    return float(sse.sum())


@numba.njit(parallel=True, nogil=True, cache=True)
def _svdpp_epoch(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors, user_bias, item_bias,
                 gradient_sums, mu, lr, reg_f, reg_b, n, sse):
    zero = mu - mu
    f = user_factors.shape[1]
    for s in range(n):
        for a in numba.prange(n):
            block = a * n + (a + s) % n
            total = 0.0
            for q in range(block_ptr[block], block_ptr[block + 1]):
                u = users[q]
                i = items[q]
                p = user_factors[u]
                z = implicit_sums[u]
                g = gradient_sums[u]
                y = item_factors[i]
                dot = zero
                for j in range(f):
                    dot += (p[j] + z[j]) * y[j]
                error = ratings[q] - (mu + user_bias[u] + item_bias[i] + dot)
                total += np.float64(error) * np.float64(error)
                user_bias[u] += lr * (error - reg_b * user_bias[u])
                item_bias[i] += lr * (error - reg_b * item_bias[i])
                for j in range(f):
                    pj = p[j]
                    yj = y[j]
                    g[j] += error * yj
                    p[j] = pj + lr * (error * yj - reg_f * pj)
                    y[j] = yj + lr * (error * (pj + z[j]) - reg_f * yj)
            sse[block] = total


def svdpp_epoch(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors, user_bias,
                item_bias, gradient_sums, global_mean, learning_rate, reg_factors, reg_bias, n_threads):
    """One SVD++ epoch in place; see ``reference.svdpp_epoch``."""
    t = user_factors.dtype.type
    n = n_blocks_of(block_ptr)
    sse = np.zeros(n * n, dtype=np.float64)
    with numba_threads(n_threads):
        _svdpp_epoch(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors, user_bias,
                     item_bias, gradient_sums, t(global_mean), t(learning_rate), t(reg_factors), t(reg_bias), n, sse)
    return float(sse.sum())
