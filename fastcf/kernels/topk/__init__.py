"""Top-k selection over dense score blocks: the public entry point and its checks.

Twins: ``reference.py`` (the specification), ``_numba.py``, ``_cython.pyx``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from fastcf.kernels import _backend, _checks
from fastcf.kernels._threads import kernel_threads

__all__ = ["select_topk"]


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
    scores = _checks.as_float_matrix(scores, "scores", owner)
    k = _checks.check_positive_int(k, "k", owner)
    n_rows, n_items = scores.shape
    if (exclude_indptr is None) != (exclude_indices is None):
        given = "exclude_indptr" if exclude_indices is None else "exclude_indices"
        raise ValueError(
            f"{owner}: exclusions are a CSR structure, so 'exclude_indptr' and 'exclude_indices' "
            f"come together; only '{given}' was given."
        )
    if exclude_indptr is None:
        indptr, indices = _checks.empty_csr_structure(n_rows)
    else:
        indptr, indices = _checks.as_csr_structure(
            exclude_indptr, exclude_indices, n_rows, n_items,
            ("exclude_indptr", "exclude_indices"), owner,
        )
    twin = _backend.twin("topk", backend)
    with kernel_threads(n_threads, owner, n_tasks=n_rows) as n:
        return twin.select_topk(scores, k, indptr, indices, n)
