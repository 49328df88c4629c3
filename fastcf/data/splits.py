"""Train/test splits, all seeded and deterministic: one seed, one split, on any machine.

Every split returns ``(train, test)`` Interactions over the *same* ID maps and shape, so a
model fitted on ``train`` indexes ``test`` directly. Test entries whose user or item has no
train entry are "cold": ``cold="drop"`` (default) removes them from the test set and counts
them in ``test.report``; ``cold="keep"`` keeps them for cold-start evaluation.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from fastcf._lazy import lazy_module
from fastcf._validation import check_choice, check_interactions, check_number, check_positive_int, check_seed
from fastcf.data.cleaning import CleaningReport, Locations
from fastcf.data.interactions import Interactions, entry_rows

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = [
    "align_test",
    "kfold",
    "leave_k_out",
    "random_split",
    "temporal_split",
    "user_fraction_split",
]

Split = Tuple[Interactions, Interactions]
#: What a split does with test users or items absent from training.
COLD_RULES = ("drop", "keep")
#: A test fraction lies in (0, 1).
_FRACTION = dict(low=0.0, strict=True, high=1.0, high_strict=True)


def align_test(train: Interactions, test: Interactions, *, cold: str = "drop") -> Split:
    """Apply the cold-start rule to a (train, test) pair over the same ID maps."""
    train = check_interactions(train, "train", "align_test")
    test = check_interactions(test, "test", "align_test")
    check_choice(cold, "cold", "align_test", COLD_RULES)
    return _align_test(train, test, cold)


def _align_test(train: Interactions, test: Interactions, cold: str) -> Split:
    if train.users != test.users or train.items != test.items:
        raise ValueError("align_test: train and test must share ID maps (use Interactions.reindex).")
    report = CleaningReport(source="test split", rows_read=test.nnz, rows_kept=test.nnz)
    if cold == "keep":
        return train, test.replace(report=report)
    warm_users = np.diff(train.matrix.indptr) > 0
    warm_items = np.bincount(train.matrix.indices, minlength=train.n_items) > 0
    rows = entry_rows(test.matrix)
    cold_user = ~warm_users[rows]
    cold_item = ~warm_items[test.matrix.indices] & ~cold_user
    where = Locations.consecutive("test entry", 0, test.nnz, "position")
    for reason, mask in (("user absent from train", cold_user), ("item absent from train", cold_item)):
        if mask.any():
            index = np.flatnonzero(mask)
            report._drop(reason, pd.DataFrame({
                "where": np.asarray(where[index]),
                "user": test.users.raw_ids[rows[index]],
                "item": test.items.raw_ids[test.matrix.indices[index]],
                "rating": test.matrix.data[index],
            }))
    keep = ~(cold_user | cold_item)
    report.rows_kept = int(keep.sum())
    return train, test.select_entries(keep).replace(report=report)


def _split(data: Interactions, test_mask: np.ndarray, cold: str) -> Split:
    train = data.select_entries(~test_mask)
    test = data.select_entries(test_mask)
    return _align_test(train, test, cold)


def random_split(data: Interactions, test_fraction: float = 0.2, *, seed: int = 0, cold: str = "drop") -> Split:
    """Exactly round(test_fraction * nnz) entries, drawn at random without replacement, go to test."""
    data = check_interactions(data, "data", "random_split")
    fraction = check_number(test_fraction, "test_fraction", "random_split", **_FRACTION)
    check_choice(cold, "cold", "random_split", COLD_RULES)
    rng = np.random.default_rng(check_seed(seed, "seed", "random_split"))
    n_test = int(round(fraction * data.nnz))
    mask = np.zeros(data.nnz, dtype=bool)
    mask[rng.choice(data.nnz, size=n_test, replace=False)] = True
    return _split(data, mask, cold)


def _rank_within_rows(data: Interactions, key: np.ndarray) -> np.ndarray:
    """For each entry, its rank (0 = first) within its user's row ordered by key (stable: ties keep storage order)."""
    rows = entry_rows(data.matrix)
    order = np.lexsort((key, rows))
    rank = np.empty(data.nnz, dtype=np.int64)
    starts = data.matrix.indptr[:-1].astype(np.int64)
    rank[order] = np.arange(data.nnz) - np.repeat(starts, np.diff(data.matrix.indptr))
    return rank


def user_fraction_split(data: Interactions, test_fraction: float = 0.2, *, seed: int = 0, cold: str = "drop") -> Split:
    """From every user, round(fraction * n_u) of their entries at random go to test.

    A user always keeps at least one train entry, so no user is made cold by the split.
    """
    data = check_interactions(data, "data", "user_fraction_split")
    fraction = check_number(test_fraction, "test_fraction", "user_fraction_split", **_FRACTION)
    check_choice(cold, "cold", "user_fraction_split", COLD_RULES)
    rng = np.random.default_rng(check_seed(seed, "seed", "user_fraction_split"))
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    n_test = np.minimum(np.round(fraction * counts).astype(np.int64), np.maximum(counts - 1, 0))
    rank = _rank_within_rows(data, rng.random(data.nnz))
    mask = rank < np.repeat(n_test, counts)
    return _split(data, mask, cold)


def leave_k_out(
    data: Interactions, k: int = 1, *, by: str = "random", seed: int = 0, cold: str = "drop"
) -> Split:
    """k entries of every user go to test: random ones, or the latest by timestamp (``by="latest"``).

    Users with k or fewer entries stay entirely in train (they could not keep a train entry).
    With ``by="latest"``, ties in time are broken by item index, so the split is deterministic.
    """
    data = check_interactions(data, "data", "leave_k_out")
    k = check_positive_int(k, "k", "leave_k_out")
    check_choice(by, "by", "leave_k_out", ("random", "latest"))
    check_choice(cold, "cold", "leave_k_out", COLD_RULES)
    seed = check_seed(seed, "seed", "leave_k_out")
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    if by == "latest":
        if data.timestamps is None:
            raise ValueError("leave_k_out: by='latest' needs timestamps; these interactions have none.")
        # Newest first; the ranking is stable, so equal times keep storage order (lower item first).
        rank = _rank_within_rows(data, -data.timestamps)
    else:
        rank = _rank_within_rows(data, np.random.default_rng(seed).random(data.nnz))
    eligible = np.repeat(counts > k, counts)
    mask = eligible & (rank < k)
    return _split(data, mask, cold)


def temporal_split(
    data: Interactions, test_fraction: Optional[float] = 0.2, *, at: Optional[int] = None, cold: str = "drop"
) -> Split:
    """Global temporal split: entries at or after time ``at`` go to test.

    Without ``at``, ``at`` is chosen so that the latest ``test_fraction`` of entries are test
    (entries at the cut time all go to test, so the fraction can be slightly larger).
    """
    data = check_interactions(data, "data", "temporal_split")
    check_choice(cold, "cold", "temporal_split", COLD_RULES)
    if data.timestamps is None:
        raise ValueError("temporal_split: needs timestamps; these interactions have none.")
    if at is None:
        fraction = check_number(test_fraction, "test_fraction", "temporal_split", **_FRACTION)
        n_train = data.nnz - int(round(fraction * data.nnz))
        at = np.sort(data.timestamps)[min(n_train, data.nnz - 1)] if data.nnz else 0
    elif isinstance(at, (bool, np.bool_)) or not isinstance(at, (int, np.integer)):
        raise TypeError(f"temporal_split: 'at' must be an int (a Unix time, as the timestamps); got {at!r}.")
    return _split(data, data.timestamps >= at, cold)


def kfold(
    data: Interactions, n_folds: int = 5, *, by: str = "rating", seed: int = 0, cold: str = "drop"
) -> List[Split]:
    """k-fold cross-validation splits.

    ``by="rating"``: entries are dealt at random into n_folds folds of equal size (+-1).
    ``by="user"``: users are dealt into folds; a fold's test set is all entries of its users
    (their train rows are then empty, so use ``cold="keep"`` to evaluate them by fold-in).
    """
    return _kfold(data, n_folds, by, seed, cold, "kfold")


def _kfold(data, n_folds, by, seed, cold, owner: str) -> List[Split]:
    """kfold, its errors naming ``owner`` (cross_validate and grid_search split through it)."""
    data = check_interactions(data, "data", owner)
    check_choice(by, "by", owner, ("rating", "user"))
    check_choice(cold, "cold", owner, COLD_RULES)
    # Every fold must be able to hold a test entry (or user): more folds would be empty ones.
    dealt = data.nnz if by == "rating" else data.n_users
    n_folds = check_positive_int(n_folds, "n_folds", owner, minimum=2, maximum=max(dealt, 2),
                                 why=f"at most one fold per {'stored entry' if by == 'rating' else 'user'}")
    rng = np.random.default_rng(check_seed(seed, "seed", owner))
    if by == "rating":
        fold_of_entry = np.empty(data.nnz, dtype=np.int64)
        fold_of_entry[rng.permutation(data.nnz)] = np.arange(data.nnz) % n_folds
    else:
        fold_of_user = np.empty(data.n_users, dtype=np.int64)
        fold_of_user[rng.permutation(data.n_users)] = np.arange(data.n_users) % n_folds
        fold_of_entry = fold_of_user[entry_rows(data.matrix)]
    return [_split(data, fold_of_entry == fold, cold) for fold in range(n_folds)]
