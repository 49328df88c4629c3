"""Ranking losses (BPR, WARP) by parallel SGD over sampled triples, with feature embeddings.

Twins: ``reference.py`` (the specification: the schedule, the sampling, the random streams,
the update rule), ``_numba.py``, ``_cython.pyx``.

Reproducibility and threads. One seed gives the same bits at any thread count and on every
run: the epoch runs on a grid. Users are cut into P contiguous blocks of about
equal numbers of positives (P = len(rng_state), from :func:`ranking_rng_state`); every
epoch, the items are cut into P blocks of equal size at random (drawn from the streams), so
the pairs fall into a P x P grid of cells. An epoch is P sub-epochs; in sub-epoch s the cells
(a, (a + s) mod P) run in parallel: they share no user block and no item block, so no two
touch one user or item row. A cell samples its share of the epoch's samples (in proportion to
its pairs) from its own pairs, and its negatives within its item block, from the random
stream of its user block. Feature rows that two blocks share (a genre, a demographic) are
stepped in per-cell copies; after each sub-epoch such a row takes the mean change of the
cells that moved it, added in cell order. Which thread runs a cell therefore changes nothing:

* the Numba twin, and the Cython twin in float64 (or in float32 without AVX2+FMA), take the
  reference's steps in the reference's arithmetic order: the reference's bits, at any thread
  count;
* the float32 Cython twin on CPUs with AVX2 and FMA steps with fused multiply-adds and
  blocked dot products: it agrees with the reference to rounding (a few ulps per step), and
  with itself bit for bit at any thread count.

The schedule costs a few O(nnz) NumPy passes an epoch (the cells' pairs are regrouped by a
radix sort), and with shared feature rows P copies of them.

P bounds the useful parallelism (the default models take 12, which 2, 3 and 4 threads
divide), and P = 1 is the serial schedule: every pair, negatives over all items.

There is no racy schedule. An earlier lock-free one (Hogwild, Recht et al. 2011: blocks of
samples over all pairs, updating shared rows without locks) gave another model on every run
and was slower than the grid, so it was removed (``scripts/bench_bpr.py`` at commit 7226fdd,
which still timed both: 10M shape, 2 threads, 0.88 s against 0.68 s an epoch).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from fastcf import _validation
from fastcf.kernels import _backend
from fastcf.kernels._threads import kernel_threads
from fastcf.kernels.bpr import reference as _reference
from fastcf.kernels.sgd import _writable

__all__ = ["LOSSES", "harmonic_rank_weights", "ranking_epoch", "ranking_rng_state"]

#: Loss names and the codes the twins take.
LOSSES = {"bpr": 0, "warp": 1}
_LIMIT_32 = 2**32 - 1


#: Partitions of the grid at most: far more than threads, and its P² cell offsets stay within 8 MiB.
MAX_RANKING_BLOCKS = 1 << 10


def check_ranking_blocks(n_blocks, owner: str) -> int:
    """An ``n_blocks`` for :func:`ranking_epoch`, refused before any stream is spawned."""
    n_blocks = _validation.check_positive_int(n_blocks, "n_blocks", owner)
    if n_blocks > MAX_RANKING_BLOCKS:
        raise ValueError(_validation.message(owner, "n_blocks", f"at most {MAX_RANKING_BLOCKS} for the grid schedule "
                                             "(a grid of n_blocks² cells)", n_blocks))
    return n_blocks


def ranking_rng_state(seed, n_blocks: int) -> np.ndarray:
    """The B random-stream states of :func:`ranking_epoch`: one per block, from SeedSequence(seed).spawn(B).

    Returns
    -------
    ndarray of shape (n_blocks, 2), uint64
        Each block's positive and negative stream. Pass it to every epoch; each epoch
        advances it in place.
    """
    n_blocks = check_ranking_blocks(n_blocks, "ranking_rng_state")
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    return np.stack([child.generate_state(2, np.uint64) for child in children])


def harmonic_rank_weights(n_items: int) -> np.ndarray:
    """WARP's L(r) = Σ_{k=1}^{r} 1/k for r = 0..n_items (Weston et al. 2011).

    Returns
    -------
    ndarray of shape (n_items + 1,), float64; L(0) = 0.
    """
    n_items = _validation.check_positive_int(n_items, "n_items", "harmonic_rank_weights")
    _validation.check_allocation((n_items + 1,), 16, "n_items", "harmonic_rank_weights", "weight table")
    weights = np.zeros(n_items + 1)
    np.cumsum(1.0 / np.arange(1, n_items + 1), out=weights[1:])
    return weights


def ranking_epoch(
    indptr: ArrayLike,
    indices: ArrayLike,
    entry_users: ArrayLike,
    user_embeddings: np.ndarray,
    item_embeddings: np.ndarray,
    item_bias: np.ndarray,
    rng_state: np.ndarray,
    *,
    loss: str = "bpr",
    n_samples: Optional[int] = None,
    max_sampled: int = 10,
    learning_rate: float,
    reg_user: float,
    reg_item: float,
    reg_bias: float = 0.0,
    learn_bias: bool = True,
    update_items: bool = True,
    user_features: Optional[tuple] = None,
    item_features: Optional[tuple] = None,
    rank_weights: Optional[ArrayLike] = None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> float:
    """One epoch of SGD on a ranking loss over sampled (user, positive, negative) triples, in place.

    See ``fastcf/kernels/bpr/reference.py`` for the exact schedule, sampling and update
    rule; the thread count changes nothing (module docstring). Representations are sums of feature
    embeddings, p_u = Σ_f w_uf U_f and q_i = Σ_g w_ig V_g (bias b_i = Σ_g w_ig c_g); without
    feature matrices every user and item is its own feature (plain matrix factorisation,
    with a faster path).

    Parameters
    ----------
    indptr, indices : int arrays of shape (n_users + 1,) and (nnz,)
        The positives: a users x items CSR structure with sorted, distinct items per row.
    entry_users : int array of shape (nnz,)
        The user (row) of every stored entry.
    user_embeddings : ndarray of shape (n_user_features, f), float32 or float64, C-contiguous, writable
        U: one row per user feature (per user without ``user_features``).
    item_embeddings : ndarray of shape (n_item_features, f), same dtype, writable
        V: one row per item feature (per item without ``item_features``).
    item_bias : ndarray of shape (n_item_features,), same dtype, writable
        c: bias per item feature (read and written only with ``learn_bias``).
    rng_state : ndarray of shape (P, 2), uint64, writable
        Two random streams per block (:func:`ranking_rng_state`); advanced in place. P is the
        grid's number of user and of item blocks (at most 1024).
    loss : {"bpr", "warp"}
    n_samples : int >= 0, optional
        Triples to sample this epoch; default nnz.
    max_sampled : int >= 1
        Negative draws per sample at most (draws among the user's positives included).
    learning_rate : float > 0
    reg_user, reg_item, reg_bias : float >= 0
        L2 penalties on U, V and c, applied to the rows each step touches.
    learn_bias : bool
        Use and learn the item biases.
    update_items : bool
        False holds V and c fixed (fold-in of new users).
    user_features, item_features : (indptr, indices, weights) or None
        CSR of shape (n_users, n_user_features) and (n_items, n_item_features); None means
        identity. Duplicate features within a row are allowed (their weights add).
    rank_weights : float array of shape (n_items + 1,), optional
        WARP's L(r) for the estimated rank r; default :func:`harmonic_rank_weights`.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at P. Changes nothing in the result.
    backend : {"auto", "cython", "numba", "reference"}, optional

    Returns
    -------
    ordered : float
        Share of the samples already ordered before their step: s_ui > s_uj for BPR (an
        estimate of the training AUC), no margin violation found for WARP.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument.
    """
    owner = "ranking_epoch"
    if loss not in LOSSES:
        raise ValueError(f"{owner}: 'loss' must be one of {sorted(LOSSES)}; got {loss!r}.")
    user_embeddings = _writable(user_embeddings, "user_embeddings", 2, None, owner)
    dtype = user_embeddings.dtype
    item_embeddings = _writable(item_embeddings, "item_embeddings", 2, dtype, owner)
    if item_embeddings.shape[1] != user_embeddings.shape[1]:
        raise ValueError(
            f"{owner}: 'user_embeddings' and 'item_embeddings' must have the same number of columns; "
            f"got shapes {user_embeddings.shape} and {item_embeddings.shape}."
        )
    item_bias = _writable(item_bias, "item_bias", 1, dtype, owner, length=item_embeddings.shape[0])
    if np.may_share_memory(user_embeddings, item_embeddings) or np.may_share_memory(item_bias, item_embeddings) \
            or np.may_share_memory(item_bias, user_embeddings):
        raise ValueError(f"{owner}: 'user_embeddings', 'item_embeddings' and 'item_bias' must not share memory; all are written.")
    for arr, name in ((user_embeddings, "user_embeddings"), (item_embeddings, "item_embeddings"), (item_bias, "item_bias")):
        _validation.check_finite(arr, name, owner)
    if not isinstance(rng_state, np.ndarray) or rng_state.dtype != np.uint64 or rng_state.ndim != 2 \
            or rng_state.shape[0] == 0 or rng_state.shape[1] != 2 or not rng_state.flags.c_contiguous \
            or not rng_state.flags.writeable:
        raise TypeError(f"{owner}: 'rng_state' must be a writable, C-contiguous uint64 array of shape (B, 2), two "
                        f"streams per block (from ranking_rng_state); got {_describe(rng_state)}.")
    if rng_state.shape[0] > MAX_RANKING_BLOCKS:
        raise ValueError(_validation.message(owner, "rng_state", f"of shape (P, 2) with P <= {MAX_RANKING_BLOCKS} "
                                             "blocks for the grid schedule (a grid of P² cells)",
                                             f"shape {rng_state.shape}"))

    user_features = _feature_csr(user_features, "user_features", user_embeddings.shape[0], dtype, owner)
    item_features = _feature_csr(item_features, "item_features", item_embeddings.shape[0], dtype, owner)
    n_items = item_features[0].shape[0] - 1 if item_features[0].size else item_embeddings.shape[0]
    n_users_side = user_features[0].shape[0] - 1 if user_features[0].size else user_embeddings.shape[0]

    indptr = _validation.as_index_array(indptr, "indptr", owner)
    n_users = indptr.shape[0] - 1
    if n_users != n_users_side:
        what = "rows of 'user_features'" if user_features[0].size else "rows of 'user_embeddings'"
        raise ValueError(f"{owner}: 'indptr' describes {max(n_users, 0)} users but there are {n_users_side} {what}.")
    indptr, indices = _validation.as_csr_structure(indptr, indices, n_users, n_items, ("indptr", "indices"), owner)
    nnz = indices.shape[0]
    _check_sorted_rows(indptr, indices, owner)
    entry_users = _validation.as_index_array(entry_users, "entry_users", owner)
    if entry_users.shape[0] != nnz:
        raise ValueError(f"{owner}: 'entry_users' must have one entry per positive ({nnz}); got {entry_users.shape[0]}.")
    if nnz and (entry_users.min() < 0 or entry_users.max() >= n_users):
        bad = int(np.flatnonzero((entry_users < 0) | (entry_users >= n_users))[0])
        raise ValueError(f"{owner}: 'entry_users' must lie in [0, {n_users}); got {entry_users[bad]} at position {bad}.")
    # In range is not enough: a positive's user must be its row, or the epoch silently trains
    # on pairs the data does not hold (and samples negatives against the wrong user's items).
    rows = np.repeat(np.arange(n_users, dtype=entry_users.dtype), np.diff(indptr))
    if not np.array_equal(entry_users, rows):
        bad = int(np.flatnonzero(entry_users != rows)[0])
        raise ValueError(f"{owner}: 'entry_users' must give each positive's row in 'indptr' "
                         f"(np.repeat(np.arange(n_users), np.diff(indptr))); position {bad} says user "
                         f"{entry_users[bad]}, but 'indptr' puts it in row {rows[bad]}.")
    indptr, indices, entry_users, user_features, item_features = _one_index_dtype(
        indptr, indices, entry_users, user_features, item_features)
    if nnz > _LIMIT_32 or n_items > _LIMIT_32:
        raise ValueError(f"{owner}: at most {_LIMIT_32} positives and items are supported; got {nnz} and {n_items}.")

    n_samples = nnz if n_samples is None else _validation.check_positive_int(n_samples, "n_samples", owner, minimum=0)
    if nnz == 0 and n_samples:
        raise ValueError(f"{owner}: 'n_samples' must be 0 when there are no positives; got {n_samples}.")
    max_sampled = _validation.check_positive_int(max_sampled, "max_sampled", owner)
    learning_rate = _validation.check_number(learning_rate, "learning_rate", owner, strict=True)
    regs = [_validation.check_number(value, name, owner) for name, value in
            (("reg_user", reg_user), ("reg_item", reg_item), ("reg_bias", reg_bias))]
    if rank_weights is None:
        rank_weights = harmonic_rank_weights(n_items)
    rank_weights = _validation.as_float_vector(rank_weights, "rank_weights", owner).astype(np.float64, copy=False)
    if rank_weights.shape != (n_items + 1,):
        raise ValueError(f"{owner}: 'rank_weights' must have n_items + 1 = {n_items + 1} entries; got shape {rank_weights.shape}.")

    learn_bias = _validation.check_flag(learn_bias, "learn_bias", owner)
    update_items = _validation.check_flag(update_items, "update_items", owner)

    twin = _backend.twin("bpr", backend)
    regs_args = (LOSSES[loss], max_sampled, learning_rate, *regs, learn_bias, update_items)
    grid = _reference.grid_schedule(
        indptr, indices, entry_users, n_items, rng_state, n_samples, user_features[0], user_features[1],
        user_embeddings.shape[0], item_features[0], item_features[1], item_embeddings.shape[0])
    with kernel_threads(n_threads, owner, n_tasks=rng_state.shape[0]) as n:
        ordered = twin.ranking_epoch(
            indptr, indices, grid["pair_users"], grid["pair_items"], grid["cell_ptr"], grid["cell_samples"],
            grid["block_items"], grid["block_ptr"], *user_features, grid["user_slot"], grid["user_shared"],
            *item_features, grid["item_slot"], grid["item_shared"], user_embeddings, item_embeddings, item_bias,
            rng_state, rank_weights, *regs_args, n,
        )
    return float(ordered) / max(n_samples, 1)


def _one_index_dtype(indptr, indices, entry_users, user_features, item_features):
    """Every index array in one dtype (the twins' fused index type): int32 if all are, else int64."""
    arrays = [indptr, indices, entry_users, *user_features[:2], *item_features[:2]]
    wide = any(a.dtype == np.int64 and a.size for a in arrays)
    index = np.int64 if wide else np.int32
    indptr, indices, entry_users = (a.astype(index, copy=False) for a in (indptr, indices, entry_users))
    user_features = (user_features[0].astype(index, copy=False), user_features[1].astype(index, copy=False), user_features[2])
    item_features = (item_features[0].astype(index, copy=False), item_features[1].astype(index, copy=False), item_features[2])
    return indptr, indices, entry_users, user_features, item_features


def _describe(arr) -> str:
    if not isinstance(arr, np.ndarray):
        return type(arr).__name__
    return f"dtype {arr.dtype}, shape {arr.shape}{'' if arr.flags.writeable else ', read-only'}"


def _feature_csr(features, name: str, n_features: int, dtype, owner: str):
    """(indptr, indices, weights) of a feature matrix, checked; empty arrays for identity."""
    if features is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, dtype)
    if hasattr(features, "tocsr"):
        csr = features.tocsr()
        features = (csr.indptr, csr.indices, csr.data)
    try:
        indptr, indices, weights = features
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: '{name}' must be None, a scipy CSR matrix or (indptr, indices, weights); "
                        f"got {type(features).__name__}.") from None
    indptr = _validation.as_index_array(indptr, f"{name} indptr", owner)
    if indptr.shape[0] < 2:
        raise ValueError(f"{owner}: '{name}' must have at least one row; its indptr has {indptr.shape[0]} entries.")
    indptr, indices = _validation.as_csr_structure(indptr, indices, indptr.shape[0] - 1, n_features,
                                               (f"{name} indptr", f"{name} indices"), owner)
    weights = np.asarray(weights)
    if weights.shape != indices.shape or weights.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: '{name}' weights must be real numbers, one per stored feature ({indices.shape[0]}); "
                         f"got dtype {weights.dtype}, shape {weights.shape}.")
    weights = np.ascontiguousarray(weights, dtype=dtype)
    _validation.check_finite(weights, f"{name} weights", owner)
    return indptr, indices, weights


def _check_sorted_rows(indptr, indices, owner: str) -> None:
    """Items strictly increase within each row: the twins find positives by binary search."""
    if indices.shape[0] < 2:
        return
    falls = indices[1:] <= indices[:-1]
    falls[indptr[1:-1][(indptr[1:-1] > 0) & (indptr[1:-1] < indices.shape[0])] - 1] = False
    if falls.any():
        at = int(np.flatnonzero(falls)[0]) + 1
        row = int(np.searchsorted(indptr, at, side="right") - 1)
        raise ValueError(f"{owner}: 'indices' must be sorted and distinct within each row (canonical CSR); row {row} "
                         f"has {indices[at - 1]} then {indices[at]}. Call matrix.sum_duplicates() first.")
