"""Reference twin of the ranking-loss SGD epoch (BPR, WARP): the specification, serial, plain Python.

Model. A user's representation is the weighted sum of the embeddings of its features,
p_u = Σ_f w_uf U_f, and an item's is q_i = Σ_g w_ig V_g with bias b_i = Σ_g w_ig c_g (feature
matrices as CSR; an empty ``indptr`` means identity features, one embedding row per user or
item, which is plain matrix factorisation). The score is s_ui = p_u · q_i + b_i (the bias
only when ``learn_bias``; a user bias would cancel in every pairwise difference).

Schedule. The epoch's ``n_samples`` are cut into B = len(rng_state) blocks, block b taking
samples [n_samples * b // B, n_samples * (b + 1) // B). Block b draws its random numbers from
two streams of its own: splitmix64 (Steele, Lea & Flood 2014) on the 64-bit counters
rng_state[b, 0] (positives) and rng_state[b, 1] (negatives), which the epoch advances in
place, so that the next epoch continues them. (Two streams let a fast twin draw the positives
of later samples ahead and prefetch their rows, without changing any number drawn.) Here the
blocks run in order 0..B-1; the fast twins at one thread do exactly the same.

One sample of block b:

1. q = draw(nnz) from the positive stream: a stored (user, item) pair, u = entry_users[q],
   i = indices[q] (pairs are sampled uniformly with replacement, as in Rendle et al. 2009).
2. Negatives: j = draw(n_items) from the negative stream, up to ``max_sampled`` draws; a draw among u's positives
   (binary search in u's sorted row) is passed over.
   - BPR (Rendle et al. 2009): the first negative j is taken; x = s_ui - s_uj, and the
     step scale is z = σ(-x) = 1 / (1 + exp(x)), the gradient of ln σ(x).
   - WARP (Weston, Bengio & Usunier 2011): negatives are drawn until one violates the
     margin, s_uj > s_ui - 1. If it is the N-th valid negative drawn, the rank of i is
     estimated as r = (n_items - |I_u|) // N and the step scale is z = rank_weights[r]
     (the caller's L(r), e.g. the harmonic number Σ_{k<=r} 1/k), the hinge's gradient.
   When no negative is taken (all draws were positives, or WARP found no violation), the
   sample makes no step.
3. The step, all gradients from the values before it (d = q_i - q_j):
       U_f += lr (z w_uf d - reg_user U_f)                  for each feature f of u
       V_g += lr (z w_ig p_u - reg_item V_g)                for each feature g of i
       V_g += lr (-z w_jg p_u - reg_item V_g)               then for each feature g of j
       c_g += lr (z w_ig - reg_bias c_g), c_g += lr (-z w_jg - reg_bias c_g)   (learn_bias)
   The item side is left alone when ``update_items`` is False (fold-in of new users).

The epoch returns how many samples were already ordered before their step: x > 0 for BPR
(so the share estimates the training AUC), no violating negative found for WARP.

draw(n) takes the next 64-bit output z and returns ((z >> 32) * n) >> 32, an integer in
[0, n) for n < 2**32.
"""

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


def bounded(z: int, n: int) -> int:
    """An integer in [0, n) from a 64-bit random z (its high 32 bits, scaled)."""
    return ((z >> 32) * n) >> 32


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


def _is_positive(indptr, indices, u, j) -> bool:
    lo, hi = indptr[u], indptr[u + 1]
    at = lo + np.searchsorted(indices[lo:hi], j)
    return bool(at < hi and indices[at] == j)


def ranking_epoch(indptr, indices, entry_users,
                  user_feature_indptr, user_feature_indices, user_feature_weights,
                  item_feature_indptr, item_feature_indices, item_feature_weights,
                  user_embeddings, item_embeddings, item_bias, rng_state, rank_weights,
                  n_samples, loss, max_sampled, learning_rate, reg_user, reg_item, reg_bias,
                  learn_bias, update_items, n_threads):
    """One epoch of ranking-loss SGD in place (see the module docstring); returns the ordered count."""
    t = user_embeddings.dtype.type
    lr, reg_u, reg_i, reg_b, one = t(learning_rate), t(reg_user), t(reg_item), t(reg_bias), t(1)
    n_items = (item_feature_indptr.shape[0] - 1) if item_feature_indptr.shape[0] else item_embeddings.shape[0]
    nnz = indices.shape[0]
    n_blocks = rng_state.shape[0]
    ordered = 0
    for block in range(n_blocks):
        state, negative_state = int(rng_state[block, 0]), int(rng_state[block, 1])
        for _ in range(n_samples * block // n_blocks, n_samples * (block + 1) // n_blocks):
            state, z = splitmix64(state)
            q = bounded(z, nnz)
            u, i = int(entry_users[q]), int(indices[q])
            user_feats = _features(user_feature_indptr, user_feature_indices, user_feature_weights, u, one)
            item_feats = _features(item_feature_indptr, item_feature_indices, item_feature_weights, i, one)
            p, _ = _represent(user_embeddings, item_bias, user_feats, False)
            qi, bi = _represent(item_embeddings, item_bias, item_feats, learn_bias)
            positive = t(np.dot(p, qi) + bi)
            scale, negative_feats, qj = None, None, None
            n_valid = 0
            for _ in range(max_sampled):
                negative_state, z = splitmix64(negative_state)
                j = bounded(z, n_items)
                if _is_positive(indptr, indices, u, j):
                    continue
                n_valid += 1
                feats = _features(item_feature_indptr, item_feature_indices, item_feature_weights, j, one)
                vector, bj = _represent(item_embeddings, item_bias, feats, learn_bias)
                if loss == BPR:
                    x = positive - t(np.dot(p, vector) + bj)
                    ordered += bool(x > 0)
                    with np.errstate(over="ignore"):  # exp(x) = inf: the pair is ordered, no step
                        scale = one / (one + np.exp(x))
                elif t(np.dot(p, vector) + bj) > positive - one:
                    rank = (n_items - (indptr[u + 1] - indptr[u])) // n_valid
                    scale = t(rank_weights[rank])
                else:
                    continue
                negative_feats, qj = feats, vector
                break
            if scale is None:
                ordered += loss == WARP and n_valid > 0
                continue
            difference = qi - qj
            for f, w in zip(*user_feats):
                user_embeddings[f] += lr * (scale * w * difference - reg_u * user_embeddings[f])
            if not update_items:
                continue
            for sign, (index, weight) in ((one, item_feats), (-one, negative_feats)):
                for g, w in zip(index, weight):
                    item_embeddings[g] += lr * (sign * scale * w * p - reg_i * item_embeddings[g])
                    if learn_bias:
                        item_bias[g] += lr * (sign * scale * w - reg_b * item_bias[g])
        rng_state[block] = np.uint64(state), np.uint64(negative_state)
    return ordered
