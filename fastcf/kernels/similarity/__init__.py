"""Top-k similarity between the rows of a sparse matrix: the public entry point and its checks.

Twins: ``reference.py`` (the specification: scipy sparse products and dense selection),
``_numba.py``, ``_cython.pyx`` (parallel over rows with a per-thread dense accumulator; never
the n_rows x n_rows matrix).

The public function reduces every measure to one of four *core* measures that the twins
compute (see ``reference.py``): a scaled dot product (cosine, asymmetric cosine, and the BM25-
and TF-IDF-weighted cosines after weighting), a cosine over the co-rated support (adjusted
cosine after centring the columns, and the Pearson-baseline similarity of values the caller
has centred), Pearson over the co-rated support, and Jaccard.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from fastcf import _validation
from fastcf.exceptions import DataError
from fastcf.kernels import _backend
from fastcf.kernels._threads import kernel_threads

__all__ = ["MEASURES", "similarity_topk"]

#: Measure name -> the core measure the twins compute.
MEASURES = {
    "cosine": "dot",
    "asymmetric_cosine": "dot",
    "bm25": "dot",
    "tfidf": "dot",
    "adjusted_cosine": "corated_cosine",
    "pearson_baseline": "corated_cosine",
    "pearson": "pearson",
    "jaccard": "jaccard",
}


def similarity_topk(
    indptr: ArrayLike,
    indices: ArrayLike,
    data: ArrayLike,
    n_columns: int,
    k: int,
    *,
    measure: str = "cosine",
    shrinkage: float = 0.0,
    min_support: int = 1,
    alpha: float = 0.5,
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
    exclude_self: bool = True,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k most similar other rows of every row of a sparse matrix, as a CSR.

    The rows are the entities compared and the columns their features: for item-item
    similarity pass the items x users matrix (the transpose of users x items), for user-user
    the users x items matrix. Write x_a for row a, x_au for its value in column u, U_a for
    the columns row a has stored, U_ab = U_a ∩ U_b (the co-rated support) and n_ab = |U_ab|.
    Stored entries count as present even when their value is 0.

    Measures (``measure=``)
        ``"cosine"``            x_a . x_b / (|x_a| |x_b|), norms over all of a row's entries.
        ``"asymmetric_cosine"`` x_a . x_b / (|x_a|^(2 alpha) |x_b|^(2 (1 - alpha))) (Aiolli 2013);
                                row a is the one whose neighbours are listed, so s(a, b) != s(b, a)
                                unless alpha = 0.5 (which is the cosine).
        ``"tfidf"``, ``"bm25"`` the cosine after weighting with :func:`fastcf.data.weighting.tfidf`
                                or :func:`~fastcf.data.weighting.bm25` (``bm25_k1``, ``bm25_b``),
                                with the rows as the documents and the columns as the terms: for
                                item-item, idf discounts the users who have many items, and BM25
                                normalises each item's length (as implicit's BM25Recommender).
        ``"adjusted_cosine"``   every column centred by its mean over its stored entries (for
                                item-item, each user's mean rating), then the cosine over U_ab:
                                sum_U_ab y_au y_bu / sqrt(sum_U_ab y_au^2 * sum_U_ab y_bu^2)
                                (Sarwar et al. 2001).
        ``"pearson_baseline"``  the same cosine over U_ab of ``data`` as given: pass values the
                                caller has centred by a baseline, r_ui - b_ui, and ``shrinkage``
                                (Surprise's default is 100) for Koren's shrunk Pearson-baseline.
        ``"pearson"``           Pearson correlation over U_ab, each row's mean taken over U_ab
                                too (as Surprise's ``pearson``).
        ``"jaccard"``           n_ab / (|U_a| + |U_b| - n_ab); values are ignored.

    Then, for every measure: pairs with n_ab < ``min_support`` are dropped, and with
    ``shrinkage`` = λ > 0 the similarity is multiplied by n_ab / (n_ab + λ) (by
    (n_ab - 1) / (n_ab - 1 + λ) for ``"pearson_baseline"``, as Surprise). A zero denominator
    gives similarity 0.

    Only strictly positive similarities are kept. Each row lists at most k of them, sorted by
    similarity descending, ties broken by the lower row index, so the result is exact and the
    same for every backend and thread count. Memory is O(nnz + n_rows * k) plus per-thread
    scratch of a few arrays of n_rows; the dense n_rows x n_rows matrix is never formed (the
    reference twin excepted).

    Parameters
    ----------
    indptr, indices : int arrays of shape (n_rows + 1,) and (nnz,), int32 or int64
        The CSR structure: row a holds columns ``indices[indptr[a]:indptr[a + 1]]``. Unsorted
        and duplicate column indices are allowed (duplicates are summed, as scipy does).
    data : array of shape (nnz,), float32 or float64
        The stored values, finite. Integer input is taken as float64. The similarities come
        back in this dtype.
    n_columns : int >= 0
        Number of columns (users for item-item).
    k : int >= 1
        Neighbours per row; ``k >= n_rows`` keeps every positive similarity.
    measure : str
        One of ``MEASURES`` (above); default ``"cosine"``.
    shrinkage : float >= 0
        λ above; 0 (the default) shrinks nothing.
    min_support : int >= 1
        Minimum co-rated count n_ab of a kept pair.
    alpha : float in [0, 1]
        Exponent of ``"asymmetric_cosine"``; ignored by the other measures.
    bm25_k1 : float >= 0, bm25_b : float in [0, 1]
        BM25's saturation and length normalisation; ignored unless ``measure="bm25"``.
    exclude_self : bool
        Leave every row out of its own neighbours (default). With False a row may list
        itself, when its similarity to itself is positive.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at n_rows.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.
        The reference twin forms dense n_rows x n_rows products: small data only.

    Returns
    -------
    sim_indptr : ndarray of shape (n_rows + 1,)
    sim_indices : ndarray of shape (nnz_out,)
        Neighbour rows, best first within each row; ``nnz_out <= n_rows * min(k, n_rows)``.
    sim_values : ndarray of shape (nnz_out,), dtype of ``data``
        Their similarities, all > 0.
        ``sim_indptr`` and ``sim_indices`` share one dtype: int32 when n_rows and nnz_out fit
        it, else int64. ``scipy.sparse.csr_matrix((sim_values, sim_indices, sim_indptr),
        shape=(n_rows, n_rows))`` is the pruned similarity matrix.

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or out of range, naming it; a malformed CSR (naming the
        offending entry); non-finite values in ``data``.
    """
    owner = "similarity_topk"
    k = _validation.check_positive_int(k, "k", owner)
    n_columns = _validation.check_positive_int(n_columns, "n_columns", owner, minimum=0)
    _validation.check_allocation((2, n_columns), 16, "n_columns", owner, "per-thread accumulator")
    min_support = _validation.check_positive_int(min_support, "min_support", owner)
    if not isinstance(measure, str) or measure not in MEASURES:
        raise ValueError(f"{owner}: 'measure' must be one of {', '.join(map(repr, MEASURES))}; got {measure!r}.")
    shrinkage = _validation.check_number(shrinkage, "shrinkage", owner)
    alpha = _validation.check_number(alpha, "alpha", owner, high=1.0)
    bm25_k1 = _validation.check_number(bm25_k1, "bm25_k1", owner)
    bm25_b = _validation.check_number(bm25_b, "bm25_b", owner, high=1.0)
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise TypeError(f"{owner}: 'exclude_self' must be a bool; got {exclude_self!r}.")

    index = _validation.as_index_array(indptr, "indptr", owner)
    if index.shape[0] < 1:
        raise ValueError(f"{owner}: 'indptr' must have n_rows + 1 >= 1 entries; got an empty array.")
    n_rows = index.shape[0] - 1
    indptr, indices = _validation.as_csr_structure(indptr, indices, n_rows, n_columns, ("indptr", "indices"), owner)
    values = _validation.as_float_vector(data, "data", owner, indices.shape[0], "stored entry")

    rows = _canonical(values, indices, indptr, n_rows, n_columns)
    rows = _transform(rows, measure, bm25_k1, bm25_b)
    rows, labels = _longest_first(rows, MEASURES[measure] == "dot" and min_support <= 1 and shrinkage == 0)
    _check_no_overflow(rows, measure, owner)
    left, right = _scales(rows, measure, alpha)
    # The accumulation walks row a -> its columns u -> the rows of column u, so the twins
    # need the matrix by columns too.
    columns = rows.T.tocsr()
    index_dtype = indptr.dtype
    arrays = [
        np.ascontiguousarray(a.astype(index_dtype, copy=False))
        for a in (rows.indptr, rows.indices, columns.indptr, columns.indices)
    ]
    twin = _backend.twin("similarity", backend)
    with kernel_threads(n_threads, owner, n_tasks=n_rows) as n:
        result = twin.similarity_topk(
            arrays[0], arrays[1], rows.data, arrays[2], arrays[3], columns.data, left, right, labels, k,
            MEASURES[measure], shrinkage, 1 if measure == "pearson_baseline" else 0, min_support,
            bool(exclude_self), n,
        )
    _check_finite_similarities(result[2], measure, owner)
    return _in_caller_order(result, labels)


def _check_no_overflow(rows: sp.csr_matrix, measure: str, owner: str) -> None:
    """Refuse values whose sums over a support overflow ``data``'s dtype in the co-rated cores
    (their n * sum of squares is formed in that dtype, and inf - inf there is NaN, which no
    check on the result sees: a NaN similarity is dropped as not positive)."""
    if MEASURES[measure] not in ("pearson", "corated_cosine") or rows.nnz == 0:
        return
    squares = _row_sums_of_squares(rows)
    bound = squares * np.maximum(np.diff(rows.indptr), 1)
    largest = np.finfo(rows.dtype).max
    if bound.max() > largest:
        row = int(np.argmax(bound))
        values = rows.data[rows.indptr[row]:rows.indptr[row + 1]]
        raise DataError(_validation.message(
            owner, "data", f"small enough that {measure}'s sums over a row stay within {rows.dtype} "
            f"(entries x sum of squares <= {largest:.3g})",
            f"{bound[row]:.3g} in row {row} (largest value {np.abs(values).max():.3g})"))


def _check_finite_similarities(values: np.ndarray, measure: str, owner: str) -> None:
    """A dot product past the dtype's range is inf, and stays inf whatever scales it."""
    if values.size and not np.isfinite(values).all():
        raise DataError(f"{owner}: the {measure} similarities overflow {values.dtype} (a dot product of two rows "
                        f"exceeds {np.finfo(values.dtype).max:.3g}); scale 'data' down or pass it as float64.")


def _canonical(values, indices, indptr, n_rows, n_columns) -> sp.csr_matrix:
    """The rows as a CSR with sorted, distinct column indices (duplicates summed)."""
    rows = sp.csr_matrix((values, indices, indptr), shape=(n_rows, n_columns), copy=False)
    if not rows.has_canonical_format:
        rows = rows.copy()
        rows.sum_duplicates()
    return rows


def _transform(rows: sp.csr_matrix, measure: str, bm25_k1: float, bm25_b: float) -> sp.csr_matrix:
    """The values the core measure sees: weighted (bm25, tfidf) or column-centred (adjusted)."""
    if measure in ("bm25", "tfidf"):
        from fastcf.data import weighting
        from fastcf.data.id_map import IdMap
        from fastcf.data.interactions import Interactions

        # Rows are the documents, columns the terms: weighting's "users" and "items".
        as_interactions = Interactions(
            rows, IdMap(np.arange(rows.shape[0]), "row"), IdMap(np.arange(rows.shape[1]), "column")
        )
        if measure == "bm25":
            weighted = weighting.bm25(as_interactions, k1=bm25_k1, b=bm25_b)
        else:
            weighted = weighting.tfidf(as_interactions)
        return _with_data(rows, weighted.matrix.data)
    if measure == "adjusted_cosine":
        counts = np.bincount(rows.indices, minlength=rows.shape[1])
        sums = np.bincount(rows.indices, weights=rows.data, minlength=rows.shape[1])
        means = sums / np.maximum(counts, 1)
        return _with_data(rows, rows.data - means[rows.indices])
    return rows


def _longest_first(rows: sp.csr_matrix, pairwise: bool) -> Tuple[sp.csr_matrix, np.ndarray]:
    """The rows reordered longest first when ``pairwise`` (plain dot products: no support
    count, no shrinkage), and each one's index in ``rows``.

    Long rows share many columns: next to each other they fill the Cython twin's blocks with
    members that read a column together (on the 10M shape, half of its walk then runs with
    16 or more of a block's 32 members sharing each column, against 1% in the given order).
    The twins name every row by its label, so the output and its ties are the given order's.
    The other cases walk row by row, where the order gains nothing and the copy would cost."""
    labels = np.arange(rows.shape[0], dtype=np.int64)
    if not pairwise or rows.shape[0] < 2:
        return rows, labels
    lengths = np.diff(rows.indptr)
    if np.all(lengths[:-1] >= lengths[1:]):
        return rows, labels
    labels = np.argsort(-lengths, kind="stable").astype(np.int64)
    return rows[labels], labels


def _in_caller_order(result, labels: np.ndarray):
    """The twin's CSR, whose row i is the caller's row ``labels[i]``, in the caller's order."""
    indptr, indices, values = result
    n_rows = labels.shape[0]
    if n_rows == 0 or np.array_equal(labels, np.arange(n_rows)):
        return result
    counts = np.diff(indptr)
    caller_counts = np.empty_like(counts)
    caller_counts[labels] = counts
    caller_indptr = np.zeros_like(indptr)
    np.cumsum(caller_counts, out=caller_indptr[1:])
    position = np.empty(n_rows, dtype=np.int64)
    position[labels] = np.arange(n_rows)
    # Entry j of the caller's row r is entry j of the twin's row position[r].
    shift = indptr[:-1][position].astype(np.int64) - caller_indptr[:-1].astype(np.int64)
    take = np.repeat(shift, caller_counts) + np.arange(indices.shape[0], dtype=np.int64)
    return caller_indptr, indices[take], values[take]


def _with_data(rows: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((data.astype(rows.dtype), rows.indices, rows.indptr), shape=rows.shape)


def _scales(rows: sp.csr_matrix, measure: str, alpha: float) -> Tuple[np.ndarray, np.ndarray]:
    """Per-row factors of the "dot" core, s(a, b) = (x_a . x_b * right[b]) * left[a]:
    |x_a|^(-2 alpha) and |x_b|^(-2 (1 - alpha)), and 0 for a row of norm 0. Ones otherwise."""
    dtype = rows.dtype
    n_rows = rows.shape[0]
    if MEASURES[measure] != "dot":
        ones = np.ones(n_rows, dtype=dtype)
        return ones, ones
    squares = _row_sums_of_squares(rows)
    present = squares > 0
    left = np.zeros(n_rows)
    right = np.zeros(n_rows)
    if measure == "asymmetric_cosine":
        left[present] = squares[present] ** -alpha
        right[present] = squares[present] ** -(1.0 - alpha)
    else:
        left[present] = 1.0 / np.sqrt(squares[present])
        right = left
    return left.astype(dtype), right.astype(dtype)


def _row_sums_of_squares(rows: sp.csr_matrix, block: int = 1 << 20) -> np.ndarray:
    """sum_u x_au^2 per row in float64, a block of about ``block`` entries at a time so that
    the float64 copy of the values never exists whole (it would be 8 bytes per entry)."""
    n_rows = rows.shape[0]
    squares = np.zeros(n_rows)
    first = 0
    while first < n_rows:
        # Rows [first, last) holding about ``block`` entries (at least one row).
        last = max(first + 1, int(np.searchsorted(rows.indptr, rows.indptr[first] + block, side="right")) - 1)
        last = min(last, n_rows)
        start, stop = rows.indptr[first], rows.indptr[last]
        if stop > start:
            values = rows.data[start:stop].astype(np.float64)
            values *= values
            # reduceat over the non-empty rows only: an empty row's offset would cut short the
            # segment of the row before it (and past the end, could not be given at all).
            nonempty = np.diff(rows.indptr[first:last + 1]) > 0
            squares[first:last][nonempty] = np.add.reduceat(values, rows.indptr[first:last][nonempty] - start)
        first = last
    return squares
