"""Cython twin of top-k selection; ``reference.py`` is the specification.

Each row keeps its k best items in a binary heap whose root is the worst kept item, built
in place in the output row, then heap-sorted. An item that does not beat the root costs one
comparison, so a row costs about n_items comparisons when k << n_items.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY
from libc.stdint cimport int64_t, uint8_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels._heap cimport heap_sift_down, heap_sift_up, heap_swap, heap_worse
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


# Scores per thread per BLAS call, in bytes. A product with more query rows amortises BLAS's
# packing of the item factors (measured here, 26,744 items x 64 factors: 75 GFLOP/s at 32 rows,
# 101 at 128, 112 at 512); the budget caps the scratch for very large catalogues.
SCRATCH_BYTES = 32 << 20
MAX_BLOCK_ROWS = 512


def block_rows(Py_ssize_t n_items, Py_ssize_t itemsize):
    """Query rows per block: as many as fit SCRATCH_BYTES, between 8 and MAX_BLOCK_ROWS."""
    return int(max(8, min(MAX_BLOCK_ROWS, SCRATCH_BYTES // max(1, n_items * itemsize))))


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


def select_topk_dot(
    const floating[:, ::1] queries,           # IN  (n_rows, f)
    const floating[:, ::1] items,             # IN  (n_items, f)
    Py_ssize_t k,
    const index_t[::1] exclude_indptr,        # IN  (n_rows + 1,)
    const index_t[::1] exclude_indices,       # IN  (nnz,)
    int n_threads,
):
    """The k best admissible items of every query by dot product; see ``reference.select_topk_dot``."""
    cdef Py_ssize_t n_rows = queries.shape[0], n_items = items.shape[0], r, b, first, count
    cdef int f = <int>queries.shape[1]
    cdef Py_ssize_t block = block_rows(n_items, 4 if floating is float else 8)
    cdef Py_ssize_t n_blocks = (n_rows + block - 1) // block
    top_items_array = np.empty((n_rows, k), dtype=np.int64)
    top_scores_array = np.empty((n_rows, k), dtype=np.float32 if floating is float else np.float64)
    nan_rows_array = np.zeros(n_rows, dtype=np.uint8)
    excluded_array = np.zeros((n_threads, n_items + 1), dtype=np.uint8)
    # One block of scores per thread, allocated once.
    scratch_array = np.empty((n_threads, block * n_items + 1), dtype=top_scores_array.dtype)
    cdef int64_t[:, ::1] top_items = top_items_array
    cdef floating[:, ::1] top_scores = top_scores_array
    cdef uint8_t[::1] nan_rows = nan_rows_array
    cdef uint8_t[:, ::1] excluded = excluded_array
    cdef floating[:, ::1] scratch = scratch_array
    cdef const floating* query_base = &queries[0, 0] if n_rows and f else NULL
    cdef const floating* item_base = &items[0, 0] if n_items and f else NULL
    cdef const index_t* excluded_base = &exclude_indices[0] if exclude_indices.shape[0] else NULL
    cdef floating* scores

    for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        first = b * block
        count = min(block, n_rows - first)
        scores = &scratch[threadid(), 0]
        if n_items > 0:
            if f > 0:
                _gemm_rows(query_base + first * f, count, item_base, n_items, f, scores)
            else:
                for r in range(count * n_items):
                    scores[r] = 0
        for r in range(first, first + count):
            nan_rows[r] = _row_topk(
                scores + (r - first) * n_items,
                n_items,
                excluded_base + exclude_indptr[r],
                exclude_indptr[r + 1] - exclude_indptr[r],
                &excluded[threadid(), 0],
                k,
                &top_scores[r, 0],
                &top_items[r, 0],
            )
    raise_nan_rows("select_topk_dot", "scores", nan_rows_array,
                   "The query or item vectors hold non-finite values.")
    return top_items_array, top_scores_array
