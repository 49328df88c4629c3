"""Splits: seeded, deterministic, disjoint, covering; cold-start rule; hand-checked cases."""

import numpy as np
import pandas as pd
import pytest

from fastcf.data import from_arrays, kfold, leave_k_out, random_split, temporal_split, user_fraction_split


def dense_data(n_users=6, n_items=8, seed=0):
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.7)
    return from_arrays(users + 100, items + 500, rng.integers(1, 6, users.size).astype(float),
                       timestamps=rng.permutation(users.size))


def entries(data):
    frame = data.to_frame()
    return set(zip(frame["user"], frame["item"]))


def assert_partition(data, train, test, cold_dropped=0):
    assert train.shape == test.shape == data.shape
    assert entries(train).isdisjoint(entries(test))
    assert len(entries(train)) + len(entries(test)) + cold_dropped == data.nnz


@pytest.mark.parametrize("split", [random_split, user_fraction_split])
def test_fraction_splits_are_seeded_and_partition_the_data(split):
    data = dense_data()
    train, test = split(data, 0.25, seed=3, cold="keep")
    assert_partition(data, train, test)
    again = split(data, 0.25, seed=3, cold="keep")
    assert entries(again[1]) == entries(test)
    assert entries(split(data, 0.25, seed=4, cold="keep")[1]) != entries(test)


def test_random_split_size():
    data = dense_data()
    _, test = random_split(data, 0.2, cold="keep")
    assert test.nnz == round(0.2 * data.nnz)


def test_user_fraction_split_takes_from_every_user_and_leaves_one():
    data = from_arrays([1] * 5 + [2] * 2 + [3], [1, 2, 3, 4, 5, 1, 2, 1], np.ones(8))
    train, test = user_fraction_split(data, 0.4, cold="keep")
    per_user_test = np.diff(test.matrix.indptr)
    np.testing.assert_array_equal(per_user_test, [2, 1, 0])  # round(0.4*5)=2, round(0.8)=1 (keeps 1), 0
    assert (np.diff(train.matrix.indptr) >= 1).all()


def test_leave_latest_out_by_time_with_ties_to_the_lower_item():
    data = from_arrays([1, 1, 1, 2, 2, 2], [1, 2, 3, 1, 2, 3], np.ones(6), timestamps=[5, 9, 7, 4, 4, 1])
    train, test = leave_k_out(data, 1, by="latest")
    assert entries(test) == {(1, 2), (2, 1)}
    train, test = leave_k_out(data, 2, by="latest", cold="keep")
    assert entries(test) == {(1, 2), (1, 3), (2, 1), (2, 2)}
    # Item 2 then has no train entry left: the default drops its test entries, and says so.
    train, test = leave_k_out(data, 2, by="latest")
    assert entries(test) == {(1, 3), (2, 1)}
    assert test.report.dropped == {"item absent from train": 2}


def test_leave_k_out_spares_users_with_k_or_fewer_entries():
    data = from_arrays([1, 1, 2], [1, 2, 1], np.ones(3))
    train, test = leave_k_out(data, 1, seed=0, cold="keep")
    assert np.diff(test.matrix.indptr).tolist() == [1, 0]


def test_temporal_split_at_a_time_and_by_fraction():
    data = from_arrays([1, 1, 2, 2], [1, 2, 1, 2], np.ones(4), timestamps=[1, 2, 3, 4])
    train, test = temporal_split(data, at=3, cold="keep")
    assert entries(test) == {(2, 1), (2, 2)}
    train, test = temporal_split(data, 0.25, cold="keep")
    assert entries(test) == {(2, 2)}
    with pytest.raises(ValueError, match="needs timestamps"):
        temporal_split(from_arrays([1], [1], [1.0]))


@pytest.mark.parametrize("by", ["rating", "user"])
def test_kfold_test_sets_partition_the_data(by):
    data = dense_data(10, 12)
    folds = kfold(data, 3, by=by, seed=1, cold="keep")
    seen = set()
    for train, test in folds:
        assert_partition(data, train, test)
        assert seen.isdisjoint(entries(test))
        seen |= entries(test)
    assert len(seen) == data.nnz
    if by == "user":
        for train, test in folds:
            test_users = set(np.flatnonzero(np.diff(test.matrix.indptr)))
            train_users = set(np.flatnonzero(np.diff(train.matrix.indptr)))
            assert test_users.isdisjoint(train_users)


def test_cold_entries_are_dropped_and_reported_or_kept():
    # Item 9 appears only in the last entry, which the temporal split puts in test.
    data = from_arrays([1, 1, 2, 2], [1, 2, 1, 9], np.ones(4), timestamps=[1, 2, 3, 4])
    train, test = temporal_split(data, at=4)
    assert test.nnz == 0 and test.report.dropped == {"item absent from train": 1}
    row = test.report.rows().iloc[0]
    assert (row["user"], row["item"]) == (2, 9)
    train, test = temporal_split(data, at=4, cold="keep")
    assert test.nnz == 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: random_split(d, 1.5), r"'test_fraction' must be a finite number in \(0, 1\); got 1.5"),
        (lambda d: random_split(d, 0.2, cold="yes"), r"'cold' must be one of \('drop', 'keep'\); got 'yes'"),
        (lambda d: leave_k_out(d, 0), r"'k' must be an int >= 1; got 0"),
        (lambda d: leave_k_out(d, 1, by="oldest"), r"'by' must be one of \('random', 'latest'\); got 'oldest'"),
        (lambda d: kfold(d, 1), r"'n_folds' must be an int >= 2; got 1"),
        (lambda d: kfold(d, 3, by="item"), r"'by' must be one of \('rating', 'user'\); got 'item'"),
        (lambda d: kfold(d, 10**15), r"'n_folds' must be an int in \[2, 34\] \(at most one fold per stored entry\)"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(dense_data())
