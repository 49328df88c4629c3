"""Train/test splits, all seeded and deterministic: one seed, one split, on any machine.

Every split returns ``(train, test)`` Interactions over the *same* ID maps and shape, so a
model fitted on ``train`` indexes ``test`` directly; :func:`heldout_user_split` (strong
generalization: whole users held out, then folded in) returns a :class:`HeldoutSplit`.
Test entries whose user or item has no
train entry are "cold": ``cold="drop"`` (default) removes them from the test set and counts
them in ``test.report``; ``cold="keep"`` keeps them for cold-start evaluation.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from fastcf._lazy import lazy_module
from fastcf._validation import (check_choice, check_count_or_fraction, check_interactions, check_number,
                                check_positive_int, check_seed, message)
from fastcf.data.cleaning import CleaningReport, Locations
from fastcf.data.filters import _compact, _with_note
from fastcf.data.id_map import IdMap
from fastcf.data.interactions import Interactions, csr_from_sorted_entries, entry_rows

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = [
    "HeldoutPart",
    "HeldoutSplit",
    "align_test",
    "heldout_user_split",
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


# --- strong generalization: whole users held out ----------------------------------------

class HeldoutPart(NamedTuple):
    """The held-out users of one part (validation or test) of a :func:`heldout_user_split`.

    Both Interactions have the same rows (the part's users, by their raw IDs, in the order
    of the data they came from) and the training item map as columns; every user has at
    least one entry in each. ``fold_in.report`` (the same object as ``targets.report``)
    counts what was dropped on the way: entries of items absent from training, and users
    left with fewer than 2 items.
    """

    #: The items each held-out user shows the model (folded in, never ranked).
    fold_in: Interactions
    #: The items the model should rank high for them.
    targets: Interactions

    @property
    def n_users(self) -> int:
        return self.fold_in.n_users


class HeldoutSplit(NamedTuple):
    """What :func:`heldout_user_split` returns: ``train, validation, test = split``."""

    #: Every entry of the training users, over the items they have (no other user, no other item).
    train: Interactions
    validation: HeldoutPart
    test: HeldoutPart


#: The fewest items a held-out user needs: one to fold in and one to rank.
MIN_HELDOUT_ITEMS = 2


def heldout_user_split(
    data: Interactions, n_validation=0, n_test=0.1, *, fold_in_fraction: float = 0.8, seed: int = 0
) -> HeldoutSplit:
    """Strong generalization: whole users held out, to be folded in and evaluated.

    The protocol of Liang, Krishnan, Hoffman & Jebara (2018), "Variational Autoencoders for
    Collaborative Filtering", also used by EASE (Steck 2019) and by Rendle et al. (2021):

    1. ``n_validation`` and then ``n_test`` users are drawn at random (from ``seed``) among
       the users with at least 2 entries; every other user is a training user.
    2. ``train`` is all entries of the training users, over the items they have: an item no
       training user has leaves the item map.
    3. The held-out users' entries of such items are removed (a model cannot know them).
       A held-out user left with fewer than 2 items is dropped from its part and counted in
       the part's report: it could not give both a fold-in item and a target.
    4. Each held-out user's items are split at random: floor((1 - fold_in_fraction) * n)
       targets, but at least 1 and at most n - 1, the rest fold-in items. With the default
       0.8 that is Liang et al.'s ``int(0.2 * n)`` for n >= 5; where their code keeps every
       item of a user with fewer than 5 as fold-in (no target: that user is not evaluated),
       such a user gets one target here.

    Typical use (ML-20M: ratings >= 4 kept, users with >= 5 of them, 10,000 + 10,000 users)::

        data = k_core(binarize(read_movielens(path), 4.0), 5, 1)
        train, validation, test = heldout_user_split(data, 10_000, 10_000)
        model = EASE(regularization=500).fit(train)
        evaluate_heldout(model, test, k=(20, 50, 100), metrics=("calibrated_recall", "ndcg"))

    Parameters
    ----------
    data : Interactions
        Binarise and filter first (:func:`binarize`, :func:`k_core`) as the protocol needs;
        the values are carried as they are.
    n_validation, n_test : int >= 0, or float in (0, 1)
        Users held out in each part: a count, or a share of ``data.n_users`` (rounded).
        ``n_test`` must be at least 1 user, and the two together must leave a training user.
    fold_in_fraction : float in (0, 1)
        Share of each held-out user's items folded in (see step 4).
    seed : int >= 0
        One seed, one split, on any machine.

    Returns
    -------
    HeldoutSplit
        ``(train, validation, test)``; ``validation`` and ``test`` are :class:`HeldoutPart`
        (``fold_in``, ``targets``), over ``train.items``. Held-out users keep their raw IDs
        (``part.fold_in.users``); ``validation`` has no users when ``n_validation`` is 0.
    """
    owner = "heldout_user_split"
    data = check_interactions(data, "data", owner)
    fraction = check_number(fold_in_fraction, "fold_in_fraction", owner, **_FRACTION)
    seed = check_seed(seed, "seed", owner)
    n_validation = check_count_or_fraction(n_validation, "n_validation", owner, data.n_users, "users")
    n_test = check_count_or_fraction(n_test, "n_test", owner, data.n_users, "users")
    if n_test < 1:
        raise ValueError(message(owner, "n_test", "at least 1 user (a count, or a fraction of the users that rounds "
                                 "to one or more)", repr(n_test)))
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    eligible = np.flatnonzero(counts >= MIN_HELDOUT_ITEMS)
    n_heldout = n_validation + n_test
    if n_heldout > eligible.size or n_heldout >= np.count_nonzero(counts):
        raise ValueError(
            f"{owner}: 'n_validation' + 'n_test' = {n_validation} + {n_test} users must leave at least one training "
            f"user and be at most the {eligible.size} users with >= {MIN_HELDOUT_ITEMS} entries (of "
            f"{np.count_nonzero(counts)} users with entries); hold out fewer users."
        )
    rng = np.random.default_rng(seed)
    drawn = eligible[rng.permutation(eligible.size)[:n_heldout]]
    # 0: training user, 1: validation, 2: test.
    role = np.zeros(data.n_users, dtype=np.int8)
    role[drawn[:n_validation]] = 1
    role[drawn[n_validation:]] = 2
    entry_role = role[entry_rows(data.matrix)]
    train = _compact(data.select_entries(entry_role == 0))
    # _compact keeps the items in order, so an item's training index is its rank among the kept ones.
    in_train = np.bincount(data.matrix.indices[entry_role == 0], minlength=data.n_items) > 0
    train_column = np.where(in_train, np.cumsum(in_train) - 1, -1)
    train = _with_note(train, (
        f"{owner}: {n_validation:,} validation and {n_test:,} test users held out (seed {seed}, fold-in fraction "
        f"{fraction:g}); {data.n_items - train.n_items:,} items no training user has left the item map"))
    parts = [
        _heldout_part(data, entry_role == code, train, train_column, fraction, rng, label)
        for code, label in ((1, "validation"), (2, "test"))
    ]
    return HeldoutSplit(train, *parts)


def _heldout_part(data: Interactions, mask: np.ndarray, train: Interactions, train_column: np.ndarray,
                  fraction: float, rng: np.random.Generator, label: str) -> HeldoutPart:
    """The fold-in and target Interactions of the held-out users whose entries ``mask`` marks."""
    positions = np.flatnonzero(mask)
    rows = entry_rows(data.matrix)[positions]
    columns = train_column[data.matrix.indices[positions]]
    report = CleaningReport(source=f"held-out {label} users", rows_read=int(positions.size))
    unknown = columns < 0
    if unknown.any():
        where = Locations.consecutive("entry", 0, data.nnz, "position")
        lost = positions[unknown]
        report._drop("item absent from train", pd.DataFrame({
            "where": np.asarray(where[lost]),
            "user": data.users.raw_ids[rows[unknown]],
            "item": data.items.raw_ids[data.matrix.indices[lost]],
            "rating": data.matrix.data[lost],
        }))
    positions, rows, columns = positions[~unknown], rows[~unknown], columns[~unknown]
    users, local = np.unique(rows, return_inverse=True)
    n_items = np.bincount(local, minlength=users.size)
    kept_user = n_items >= MIN_HELDOUT_ITEMS
    if not kept_user.all():
        entries = ~kept_user[local]
        report.notes.append(
            f"{int((~kept_user).sum()):,} {label} users dropped: fewer than {MIN_HELDOUT_ITEMS} items left once the "
            f"items absent from train were removed ({int(entries.sum()):,} entries)")
        positions, columns, local = positions[~entries], columns[~entries], local[~entries]
        renumber = np.cumsum(kept_user) - 1
        users, n_items, local = users[kept_user], n_items[kept_user], renumber[local]
    report.rows_kept = int(positions.size)
    # A 1e-9 margin: (1 - 0.8) * 10 is 1.9999999999999996 in floating point, and must floor to 2.
    n_targets = np.clip(np.floor((1.0 - fraction) * n_items + 1e-9).astype(np.int64), 1, n_items - 1)
    order = np.lexsort((rng.random(positions.size), local))
    rank = np.empty(positions.size, dtype=np.int64)
    starts = (np.cumsum(n_items) - n_items).astype(np.int64)
    rank[order] = np.arange(positions.size) - np.repeat(starts, n_items)
    target = rank < n_targets[local]
    user_map = IdMap(data.users.raw_ids[users], data.users.name)
    shape = (users.size, train.n_items)

    def part(select):
        # Entries stay in CSR order: rows ascending, and columns ascending within a row (the
        # training index of an item rises with its data index).
        matrix = csr_from_sorted_entries(local[select], columns[select], data.matrix.data[positions[select]], shape)
        stamps = None if data.timestamps is None else data.timestamps[positions[select]]
        return data.replace(matrix, users=user_map, items=train.items, timestamps=stamps, report=report)

    return HeldoutPart(part(~target), part(target))
