"""Top-k selection, the specification: plain NumPy that the Numba and Cython twins must match.

For each row r of ``scores`` (n_rows x n_items), among the *admissible* items (those not
listed in row r of the exclusion CSR), return the k best, where item a beats item b when

    scores[r, a] > scores[r, b], or scores[r, a] == scores[r, b] and a < b.

So results are sorted by score descending with ties broken by the lower item index; ``-inf``
is an ordinary (lowest) score; NaN is an error. A row with fewer than k admissible items is
padded with index -1 and score -inf. Selection is exact, so the twins are compared exactly.
"""

import numpy as np

from fastcf._validation import raise_nan_rows

__all__ = ["select_topk", "select_topk_dot"]


def select_topk(scores, k, exclude_indptr, exclude_indices, n_threads):
    """The k best admissible items of every row.

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_items), float32 or float64, C-contiguous
    k : int >= 1
    exclude_indptr : ndarray of shape (n_rows + 1,), int32 or int64
    exclude_indices : ndarray of shape (nnz,), same dtype as exclude_indptr
        Row r excludes items ``exclude_indices[exclude_indptr[r]:exclude_indptr[r + 1]]``
        (any order, duplicates allowed).
    n_threads : int
        Unused here (the reference is serial); present so that all twins share one signature.

    Returns
    -------
    indices : ndarray of shape (n_rows, k), int64 (-1 pads)
    top_scores : ndarray of shape (n_rows, k), dtype of scores (-inf pads)
    """
    n_rows, n_items = scores.shape
    raise_nan_rows("select_topk", "scores", np.isnan(scores).any(axis=1))

    excluded = np.zeros(scores.shape, dtype=bool)
    excluded[np.repeat(np.arange(n_rows), np.diff(exclude_indptr)), exclude_indices] = True

    # Candidates are the admissible items scoring at least the row's k-th best admissible
    # score. Every item tied with that score stays in, so the exact tie-break below sees them.
    n_kept = min(k, n_items)
    candidate = ~excluded
    if n_kept > 0:
        masked = np.where(excluded, -np.inf, scores)
        kth_best = -np.partition(-masked, n_kept - 1, axis=1)[:, n_kept - 1]
        candidate &= masked >= kth_best[:, None]

    rows, items = np.nonzero(candidate)
    values = scores[rows, items]
    order = np.lexsort((items, -values, rows))  # by row, then score descending, then item
    rows, items, values = rows[order], items[order], values[order]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows)  # position within the row
    keep = rank < k

    top_indices = np.full((n_rows, k), -1, dtype=np.int64)
    top_scores = np.full((n_rows, k), -np.inf, dtype=scores.dtype)
    top_indices[rows[keep], rank[keep]] = items[keep]
    top_scores[rows[keep], rank[keep]] = values[keep]
    return top_indices, top_scores


def select_topk_dot(queries, items, k, exclude_indptr, exclude_indices, n_threads):
    """``select_topk`` of the scores ``queries @ items.T``, without the caller holding them.

    The fast twins compute the scores a block of rows at a time on per-thread scratch, so
    memory stays at n_threads blocks whatever the number of queries.

    Parameters
    ----------
    queries : ndarray of shape (n_rows, f), float32 or float64, C-contiguous
    items : ndarray of shape (n_items, f), same dtype, C-contiguous
    k, exclude_indptr, exclude_indices, n_threads : as for ``select_topk``

    Returns
    -------
    indices : ndarray of shape (n_rows, k), int64 (-1 pads)
    top_scores : ndarray of shape (n_rows, k), dtype of queries (-inf pads)
    """
    scores = queries @ items.T
    try:
        return select_topk(scores, k, exclude_indptr, exclude_indices, n_threads)
    except ValueError as exc:
        raise ValueError(str(exc).replace("select_topk:", "select_topk_dot:", 1)
                         + " The query or item vectors hold non-finite values.") from None
