"""Numba twin of the ranking-loss SGD epoch; ``reference.py`` is the specification.

Blocks run in parallel (``prange``), each on its own random stream; at one thread they run
in order 0..B-1 and give the reference's samples, one for one. With more threads, blocks
update shared rows at the same time without locks (Hogwild), so results vary from run to run.
"""

import numba
import numpy as np

from fastcf.kernels._threads import numba_threads

__all__ = ["ranking_epoch"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


@numba.njit(inline="always")
def _draw(state, n):
    """(next state, an integer in [0, n)): splitmix64, high 32 bits scaled to n."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return state, np.int64(((z >> _S32) * np.uint64(n)) >> _S32)


@numba.njit(inline="always")
def _is_positive(indptr, indices, u, j):
    lo, hi = indptr[u], indptr[u + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo < indptr[u + 1] and indices[lo] == j


@numba.njit(inline="always")
def _span(indptr, row):
    """Range of a row's features; an empty indptr means the row is its own one feature."""
    if indptr.shape[0] == 0:
        return 0, 1
    return indptr[row], indptr[row + 1]


@numba.njit(inline="always")
def _feature(indptr, indices, weights, row, k, one):
    if indptr.shape[0] == 0:
        return row, one
    return indices[k], weights[k]


@numba.njit(inline="always")
def _represent(out, embeddings, bias, indptr, indices, weights, row, learn_bias, one):
    """out = Σ w_g E_g over the row's features; returns the bias Σ w_g c_g (0 without learn_bias)."""
    out[:] = 0
    b = one - one
    lo, hi = _span(indptr, row)
    for k in range(lo, hi):
        g, w = _feature(indptr, indices, weights, row, k, one)
        for c in range(out.shape[0]):
            out[c] += w * embeddings[g, c]
        if learn_bias:
            b += w * bias[g]
    return b


@numba.njit(inline="always")
def _dot(a, b, zero):
    s = zero
    for c in range(a.shape[0]):
        s += a[c] * b[c]
    return s


@numba.njit(parallel=True, nogil=True, cache=True)
def _epoch(indptr, indices, entry_users, uf_indptr, uf_indices, uf_weights, if_indptr, if_indices, if_weights,
           user_embeddings, item_embeddings, item_bias, rng_state, rank_weights, n_samples, loss, max_sampled,
           lr, reg_u, reg_i, reg_b, learn_bias, update_items, ordered_per_block):
    one = lr / lr
    zero = one - one
    f = user_embeddings.shape[1]
    n_items = if_indptr.shape[0] - 1 if if_indptr.shape[0] else item_embeddings.shape[0]
    nnz = indices.shape[0]
    n_blocks = rng_state.shape[0]
    for block in numba.prange(n_blocks):
        p = np.empty(f, dtype=user_embeddings.dtype)
        qi = np.empty(f, dtype=user_embeddings.dtype)
        qj = np.empty(f, dtype=user_embeddings.dtype)
        state = rng_state[block, 0]
        negative_state = rng_state[block, 1]
        ordered = 0
        for _ in range(n_samples * block // n_blocks, n_samples * (block + 1) // n_blocks):
            state, q = _draw(state, nnz)
            u = entry_users[q]
            i = indices[q]
            _represent(p, user_embeddings, item_bias, uf_indptr, uf_indices, uf_weights, u, False, one)
            bi = _represent(qi, item_embeddings, item_bias, if_indptr, if_indices, if_weights, i, learn_bias, one)
            positive = _dot(p, qi, zero) + bi
            scale = zero
            taken = False
            n_valid = 0
            j = 0
            for _t in range(max_sampled):
                negative_state, j = _draw(negative_state, n_items)
                if _is_positive(indptr, indices, u, j):
                    continue
                n_valid += 1
                bj = _represent(qj, item_embeddings, item_bias, if_indptr, if_indices, if_weights, j, learn_bias, one)
                negative = _dot(p, qj, zero) + bj
                if loss == 0:
                    x = positive - negative
                    if x > zero:
                        ordered += 1
                    scale = one / (one + np.exp(x))
                elif negative > positive - one:
                    scale = rank_weights[(n_items - (indptr[u + 1] - indptr[u])) // n_valid]
                else:
                    continue
                taken = True
                break
            if not taken:
                if loss == 1 and n_valid > 0:
                    ordered += 1
                continue
            lo, hi = _span(uf_indptr, u)
            for k in range(lo, hi):
                g, w = _feature(uf_indptr, uf_indices, uf_weights, u, k, one)
                for c in range(f):
                    user_embeddings[g, c] += lr * (scale * w * (qi[c] - qj[c]) - reg_u * user_embeddings[g, c])
            if not update_items:
                continue
            for side in range(2):
                row = i if side == 0 else j
                sign = one if side == 0 else -one
                lo, hi = _span(if_indptr, row)
                for k in range(lo, hi):
                    g, w = _feature(if_indptr, if_indices, if_weights, row, k, one)
                    for c in range(f):
                        item_embeddings[g, c] += lr * (sign * scale * w * p[c] - reg_i * item_embeddings[g, c])
                    if learn_bias:
                        item_bias[g] += lr * (sign * scale * w - reg_b * item_bias[g])
        rng_state[block, 0] = state
        rng_state[block, 1] = negative_state
        ordered_per_block[block] = ordered


def ranking_epoch(indptr, indices, entry_users,
                  user_feature_indptr, user_feature_indices, user_feature_weights,
                  item_feature_indptr, item_feature_indices, item_feature_weights,
                  user_embeddings, item_embeddings, item_bias, rng_state, rank_weights,
                  n_samples, loss, max_sampled, learning_rate, reg_user, reg_item, reg_bias,
                  learn_bias, update_items, n_threads):
    """One epoch in place; see ``reference.ranking_epoch``."""
    t = user_embeddings.dtype.type
    ordered = np.zeros(rng_state.shape[0], dtype=np.int64)
    with numba_threads(n_threads):
        _epoch(indptr, indices, entry_users, user_feature_indptr, user_feature_indices, user_feature_weights,
               item_feature_indptr, item_feature_indices, item_feature_weights, user_embeddings, item_embeddings,
               item_bias, rng_state, rank_weights.astype(user_embeddings.dtype), np.int64(n_samples), np.int64(loss),
               np.int64(max_sampled), t(learning_rate), t(reg_user), t(reg_item), t(reg_bias), bool(learn_bias),
               bool(update_items), ordered)
    return int(ordered.sum())
