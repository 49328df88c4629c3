"""Cython twin of the ranking-metrics kernel; ``reference.py`` is the specification.

Parallel (OpenMP) over blocks of users for factor models, over users for score blocks and
lists. A block's scores are computed on per-thread scratch (block_size x n_items), a tile of
packed item factors (``_columns.pack_items``) at a time, by the small C kernels of ``_metrics_native.h``: four
users by sixteen items (float32; eight for float64) per step on x86-64 CPUs with AVX2, plain
loops elsewhere. Both add the products one by one in factor order, without fused
multiply-add (contraction is switched off for this file), which is the reference's
definition of the score: so the twins rank exactly alike, whatever the thread count, the
block size or the SIMD path.

Per user: mark the excluded and the test items in per-thread masks, keep the k best
admissible items in a binary heap (root = worst kept, ties to the lower index; once the heap
is full, AVX2 compares skip eight items at a time that cannot beat the root), and measure
the list. The full AUC counts, for every item of the row, the positives scoring above and
equal to it (AVX2: each positive against sixteen items at a time, up to 256 positives;
else a branchless binary search among the sorted positives), then takes back what the
excluded items and the positives themselves added: integer counts, so exactly the
reference's. No Python object and no exception inside the parallel loop: NaN rows are
flagged and reported after it.

Measured on this project's 2-core AMD EPYC (ml10m shape, 69,868 users x 10,677 items,
f = 64, float32, 2 threads): 0.76 s for precision/recall/NDCG/MAP@10 of every user, the
scoring running at about 16 multiply-adds per cycle per core; 1.43 s with the full AUC.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport NAN
from libc.stdint cimport int64_t, uint8_t

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels._heap cimport heap_sift_down, heap_sift_up, heap_swap, heap_worse
from fastcf.kernels.metrics import _columns
from fastcf.kernels.metrics._columns import discount_tables, item_tile, pack_items, raise_nan_users

__all__ = ["factor_ranking_metrics", "list_ranking_metrics", "score_ranking_metrics"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef extern from "_metrics_native.h" nogil:
    int fcf_metrics_simd_wanted
    int fcf_metrics_simd_available()
    int fcf_metrics_simd()
    void fcf_metrics_score_f(int n_rows, int f, const float* u, const float* packed, int n_tiles,
                             int tile, float* out)
    void fcf_metrics_score_d(int n_rows, int f, const double* u, const double* packed, int n_tiles,
                             int tile, double* out)
    long fcf_metrics_next_f(const float* row, long start, long n, float root)
    long fcf_metrics_next_d(const double* row, long start, long n, double root)
    void fcf_metrics_auc_counts_f(const float* row, long n, const float* pos, long P, long long* above,
                                  long long* ties)
    void fcf_metrics_auc_counts_d(const double* row, long n, const double* pos, long P, long long* above,
                                  long long* ties)


fcf_metrics_simd()  # settle the CPU check now, not racing inside the first parallel loop
#: Whether this CPU runs the AVX2 kernels (scores, skip scan, AUC counts); they use no FMA, by design.
SIMD_AVAILABLE = bool(fcf_metrics_simd_available())


def _use_simd(bint wanted):
    """Let the scores use the AVX2 kernels where the CPU has them (True, the default) or
    force the plain loops (False, for tests: both must give the same bits)."""
    global fcf_metrics_simd_wanted
    fcf_metrics_simd_wanted = 1 if wanted else 0


def simd_available():
    """Whether this CPU runs the AVX2 scoring kernels."""
    return bool(fcf_metrics_simd_available())


cdef enum:
    C_HITS, C_PRECISION, C_PRECISION_IMPLICIT, C_RECALL, C_F1, C_MAP, C_NDCG, C_NDCG_GRADED
    C_MRR, C_HIT_RATE, C_AUC, C_AUC_IMPLICIT, N_COLUMNS

# The enum above must list _columns.COLUMNS in order; a mismatch would scramble every table.
assert [C_HITS, C_PRECISION, C_PRECISION_IMPLICIT, C_RECALL, C_F1, C_MAP, C_NDCG, C_NDCG_GRADED, C_MRR,
        C_HIT_RATE, C_AUC, C_AUC_IMPLICIT] == [getattr(_columns, name.upper()) for name in _columns.COLUMNS]
assert N_COLUMNS == len(_columns.COLUMNS)


cdef inline Py_ssize_t _next(const floating* row, Py_ssize_t start, Py_ssize_t n, floating root) noexcept nogil:
    if floating is float:
        return fcf_metrics_next_f(row, start, n, root)
    else:
        return fcf_metrics_next_d(row, start, n, root)


cdef bint _rank(
    const floating* row,        # IN  (n_items,)
    Py_ssize_t n_items,
    const uint8_t* excluded,    # IN  (n_items,) 1 = not admissible
    floating* heap,             # SCRATCH (k,)
    int64_t* top,               # OUT (k,)
    Py_ssize_t k,
) noexcept nogil:
    """Fill ``top`` with the k best admissible items; returns True if the row holds NaN."""
    cdef Py_ssize_t item = 0, pos, end, size = 0
    cdef floating score
    while item < n_items:
        if size == k:
            # Once the heap is full, an item must beat the root; ties with it lose, since every
            # kept item has a lower index. _next skips the losers (most items) 8 at a time.
            item = _next(row, item, n_items, heap[0])
            if item >= n_items:
                break
            score = row[item]
            if score != score:
                return True
            if not excluded[item]:
                heap[0] = score
                top[0] = item
                heap_sift_down(heap, top, 0, size)
        else:
            score = row[item]
            if score != score:
                return True
            if not excluded[item]:
                heap[size] = score
                top[size] = item
                heap_sift_up(heap, top, size)
                size += 1
        item += 1
    for end in range(size - 1, 0, -1):
        heap_swap(heap, top, 0, end)
        heap_sift_down(heap, top, 0, end)
    for pos in range(size, k):
        top[pos] = -1
    return False


# --- per-user metrics -----------------------------------------------------------------------

cdef inline void _sift_down_min(double* values, Py_ssize_t pos, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t child
    cdef double tmp
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and values[child + 1] < values[child]:
            child += 1
        if not values[child] < values[pos]:
            break
        tmp = values[pos]
        values[pos] = values[child]
        values[child] = tmp
        pos = child


cdef double _ideal_graded(const double* gains, Py_ssize_t n_gains, Py_ssize_t m, const double* discounts,
                          double* heap) noexcept nogil:
    """Σ_{r < m} g_(r) D(r) over the m largest gains, largest first (m <= n_gains)."""
    cdef Py_ssize_t q, pos, end, r, size = 0
    cdef double g, tmp, total = 0.0
    for q in range(n_gains):
        g = gains[q]
        if size < m:
            heap[size] = g
            size += 1
            if size == m:
                for pos in range(m // 2 - 1, -1, -1):
                    _sift_down_min(heap, pos, m)
        elif g > heap[0]:
            heap[0] = g
            _sift_down_min(heap, 0, m)
    for end in range(size - 1, 0, -1):  # a min-heap sorts into descending order
        tmp = heap[0]
        heap[0] = heap[end]
        heap[end] = tmp
        _sift_down_min(heap, 0, end)
    for r in range(size):
        total = total + heap[r] * discounts[r]
    return total


cdef void _list_values(
    const int64_t* top,          # IN  (k,)
    Py_ssize_t k,
    const int64_t* test_slot,    # IN  (n_items,) 1 + position in the test row, or 0
    const double* gains,         # IN  (n_test,), read only when compute_graded (may be NULL otherwise)
    Py_ssize_t n_test,
    Py_ssize_t n_items,
    const double* discounts,     # IN  (k,)
    const double* ideal,         # IN  (k,)
    bint compute_graded,
    double* gain_heap,           # SCRATCH (k,)
    double* out,                 # OUT (N_COLUMNS,)
) noexcept nogil:
    """One user's row of COLUMNS from ``top`` (auc left NaN)."""
    cdef Py_ssize_t r, c, m, hits = 0, misses = 0, first_hit = -1, negatives
    cdef int64_t item, slot
    cdef double ap = 0.0, dcg = 0.0, dcg_graded = 0.0, auc_implicit = 0.0, ideal_graded, total
    for c in range(N_COLUMNS):
        out[c] = NAN
    if n_test == 0:
        return
    for r in range(k):
        item = top[r]
        slot = test_slot[item] if item >= 0 else 0
        if slot > 0:
            hits += 1
            ap = ap + <double>hits / <double>(r + 1)
            dcg = dcg + discounts[r]
            if compute_graded:
                dcg_graded = dcg_graded + gains[slot - 1] * discounts[r]
            if first_hit < 0:
                first_hit = r
        elif item >= 0:  # a pad (-1) is no negative item: it takes no part in the AUC
            misses += 1
            auc_implicit = auc_implicit + <double>hits
    m = k if k < n_test else n_test
    out[C_HITS] = <double>hits
    out[C_PRECISION] = <double>hits / <double>k
    out[C_PRECISION_IMPLICIT] = <double>hits / <double>m
    out[C_RECALL] = <double>hits / <double>n_test
    out[C_F1] = 2.0 * <double>hits / <double>(k + n_test)
    out[C_MAP] = ap / <double>m
    out[C_NDCG] = dcg / ideal[m - 1]
    if compute_graded:
        ideal_graded = _ideal_graded(gains, n_test, m, discounts, gain_heap)
        out[C_NDCG_GRADED] = dcg_graded / ideal_graded if ideal_graded > 0 else 0.0
    out[C_MRR] = 1.0 / <double>(first_hit + 1) if first_hit >= 0 else 0.0
    out[C_HIT_RATE] = 1.0 if hits > 0 else 0.0
    negatives = n_items - n_test
    if negatives > 0:
        total = auc_implicit + (<double>(hits + n_test) / 2.0) * <double>(negatives - misses)
        out[C_AUC_IMPLICIT] = total / (<double>n_test * <double>negatives)


cdef void _sort_ascending(floating* a, Py_ssize_t n) noexcept nogil:
    """Heap sort (in place, no allocation)."""
    cdef Py_ssize_t start, end, root, child
    cdef floating tmp
    start = n // 2 - 1
    while start >= 0:
        root = start
        start -= 1
        while True:
            child = 2 * root + 1
            if child >= n:
                break
            if child + 1 < n and a[child] < a[child + 1]:
                child += 1
            if not a[root] < a[child]:
                break
            tmp = a[root]
            a[root] = a[child]
            a[child] = tmp
            root = child
    for end in range(n - 1, 0, -1):
        tmp = a[0]
        a[0] = a[end]
        a[end] = tmp
        root = 0
        while True:
            child = 2 * root + 1
            if child >= end:
                break
            if child + 1 < end and a[child] < a[child + 1]:
                child += 1
            if not a[root] < a[child]:
                break
            tmp = a[root]
            a[root] = a[child]
            a[child] = tmp
            root = child


cdef inline void _auc_counts(const floating* row, Py_ssize_t n, const floating* positives, Py_ssize_t n_pos,
                             long long* above, long long* ties) noexcept nogil:
    if floating is float:
        fcf_metrics_auc_counts_f(row, n, positives, n_pos, above, ties)
    else:
        fcf_metrics_auc_counts_d(row, n, positives, n_pos, above, ties)


cdef double _full_auc(
    const floating* row, Py_ssize_t n_items,
    uint8_t* excluded,                       # IN/SCRATCH (n_items,) 1 = excluded; may be left at 2
    const index_t* train_items, Py_ssize_t n_train,
    const index_t* test_items, Py_ssize_t n_test,
    floating* positives,                     # SCRATCH (n_test,)
) noexcept nogil:
    """AUC over the admissible items (``excluded`` marks set).

    Counts every item of the row against the positives, then takes back what the excluded
    items and the positives themselves added: two tight loops instead of a mask test per item.
    """
    cdef Py_ssize_t q, item, n_pos = 0, n_excluded = 0
    cdef long long above = 0, ties = 0, back_above = 0, back_ties = 0, n_neg
    for q in range(n_test):
        if not excluded[test_items[q]]:
            positives[n_pos] = row[test_items[q]]
            n_pos += 1
    if n_pos == 0:
        return NAN
    _sort_ascending(positives, n_pos)
    _auc_counts(row, n_items, positives, n_pos, &above, &ties)
    for q in range(n_train):
        item = train_items[q]
        if excluded[item] == 1:  # first time seen: count it once (train rows may repeat items)
            excluded[item] = 2
            n_excluded += 1
            _auc_counts(row + item, 1, positives, n_pos, &back_above, &back_ties)
    for q in range(n_test):
        item = test_items[q]
        if not excluded[item]:
            _auc_counts(row + item, 1, positives, n_pos, &back_above, &back_ties)
    n_neg = n_items - n_excluded - n_pos
    if n_neg == 0:
        return NAN
    return (<double>(above - back_above) + 0.5 * <double>(ties - back_ties)) / (<double>n_pos * <double>n_neg)


cdef bint _measure_user(
    const floating* row, Py_ssize_t n_items, Py_ssize_t u,
    const index_t* train_indptr, const index_t* train_indices,
    const index_t* test_indptr, const index_t* test_indices, const double* test_gains,
    const double* discounts, const double* ideal, bint compute_auc, bint compute_graded,
    uint8_t* excluded, int64_t* test_slot, floating* heap, double* gain_heap, floating* positives,
    int64_t* top, Py_ssize_t k, double* out,
) noexcept nogil:
    """Rank one user's score row and write its metrics; returns True if the row holds NaN."""
    cdef Py_ssize_t q
    cdef Py_ssize_t train_start = train_indptr[u], train_stop = train_indptr[u + 1]
    cdef Py_ssize_t test_start = test_indptr[u], test_stop = test_indptr[u + 1]
    cdef bint has_nan
    for q in range(train_start, train_stop):
        excluded[train_indices[q]] = 1
    for q in range(test_start, test_stop):
        test_slot[test_indices[q]] = q - test_start + 1
    has_nan = _rank(row, n_items, excluded, heap, top, k)
    if not has_nan:
        _list_values(top, k, test_slot, test_gains + test_start if test_gains != NULL else NULL,
                     test_stop - test_start, n_items,
                     discounts, ideal, compute_graded, gain_heap, out)
        if compute_auc and test_stop > test_start:
            out[C_AUC] = _full_auc(row, n_items, excluded, train_indices + train_start, train_stop - train_start,
                                   test_indices + test_start, test_stop - test_start, positives)
    for q in range(train_start, train_stop):
        excluded[train_indices[q]] = 0
    for q in range(test_start, test_stop):
        test_slot[test_indices[q]] = 0
    return has_nan


cdef inline void _score(int n_rows, int f, const floating* u, const floating* packed, int n_tiles, int tile,
                        floating* out) noexcept nogil:
    if floating is float:
        fcf_metrics_score_f(n_rows, f, u, packed, n_tiles, tile, out)
    else:
        fcf_metrics_score_d(n_rows, f, u, packed, n_tiles, tile, out)


# --- entry points ---------------------------------------------------------------------------

def _max_row(indptr):
    return int(np.max(np.diff(indptr))) if indptr.shape[0] > 1 else 0


def factor_ranking_metrics(
    const floating[:, ::1] user_factors,     # IN  (n_users, f)
    const floating[:, ::1] item_factors,     # IN  (n_items, f)
    const index_t[::1] users,                # IN  (n,)
    const index_t[::1] train_indptr,         # IN  (n_users + 1,)
    const index_t[::1] train_indices,        # IN  (nnz,)
    const index_t[::1] test_indptr,          # IN  (n_users + 1,)
    const index_t[::1] test_indices,         # IN  (nnz_test,)
    const double[::1] test_gains,            # IN  (nnz_test,)
    Py_ssize_t k,
    bint compute_auc,
    bint compute_graded,
    Py_ssize_t block_size,
    int n_threads,
):
    """Top k and ranking metrics with scores U_u · V_i; see ``reference.factor_ranking_metrics``."""
    cdef Py_ssize_t n = users.shape[0], n_items = item_factors.shape[0], f = item_factors.shape[1]
    cdef Py_ssize_t b, r, start, stop, j, tid, n_blocks, padded, max_test
    cdef int tile = item_tile(f, item_factors.itemsize)
    dtype = np.float32 if floating is float else np.float64
    packed_array = pack_items(np.asarray(item_factors), tile)
    cdef const floating[:, :, ::1] packed = packed_array
    cdef int n_tiles = packed_array.shape[0]
    padded = <Py_ssize_t>n_tiles * tile
    block_size = max(1, min(block_size, n))
    n_blocks = (n + block_size - 1) // block_size
    discounts_array, ideal_array = discount_tables(k)
    cdef const double[::1] discounts = discounts_array
    cdef const double[::1] ideal = ideal_array
    max_test = _max_row(np.asarray(test_indptr))

    top_array = np.empty((n, k), dtype=np.int64)
    values_array = np.empty((n, N_COLUMNS), dtype=np.float64)
    nan_array = np.zeros(n, dtype=np.uint8)
    cdef int64_t[:, ::1] top_items = top_array
    cdef double[:, ::1] values = values_array
    cdef uint8_t[::1] nan_rows = nan_array
    # Per-thread scratch, allocated once per call.
    score_scratch_array = np.empty((n_threads, block_size * padded), dtype=dtype)
    user_scratch_array = np.empty((n_threads, block_size * f), dtype=dtype)
    excluded_array = np.zeros((n_threads, n_items + 1), dtype=np.uint8)
    slot_array = np.zeros((n_threads, n_items + 1), dtype=np.int64)
    heap_array = np.empty((n_threads, k), dtype=dtype)
    gain_heap_array = np.empty((n_threads, k), dtype=np.float64)
    positives_array = np.empty((n_threads, max(max_test, 1)), dtype=dtype)
    cdef floating[:, ::1] score_scratch = score_scratch_array
    cdef floating[:, ::1] user_scratch = user_scratch_array
    cdef uint8_t[:, ::1] excluded = excluded_array
    cdef int64_t[:, ::1] test_slot = slot_array
    cdef floating[:, ::1] heap = heap_array
    cdef double[:, ::1] gain_heap = gain_heap_array
    cdef floating[:, ::1] positives = positives_array
    cdef const index_t* train_indices_ptr = &train_indices[0] if train_indices.shape[0] else NULL
    cdef const index_t* test_indices_ptr = &test_indices[0] if test_indices.shape[0] else NULL
    cdef const double* gains_ptr = &test_gains[0] if test_gains.shape[0] else NULL

    if n and n_items:
        for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
            tid = threadid()
            start = b * block_size
            stop = start + block_size
            if stop > n:
                stop = n
            for r in range(start, stop):
                for j in range(f):
                    user_scratch[tid, (r - start) * f + j] = user_factors[users[r], j]
            _score(<int>(stop - start), <int>f, &user_scratch[tid, 0], &packed[0, 0, 0], n_tiles, tile,
                   &score_scratch[tid, 0])
            for r in range(start, stop):
                nan_rows[r] = _measure_user(
                    &score_scratch[tid, (r - start) * padded], n_items, users[r],
                    &train_indptr[0], train_indices_ptr, &test_indptr[0], test_indices_ptr, gains_ptr,
                    &discounts[0], &ideal[0], compute_auc, compute_graded,
                    &excluded[tid, 0], &test_slot[tid, 0], &heap[tid, 0], &gain_heap[tid, 0],
                    &positives[tid, 0], &top_items[r, 0], k, &values[r, 0],
                )
    elif n:
        _empty_catalogue(np.asarray(users), np.asarray(test_indptr), top_array, values_array, k)
    raise_nan_users("factor_ranking_metrics", nan_array, np.asarray(users))
    return top_array, values_array


def score_ranking_metrics(
    const floating[:, ::1] scores,           # IN  (n, n_items)
    const index_t[::1] users,                # IN  (n,)
    const index_t[::1] train_indptr,         # IN
    const index_t[::1] train_indices,        # IN
    const index_t[::1] test_indptr,          # IN
    const index_t[::1] test_indices,         # IN
    const double[::1] test_gains,            # IN
    Py_ssize_t k,
    bint compute_auc,
    bint compute_graded,
    int n_threads,
):
    """Top k and ranking metrics from a score block; see ``reference.score_ranking_metrics``."""
    cdef Py_ssize_t n = scores.shape[0], n_items = scores.shape[1], r, tid, max_test
    dtype = np.float32 if floating is float else np.float64
    discounts_array, ideal_array = discount_tables(k)
    cdef const double[::1] discounts = discounts_array
    cdef const double[::1] ideal = ideal_array
    max_test = _max_row(np.asarray(test_indptr))
    top_array = np.empty((n, k), dtype=np.int64)
    values_array = np.empty((n, N_COLUMNS), dtype=np.float64)
    nan_array = np.zeros(n, dtype=np.uint8)
    cdef int64_t[:, ::1] top_items = top_array
    cdef double[:, ::1] values = values_array
    cdef uint8_t[::1] nan_rows = nan_array
    excluded_array = np.zeros((n_threads, n_items + 1), dtype=np.uint8)
    slot_array = np.zeros((n_threads, n_items + 1), dtype=np.int64)
    heap_array = np.empty((n_threads, k), dtype=dtype)
    gain_heap_array = np.empty((n_threads, k), dtype=np.float64)
    positives_array = np.empty((n_threads, max(max_test, 1)), dtype=dtype)
    cdef uint8_t[:, ::1] excluded = excluded_array
    cdef int64_t[:, ::1] test_slot = slot_array
    cdef floating[:, ::1] heap = heap_array
    cdef double[:, ::1] gain_heap = gain_heap_array
    cdef floating[:, ::1] positives = positives_array
    cdef const index_t* train_indices_ptr = &train_indices[0] if train_indices.shape[0] else NULL
    cdef const index_t* test_indices_ptr = &test_indices[0] if test_indices.shape[0] else NULL
    cdef const double* gains_ptr = &test_gains[0] if test_gains.shape[0] else NULL

    if n and n_items:
        for r in prange(n, nogil=True, schedule="dynamic", chunksize=16, num_threads=n_threads):
            tid = threadid()
            nan_rows[r] = _measure_user(
                &scores[r, 0], n_items, users[r],
                &train_indptr[0], train_indices_ptr, &test_indptr[0], test_indices_ptr, gains_ptr,
                &discounts[0], &ideal[0], compute_auc, compute_graded,
                &excluded[tid, 0], &test_slot[tid, 0], &heap[tid, 0], &gain_heap[tid, 0],
                &positives[tid, 0], &top_items[r, 0], k, &values[r, 0],
            )
    elif n:
        _empty_catalogue(np.asarray(users), np.asarray(test_indptr), top_array, values_array, k)
    raise_nan_users("score_ranking_metrics", nan_array, np.asarray(users))
    return top_array, values_array


def list_ranking_metrics(
    const int64_t[:, ::1] top_items,         # IN  (n, k)
    const index_t[::1] users,                # IN  (n,)
    const index_t[::1] test_indptr,          # IN
    const index_t[::1] test_indices,         # IN
    const double[::1] test_gains,            # IN
    Py_ssize_t n_items,
    bint compute_graded,
    int n_threads,
):
    """Ranking metrics of given lists; see ``reference.list_ranking_metrics``."""
    cdef Py_ssize_t n = top_items.shape[0], k = top_items.shape[1], r, q, tid, start, stop, u
    discounts_array, ideal_array = discount_tables(k)
    cdef const double[::1] discounts = discounts_array
    cdef const double[::1] ideal = ideal_array
    values_array = np.empty((n, N_COLUMNS), dtype=np.float64)
    cdef double[:, ::1] values = values_array
    slot_array = np.zeros((n_threads, n_items + 1), dtype=np.int64)
    gain_heap_array = np.empty((n_threads, k), dtype=np.float64)
    cdef int64_t[:, ::1] test_slot = slot_array
    cdef double[:, ::1] gain_heap = gain_heap_array
    cdef const double* gains_ptr = &test_gains[0] if test_gains.shape[0] else NULL

    for r in prange(n, nogil=True, schedule="dynamic", chunksize=64, num_threads=n_threads):
        tid = threadid()
        u = users[r]
        start = test_indptr[u]
        stop = test_indptr[u + 1]
        for q in range(start, stop):
            test_slot[tid, test_indices[q]] = q - start + 1
        _list_values(&top_items[r, 0], k, &test_slot[tid, 0], gains_ptr + start if gains_ptr != NULL else NULL,
                     stop - start, n_items, &discounts[0], &ideal[0], compute_graded, &gain_heap[tid, 0],
                     &values[r, 0])
        for q in range(start, stop):
            test_slot[tid, test_indices[q]] = 0
    return values_array


def _empty_catalogue(users, test_indptr, top_array, values_array, k):
    """No items: every list is empty and no user can have a test item, so every row is NaN."""
    top_array[:] = -1
    values_array[:] = np.nan
