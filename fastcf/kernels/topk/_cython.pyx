"""Cython twin of top-k selection; ``reference.py`` is the specification.

Each row keeps its k best items in a binary heap whose root is the worst kept item, built
in place in the output row, then heap-sorted. An item that does not beat the root costs one
comparison, so a row costs about n_items comparisons when k << n_items.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t, uint8_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels._heap cimport heap_sift_down, heap_sift_up, heap_sort, heap_swap, heap_worse
from fastcf._validation import raise_nan_rows

__all__ = ["select_topk", "select_topk_dot"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef bint _row_topk(
    const floating* row,               # IN  (n_items,)
    Py_ssize_t n_items,
    const index_t* excluded_items,     # IN  (n_excluded,)
    Py_ssize_t n_excluded,
    uint8_t* excluded,                 # SCRATCH (n_items,) all zero on entry and on exit
    Py_ssize_t k,
    floating* top_scores,              # OUT (k,)
    int64_t* top_items,                # OUT (k,)
) noexcept nogil:
    """Fill one output row; returns True if the row holds NaN (the output is then undefined)."""
    cdef Py_ssize_t item, pos, end, size = 0
    cdef floating score
    cdef bint has_nan = False
    for pos in range(n_excluded):
        excluded[excluded_items[pos]] = 1
    for item in range(n_items):
        score = row[item]
        if size == k:
            # Ties with the root lose: every kept item has a lower index than this one.
            if score <= top_scores[0]:
                continue
            if score != score:
                has_nan = True
                break
            if excluded[item]:
                continue
            top_scores[0] = score
            top_items[0] = item
            heap_sift_down(top_scores, top_items, 0, size)
        else:
            if score != score:
                has_nan = True
                break
            if excluded[item]:
                continue
            top_scores[size] = score
            top_items[size] = item
            heap_sift_up(top_scores, top_items, size)
            size += 1
    for pos in range(n_excluded):
        excluded[excluded_items[pos]] = 0
    # Heap sort: the worst kept item moves to the end, so the row ends best-first.
    for end in range(size - 1, 0, -1):
        heap_swap(top_scores, top_items, 0, end)
        heap_sift_down(top_scores, top_items, 0, end)
    for pos in range(size, k):
        top_scores[pos] = -INFINITY
        top_items[pos] = -1
    return has_nan


def select_topk(
    const floating[:, ::1] scores,            # IN  (n_rows, n_items)
    Py_ssize_t k,
    const index_t[::1] exclude_indptr,        # IN  (n_rows + 1,)
    const index_t[::1] exclude_indices,       # IN  (nnz,)
    int n_threads,
):
    """The k best admissible items of every row; see ``reference.select_topk``."""
    cdef Py_ssize_t n_rows = scores.shape[0], n_items = scores.shape[1], r
    top_items_array = np.empty((n_rows, k), dtype=np.int64)
    top_scores_array = np.empty((n_rows, k), dtype=np.float32 if floating is float else np.float64)
    nan_rows_array = np.zeros(n_rows, dtype=np.uint8)
    # One exclusion mask per thread (+1 column so that a row pointer exists when n_items == 0).
    excluded_array = np.zeros((n_threads, n_items + 1), dtype=np.uint8)
    cdef int64_t[:, ::1] top_items = top_items_array
    cdef floating[:, ::1] top_scores = top_scores_array
    cdef uint8_t[::1] nan_rows = nan_rows_array
    cdef uint8_t[:, ::1] excluded = excluded_array
    cdef const floating* row_base = &scores[0, 0] if n_rows and n_items else NULL
    cdef const index_t* excluded_base = &exclude_indices[0] if exclude_indices.shape[0] else NULL

    for r in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads):
        nan_rows[r] = _row_topk(
            row_base + r * n_items,
            n_items,
            excluded_base + exclude_indptr[r],
            exclude_indptr[r + 1] - exclude_indptr[r],
            &excluded[threadid(), 0],
            k,
            &top_scores[r, 0],
            &top_items[r, 0],
        )
    raise_nan_rows("select_topk", "scores", nan_rows_array)
    return top_items_array, top_scores_array


# --- top-k of dot products: tiles of scores that stay in cache ------------------------------
#
# Scores are computed a tile at a time, QUERY_BLOCK queries x (TILE_BYTES / QUERY_BLOCK) items, by
# one BLAS call, and each query's heap is offered the tile while it is still in cache: the
# users x items scores never go to memory (a 32 MiB block per thread did, and its write and
# read-back cost as much as the product on the 20M shape). Once a heap is full, a candidate must
# beat its root; the SIMD scan (_tile.h) finds the few that do, 8 float32 scores per compare.
# A block of at most FCF_DOT_MAX_QUERIES queries is scored by _tile.h's own loop, not BLAS.
# Items reach each heap in increasing order, tile after tile, so ties go to the lower index as in
# the reference, and each query's exclusions are walked with one pointer (sorted rows).

cdef extern from "_tile.h" nogil:
    int FCF_DOT_MAX_QUERIES
    void fcf_dot_rows_float(const float* queries, Py_ssize_t n_queries, const float* items, Py_ssize_t n_items,
                            int f, float* scores)
    void fcf_dot_rows_double(const double* queries, Py_ssize_t n_queries, const double* items, Py_ssize_t n_items,
                             int f, double* scores)
    int fcf_scan_simd_available()
    void fcf_scan_use_simd(int enabled)
    Py_ssize_t fcf_scan_float(const float* row, Py_ssize_t n, float threshold, int32_t* positions)
    Py_ssize_t fcf_scan_double(const double* row, Py_ssize_t n, double threshold, int32_t* positions)

#: Whether this CPU runs the AVX2 scan; the scalar scan gives the same positions.
SIMD_AVAILABLE = bool(fcf_scan_simd_available())
#: A call with at most this many queries calls no BLAS (kernel_threads need not limit its pools).
BLAS_FREE_QUERIES = FCF_DOT_MAX_QUERIES
fcf_scan_use_simd(1)


def _use_simd(enabled=None):
    """Turn the AVX2 scan on or off (tests compare both paths); returns whether it is on."""
    global SIMD_ON
    if enabled is not None:
        fcf_scan_use_simd(1 if enabled else 0)
        SIMD_ON = bool(enabled) and SIMD_AVAILABLE
    return SIMD_ON


SIMD_ON = SIMD_AVAILABLE
#: Queries per BLAS call.
QUERY_BLOCK = 256
#: Bytes of one thread's tile of scores: with the tile's item rows and the block's query rows it
#: stays in a core's L2 (1 MiB here).
TILE_BYTES = 512 << 10
cdef enum:
    _SCAN_CHUNK = 256
#: Scores per SIMD scan call: the threshold (the heap's root) is refreshed between calls.
SCAN_CHUNK = _SCAN_CHUNK


def block_rows(Py_ssize_t n_items, Py_ssize_t itemsize):
    """(queries per block, items per tile) for a catalogue of n_items."""
    cdef Py_ssize_t tile = max(SCAN_CHUNK, TILE_BYTES // (QUERY_BLOCK * itemsize))
    return QUERY_BLOCK, max(1, min(tile, n_items))


cdef inline void _gemm_rows(
    const floating* queries, Py_ssize_t n_queries, const floating* items, Py_ssize_t n_items,
    int f, floating* scores,
) noexcept nogil:
    """scores (n_queries x n_items, row-major) = queries (n_queries x f) . items (n_items x f)ᵀ."""
    # Row-major scores are column-major scoresᵀ = items . queriesᵀ; both inputs are row-major,
    # so items is passed transposed and queries as is.
    cdef char transa = b"T"
    cdef char transb = b"N"
    cdef int m = <int>n_items, n = <int>n_queries, lda = f, ldb = f, ldc = <int>n_items
    cdef floating one = 1, zero = 0
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &f, &one, <float*>items, &lda, <float*>queries, &ldb, &zero, scores, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &f, &one, <double*>items, &lda, <double*>queries, &ldb, &zero, scores, &ldc)


cdef inline bint _is_excluded(int64_t item, const index_t* excluded, Py_ssize_t end, Py_ssize_t* at) noexcept nogil:
    """Whether item is in the query's sorted exclusions; *at only moves forward (items increase)."""
    while at[0] < end and excluded[at[0]] < item:
        at[0] += 1
    return at[0] < end and excluded[at[0]] == item


cdef bint _offer_tile(
    const floating* row,               # IN  (width,) this query's scores of the tile
    Py_ssize_t width,
    int64_t first_item,                # the tile's first item
    const index_t* excluded,           # IN  every query's exclusions, each row sorted
    Py_ssize_t excluded_end,           # where this query's exclusions end
    Py_ssize_t* at,                    # IN/OUT the exclusion pointer, from where they start
    Py_ssize_t k,
    Py_ssize_t* size,                  # IN/OUT the heap's size
    floating* top_scores,              # IN/OUT (k,) the heap
    int64_t* top_items,                # IN/OUT (k,)
    int32_t* positions,                # SCRATCH (SCAN_CHUNK,)
) noexcept nogil:
    """Offer one tile to one query's heap; returns True at a NaN score (the row is then undefined)."""
    cdef Py_ssize_t j = 0, m, c, found
    cdef floating score
    cdef int64_t item
    # Until the heap is full every admissible item enters, -inf included.
    while size[0] < k and j < width:
        score = row[j]
        item = first_item + j
        j += 1
        if score != score:
            return True
        if _is_excluded(item, excluded, excluded_end, at):
            continue
        top_scores[size[0]] = score
        top_items[size[0]] = item
        heap_sift_up(top_scores, top_items, size[0])
        size[0] += 1
    while j < width:
        m = min(<Py_ssize_t>_SCAN_CHUNK, width - j)
        if floating is float:
            found = fcf_scan_float(row + j, m, top_scores[0], positions)
        else:
            found = fcf_scan_double(row + j, m, top_scores[0], positions)
        for c in range(found):
            score = row[j + positions[c]]
            # Ties with the root lose: every kept item has a lower index than this one.
            if score <= top_scores[0]:
                continue  # the root rose since the scan
            if score != score:
                return True
            item = first_item + j + positions[c]
            if _is_excluded(item, excluded, excluded_end, at):
                continue
            top_scores[0] = score
            top_items[0] = item
            heap_sift_down(top_scores, top_items, 0, size[0])
        j += m
    return False


def select_topk_dot(queries, items, k, exclude_indptr, exclude_indices, n_threads):
    """The k best admissible items of every query by dot product; see ``reference.select_topk_dot``.

    queries (n_rows, f) and items (n_items, f): C-contiguous, one float dtype; the exclusions a
    CSR structure (n_rows + 1,), (nnz,) of one index dtype, rows in any order (sorted here).
    """
    return _select_topk_dot(queries, items, k, exclude_indptr, _sorted_rows(exclude_indptr, exclude_indices),
                            n_threads)


def _sorted_rows(indptr, indices):
    """indices with each row's entries in increasing order (a copy only if some row is not)."""
    if indices.shape[0] < 2:
        return indices
    falls = np.flatnonzero(np.diff(indices) < 0)  # position p: indices[p + 1] < indices[p]
    if falls.size == 0:
        return indices
    # A fall across a row boundary (p + 1 starts a row) is not a fall within a row.
    if np.isin(falls + 1, indptr, assume_unique=False).all():
        return indices
    rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
    return np.ascontiguousarray(indices[np.lexsort((indices, rows))])


def _select_topk_dot(
    const floating[:, ::1] queries,
    const floating[:, ::1] items,
    Py_ssize_t k,
    const index_t[::1] exclude_indptr,
    const index_t[::1] exclude_indices,
    int n_threads,
):
    cdef Py_ssize_t n_rows = queries.shape[0], n_items = items.shape[0]
    cdef int f = <int>queries.shape[1]
    cdef Py_ssize_t block, tile, n_blocks, b, first, count, q, r, t0, width, i
    block, tile = block_rows(n_items, 4 if floating is float else 8)
    n_blocks = (n_rows + block - 1) // block
    top_items_array = np.empty((n_rows, k), dtype=np.int64)
    top_scores_array = np.empty((n_rows, k), dtype=np.float32 if floating is float else np.float64)
    nan_rows_array = np.zeros(n_rows, dtype=np.uint8)
    # Per thread: a tile of scores, the scan's positions, and each query's heap size and exclusion pointer.
    scores_array = np.empty((n_threads, block * tile + 1), dtype=top_scores_array.dtype)
    positions_array = np.empty((n_threads, SCAN_CHUNK), dtype=np.int32)
    state_array = np.empty((n_threads, 2 * block), dtype=np.intp)
    cdef int64_t[:, ::1] top_items = top_items_array
    cdef floating[:, ::1] top_scores = top_scores_array
    cdef uint8_t[::1] nan_rows = nan_rows_array
    cdef floating[:, ::1] scratch = scores_array
    cdef int32_t[:, ::1] positions = positions_array
    cdef Py_ssize_t[:, ::1] state = state_array
    cdef const floating* query_base = &queries[0, 0] if n_rows and f else NULL
    cdef const floating* item_base = &items[0, 0] if n_items and f else NULL
    cdef const index_t* excluded_base = &exclude_indices[0] if exclude_indices.shape[0] else NULL
    cdef floating* scores
    cdef Py_ssize_t* sizes
    cdef Py_ssize_t* at
    cdef int thread

    for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        thread = threadid()
        first = b * block
        count = min(block, n_rows - first)
        scores = &scratch[thread, 0]
        sizes = &state[thread, 0]
        at = &state[thread, block]
        for q in range(count):
            sizes[q] = 0
            at[q] = exclude_indptr[first + q]
        t0 = 0
        while t0 < n_items:
            width = min(tile, n_items - t0)
            if f > 0 and count <= FCF_DOT_MAX_QUERIES:
                if floating is float:
                    fcf_dot_rows_float(query_base + first * f, count, item_base + t0 * f, width, f, scores)
                else:
                    fcf_dot_rows_double(query_base + first * f, count, item_base + t0 * f, width, f, scores)
            elif f > 0:
                _gemm_rows(query_base + first * f, count, item_base + t0 * f, width, f, scores)
            else:
                for i in range(count * width):
                    scores[i] = 0
            for q in range(count):
                r = first + q
                if nan_rows[r] == 0 and _offer_tile(
                    scores + q * width, width, t0, excluded_base, exclude_indptr[r + 1], &at[q], k, &sizes[q],
                    &top_scores[r, 0], &top_items[r, 0], &positions[thread, 0],
                ):
                    nan_rows[r] = 1
            t0 = t0 + width
        for q in range(count):
            r = first + q
            heap_sort(&top_scores[r, 0], &top_items[r, 0], sizes[q])
            for i in range(sizes[q], k):
                top_scores[r, i] = -INFINITY
                top_items[r, i] = -1
    raise_nan_rows("select_topk_dot", "scores", nan_rows_array,
                   "The query or item vectors hold non-finite values.")
    return top_items_array, top_scores_array
