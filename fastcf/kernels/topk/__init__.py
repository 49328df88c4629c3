"""Top-k selection over dense score blocks: the public entry point and its checks.

Twins: ``reference.py`` (the specification), ``_numba.py``, ``_cython.pyx``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from fastcf import _validation
from fastcf.kernels import _backend
from fastcf.kernels._threads import kernel_threads

__all__ = ["select_topk", "select_topk_dot"]


def select_topk(
    scores: ArrayLike,
    k: int,
    *,
    exclude_indptr: Optional[ArrayLike] = None,
    exclude_indices: Optional[ArrayLike] = None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """The k highest-scoring admissible items of every row, best first.

    Ties are broken by the lower item index, so the result is exact and the same for every
    backend and thread count. ``-inf`` is an ordinary (lowest) score; NaN raises.

    Parameters
    ----------
    scores : array of shape (n_rows, n_items), float32 or float64
        Integer input is taken as float64, float16 as float32. A C-contiguous float array is
        used without a copy.
    k : int >= 1
        Items per row. ``k > n_items`` is allowed: rows are padded.
    exclude_indptr, exclude_indices : int arrays of shape (n_rows + 1,) and (nnz,), optional
        A CSR structure of items that must not be returned: row r excludes
        ``exclude_indices[exclude_indptr[r]:exclude_indptr[r + 1]]`` (e.g. the items a user
        has already seen: ``seen.indptr, seen.indices`` of a user x item ``csr_matrix``).
        Order and duplicates within a row do not matter. Give both or neither.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at n_rows.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    indices : ndarray of shape (n_rows, k), int64
        Item indices, best first; -1 where a row has fewer than k admissible items.
    top_scores : ndarray of shape (n_rows, k), dtype of ``scores``
        Their scores; -inf in the padded places.

    Raises
    ------
    ValueError
        k < 1, ``scores`` not 2-D, a malformed exclusion CSR (naming the offending entry),
        or NaN in a row (naming the first such row).
    """
    owner = "select_topk"
    scores = _validation.as_float_matrix(scores, "scores", owner)
    k = _validation.check_positive_int(k, "k", owner)
    n_rows, n_items = scores.shape
    _validation.check_allocation((n_rows, k), 8 + scores.itemsize, "k", owner, "result (padded to k)")
    indptr, indices = _exclusions(exclude_indptr, exclude_indices, n_rows, n_items, owner)
    twin = _backend.twin("topk", backend)
    with kernel_threads(n_threads, owner, n_tasks=n_rows) as n:
        return twin.select_topk(scores, k, indptr, indices, n)


def select_topk_dot(
    queries: ArrayLike,
    items: ArrayLike,
    k: int,
    *,
    exclude_indptr: Optional[ArrayLike] = None,
    exclude_indices: Optional[ArrayLike] = None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """The k items with the largest dot product with each query, best first, fused.

    Equal to ``select_topk(queries @ items.T, k, ...)``, but the scores exist only a block of
    rows at a time per thread (each thread multiplies its own block with single-threaded BLAS
    and selects from it while it is in cache), so memory does not grow with the number of
    queries and no thread pool waits on another. This is recommend-all for factor models.

    Parameters
    ----------
    queries : array of shape (n_rows, f), float32 or float64
        User factors (or any query vectors).
    items : array of shape (n_items, f), same dtype
        Item factors.
    k, exclude_indptr, exclude_indices, n_threads, backend
        As for :func:`select_topk`; exclusions index the rows of ``items``.

    Returns
    -------
    indices : ndarray of shape (n_rows, k), int64 (-1 pads)
    top_scores : ndarray of shape (n_rows, k), dtype of ``queries`` (-inf pads)

    Raises
    ------
    ValueError
        k < 1, shapes or dtypes that do not fit (naming both), a malformed exclusion CSR,
        non-finite ``queries`` or ``items`` (naming the first such value), or NaN among the
        scores (finite factors whose products overflow), naming the first such row.
    """
    owner = "select_topk_dot"
    queries = _validation.as_float_matrix(queries, "queries", owner)
    items = _validation.as_float_matrix(items, "items", owner)
    if queries.dtype != items.dtype:
        raise TypeError(
            f"{owner}: 'queries' and 'items' must have one dtype; got {queries.dtype} and {items.dtype}."
        )
    if queries.shape[1] != items.shape[1]:
        raise ValueError(
            f"{owner}: 'queries' and 'items' must have the same number of columns (factors); got "
            f"shapes {queries.shape} and {items.shape}."
        )
    # Checked here, by name: an infinite factor would otherwise give inf scores (ranked as
    # if meaningful) or inf * 0 = NaN, reported only as a row of scores.
    _validation.check_finite(queries, "queries", owner)
    _validation.check_finite(items, "items", owner)
    k = _validation.check_positive_int(k, "k", owner)
    n_rows = queries.shape[0]
    _validation.check_allocation((n_rows, k), 8 + queries.itemsize, "k", owner, "result (padded to k)")
    indptr, indices = _exclusions(exclude_indptr, exclude_indices, n_rows, items.shape[0], owner)
    return select_topk_dot_unchecked(queries, items, k, indptr, indices, n_threads, backend)


def select_topk_dot_unchecked(queries, items, k, exclude_indptr, exclude_indices, n_threads=None, backend=None):
    """:func:`select_topk_dot` without its checks, for a model serving factors that fit or
    load checked once (a per-call scan of every item factor would be work done twice).

    ``queries`` and ``items``: finite, C-contiguous, native, one float dtype, one width; k an
    int >= 1; the exclusion CSR as :func:`fastcf._validation.as_csr_structure` leaves it (or
    ``empty_csr_structure``). Anything else reads out of bounds, without an error.
    """
    twin = _backend.twin("topk", backend)
    blas = queries.shape[0] > getattr(twin, "BLAS_FREE_QUERIES", -1)
    with kernel_threads(n_threads, "select_topk_dot", n_tasks=queries.shape[0], blas=blas) as n:
        return twin.select_topk_dot(queries, items, k, exclude_indptr, exclude_indices, n)


def _exclusions(exclude_indptr, exclude_indices, n_rows, n_items, owner):
    if (exclude_indptr is None) != (exclude_indices is None):
        given = "exclude_indptr" if exclude_indices is None else "exclude_indices"
        raise ValueError(
            f"{owner}: exclusions are a CSR structure, so 'exclude_indptr' and 'exclude_indices' "
            f"come together; only '{given}' was given."
        )
    if exclude_indptr is None:
        return _validation.empty_csr_structure(n_rows)
    return _validation.as_csr_structure(
        exclude_indptr, exclude_indices, n_rows, n_items, ("exclude_indptr", "exclude_indices"), owner,
    )
