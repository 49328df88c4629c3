"""Ranking metrics at k in one pass: score, exclude, select the top k, measure; the public entry points.

Twins: ``reference.py`` (the specification, with every formula), ``_numba.py``, ``_cython.pyx``.
The per-user output columns are ``RANKING_COLUMNS``; ``fastcf.evaluation`` turns them into
overall values and tables.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from fastcf import _validation
from fastcf.kernels import _backend
from fastcf.kernels._threads import kernel_threads
from fastcf.kernels.metrics._columns import COLUMNS as RANKING_COLUMNS

__all__ = ["RANKING_COLUMNS", "factor_ranking_metrics", "list_ranking_metrics", "score_ranking_metrics"]

#: Users scored together per thread by default: 64 x n_items scores of scratch per thread.
DEFAULT_BLOCK_SIZE = 64

_SHARED_DOC = """
    Conventions (see ``fastcf.kernels.metrics.reference`` for every formula): the ranking
    holds the admissible items (not in the user's train row) by score descending, ties to
    the lower item index, cut at k and padded with -1; relevant items are the user's test
    entries, graded by their values; precision divides by k; a user without test entries
    gets NaN in every column; ``auc`` is NaN where it is undefined (no admissible positive or
    no negative) and ``auc_implicit`` where n_items equals the user's test count.
"""


def factor_ranking_metrics(
    user_factors: ArrayLike,
    item_factors: ArrayLike,
    users: ArrayLike,
    train_indptr: ArrayLike,
    train_indices: ArrayLike,
    test_indptr: ArrayLike,
    test_indices: ArrayLike,
    k: int,
    *,
    test_gains: Optional[ArrayLike] = None,
    auc: bool = False,
    graded: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Top-k lists and per-user ranking metrics of a factor model, without the users x items matrix.

    For every user u in ``users`` the kernel scores all items (s_ui = U_u · V_i, summed in
    factor order without fused multiply-add, identically in every twin), excludes u's train
    items, selects the top k and measures the list against u's test items, all on per-thread
    scratch of ``block_size`` x n_items scores. Each user is computed alone, so the result
    is the same for any ``n_threads`` and ``block_size``.
    {shared}
    Parameters
    ----------
    user_factors : array of shape (n_users, f), float32 or float64
    item_factors : array of shape (n_items, f), same dtype
        Finite values (a non-finite factor raises, naming it).
    users : int array of shape (n,)
        Rows of ``user_factors`` (and of both CSRs) to evaluate, in the output's order.
    train_indptr, train_indices : int arrays of shape (n_users + 1,), (nnz,)
        CSR structure of the items excluded from each ranking (e.g. ``train.indptr,
        train.indices``); any order, duplicates allowed. Pass an empty CSR
        (``np.zeros(n_users + 1), []``) to exclude nothing.
    test_indptr, test_indices : int arrays of shape (n_users + 1,), (nnz_test,)
        CSR structure of each user's relevant items; a row must not repeat an item.
    k : int >= 1
        List length; larger than the catalogue is allowed (lists are padded).
    test_gains : array of shape (nnz_test,), optional
        Gains of the test entries for ``ndcg_graded`` (e.g. the ratings), finite and >= 0;
        default 1 for every entry. Read (and checked) only with ``graded=True``.
    auc, graded : bool
        Also compute the full AUC (one more pass over each user's scores) and the graded
        NDCG; their columns are NaN otherwise.
    block_size : int >= 1
        Users scored together on one thread; memory for scores is n_threads x block_size x
        n_items values.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``.
    backend : {{"auto", "cython", "numba", "reference"}}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    top_items : ndarray of shape (n, k), int64
        Each user's ranking, best first; -1 pads.
    values : ndarray of shape (n, len(RANKING_COLUMNS)), float64
        Per-user metrics, columns named by ``RANKING_COLUMNS``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument; after the pass, scores that hold NaN
        (naming the first such user).
    """
    owner = "factor_ranking_metrics"
    user_factors = _factor_matrix(user_factors, "user_factors", owner)
    item_factors = _factor_matrix(item_factors, "item_factors", owner)
    if user_factors.dtype != item_factors.dtype:
        raise TypeError(
            f"{owner}: 'user_factors' and 'item_factors' must have one dtype; got {user_factors.dtype} and "
            f"{item_factors.dtype}. Convert one of them (e.g. item_factors.astype(np.{user_factors.dtype}))."
        )
    if user_factors.shape[1] != item_factors.shape[1]:
        raise ValueError(
            f"{owner}: 'user_factors' and 'item_factors' must have the same number of columns (factors); "
            f"got shapes {user_factors.shape} and {item_factors.shape}."
        )
    n_users, n_items = user_factors.shape[0], item_factors.shape[0]
    users, train, test, gains = _common(
        users, train_indptr, train_indices, test_indptr, test_indices, test_gains, graded, n_users, n_items, owner
    )
    k = _validation.check_positive_int(k, "k", owner)
    block_size = _validation.check_positive_int(block_size, "block_size", owner)
    # Top-k lists of every user evaluated, and per thread a heap of k scores and gains.
    _validation.check_allocation((users.shape[0] + 4, k), 8, "k", owner, "set of top-k lists")
    twin = _backend.twin("metrics", backend)
    with kernel_threads(n_threads, owner, n_tasks=-(-users.shape[0] // block_size)) as n:
        return twin.factor_ranking_metrics(
            user_factors, item_factors, users, *train, *test, gains, k, bool(auc), bool(graded), block_size, n
        )


factor_ranking_metrics.__doc__ = factor_ranking_metrics.__doc__.format(shared=_SHARED_DOC)


def score_ranking_metrics(
    scores: ArrayLike,
    users: ArrayLike,
    train_indptr: ArrayLike,
    train_indices: ArrayLike,
    test_indptr: ArrayLike,
    test_indices: ArrayLike,
    k: int,
    *,
    test_gains: Optional[ArrayLike] = None,
    auc: bool = False,
    graded: bool = False,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Top-k lists and per-user ranking metrics from a block of scores (any model).

    Row r of ``scores`` holds the scores of user ``users[r]`` for every item; the CSRs are
    indexed by user (so a block of users needs no slicing of them).
    {shared}
    Parameters
    ----------
    scores : array of shape (n, n_items), float32 or float64
        NaN raises (naming the user); -inf is an ordinary lowest score.
    users : int array of shape (n,)
        The user (CSR row) of each score row.
    train_indptr, train_indices, test_indptr, test_indices, k, test_gains, auc, graded :
        As for ``factor_ranking_metrics``; the CSRs may have any number of rows >
        max(users).
    n_threads : int >= 1, optional
    backend : {{"auto", "cython", "numba", "reference"}}, optional

    Returns
    -------
    top_items : ndarray of shape (n, k), int64 (-1 pads)
    values : ndarray of shape (n, len(RANKING_COLUMNS)), float64
    """
    owner = "score_ranking_metrics"
    scores = _validation.as_float_matrix(scores, "scores", owner)
    n_items = scores.shape[1]
    n_rows = _csr_rows(train_indptr, test_indptr, owner)
    users, train, test, gains = _common(
        users, train_indptr, train_indices, test_indptr, test_indices, test_gains, graded, n_rows, n_items, owner
    )
    if users.shape[0] != scores.shape[0]:
        raise ValueError(
            f"{owner}: 'users' must name the user of every score row ({scores.shape[0]}); got {users.shape[0]}."
        )
    k = _validation.check_positive_int(k, "k", owner)
    _validation.check_allocation((users.shape[0] + 4, k), 8, "k", owner, "set of top-k lists")
    twin = _backend.twin("metrics", backend)
    with kernel_threads(n_threads, owner, n_tasks=users.shape[0]) as n:
        return twin.score_ranking_metrics(scores, users, *train, *test, gains, k, bool(auc), bool(graded), n)


score_ranking_metrics.__doc__ = score_ranking_metrics.__doc__.format(shared=_SHARED_DOC)


def list_ranking_metrics(
    top_items: ArrayLike,
    users: ArrayLike,
    test_indptr: ArrayLike,
    test_indices: ArrayLike,
    n_items: int,
    *,
    test_gains: Optional[ArrayLike] = None,
    graded: bool = False,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> np.ndarray:
    """Per-user ranking metrics of given top-k lists (models that only give lists).

    Row r of ``top_items`` is the ranking of user ``users[r]``, best first, k =
    ``top_items.shape[1]``; -1 pads (a miss). The lists are taken as given: exclusions are
    the list maker's business. ``auc`` is NaN (lists carry no scores); every other column
    is as for ``factor_ranking_metrics``.

    Parameters
    ----------
    top_items : int array of shape (n, k), k >= 1
        Items in [0, n_items) or -1; an item may appear once per row.
    users : int array of shape (n,)
    test_indptr, test_indices : int arrays
        Each user's relevant items, as for ``factor_ranking_metrics``.
    n_items : int >= 0
        Catalogue size (``auc_implicit`` counts its negatives from it).
    test_gains, graded : as for ``factor_ranking_metrics``
    n_threads : int >= 1, optional
    backend : {"auto", "cython", "numba", "reference"}, optional

    Returns
    -------
    values : ndarray of shape (n, len(RANKING_COLUMNS)), float64
    """
    owner = "list_ranking_metrics"
    n_items = _validation.check_positive_int(n_items, "n_items", owner, minimum=0)
    _validation.check_allocation((2, n_items + 1), 9, "n_items", owner, "per-thread item table")
    top = _top_items(top_items, n_items, owner)
    n_rows = np.asarray(test_indptr).shape[0] - 1
    users = _users(users, max(n_rows, 0), owner)
    if users.shape[0] != top.shape[0]:
        raise ValueError(f"{owner}: 'users' must name the user of every list ({top.shape[0]}); got {users.shape[0]}.")
    test_indptr, test_indices = _validation.as_csr_structure(
        test_indptr, test_indices, n_rows, n_items, ("test_indptr", "test_indices"), owner
    )
    _check_no_duplicates(test_indptr, test_indices, n_items, owner)
    gains = _gains(test_gains, test_indices.shape[0], graded, owner)
    users, test_indptr, test_indices = _one_index_dtype(users, test_indptr, test_indices)
    twin = _backend.twin("metrics", backend)
    with kernel_threads(n_threads, owner, n_tasks=users.shape[0]) as n:
        return twin.list_ranking_metrics(top, users, test_indptr, test_indices, gains, n_items, bool(graded), n)


# --- checks -----------------------------------------------------------------------------

def _factor_matrix(x, name: str, owner: str) -> np.ndarray:
    arr = _validation.as_float_matrix(x, name, owner)
    if arr.shape[1] == 0:
        raise ValueError(f"{owner}: '{name}' must have at least one column (factor); got shape {arr.shape}.")
    _validation.check_finite(arr, name, owner)
    return arr


def _csr_rows(train_indptr, test_indptr, owner: str) -> int:
    n_train = np.asarray(train_indptr).shape[0] - 1
    n_test = np.asarray(test_indptr).shape[0] - 1
    if n_train != n_test:
        raise ValueError(
            f"{owner}: the train and test CSRs must have one row per user, as many each; got "
            f"{n_train} and {n_test} rows (len('train_indptr') - 1 and len('test_indptr') - 1)."
        )
    return max(n_train, 0)


def _users(users, n_rows: int, owner: str) -> np.ndarray:
    users = _validation.as_index_array(users, "users", owner)
    if users.size and (users.min() < 0 or users.max() >= n_rows):
        bad = users[(users < 0) | (users >= n_rows)][0]
        raise ValueError(f"{owner}: 'users' must lie in [0, {n_rows}) (rows of the factors and CSRs); got {bad}.")
    return users


def _gains(test_gains, nnz: int, graded: bool, owner: str) -> np.ndarray:
    """The gains as float64, checked; only graded NDCG reads them (else an empty array is passed)."""
    if not graded:
        return np.zeros(0, dtype=np.float64)
    if test_gains is None:
        return np.ones(nnz, dtype=np.float64)
    gains = np.asarray(test_gains)
    if gains.ndim != 1 or gains.shape[0] != nnz:
        raise ValueError(
            f"{owner}: 'test_gains' must have one value per test entry (len('test_indices') = {nnz}); "
            f"got shape {gains.shape}."
        )
    if gains.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: 'test_gains' must hold real numbers; got dtype {gains.dtype}.")
    gains = np.ascontiguousarray(gains, dtype=np.float64)
    bad = ~np.isfinite(gains) | (gains < 0)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{owner}: 'test_gains' must be finite and >= 0 (NDCG is undefined otherwise); got "
            f"{gains[position]} at position {position}."
        )
    return gains


#: Entries checked at a time for duplicates (bounds the check's temporaries to a few MiB).
_CHECK_CHUNK = 1 << 20


def _check_no_duplicates(indptr: np.ndarray, indices: np.ndarray, n_cols: int, owner: str) -> None:
    """A test row must not list an item twice (it would count twice in |T_u|)."""
    n = indices.size
    for lo in range(0, max(n - 1, 0), _CHECK_CHUNK):
        hi = min(lo + _CHECK_CHUNK, n - 1)
        # steps[p] compares entries lo + p and lo + p + 1; a step into a new row does not count.
        steps = np.diff(indices[lo:hi + 1])
        new_row = indptr[(indptr > lo) & (indptr <= hi)] - lo - 1
        steps[new_row] = 1
        if (steps > 0).all():  # sorted within rows: no duplicates (the common case)
            continue
        _find_duplicate(indptr, indices, n_cols, owner)
        return


def _find_duplicate(indptr: np.ndarray, indices: np.ndarray, n_cols: int, owner: str) -> None:
    """Rows with unsorted indices: sort them to look for a repeated item, and name it."""
    rows = np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int64), np.diff(indptr))
    keys = np.sort(rows * np.int64(max(n_cols, 1)) + indices)
    same = np.flatnonzero(keys[1:] == keys[:-1])
    if same.size:
        key = int(keys[same[0]])
        raise ValueError(
            f"{owner}: the test CSR lists item {key % max(n_cols, 1)} twice in row {key // max(n_cols, 1)}; "
            f"call sum_duplicates() on the test matrix first."
        )


def _one_index_dtype(users, *csr_arrays):
    """All index arrays in one dtype, as the fused kernels need: int32 if the CSR arrays all are
    (``users``, small, is cast to fit them rather than widening the CSRs), else int64."""
    if all(a.dtype == np.int32 for a in csr_arrays) and (users.size == 0 or users.max() <= np.iinfo(np.int32).max):
        return (users.astype(np.int32, copy=False),) + csr_arrays
    return tuple(a.astype(np.int64, copy=False) for a in (users,) + csr_arrays)


def _common(users, train_indptr, train_indices, test_indptr, test_indices, test_gains, graded, n_rows, n_items, owner):
    users = _users(users, n_rows, owner)
    train_indptr, train_indices = _validation.as_csr_structure(
        train_indptr, train_indices, n_rows, n_items, ("train_indptr", "train_indices"), owner
    )
    test_indptr, test_indices = _validation.as_csr_structure(
        test_indptr, test_indices, n_rows, n_items, ("test_indptr", "test_indices"), owner
    )
    _check_no_duplicates(test_indptr, test_indices, n_items, owner)
    gains = _gains(test_gains, test_indices.shape[0], graded, owner)
    users, train_indptr, train_indices, test_indptr, test_indices = _one_index_dtype(
        users, train_indptr, train_indices, test_indptr, test_indices
    )
    return users, (train_indptr, train_indices), (test_indptr, test_indices), gains


def _top_items(top_items, n_items: int, owner: str) -> np.ndarray:
    top = np.asarray(top_items)
    if top.ndim != 2 or top.shape[1] == 0:
        raise ValueError(f"{owner}: 'top_items' must be a 2-D array (users x k) with k >= 1; got shape {top.shape}.")
    if top.dtype.kind not in "iu" and not (top.size == 0 and top.dtype.kind == "f"):
        raise TypeError(f"{owner}: 'top_items' must hold integer item indices; got dtype {top.dtype}.")
    top = np.ascontiguousarray(top, dtype=np.int64)
    bad = (top < -1) | (top >= n_items)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{owner}: 'top_items' must hold items in [0, {n_items}) or -1 (padding); got {top[row, col]} "
            f"at row {row}, rank {col}."
        )
    if top.shape[1] > 1:
        ordered = np.sort(top, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        if repeated.any():
            row = int(np.flatnonzero(repeated.any(axis=1))[0])
            item = int(ordered[row, 1:][repeated[row]][0])
            raise ValueError(
                f"{owner}: 'top_items' lists item {item} twice in row {row}; a ranking holds each item once."
            )
    return top
