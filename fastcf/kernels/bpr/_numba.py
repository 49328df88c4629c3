"""Numba twin of the ranking-loss SGD epoch; ``reference.py`` is the specification.

Grid schedule: the sub-epochs run in order, the P cells of each in parallel (``prange``). No
two cells of a sub-epoch touch one row (shared feature rows go to per-cell copies, whose
mean change is added in cell order after the sub-epoch), so every thread count takes the reference's samples and
steps, in the reference's arithmetic order: the same bits at any thread count.
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
def _row(embeddings, copies, slot, g):
    """Feature row g: this cell's copy when the row is shared, else the row itself."""
    if slot.shape[0] and slot[g] >= 0:
        return copies[slot[g]]
    return embeddings[g]


@numba.njit(inline="always")
def _bias_at(bias, copies, slot, g):
    """(array, index) of feature g's bias, as for :func:`_row`."""
    if slot.shape[0] and slot[g] >= 0:
        return copies, slot[g]
    return bias, g


@numba.njit(inline="always")
def _represent(out, embeddings, copies, bias, bias_copies, slot, indptr, indices, weights, row, learn_bias, one):
    """out = Σ w_g E_g over the row's features; returns the bias Σ w_g c_g (0 without learn_bias)."""
    out[:] = 0
    b = one - one
    lo, hi = _span(indptr, row)
    for k in range(lo, hi):
        g, w = _feature(indptr, indices, weights, row, k, one)
        e = _row(embeddings, copies, slot, g)
        for c in range(out.shape[0]):
            out[c] += w * e[c]
        if learn_bias:
            where, at = _bias_at(bias, bias_copies, slot, g)
            b += w * where[at]
    return b


@numba.njit(inline="always")
def _dot(a, b, zero):
    s = zero
    for c in range(a.shape[0]):
        s += a[c] * b[c]
    return s


@numba.njit(nogil=True, cache=True)
def _sample(u, i, negative_state, block_items, block_lo, block_size,
            indptr, indices, uf_indptr, uf_indices, uf_weights, user_slot,
            if_indptr, if_indices, if_weights, item_slot, U, V, bias, U_copies, V_copies, bias_copies,
            p, qi, qj, rank_weights, n_items, loss, max_sampled, lr, reg_u, reg_i, reg_b, learn_bias, update_items):
    """One sample of positive (u, i) in place (reference ``_Problem.sample``); returns (negative
    state, ordered 0/1). Negatives come from block_items[block_lo + draw(block_size)]."""
    one = lr / lr
    zero = one - one
    f = p.shape[0]
    _represent(p, U, U_copies, bias, bias_copies, user_slot, uf_indptr, uf_indices, uf_weights, u, False, one)
    bi = _represent(qi, V, V_copies, bias, bias_copies, item_slot, if_indptr, if_indices, if_weights, i,
                    learn_bias, one)
    positive = _dot(p, qi, zero) + bi
    scale = zero
    taken = False
    n_valid = 0
    ordered = 0
    j = 0
    for _t in range(max_sampled):
        negative_state, j = _draw(negative_state, block_size)
        j = block_items[block_lo + j]
        if _is_positive(indptr, indices, u, j):
            continue
        n_valid += 1
        bj = _represent(qj, V, V_copies, bias, bias_copies, item_slot, if_indptr, if_indices, if_weights, j,
                        learn_bias, one)
        negative = _dot(p, qj, zero) + bj
        if loss == 0:
            x = positive - negative
            if x > zero:
                ordered = 1
            scale = one / (one + np.exp(x))
        elif negative > positive - one:
            scale = rank_weights[(n_items - (indptr[u + 1] - indptr[u])) // n_valid]
        else:
            continue
        taken = True
        break
    if not taken:
        return negative_state, 1 if loss == 1 and n_valid > 0 else 0
    lo, hi = _span(uf_indptr, u)
    for k in range(lo, hi):
        g, w = _feature(uf_indptr, uf_indices, uf_weights, u, k, one)
        e = _row(U, U_copies, user_slot, g)
        for c in range(f):
            e[c] += lr * (scale * w * (qi[c] - qj[c]) - reg_u * e[c])
    if not update_items:
        return negative_state, ordered
    for side in range(2):
        row = i if side == 0 else j
        sign = one if side == 0 else -one
        lo, hi = _span(if_indptr, row)
        for k in range(lo, hi):
            g, w = _feature(if_indptr, if_indices, if_weights, row, k, one)
            e = _row(V, V_copies, item_slot, g)
            for c in range(f):
                e[c] += lr * (sign * scale * w * p[c] - reg_i * e[c])
            if learn_bias:
                where, at = _bias_at(bias, bias_copies, item_slot, g)
                where[at] += lr * (sign * scale * w - reg_b * where[at])
    return negative_state, ordered


@numba.njit(inline="always")
def _add_changes(row, copies):
    """row <- row + (Σ_a (copies[a] - row), a in order) / (cells whose copy differs, at least 1)."""
    f = row.shape[0]
    total = np.zeros(f, dtype=row.dtype)
    changed = 0
    for a in range(copies.shape[0]):
        differs = False
        for c in range(f):
            change = copies[a, c] - row[c]
            total[c] = total[c] + change
            differs = differs or change != 0
        changed += differs
    cells = np.empty(1, dtype=row.dtype)  # the count in the row's dtype: the division is the reference's
    cells[0] = max(changed, 1)
    for c in range(f):
        row[c] = row[c] + total[c] / cells[0]


@numba.njit(parallel=True, nogil=True, cache=True)
def _grid_epoch(indptr, indices, pair_users, pair_items, cell_ptr, cell_samples, block_items, block_ptr,
                uf_indptr, uf_indices, uf_weights, user_slot, user_shared,
                if_indptr, if_indices, if_weights, item_slot, item_shared,
                U, V, bias, rng_state, rank_weights, loss, max_sampled, lr, reg_u, reg_i, reg_b,
                learn_bias, update_items, ordered_per_cell):
    n_blocks = rng_state.shape[0]
    f = U.shape[1]
    n_items = if_indptr.shape[0] - 1 if if_indptr.shape[0] else V.shape[0]
    n_user_shared, n_item_shared = user_shared.shape[0], item_shared.shape[0]
    U_copies = np.empty((n_blocks, n_user_shared, f), dtype=U.dtype)
    V_copies = np.empty((n_blocks, n_item_shared, f), dtype=U.dtype)
    bias_copies = np.empty((n_blocks, n_item_shared), dtype=U.dtype)
    for s in range(n_blocks):
        for a in numba.prange(n_blocks):
            b = (a + s) % n_blocks
            cell = a * n_blocks + b
            for k in range(n_user_shared):
                U_copies[a, k, :] = U[user_shared[k]]
            for k in range(n_item_shared):
                V_copies[a, k, :] = V[item_shared[k]]
                bias_copies[a, k] = bias[item_shared[k]]
            p = np.empty(f, dtype=U.dtype)
            qi = np.empty(f, dtype=U.dtype)
            qj = np.empty(f, dtype=U.dtype)
            state = rng_state[a, 0]
            negative_state = rng_state[a, 1]
            first = cell_ptr[cell]
            n_pairs = cell_ptr[cell + 1] - first
            block_lo = block_ptr[b]
            block_size = block_ptr[b + 1] - block_lo
            ordered = 0
            for _ in range(cell_samples[cell]):
                state, k = _draw(state, n_pairs)
                negative_state, hit = _sample(
                    pair_users[first + k], pair_items[first + k], negative_state, block_items, block_lo,
                    block_size, indptr, indices, uf_indptr, uf_indices, uf_weights, user_slot, if_indptr, if_indices,
                    if_weights, item_slot, U, V, bias, U_copies[a], V_copies[a], bias_copies[a], p, qi, qj,
                    rank_weights, n_items, loss, max_sampled, lr, reg_u, reg_i, reg_b, learn_bias, update_items)
                ordered += hit
            rng_state[a, 0] = state
            rng_state[a, 1] = negative_state
            ordered_per_cell[cell] = ordered
        # The shared rows: start + the mean change of the cells that changed them (rows in parallel).
        for k in numba.prange(n_user_shared):
            _add_changes(U[user_shared[k]], U_copies[:, k, :])
        for k in numba.prange(n_item_shared):
            _add_changes(V[item_shared[k]], V_copies[:, k, :])
            _add_changes(bias[item_shared[k]:item_shared[k] + 1], bias_copies[:, k:k + 1])


def ranking_epoch(indptr, indices, pair_users, pair_items, cell_ptr, cell_samples, block_items, block_ptr,
                  user_feature_indptr, user_feature_indices, user_feature_weights, user_slot, user_shared,
                  item_feature_indptr, item_feature_indices, item_feature_weights, item_slot, item_shared,
                  user_embeddings, item_embeddings, item_bias, rng_state, rank_weights,
                  loss, max_sampled, learning_rate, reg_user, reg_item, reg_bias,
                  learn_bias, update_items, n_threads):
    """One grid epoch in place; see ``reference.ranking_epoch``."""
    t = user_embeddings.dtype.type
    ordered = np.zeros(cell_samples.shape[0], dtype=np.int64)
    with numba_threads(n_threads):
        _grid_epoch(indptr, indices, pair_users, pair_items, cell_ptr, cell_samples, block_items, block_ptr,
                    user_feature_indptr, user_feature_indices, user_feature_weights, user_slot, user_shared,
                    item_feature_indptr, item_feature_indices, item_feature_weights, item_slot, item_shared,
                    user_embeddings, item_embeddings, item_bias, rng_state, rank_weights.astype(user_embeddings.dtype),
                    np.int64(loss), np.int64(max_sampled), t(learning_rate), t(reg_user), t(reg_item), t(reg_bias),
                    bool(learn_bias), bool(update_items), ordered)
    return int(ordered.sum())

