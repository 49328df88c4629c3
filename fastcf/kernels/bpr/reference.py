"""Reference twin of the ranking-loss SGD epoch (BPR, WARP): the specification, serial, plain Python.

Model. A user's representation is the weighted sum of the embeddings of its features,
p_u = Σ_f w_uf U_f, and an item's is q_i = Σ_g w_ig V_g with bias b_i = Σ_g w_ig c_g (feature
matrices as CSR; an empty ``indptr`` means identity features, one embedding row per user or
item, which is plain matrix factorisation). The score is s_ui = p_u · q_i + b_i (the bias
only when ``learn_bias``; a user bias would cancel in every pairwise difference).

Random numbers. splitmix64 (Steele, Lea & Flood 2014) on 64-bit counters; draw(n) takes the
next output z and returns ((z >> 32) * n) >> 32, an integer in [0, n) for n < 2**32.
``rng_state`` holds P rows of two counters, a positive stream and a negative stream (two, so
that a fast twin may draw the positives of later samples ahead and prefetch their rows
without changing any number drawn); an epoch advances them in place.

The schedule, a grid (:func:`grid_schedule` builds it, :func:`ranking_epoch` runs it).
P = len(rng_state) partitions.

* User blocks, fixed: user u is in block a = min(P - 1, floor(P (indptr[u] + indptr[u+1]) /
  (2 nnz))), contiguous ranges of about nnz / P positives (a user is never split).
* Item blocks, new every epoch: h folds the epoch's starting rng_state (row-major) through
  splitmix64 (h <- output of splitmix64 on the counter h ^ x, from h = 0); the items, sorted by
  the outputs 1..n_items of splitmix64 from counter h (stable), are cut into P runs of
  n_items // P or n_items // P + 1 items (run b: positions [n_items b // P, n_items (b+1) // P)).
  Item block b lists its items in increasing order. Over the epochs each item meets every
  other in a block equally often, so negatives stay uniform over the catalogue.
* Cell (a, b), c = a P + b, holds the stored pairs (u, i) with u in user block a and i in
  item block b, in CSR order. Its share of the epoch's ``n_samples``:
  floor(n_samples C_c / nnz) - floor(n_samples C_{c-1} / nnz), C_c the pairs in cells 0..c
  (so exactly its number of pairs when n_samples = nnz).
* The epoch is P sub-epochs; sub-epoch s runs the cells (a, (a + s) mod P), a = 0..P-1: no two
  share a user block or an item block (a Latin square), and over the epoch every cell runs
  once. Cell (a, b) draws from stream row a, which its cells continue in sub-epoch order. Here
  the cells of a sub-epoch run in order a = 0..P-1; the fast twins run them in parallel, in any
  order, on any number of threads, with the same result: no two touch one embedding row.
* Shared feature rows. A feature row (with feature matrices) used by users of two user blocks
  (a genre of items in two item blocks, this epoch) would be touched by two cells at once.
  Such rows (``user_shared`` / ``item_shared``, with their slot in ``user_slot`` /
  ``item_slot``, -1 for the others) are private to each cell within a sub-epoch: every cell
  starts from their values at the start of the sub-epoch, steps its own copy, and at the end
  of the sub-epoch the row takes the mean change of the m cells whose copy changed (m >= 1):
  row <- start + t / m, t = (copy_0 - start) + (copy_1 - start) + ... added left to right
  from 0 (a row and its bias each count their own m). A row only one cell stepped thus takes
  that cell's steps, as if it owned it; a row that every cell steps (a demographic that
  thousands of samples move) takes their average, like model averaging: a plain sum of P
  copies, each of which has nearly converged within its cell, would overshoot P times over
  and oscillate. A row one block owns (identity rows, a feature of one block's users only) is
  stepped in place.

One sample of cell (a, b), with k = the cell's first pair + draw(its number of pairs) from the
positive stream, u = pair_users[k], i = pair_items[k]:

1. Negatives: j = block_items[first item of block b + draw(size of block b)] from the negative
   stream, up to ``max_sampled`` draws; a draw among u's positives (binary search in u's
   sorted row) is passed over.
   - BPR (Rendle et al. 2009): the first negative j is taken; x = s_ui - s_uj, and the
     step scale is z = σ(-x) = 1 / (1 + exp(x)), the gradient of ln σ(x).
   - WARP (Weston, Bengio & Usunier 2011): negatives are drawn until one violates the
     margin, s_uj > s_ui - 1. If it is the N-th valid negative drawn, the rank of i is
     estimated as r = (n_items - |I_u|) // N and the step scale is z = rank_weights[r]
     (the caller's L(r), e.g. the harmonic number Σ_{k<=r} 1/k), the hinge's gradient.
     The draws come from i's block, but the block is a uniform random subset of the
     items, so the share of violators among its negatives (≈ 1 / N) estimates the share
     among all of u's n_items - |I_u| negatives: r estimates the rank in the whole catalogue.
   When no negative is taken (all draws were positives, or WARP found no violation), the
   sample makes no step.
2. The step, all gradients from the values before it (d = q_i - q_j):
       U_f += lr (z w_uf d - reg_user U_f)                  for each feature f of u
       V_g += lr (z w_ig p_u - reg_item V_g)                for each feature g of i
       V_g += lr (-z w_jg p_u - reg_item V_g)               then for each feature g of j
       c_g += lr (z w_ig - reg_bias c_g), c_g += lr (-z w_jg - reg_bias c_g)   (learn_bias)
   The item side is left alone when ``update_items`` is False (fold-in of new users).
   Dot products and sums add term by term in index order (so float64 twins agree bit for bit).

With P = 1 the grid is one cell: every pair, negatives over all items (the serial schedule).

The epoch returns how many samples were already ordered before their step: x > 0 for BPR (so the
share estimates the training AUC), no violating negative found for WARP.
"""

import math

import numpy as np

__all__ = ["ranking_epoch"]

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
BPR, WARP = 0, 1


def splitmix64(state: int):
    """(next state, output) of splitmix64."""
    state = (state + GOLDEN) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def splitmix64_outputs(state: int, n: int) -> np.ndarray:
    """Outputs 1..n of splitmix64 from counter ``state``, vectorised (uint64 arithmetic wraps)."""
    z = np.uint64(state) + np.uint64(GOLDEN) * np.arange(1, n + 1, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def bounded(z: int, n: int) -> int:
    """An integer in [0, n) from a 64-bit random z (its high 32 bits, scaled)."""
    return ((z >> 32) * n) >> 32


# --- the grid schedule ----------------------------------------------------------------------


def user_blocks(indptr, n_blocks: int) -> np.ndarray:
    """Block of each user: where the middle of its positives falls among P equal shares."""
    indptr = np.asarray(indptr, dtype=np.int64)
    total = max(int(indptr[-1]), 1)
    middle = indptr[:-1] + indptr[1:]  # twice the middle, to stay in integers
    return np.minimum(middle * n_blocks // (2 * total), n_blocks - 1)


def item_blocks(rng_state: np.ndarray, n_items: int):
    """(block of each item, items by block ascending, block offsets (P + 1,)) for this epoch."""
    n_blocks = rng_state.shape[0]
    bounds = (n_items * np.arange(n_blocks + 1, dtype=np.int64)) // n_blocks
    if n_blocks == 1:
        return np.zeros(n_items, np.int64), np.arange(n_items, dtype=np.int64), bounds
    h = 0
    for x in rng_state.ravel().tolist():
        _, h = splitmix64(h ^ x)
    order = np.argsort(splitmix64_outputs(h, n_items), kind="stable")
    block = np.empty(n_items, np.int64)
    block[order] = np.searchsorted(bounds, np.arange(n_items), side="right") - 1
    return block, np.argsort(block, kind="stable"), bounds


def shared_rows(feature_indptr, feature_indices, n_features: int, row_block: np.ndarray):
    """(slot of each feature row, -1 when one block owns it; the shared rows by slot)."""
    slot = np.full(n_features, -1, np.int64)
    if feature_indptr.shape[0] == 0 or feature_indices.shape[0] == 0:
        return slot, np.zeros(0, np.int64)
    block = np.repeat(row_block, np.diff(feature_indptr))
    low = np.full(n_features, np.iinfo(np.int64).max)
    high = np.full(n_features, -1)
    np.minimum.at(low, feature_indices, block)
    np.maximum.at(high, feature_indices, block)
    shared = np.flatnonzero((high >= 0) & (low != high))
    slot[shared] = np.arange(shared.size)
    return slot, shared


def grid_schedule(indptr, indices, entry_users, n_items, rng_state, n_samples,
                  user_feature_indptr, user_feature_indices, n_user_features,
                  item_feature_indptr, item_feature_indices, n_item_features):
    """The epoch's grid (module docstring) as plain arrays, for every twin's ``ranking_epoch``.

    Returns a dict: pair_users, pair_items (nnz,) in cell order; cell_ptr (P² + 1,) and
    cell_samples (P²,), int64; block_items (n_items,) and block_ptr (P + 1,); user_slot,
    user_shared, item_slot, item_shared (the shared feature rows).
    """
    n_blocks = rng_state.shape[0]
    n_cells = n_blocks * n_blocks
    nnz = indices.shape[0]
    users_block = user_blocks(indptr, n_blocks)
    item_block, block_items, block_ptr = item_blocks(rng_state, n_items)
    cell = users_block[entry_users] * n_blocks + item_block[indices]
    # Entries are in user order and user blocks are contiguous: a stable sort keeps CSR order
    # within each cell (and small keys sort by radix, in linear time).
    key = cell.astype(np.uint16 if n_cells <= 1 << 16 else np.int64)
    order = np.argsort(key, kind="stable")
    cell_ptr = np.zeros(n_cells + 1, np.int64)
    np.cumsum(np.bincount(cell, minlength=n_cells), out=cell_ptr[1:])
    # floor(n_samples C / nnz) without overflow: C, nnz < 2**32.
    whole, part = divmod(int(n_samples), max(nnz, 1))
    cum = cell_ptr.astype(np.uint64)
    share = np.uint64(whole) * cum + (np.uint64(part) * cum) // np.uint64(max(nnz, 1))
    cell_samples = np.diff(share).astype(np.int64)
    user_slot, user_shared = shared_rows(user_feature_indptr, user_feature_indices, n_user_features, users_block)
    item_slot, item_shared = shared_rows(item_feature_indptr, item_feature_indices, n_item_features, item_block)
    index = indices.dtype
    return dict(pair_users=entry_users[order], pair_items=indices[order], cell_ptr=cell_ptr,
                cell_samples=cell_samples, block_items=block_items.astype(index), block_ptr=block_ptr,
                user_slot=user_slot, user_shared=user_shared, item_slot=item_slot, item_shared=item_shared)


# --- one sample -------------------------------------------------------------------------------


def _features(indptr, indices, weights, row, one):
    """(feature indices, weights) of a row; a row is its own only feature when indptr is empty."""
    if indptr.shape[0] == 0:
        return [row], [one]
    lo, hi = indptr[row], indptr[row + 1]
    return list(indices[lo:hi]), list(weights[lo:hi])


def _represent(embeddings, bias, features, learn_bias):
    index, weight = features
    vector = np.zeros(embeddings.shape[1], dtype=embeddings.dtype)
    b = embeddings.dtype.type(0)
    for g, w in zip(index, weight):
        vector += w * embeddings[g]
        if learn_bias:
            b += w * bias[g]
    return vector, b


def _dot(a, b):
    """a · b added term by term in order, as the fast twins add it."""
    s = a.dtype.type(0)
    for x, y in zip(a, b):
        s = s + x * y
    return s


def _exp(x, t):
    """exp(x) in dtype t by the C library, as the fast twins take it (NumPy's own SIMD exp
    differs in the last bit); inf past the range: the pair is ordered, the step 0."""
    try:
        value = math.exp(float(x))
    except OverflowError:
        value = math.inf
    with np.errstate(over="ignore"):
        return t(value)


def _is_positive(indptr, indices, u, j) -> bool:
    lo, hi = indptr[u], indptr[u + 1]
    at = lo + np.searchsorted(indices[lo:hi], j)
    return bool(at < hi and indices[at] == j)


class _Problem:
    """What every sample reads: the data, the embeddings (stepped in place) and the settings."""

    def __init__(self, indptr, indices, uf, itf, user_embeddings, item_embeddings, item_bias, rank_weights,
                 loss, max_sampled, learning_rate, reg_user, reg_item, reg_bias, learn_bias, update_items):
        t = user_embeddings.dtype.type
        self.t, self.one = t, t(1)
        self.lr, self.reg_u, self.reg_i, self.reg_b = t(learning_rate), t(reg_user), t(reg_item), t(reg_bias)
        self.indptr, self.indices, self.uf, self.itf = indptr, indices, uf, itf
        self.U, self.V, self.c = user_embeddings, item_embeddings, item_bias
        self.n_items = (itf[0].shape[0] - 1) if itf[0].shape[0] else item_embeddings.shape[0]
        self.rank_weights, self.loss, self.max_sampled = rank_weights, loss, max_sampled
        self.learn_bias, self.update_items = learn_bias, update_items

    def sample(self, u, i, negative_state, draw_negative):
        """One sample of positive (u, i) in place; returns (negative_state, ordered 0/1)."""
        pr, t, one = self, self.t, self.one
        user_feats = _features(*pr.uf, u, one)
        item_feats = _features(*pr.itf, i, one)
        p, _ = _represent(pr.U, pr.c, user_feats, False)
        qi, bi = _represent(pr.V, pr.c, item_feats, pr.learn_bias)
        positive = t(_dot(p, qi) + bi)
        scale, negative_feats, qj = None, None, None
        n_valid, ordered = 0, 0
        for _ in range(pr.max_sampled):
            negative_state, j = draw_negative(negative_state)
            if _is_positive(pr.indptr, pr.indices, u, j):
                continue
            n_valid += 1
            feats = _features(*pr.itf, j, one)
            vector, bj = _represent(pr.V, pr.c, feats, pr.learn_bias)
            negative = t(_dot(p, vector) + bj)
            if pr.loss == BPR:
                x = positive - negative
                ordered += bool(x > 0)
                scale = one / (one + _exp(x, t))
            elif negative > positive - one:
                rank = (pr.n_items - (pr.indptr[u + 1] - pr.indptr[u])) // n_valid
                scale = t(pr.rank_weights[rank])
            else:
                continue
            negative_feats, qj = feats, vector
            break
        if scale is None:
            return negative_state, int(pr.loss == WARP and n_valid > 0)
        difference = qi - qj
        lr = pr.lr
        for f, w in zip(*user_feats):
            pr.U[f] += lr * (scale * w * difference - pr.reg_u * pr.U[f])
        if pr.update_items:
            for sign, (index, weight) in ((one, item_feats), (-one, negative_feats)):
                for g, w in zip(index, weight):
                    pr.V[g] += lr * (sign * scale * w * p - pr.reg_i * pr.V[g])
                    if pr.learn_bias:
                        pr.c[g] += lr * (sign * scale * w - pr.reg_b * pr.c[g])
        return negative_state, ordered


# --- the epochs -----------------------------------------------------------------------------


def ranking_epoch(indptr, indices, pair_users, pair_items, cell_ptr, cell_samples, block_items, block_ptr,
                  user_feature_indptr, user_feature_indices, user_feature_weights, user_slot, user_shared,
                  item_feature_indptr, item_feature_indices, item_feature_weights, item_slot, item_shared,
                  user_embeddings, item_embeddings, item_bias, rng_state, rank_weights,
                  loss, max_sampled, learning_rate, reg_user, reg_item, reg_bias,
                  learn_bias, update_items, n_threads):
    """One epoch on the grid schedule of :func:`grid_schedule` in place; returns the ordered count."""
    pr = _Problem(indptr, indices, (user_feature_indptr, user_feature_indices, user_feature_weights),
                  (item_feature_indptr, item_feature_indices, item_feature_weights), user_embeddings,
                  item_embeddings, item_bias, rank_weights, loss, max_sampled, learning_rate, reg_user, reg_item,
                  reg_bias, learn_bias, update_items)
    n_blocks = rng_state.shape[0]
    U, V, c = user_embeddings, item_embeddings, item_bias
    ordered = 0
    for s in range(n_blocks):
        start = U[user_shared].copy(), V[item_shared].copy(), c[item_shared].copy()
        ends = []
        for a in range(n_blocks):
            b = (a + s) % n_blocks
            cell = a * n_blocks + b
            U[user_shared], V[item_shared], c[item_shared] = start  # this cell's copies start here
            first, n_pairs = int(cell_ptr[cell]), int(cell_ptr[cell + 1] - cell_ptr[cell])
            lo, size = int(block_ptr[b]), int(block_ptr[b + 1] - block_ptr[b])

            def draw_negative(state, lo=lo, size=size):
                state, z = splitmix64(state)
                return state, int(block_items[lo + bounded(z, size)])

            state, negative_state = int(rng_state[a, 0]), int(rng_state[a, 1])
            for _ in range(int(cell_samples[cell])):
                state, z = splitmix64(state)
                k = first + bounded(z, n_pairs)
                negative_state, hit = pr.sample(int(pair_users[k]), int(pair_items[k]), negative_state, draw_negative)
                ordered += hit
            rng_state[a] = np.uint64(state), np.uint64(negative_state)
            ends.append((U[user_shared].copy(), V[item_shared].copy(), c[item_shared].copy()))
        # The shared rows: their start plus the mean change of the cells that changed them.
        for array, rows, begin, side in ((U, user_shared, start[0], 0), (V, item_shared, start[1], 1),
                                         (c, item_shared, start[2], 2)):
            if begin.shape[0] == 0:
                continue
            total = np.zeros_like(begin)
            changed = np.zeros(begin.shape[0], np.int64)
            for end in ends:
                change = end[side] - begin
                total = total + change
                changed += (change != 0).reshape(begin.shape[0], -1).any(axis=1)
            divisor = np.maximum(changed, 1).astype(begin.dtype)
            array[rows] = begin + total / (divisor[:, None] if begin.ndim == 2 else divisor)
    return ordered
