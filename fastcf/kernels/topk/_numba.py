"""Numba twin of top-k selection; ``reference.py`` is the specification.

Each row keeps its k best items in a binary heap whose root is the worst kept item, built
in place in the output row, then heap-sorted. An item that does not beat the root costs one
comparison, so a row costs about n_items comparisons when k << n_items.
"""

import numba
import numpy as np

from fastcf._validation import raise_nan_rows
from fastcf.kernels._threads import numba_threads

__all__ = ["select_topk", "select_topk_dot"]


@numba.njit(inline="always")
def _worse(scores, items, a, b):
    """Heap entry a ranks below entry b: lower score, or the same score and a higher item."""
    return scores[a] < scores[b] or (scores[a] == scores[b] and items[a] > items[b])


@numba.njit(inline="always")
def _swap(scores, items, a, b):
    scores[a], scores[b] = scores[b], scores[a]
    items[a], items[b] = items[b], items[a]


@numba.njit
def _sift_up(scores, items, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if not _worse(scores, items, pos, parent):
            break
        _swap(scores, items, pos, parent)
        pos = parent


@numba.njit
def _sift_down(scores, items, pos, size):
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


@numba.njit
def _row_topk(row, excluded_items, excluded, top_scores, top_items):
    """Fill one output row; returns True if the row holds NaN (the output is then undefined)."""
    k = top_scores.shape[0]
    for item in excluded_items:
        excluded[item] = True
    has_nan = False
    size = 0
    for item in range(row.shape[0]):
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
    for item in excluded_items:
        excluded[item] = False
    # Heap sort: the worst kept item moves to the end, so the row ends best-first.
    for end in range(size - 1, 0, -1):
        _swap(top_scores, top_items, 0, end)
        _sift_down(top_scores, top_items, 0, end)
    for pos in range(size, k):
        top_scores[pos] = -np.inf
        top_items[pos] = -1
    return has_nan


@numba.njit(parallel=True, nogil=True, cache=True)
def _select_topk(scores, exclude_indptr, exclude_indices, excluded, top_scores, top_items, nan_rows):
    for r in numba.prange(scores.shape[0]):
        # One exclusion mask per thread, allocated once by the caller, not once per row.
        nan_rows[r] = _row_topk(
            scores[r],
            exclude_indices[exclude_indptr[r]:exclude_indptr[r + 1]],
            excluded[numba.get_thread_id()],
            top_scores[r],
            top_items[r],
        )


def select_topk(scores, k, exclude_indptr, exclude_indices, n_threads):
    """The k best admissible items of every row; see ``reference.select_topk``."""
    n_rows, n_items = scores.shape
    top_items = np.empty((n_rows, k), dtype=np.int64)
    top_scores = np.empty((n_rows, k), dtype=scores.dtype)
    nan_rows = np.zeros(n_rows, dtype=np.bool_)
    with numba_threads(n_threads):
        excluded = np.zeros((numba.get_num_threads(), n_items), dtype=np.bool_)
        _select_topk(scores, exclude_indptr, exclude_indices, excluded, top_scores, top_items, nan_rows)
    raise_nan_rows("select_topk", "scores", nan_rows)
    return top_items, top_scores


_SCRATCH_BYTES = 32 << 20  # scores per thread per product (see the Cython twin)


@numba.njit(parallel=True, nogil=True, cache=True)
def _select_topk_dot(queries, items_t, block, exclude_indptr, exclude_indices, excluded, top_scores, top_items,
                     nan_rows):
    n_rows = queries.shape[0]
    n_blocks = (n_rows + block - 1) // block
    for b in numba.prange(n_blocks):
        first = b * block
        last = min(first + block, n_rows)
        scores = np.dot(queries[first:last], items_t)  # one BLAS call per block of rows
        mask = excluded[numba.get_thread_id()]
        for r in range(first, last):
            nan_rows[r] = _row_topk(
                scores[r - first],
                exclude_indices[exclude_indptr[r]:exclude_indptr[r + 1]],
                mask,
                top_scores[r],
                top_items[r],
            )


def select_topk_dot(queries, items, k, exclude_indptr, exclude_indices, n_threads):
    """The k best admissible items of every query by dot product; see ``reference.select_topk_dot``."""
    n_rows = queries.shape[0]
    n_items = items.shape[0]
    top_items = np.empty((n_rows, k), dtype=np.int64)
    top_scores = np.empty((n_rows, k), dtype=queries.dtype)
    nan_rows = np.zeros(n_rows, dtype=np.bool_)
    if n_rows and (n_items == 0 or queries.shape[1] == 0):
        # np.dot needs a non-empty inner dimension; the scores are then all zero.
        return select_topk(np.zeros((n_rows, n_items), dtype=queries.dtype), k, exclude_indptr,
                           exclude_indices, n_threads)
    with numba_threads(n_threads):
        excluded = np.zeros((numba.get_num_threads(), n_items), dtype=np.bool_)
        block = max(8, min(512, _SCRATCH_BYTES // max(1, n_items * queries.itemsize)))
        _select_topk_dot(queries, np.ascontiguousarray(items.T), block, exclude_indptr, exclude_indices, excluded,
                         top_scores, top_items, nan_rows)
    raise_nan_rows("select_topk_dot", "scores", nan_rows, "The query or item vectors hold non-finite values.")
    return top_items, top_scores
