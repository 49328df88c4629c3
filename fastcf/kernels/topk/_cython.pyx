"""Cython twin of top-k selection; ``reference.py`` is the specification.

Each row keeps its k best items in a binary heap whose root is the worst kept item, built
in place in the output row, then heap-sorted. An item that does not beat the root costs one
comparison, so a row costs about n_items comparisons when k << n_items.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY
from libc.stdint cimport int64_t, uint8_t

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels._checks import raise_nan_rows

__all__ = ["select_topk"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef inline bint _worse(const floating* scores, const int64_t* items, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """Heap entry a ranks below entry b: lower score, or the same score and a higher item."""
    return scores[a] < scores[b] or (scores[a] == scores[b] and items[a] > items[b])


cdef inline void _swap(floating* scores, int64_t* items, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    cdef floating score = scores[a]
    cdef int64_t item = items[a]
    scores[a] = scores[b]
    items[a] = items[b]
    scores[b] = score
    items[b] = item


cdef inline void _sift_up(floating* scores, int64_t* items, Py_ssize_t pos) noexcept nogil:
    cdef Py_ssize_t parent
    while pos > 0:
        parent = (pos - 1) // 2
        if not _worse(scores, items, pos, parent):
            break
        _swap(scores, items, pos, parent)
        pos = parent


cdef inline void _sift_down(floating* scores, int64_t* items, Py_ssize_t pos, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _worse(scores, items, child + 1, child):
            child += 1
        if not _worse(scores, items, child, pos):
            break
        _swap(scores, items, pos, child)
        pos = child


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
            _sift_down(top_scores, top_items, 0, size)
        else:
            if score != score:
                has_nan = True
                break
            if excluded[item]:
                continue
            top_scores[size] = score
            top_items[size] = item
            _sift_up(top_scores, top_items, size)
            size += 1
    for pos in range(n_excluded):
        excluded[excluded_items[pos]] = 0
    # Heap sort: the worst kept item moves to the end, so the row ends best-first.
    for end in range(size - 1, 0, -1):
        _swap(top_scores, top_items, 0, end)
        _sift_down(top_scores, top_items, 0, end)
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
