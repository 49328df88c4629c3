"""Cython twin of the ranking-loss SGD epoch; ``reference.py`` is the specification.

Grid schedule (``ranking_epoch``): the sub-epochs run in order, the P cells of each in
parallel (OpenMP ``prange``, dynamic: cells differ in size). No two cells of a sub-epoch touch
one row; shared feature rows are stepped in per-cell copies whose mean change is added in
cell order after the sub-epoch. So the result is the same bits at any thread count, and in float64
(or float32 without AVX2+FMA) the reference's bits.

Identity features (plain BPR / WARP MF) take a fast path: rows are updated where they lie, and
since the positive stream is separate from the negative one, the pairs of the next samples
are drawn a few samples ahead and their rows prefetched (their cache misses overlap the work
of the current sample; no number drawn changes). In float32 on x86-64 CPUs with AVX2 and FMA
(GCC or Clang), the dot products and the step run in small C kernels compiled for AVX2+FMA on
their own and chosen at run time, as in ``fastcf/kernels/sgd/_cython.pyx``: the step is
p <- (1 - lr reg) p + (lr z) d with fused multiply-adds, so the rounding differs from the
reference by a few ulps per step (the same on every run and thread count). Features of any
other kind take the general path: each representation summed into per-thread scratch, then
each feature row stepped (in float32 with the same AVX2+FMA kernels for the sums, dot
products and steps).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads

__all__ = ["ranking_epoch"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef extern from "_bpr_native.h" nogil:
    uint64_t fcf_splitmix64(uint64_t* state)
    int64_t fcf_bounded(uint64_t* state, uint64_t n)
    void fcf_rank_prefetch(const void* row, int bytes)
    int fcf_rank_simd_available()
    float fcf_rank_dot_f32(int f, const float* a, const float* b)
    void fcf_rank_step_f32(int f, float* p, float* qi, float* qj, float g, float kp, float ki, int items)
    void fcf_rank_axpby_f32(int f, float a, const float* x, float k, float* y)


SIMD_AVAILABLE = bool(fcf_rank_simd_available())
cdef bint _simd = SIMD_AVAILABLE


def _use_simd(enabled=None):
    """Whether float32 epochs take the AVX2+FMA kernels; ``enabled`` switches it (for tests)."""
    global _simd
    if enabled is not None:
        _simd = bool(enabled) and SIMD_AVAILABLE
    return _simd


# Pairs are drawn AHEAD samples early; their data are fetched MIDWAY and NEAR samples early (_advance).
cdef enum:
    AHEAD = 8
    MIDWAY = 4
    NEAR = 2


cdef struct Problem:
    # The sizes and switches every block shares.
    int64_t nnz
    int64_t n_items
    int f
    int loss
    int max_sampled
    bint learn_bias
    bint update_items
    bint simd


cdef inline floating _dot(int f, const floating* a, const floating* b) noexcept nogil:
    cdef floating s = 0
    cdef int c
    for c in range(f):
        s = s + a[c] * b[c]
    return s


cdef inline bint _is_positive(const index_t* indptr, const index_t* indices, int64_t u, int64_t j) noexcept nogil:
    """Whether j is among u's sorted positives: a binary search without branches on the data
    (a conditional move per halving), since where a random item falls is unpredictable."""
    cdef const index_t* base = indices + indptr[u]
    cdef int64_t n = indptr[u + 1] - indptr[u], half
    if n == 0:
        return False
    while n > 1:
        half = n >> 1
        base = base + half if base[half] <= j else base
        n -= half
    return base[0] == j


cdef inline floating _scale_of(Problem* pr, floating positive, floating negative, int64_t n_valid,
                               int64_t n_positives, const floating* rank_weights, int64_t* ordered,
                               bint* taken) noexcept nogil:
    """The step scale z of a valid negative (sets ``taken``), and the BPR ordered count."""
    cdef floating x
    if pr.loss == 0:
        x = positive - negative
        if x > 0:
            ordered[0] += 1
        taken[0] = True
        if floating is float:
            return <floating>1 / (<floating>1 + expf(x))
        else:
            return <floating>1 / (<floating>1 + exp(x))
    if negative > positive - 1:
        taken[0] = True
        return rank_weights[(pr.n_items - n_positives) // n_valid]
    return 0


cdef inline void _prime(int64_t* ring, int64_t start, int64_t end, uint64_t* state,
                        const index_t* pair_users, const index_t* pair_items, int64_t n_pairs) noexcept nogil:
    """Draw the pairs of the first AHEAD samples and start fetching them."""
    cdef int64_t k
    for k in range(min(<int64_t>AHEAD, end - start)):
        ring[k] = fcf_bounded(&state[0], n_pairs)
        fcf_rank_prefetch(&pair_users[ring[k]], 1)
        fcf_rank_prefetch(&pair_items[ring[k]], 1)


cdef inline int64_t _advance(
    int64_t* ring, int64_t t, int64_t start, int64_t end, uint64_t* state,
    const index_t* indptr, const index_t* indices, const index_t* pair_users, const index_t* pair_items,
    int64_t n_pairs,
    const index_t* uf_ptr, const index_t* uf_index, const index_t* if_ptr, const index_t* if_index,
    const floating* U, const floating* V, int f,
) noexcept nogil:
    """The pair of sample t, drawn AHEAD samples ago, while later samples' data are fetched.

    The positive stream is drawn in sample order, as the reference draws it. AHEAD samples
    early: the pair's entry; MIDWAY: the user's and item's first embedding rows (feature
    matrices: their feature ranges) and the user's row bounds; NEAR: the lines of the user's
    positives, which the search for negatives walks (a chain of dependent loads, each a miss
    on large data: short rows whole, long ones at 16 evenly spaced points, the search's first
    four levels), and with feature matrices the first feature rows.
    """
    cdef int64_t q = ring[(t - start) % AHEAD], k, row_start, row_length, slot
    cdef int line
    if t + AHEAD < end:
        slot = (t - start) % AHEAD
        ring[slot] = fcf_bounded(&state[0], n_pairs)
        fcf_rank_prefetch(&pair_users[ring[slot]], 1)
        fcf_rank_prefetch(&pair_items[ring[slot]], 1)
    if t + MIDWAY < end:
        k = ring[(t - start + MIDWAY) % AHEAD]
        if uf_ptr == NULL:
            fcf_rank_prefetch(U + <int64_t>pair_users[k] * f, f * sizeof(floating))
        else:
            fcf_rank_prefetch(&uf_ptr[pair_users[k]], 2 * sizeof(index_t))
        if if_ptr == NULL:
            fcf_rank_prefetch(V + <int64_t>pair_items[k] * f, f * sizeof(floating))
        else:
            fcf_rank_prefetch(&if_ptr[pair_items[k]], 2 * sizeof(index_t))
        fcf_rank_prefetch(&indptr[pair_users[k]], 2 * sizeof(index_t))
    if t + NEAR < end:
        k = ring[(t - start + NEAR) % AHEAD]
        # (A row without features has no first one to fetch.)
        if uf_ptr != NULL and uf_ptr[pair_users[k] + 1] > uf_ptr[pair_users[k]]:
            fcf_rank_prefetch(U + <int64_t>uf_index[uf_ptr[pair_users[k]]] * f, f * sizeof(floating))
        if if_ptr != NULL and if_ptr[pair_items[k] + 1] > if_ptr[pair_items[k]]:
            fcf_rank_prefetch(V + <int64_t>if_index[if_ptr[pair_items[k]]] * f, f * sizeof(floating))
        k = pair_users[k]
        row_start = indptr[k]
        row_length = indptr[k + 1] - row_start
        for line in range(16):
            fcf_rank_prefetch(&indices[row_start + row_length * line // 16], 1)
    return q


cdef int64_t _identity_block(
    Problem* pr, int64_t start, int64_t end, uint64_t* state,
    const index_t* indptr, const index_t* indices,                                  # IN: the positives
    const index_t* pair_users, const index_t* pair_items, int64_t n_pairs,          # IN: the pairs sampled
    const index_t* block_items, int64_t block_size,                                 # IN: the negatives' block
    floating* U, floating* V, floating* bias, const floating* rank_weights,         # IN/OUT, IN
    floating lr, floating reg_u, floating reg_i, floating reg_b,
) noexcept nogil:
    cdef int64_t ring[AHEAD]
    cdef int64_t t, q, u, i, j, n_valid, ordered = 0
    cdef int f = pr.f, draw, c
    cdef floating* p
    cdef floating* qi
    cdef floating* qj
    cdef floating positive, negative, scale, g, pc, a, b
    cdef floating keep_u = 1 - lr * reg_u, keep_i = 1 - lr * reg_i
    cdef bint taken
    cdef bint simd = pr.simd and floating is float
    _prime(ring, start, end, state, pair_users, pair_items, n_pairs)
    for t in range(start, end):
        q = _advance(ring, t, start, end, state, indptr, indices, pair_users, pair_items, n_pairs,
                     NULL, NULL, NULL, NULL, U, V, f)
        u = pair_users[q]
        i = pair_items[q]
        p = U + u * f
        qi = V + i * f
        if simd:
            positive = fcf_rank_dot_f32(f, <float*>p, <float*>qi)
        else:
            positive = _dot(f, p, qi)
        if pr.learn_bias:
            positive = positive + bias[i]
        taken = False
        n_valid = 0
        scale = 0
        for draw in range(pr.max_sampled):
            j = fcf_bounded(&state[1], block_size)
            j = block_items[j]
            qj = V + j * f
            fcf_rank_prefetch(qj, f * sizeof(floating))  # arrives while the search runs
            if _is_positive(indptr, indices, u, j):
                continue
            n_valid += 1
            if simd:
                negative = fcf_rank_dot_f32(f, <float*>p, <float*>qj)
            else:
                negative = _dot(f, p, qj)
            if pr.learn_bias:
                negative = negative + bias[j]
            scale = _scale_of(pr, positive, negative, n_valid, indptr[u + 1] - indptr[u], rank_weights, &ordered, &taken)
            if taken:
                break
        if not taken:
            if pr.loss == 1 and n_valid > 0:
                ordered += 1
            continue
        g = lr * scale
        if simd:
            fcf_rank_step_f32(f, <float*>p, <float*>qi, <float*>qj, g, keep_u, keep_i, pr.update_items)
        else:
            for c in range(f):
                pc = p[c]
                a = qi[c]
                b = qj[c]
                p[c] = pc + lr * (scale * (a - b) - reg_u * pc)
                if pr.update_items:
                    qi[c] = a + lr * (scale * pc - reg_i * a)
                    qj[c] = b + lr * (-scale * pc - reg_i * b)
        if pr.update_items and pr.learn_bias:
            bias[i] += lr * (scale - reg_b * bias[i])
            bias[j] += lr * (-scale - reg_b * bias[j])
    return ordered


cdef inline floating* _row_of(floating* E, floating* copies, const int64_t* slot, int64_t g, int f) noexcept nogil:
    """Feature row g: this cell's copy when the row is shared (slot >= 0), else the row itself."""
    if slot != NULL and slot[g] >= 0:
        return copies + slot[g] * f
    return E + g * f


cdef inline floating* _bias_of(floating* bias, floating* copies, const int64_t* slot, int64_t g) noexcept nogil:
    if slot != NULL and slot[g] >= 0:
        return copies + slot[g]
    return bias + g


cdef inline floating _represent(
    floating* out, floating* E, floating* bias, floating* copies, floating* bias_copies, const int64_t* slot,
    const index_t* fptr, const index_t* findex, const floating* fweight, int64_t row, int f, bint with_bias,
    bint simd,
) noexcept nogil:
    """out = Σ w_g E_g over the row's features (the row itself when fptr is NULL); returns Σ w_g c_g."""
    cdef int64_t k, lo = 0, hi = 1, g
    cdef floating w, b = 0
    cdef floating* e
    cdef int c
    if fptr != NULL:
        lo = fptr[row]
        hi = fptr[row + 1]
    for c in range(f):
        out[c] = 0
    for k in range(lo, hi):
        if fptr != NULL:
            g = findex[k]
            w = fweight[k]
        else:
            g = row
            w = 1
        e = _row_of(E, copies, slot, g, f)
        if floating is float and simd:
            fcf_rank_axpby_f32(f, w, <const float*>e, 1, <float*>out)
        else:
            for c in range(f):
                out[c] = out[c] + w * e[c]
        if with_bias:
            b = b + w * _bias_of(bias, bias_copies, slot, g)[0]
    return b


cdef inline void _step_rows(
    floating* E, floating* bias, floating* copies, floating* bias_copies, const int64_t* slot, const index_t* fptr, const index_t* findex, const floating* fweight,
    int64_t row, int f, const floating* direction, floating sign_scale, floating lr, floating reg,
    floating reg_b, bint with_bias, bint simd,
) noexcept nogil:
    """E_g += lr (sign z w_g direction - reg E_g) for each feature g of the row (and its bias)."""
    cdef int64_t k, lo = 0, hi = 1, g
    cdef floating w
    cdef floating* e
    cdef floating* eb
    cdef int c
    if fptr != NULL:
        lo = fptr[row]
        hi = fptr[row + 1]
    for k in range(lo, hi):
        if fptr != NULL:
            g = findex[k]
            w = fweight[k]
        else:
            g = row
            w = 1
        e = _row_of(E, copies, slot, g, f)
        if floating is float and simd:
            # E_g <- (1 - lr reg) E_g + (lr z w) direction, with fused multiply-adds.
            fcf_rank_axpby_f32(f, lr * sign_scale * w, <const float*>direction, 1 - lr * reg, <float*>e)
        else:
            for c in range(f):
                e[c] += lr * (sign_scale * w * direction[c] - reg * e[c])
        if with_bias:
            eb = _bias_of(bias, bias_copies, slot, g)
            eb[0] += lr * (sign_scale * w - reg_b * eb[0])


cdef int64_t _feature_block(
    Problem* pr, int64_t start, int64_t end, uint64_t* state,
    const index_t* indptr, const index_t* indices,                                          # IN: the positives
    const index_t* pair_users, const index_t* pair_items, int64_t n_pairs,                  # IN: the pairs sampled
    const index_t* block_items, int64_t block_size,                                         # IN: the negatives' block
    const index_t* uf_ptr, const index_t* uf_index, const floating* uf_weight,              # IN (NULL: identity)
    const index_t* if_ptr, const index_t* if_index, const floating* if_weight,              # IN (NULL: identity)
    floating* U, floating* V, floating* bias, const floating* rank_weights,                 # IN/OUT, IN
    floating* U_copies, floating* V_copies, floating* bias_copies,                          # IN/OUT: shared rows
    const int64_t* user_slot, const int64_t* item_slot,                                     # IN (NULL: none shared)
    floating lr, floating reg_u, floating reg_i, floating reg_b, floating* scratch,        # scratch: 4 f
) noexcept nogil:
    cdef int64_t t, q, u, i, j, n_valid, ordered = 0
    cdef int f = pr.f, draw, c
    cdef floating* p = scratch
    cdef floating* qi = scratch + f
    cdef floating* qj = scratch + 2 * f
    cdef floating* difference = scratch + 3 * f
    cdef floating positive, negative, scale, bi, bj
    cdef bint taken
    cdef bint simd = pr.simd and floating is float
    cdef int64_t ring[AHEAD]
    _prime(ring, start, end, state, pair_users, pair_items, n_pairs)
    for t in range(start, end):
        q = _advance(ring, t, start, end, state, indptr, indices, pair_users, pair_items, n_pairs,
                     uf_ptr, uf_index, if_ptr, if_index, U, V, f)
        u = pair_users[q]
        i = pair_items[q]
        _represent(p, U, bias, U_copies, bias_copies, user_slot, uf_ptr, uf_index, uf_weight, u, f, False, simd)
        bi = _represent(qi, V, bias, V_copies, bias_copies, item_slot, if_ptr, if_index, if_weight, i, f,
                        pr.learn_bias, simd)
        positive = (fcf_rank_dot_f32(f, <float*>p, <float*>qi) if simd else _dot(f, p, qi)) + bi
        taken = False
        n_valid = 0
        scale = 0
        for draw in range(pr.max_sampled):
            j = fcf_bounded(&state[1], block_size)
            j = block_items[j]
            if if_ptr != NULL:
                fcf_rank_prefetch(&if_ptr[j], 2 * sizeof(index_t))
            else:
                fcf_rank_prefetch(V + j * f, f * sizeof(floating))
            if _is_positive(indptr, indices, u, j):
                continue
            n_valid += 1
            bj = _represent(qj, V, bias, V_copies, bias_copies, item_slot, if_ptr, if_index, if_weight, j, f,
                            pr.learn_bias, simd)
            negative = (fcf_rank_dot_f32(f, <float*>p, <float*>qj) if simd else _dot(f, p, qj)) + bj
            scale = _scale_of(pr, positive, negative, n_valid, indptr[u + 1] - indptr[u], rank_weights, &ordered, &taken)
            if taken:
                break
        if not taken:
            if pr.loss == 1 and n_valid > 0:
                ordered += 1
            continue
        for c in range(f):
            difference[c] = qi[c] - qj[c]
        _step_rows(U, bias, U_copies, bias_copies, user_slot, uf_ptr, uf_index, uf_weight, u, f, difference, scale,
                   lr, reg_u, reg_b, False, simd)
        if pr.update_items:
            _step_rows(V, bias, V_copies, bias_copies, item_slot, if_ptr, if_index, if_weight, i, f, p, scale, lr,
                       reg_i, reg_b, pr.learn_bias, simd)
            _step_rows(V, bias, V_copies, bias_copies, item_slot, if_ptr, if_index, if_weight, j, f, p, -scale, lr,
                       reg_i, reg_b, pr.learn_bias, simd)
    return ordered


cdef inline const index_t* _index_ptr(const index_t[::1] a) noexcept nogil:
    return NULL if a.shape[0] == 0 else &a[0]


cdef inline const floating* _float_ptr(const floating[::1] a) noexcept nogil:
    return NULL if a.shape[0] == 0 else &a[0]


cdef inline const int64_t* _slot_ptr(const int64_t[::1] a) noexcept nogil:
    return NULL if a.shape[0] == 0 else &a[0]


cdef void _add_changes(floating* rows, const int64_t* shared, int64_t n_shared, int64_t width,
                       const floating* copies, int n_blocks, floating* total) noexcept nogil:
    """Shared rows <- start + (Σ_a (copy_a - start), cells in order) / (cells whose copy
    differs, at least 1), as reference.ranking_epoch; ``total``: scratch of ``width``."""
    cdef int64_t k, c, changed
    cdef int a
    cdef bint differs
    cdef floating change
    cdef floating* row
    for k in range(n_shared):
        row = rows + shared[k] * width
        changed = 0
        for c in range(width):
            total[c] = 0
        for a in range(n_blocks):
            differs = False
            for c in range(width):
                change = copies[(a * n_shared + k) * width + c] - row[c]
                total[c] = total[c] + change
                differs = differs or change != 0
            changed += differs
        for c in range(width):
            row[c] = row[c] + total[c] / <floating>(changed if changed > 1 else 1)


def ranking_epoch(
    const index_t[::1] indptr,                 # IN  (n_users + 1,)
    const index_t[::1] indices,                # IN  (nnz,)
    const index_t[::1] pair_users,             # IN  (nnz,) the pairs in cell order
    const index_t[::1] pair_items,             # IN  (nnz,)
    const int64_t[::1] cell_ptr,               # IN  (P * P + 1,)
    const int64_t[::1] cell_samples,           # IN  (P * P,)
    const index_t[::1] block_items,            # IN  (n_items,) items by block
    const int64_t[::1] block_ptr,              # IN  (P + 1,)
    const index_t[::1] user_feature_indptr,    # IN  (n_users + 1,) or (0,): identity
    const index_t[::1] user_feature_indices,   # IN
    const floating[::1] user_feature_weights,  # IN
    const int64_t[::1] user_slot,              # IN  (n_user_features,) or (0,)
    const int64_t[::1] user_shared,            # IN  (n_user_shared,)
    const index_t[::1] item_feature_indptr,    # IN  (n_items + 1,) or (0,): identity
    const index_t[::1] item_feature_indices,   # IN
    const floating[::1] item_feature_weights,  # IN
    const int64_t[::1] item_slot,              # IN  (n_item_features,) or (0,)
    const int64_t[::1] item_shared,            # IN  (n_item_shared,)
    floating[:, ::1] user_embeddings,          # IN/OUT (n_user_features, f)
    floating[:, ::1] item_embeddings,          # IN/OUT (n_item_features, f)
    floating[::1] item_bias,                   # IN/OUT (n_item_features,)
    uint64_t[:, ::1] rng_state,                # IN/OUT (P, 2)
    const double[::1] rank_weights,            # IN  (n_items + 1,)
    int loss,
    int max_sampled,
    double learning_rate,
    double reg_user,
    double reg_item,
    double reg_bias,
    bint learn_bias,
    bint update_items,
    int n_threads,
):
    """One grid epoch in place; see ``reference.ranking_epoch``."""
    cdef Problem pr
    cdef int n_blocks = rng_state.shape[0], s, a, b
    cdef int f = user_embeddings.shape[1]
    cdef int64_t cell, first, k
    cdef int64_t n_user_shared = user_shared.shape[0], n_item_shared = item_shared.shape[0]
    cdef floating lr = <floating>learning_rate, reg_u = <floating>reg_user
    cdef floating reg_i = <floating>reg_item, reg_b = <floating>reg_bias
    cdef bint identity = user_feature_indptr.shape[0] == 0 and item_feature_indptr.shape[0] == 0
    cdef floating* scratch
    cdef floating* U = &user_embeddings[0, 0]
    cdef floating* V = &item_embeddings[0, 0]
    cdef floating* bias = &item_bias[0]
    dtype = np.float32 if floating is float else np.float64
    weights_array = np.asarray(rank_weights, dtype=dtype)
    cdef const floating[::1] weights = weights_array
    ordered_array = np.zeros(n_blocks * n_blocks, dtype=np.int64)
    cdef int64_t[::1] ordered = ordered_array
    # Each cell's copies of the shared rows (slot a: the cell of user block a), one extra
    # element so that the pointers exist when none are shared.
    U_copies_array = np.empty(n_blocks * n_user_shared * f + 1, dtype=dtype)
    V_copies_array = np.empty(n_blocks * n_item_shared * f + 1, dtype=dtype)
    bias_copies_array = np.empty(n_blocks * n_item_shared + 1, dtype=dtype)
    cdef floating[::1] U_copies = U_copies_array
    cdef floating[::1] V_copies = V_copies_array
    cdef floating[::1] bias_copies = bias_copies_array
    totals_array = np.empty(f + 1, dtype=dtype)
    cdef floating[::1] totals = totals_array
    cdef const int64_t* u_slot = _slot_ptr(user_slot)
    cdef const int64_t* i_slot = _slot_ptr(item_slot)
    if indices.shape[0] == 0:
        return 0
    pr.nnz = indices.shape[0]
    pr.n_items = item_feature_indptr.shape[0] - 1 if item_feature_indptr.shape[0] else item_embeddings.shape[0]
    pr.f = f
    pr.loss = loss
    pr.max_sampled = max_sampled
    pr.learn_bias = learn_bias
    pr.update_items = update_items
    pr.simd = _simd
    with nogil:
        for s in range(n_blocks):
            # Cells of a sub-epoch share no row (module docstring), so the threads may take
            # them in any order: dynamic, for cells of unequal sizes.
            for a in prange(n_blocks, num_threads=n_threads, schedule="dynamic", chunksize=1):
                b = (a + s) % n_blocks
                cell = a * n_blocks + b
                first = cell_ptr[cell]
                for k in range(n_user_shared * f):
                    U_copies[a * n_user_shared * f + k] = U[user_shared[k // f] * f + k % f]
                for k in range(n_item_shared * f):
                    V_copies[a * n_item_shared * f + k] = V[item_shared[k // f] * f + k % f]
                for k in range(n_item_shared):
                    bias_copies[a * n_item_shared + k] = bias[item_shared[k]]
                if cell_samples[cell] == 0:
                    ordered[cell] = 0
                elif identity:
                    ordered[cell] = _identity_block(
                        &pr, 0, cell_samples[cell], &rng_state[a, 0], &indptr[0], &indices[0],
                        &pair_users[first], &pair_items[first], cell_ptr[cell + 1] - first,
                        &block_items[block_ptr[b]], block_ptr[b + 1] - block_ptr[b],
                        U, V, bias, &weights[0], lr, reg_u, reg_i, reg_b,
                    )
                else:
                    scratch = <floating*>malloc(4 * f * sizeof(floating))
                    ordered[cell] = _feature_block(
                        &pr, 0, cell_samples[cell], &rng_state[a, 0], &indptr[0], &indices[0],
                        &pair_users[first], &pair_items[first], cell_ptr[cell + 1] - first,
                        &block_items[block_ptr[b]], block_ptr[b + 1] - block_ptr[b],
                        _index_ptr(user_feature_indptr), _index_ptr(user_feature_indices), _float_ptr(user_feature_weights),
                        _index_ptr(item_feature_indptr), _index_ptr(item_feature_indices), _float_ptr(item_feature_weights),
                        U, V, bias, &weights[0],
                        &U_copies[a * n_user_shared * f], &V_copies[a * n_item_shared * f],
                        &bias_copies[a * n_item_shared], u_slot, i_slot,
                        lr, reg_u, reg_i, reg_b, scratch,
                    )
                    free(scratch)
            if n_user_shared:
                _add_changes(U, &user_shared[0], n_user_shared, f, &U_copies[0], n_blocks, &totals[0])
            if n_item_shared:
                _add_changes(V, &item_shared[0], n_item_shared, f, &V_copies[0], n_blocks, &totals[0])
                _add_changes(bias, &item_shared[0], n_item_shared, 1, &bias_copies[0], n_blocks, &totals[0])
    return int(ordered_array.sum())
