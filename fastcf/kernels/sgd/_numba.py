"""Numba twin of the biased-MF SGD epoch; ``reference.py`` is the specification.

Sub-epochs run one after the other; inside one, the B blocks (a, (a + s) mod B) share no user
and no item and run in parallel (``prange`` over a). A block runs the same code whichever
thread takes it, so results do not depend on the thread count.
"""

import numba
import numpy as np

from fastcf.kernels._numba_helpers import dot8 as _dot
from fastcf.kernels._threads import numba_threads
from fastcf.kernels.sgd.reference import n_blocks_of

__all__ = ["sgd_epoch", "svdpp_epoch"]


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
