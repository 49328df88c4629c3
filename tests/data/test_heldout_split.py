"""heldout_user_split (strong generalization): disjoint users, non-empty parts, fractions, seeds, IDs, errors."""

import numpy as np
import pytest

from fastcf.data import HeldoutPart, HeldoutSplit, binarize, from_arrays, heldout_user_split, k_core, synthetic


@pytest.fixture(scope="module")
def data():
    return k_core(binarize(synthetic("ml100k", seed=3), 4.0), 5, 1)


def pairs(interactions):
    frame = interactions.to_frame()
    return set(zip(frame["user"], frame["item"]))


def raw_users(interactions):
    return set(interactions.users.raw_ids.tolist())


def test_users_are_disjoint_and_the_parts_share_the_training_items(data):
    split = heldout_user_split(data, 40, 60, seed=1)
    assert isinstance(split, HeldoutSplit) and isinstance(split.test, HeldoutPart)
    train, validation, test = split
    assert validation.n_users == 40 and test.n_users == 60
    assert train.n_users == data.n_users - 100
    train_users, validation_users, test_users = raw_users(train), raw_users(validation.fold_in), raw_users(test.fold_in)
    assert not train_users & validation_users and not train_users & test_users and not validation_users & test_users
    assert train_users | validation_users | test_users == raw_users(data)
    for part in (validation, test):
        assert part.fold_in.users == part.targets.users
        assert part.fold_in.items is train.items and part.targets.items is train.items
        assert pairs(part.fold_in).isdisjoint(pairs(part.targets))
    # Every training entry is the data's, and every entry of the training users is in train.
    train_pairs = pairs(train)
    assert train_pairs == {(u, i) for u, i in pairs(data) if u in train_users}


def test_every_heldout_user_has_fold_in_items_and_targets_in_the_right_proportion(data):
    _, validation, test = heldout_user_split(data, 30, 30, fold_in_fraction=0.8, seed=2)
    for part in (validation, test):
        n_fold_in = np.diff(part.fold_in.matrix.indptr)
        n_targets = np.diff(part.targets.matrix.indptr)
        assert (n_fold_in >= 1).all() and (n_targets >= 1).all()
        n = n_fold_in + n_targets
        # Liang et al.'s int(0.2 * n) targets (users here have >= 5 items, so it is >= 1).
        np.testing.assert_array_equal(n_targets, (2 * n) // 10)


def test_the_target_count_rule_at_the_edges():
    # Users with 2, 3, 5, 9 and 10 items; users 100..109 hold one item each (they cannot be
    # held out), so that every item is a training item.
    counts = [2, 3, 5, 9, 10]
    users = np.concatenate([[u] * c for u, c in enumerate(counts)] + [np.arange(100, 110)])
    items = np.concatenate([np.arange(c) for c in counts] + [np.arange(10)])
    data = from_arrays(users, items, np.ones(users.size))
    _, _, test = heldout_user_split(data, 0, 5, seed=0)
    assert test.fold_in.users.raw_ids.tolist() == [0, 1, 2, 3, 4]  # in the data's order
    # floor(0.2 n), at least 1 and at most n - 1; 10 items give 2 (not the 1 of a float floor).
    np.testing.assert_array_equal(np.diff(test.targets.matrix.indptr), [1, 1, 1, 1, 2])
    np.testing.assert_array_equal(np.diff(test.fold_in.matrix.indptr), [1, 2, 4, 8, 8])
    _, _, half = heldout_user_split(data, 0, 5, fold_in_fraction=0.5, seed=0)
    np.testing.assert_array_equal(np.diff(half.targets.matrix.indptr), [1, 1, 2, 4, 5])


def test_fractions_of_users_and_an_empty_validation_part(data):
    train, validation, test = heldout_user_split(data, 0.1, 0.2, seed=0)
    assert validation.n_users == round(0.1 * data.n_users) and test.n_users == round(0.2 * data.n_users)
    _, none, _ = heldout_user_split(data, 0, 10)
    assert none.n_users == 0 and none.fold_in.nnz == 0 and none.targets.shape == (0, train.n_items)


def test_deterministic_from_the_seed(data):
    first = heldout_user_split(data, 20, 20, seed=5)
    again = heldout_user_split(data, 20, 20, seed=5)
    other = heldout_user_split(data, 20, 20, seed=6)
    for a, b in zip(first[1:], again[1:]):
        assert pairs(a.fold_in) == pairs(b.fold_in) and pairs(a.targets) == pairs(b.targets)
    assert raw_users(first.test.fold_in) != raw_users(other.test.fold_in)


def test_raw_ids_values_and_timestamps_are_kept():
    users = np.array(["ann", "ann", "ann", "bob", "bob", "bob", "cat", "cat", "cat"])
    items = np.array([10, 20, 30, 10, 20, 30, 10, 20, 40])
    data = from_arrays(users, items, np.arange(1.0, 10.0), timestamps=np.arange(9) * 100)
    train, _, test = heldout_user_split(data, 0, 1, seed=0)
    (user,) = test.fold_in.users.raw_ids
    original = data.to_frame().set_index(["user", "item"])
    for part in test:
        for _, row in part.to_frame().iterrows():
            assert row["user"] == user
            assert original.loc[(user, row["item"]), "rating"] == row["rating"]
            assert original.loc[(user, row["item"]), "timestamp"] == row["timestamp"]
    assert len(pairs(test.fold_in)) + len(pairs(test.targets)) == len(
        {i for u, i in pairs(data) if u == user} & set(train.items.raw_ids.tolist()))


def test_items_absent_from_training_are_removed_and_users_left_short_are_dropped():
    # Items 7 and 8 belong to held-out users only; user 3 keeps one item once they go.
    users = np.array([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])
    items = np.array([1, 2, 3, 1, 2, 3, 1, 7, 8, 2, 3, 7])
    data = from_arrays(users, items, np.ones(users.size))
    for seed in range(100):
        train, _, test = heldout_user_split(data, 0, 2, seed=seed)
        if raw_users(train) != {1, 2}:
            continue
        assert train.items.raw_ids.tolist() == [1, 2, 3]
        assert raw_users(test.fold_in) == {4}  # user 3 had only item 1 left
        assert test.fold_in.report.dropped == {"item absent from train": 3}
        assert any("1 test users dropped" in note for note in test.fold_in.report.notes)
        assert pairs(test.fold_in) | pairs(test.targets) == {(4, 2), (4, 3)}
        break
    else:
        pytest.fail("no seed held out users 3 and 4 together")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_validation=-1), ValueError, r"heldout_user_split: 'n_validation' must be an int in \[0, \d+\] or a "
                                        r"fraction in \(0, 1\)"),
    (dict(n_test=0), ValueError, r"heldout_user_split: 'n_test' must be at least 1 user"),
    (dict(n_test=1.5), ValueError, r"'n_test' must be an int in .* or a fraction in \(0, 1\).*; got 1.5"),
    (dict(n_test="10"), TypeError, r"heldout_user_split: 'n_test' must be an int"),
    (dict(n_test=True), TypeError, r"'n_test' must be an int"),
    (dict(n_test=float("nan")), ValueError, r"'n_test'"),
    (dict(n_validation=500, n_test=500), ValueError, r"'n_validation' \+ 'n_test' = 500 \+ 500 users must leave at "
                                                     r"least one training user"),
    (dict(fold_in_fraction=1.0), ValueError, r"heldout_user_split: 'fold_in_fraction' must be a finite number in "
                                             r"\(0, 1\)"),
    (dict(fold_in_fraction=0), ValueError, r"'fold_in_fraction'"),
    (dict(seed=-3), ValueError, r"heldout_user_split: 'seed' must be None or an int >= 0"),
])
def test_bad_arguments_are_refused_by_name(data, kwargs, error, match):
    arguments = {"n_validation": 10, "n_test": 10, **kwargs}
    with pytest.raises(error, match=match):
        heldout_user_split(data, **arguments)


def test_data_must_be_interactions(data):
    with pytest.raises(TypeError, match=r"heldout_user_split: 'data' must be fastcf Interactions; got csr_matrix"):
        heldout_user_split(data.matrix, 1, 1)


def test_users_with_a_single_entry_are_never_held_out():
    users = np.array([1, 2, 2, 3, 3])
    data = from_arrays(users, np.array([1, 1, 2, 1, 2]), np.ones(5))
    with pytest.raises(ValueError, match=r"at most the 2 users with >= 2 entries"):
        heldout_user_split(data, 1, 2)
    train, validation, test = heldout_user_split(data, 1, 1, seed=0)
    assert raw_users(train) == {1}
