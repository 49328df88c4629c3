"""Reference twin of the biased-MF SGD epoch: the specification, serial, plain NumPy.

The schedule (DSGD, Gemulla et al. 2011; FPSGD, Zhuang et al. 2013): users are split into B
contiguous blocks and items into B contiguous blocks, giving B x B blocks of ratings, stored
one after the other (block (a, b) is number a * B + b and holds
``block_ptr[a * B + b]:block_ptr[a * B + b + 1]`` of the rating arrays). An epoch runs B
sub-epochs; sub-epoch s visits the B blocks (a, (a + s) mod B) for a = 0..B-1. Those blocks
share no user and no item, so the fast twins run them on different threads at once and the
result is the same as this serial loop, bit for bit, for any thread count. Within a block the
ratings are visited in their stored order (which the caller shuffles once with its seed).

Per rating (Funk 2006; Koren, Bell & Volinsky 2009), with e = r - (mu + b_u + b_i + p_u . q_i):

    b_u += lr (e - reg_bias b_u)
    b_i += lr (e - reg_bias b_i)
    p_u += lr (e q_i - reg_factors p_u)      (both factor updates use the old p_u and q_i)
    q_i += lr (e p_u - reg_factors q_i)

SVD++ (Koren 2008) uses the same schedule with the user vector x_u = p_u + z_u, where z_u =
|N(u)|^-1/2 Σ_{j ∈ N(u)} y_j is computed by the caller before the epoch and held fixed during
it; e = r - (mu + b_u + b_i + q_i . x_u), the bias and p_u steps as above,
q_i += lr (e x_u - reg_factors q_i), and g_u += e q_i accumulates, per user, the gradient the
caller then applies to the y_j (so no y_j is written inside the parallel loop).
"""

import numpy as np

__all__ = ["sgd_epoch", "svdpp_epoch"]


def n_blocks_of(block_ptr) -> int:
    """B, from a block_ptr of B * B + 1 entries."""
    n = int(round((block_ptr.shape[0] - 1) ** 0.5))
    return n


def sgd_epoch(block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias,
              global_mean, learning_rate, reg_factors, reg_bias, n_threads):
    """One SGD epoch over the block schedule, in place; returns the sum of squared errors.

    Each error is taken before its rating's update, in float64; the per-block sums are added
    in block order, so the total does not depend on the thread count either.
    """
    dtype = user_factors.dtype.type
    mu, lr, reg_f, reg_b = dtype(global_mean), dtype(learning_rate), dtype(reg_factors), dtype(reg_bias)
    n = n_blocks_of(block_ptr)
    sse = np.zeros(n * n, dtype=np.float64)
    for s in range(n):
        for a in range(n):
            block = a * n + (a + s) % n
            for q in range(block_ptr[block], block_ptr[block + 1]):
                u, i = users[q], items[q]
                p, y = user_factors[u], item_factors[i]
                error = ratings[q] - (mu + user_bias[u] + item_bias[i] + np.dot(p, y))
                sse[block] += float(error) * float(error)
                user_bias[u] += lr * (error - reg_b * user_bias[u])
                item_bias[i] += lr * (error - reg_b * item_bias[i])
                p_old = p.copy()
                p += lr * (error * y - reg_f * p)
                y += lr * (error * p_old - reg_f * y)
    return float(sse.sum())


def svdpp_epoch(block_ptr, users, items, ratings, user_factors, implicit_sums, item_factors, user_bias,
                item_bias, gradient_sums, global_mean, learning_rate, reg_factors, reg_bias, n_threads):
    """One SGD epoch of SVD++ with z_u (``implicit_sums``) fixed; adds e q_i into ``gradient_sums``.

    Returns the sum of squared errors, as ``sgd_epoch``.
    """
    dtype = user_factors.dtype.type
    mu, lr, reg_f, reg_b = dtype(global_mean), dtype(learning_rate), dtype(reg_factors), dtype(reg_bias)
    n = n_blocks_of(block_ptr)
    sse = np.zeros(n * n, dtype=np.float64)
    for s in range(n):
        for a in range(n):
            block = a * n + (a + s) % n
            for q in range(block_ptr[block], block_ptr[block + 1]):
                u, i = users[q], items[q]
                p, y = user_factors[u], item_factors[i]
                x = p + implicit_sums[u]
                error = ratings[q] - (mu + user_bias[u] + item_bias[i] + np.dot(x, y))
                sse[block] += float(error) * float(error)
                user_bias[u] += lr * (error - reg_b * user_bias[u])
                item_bias[i] += lr * (error - reg_b * item_bias[i])
                gradient_sums[u] += error * y
                p += lr * (error * y - reg_f * p)
                y += lr * (error * x - reg_f * y)
    return float(sse.sum())
