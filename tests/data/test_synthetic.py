"""The synthetic generator: deterministic, the requested shape, and the structure it plants."""

import numpy as np
import pytest

from fastcf.data.synthetic import PRESETS, synthetic


def test_same_seed_same_data_other_seed_other_data():
    a = synthetic(n_users=200, n_items=300, n_ratings=5_000, seed=1)
    b = synthetic(n_users=200, n_items=300, n_ratings=5_000, seed=1)
    c = synthetic(n_users=200, n_items=300, n_ratings=5_000, seed=2)
    assert (a.matrix != b.matrix).nnz == 0 and np.array_equal(a.timestamps, b.timestamps)
    assert (a.matrix != c.matrix).nnz > 0


def test_ml100k_preset_has_the_shape_and_star_distribution_of_movielens():
    data = synthetic("ml100k")
    assert (data.n_users, data.n_items, data.nnz) == PRESETS["ml100k"][:3]
    assert data.matrix.has_canonical_format
    stars, counts = np.unique(data.matrix.data, return_counts=True)
    assert stars.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(counts / counts.sum(), [0.056, 0.108, 0.261, 0.349, 0.226], atol=0.03)
    per_user = np.diff(data.matrix.indptr)
    assert per_user.min() >= 20 and per_user.max() > 10 * np.median(per_user)  # heavy tail
    per_item = np.bincount(data.matrix.indices, minlength=data.n_items)
    assert per_item.max() > 10 * np.median(per_item)
    assert len(data.item_info) == data.n_items and len(data.user_info) == data.n_users
    assert set(data.user_info.columns) == {"age", "gender", "occupation", "favourite_genre"}


def test_half_stars():
    data = synthetic(n_users=100, n_items=200, n_ratings=3_000, half_stars=True)
    assert set(np.unique(data.matrix.data)) <= set(np.arange(0.5, 5.01, 0.5))


def test_users_favour_their_genre():
    data = synthetic(n_users=300, n_items=500, n_ratings=15_000, genre_affinity=0.6, seed=3)
    favourite = data.user_info["favourite_genre"].to_numpy()
    primary = np.array([genres[0] for genres in data.item_info["genres"]])
    rows = np.repeat(np.arange(data.n_users), np.diff(data.matrix.indptr))
    share = np.mean(primary[data.matrix.indices] == favourite[rows])
    shuffled = np.random.default_rng(0).permutation(favourite)
    chance = np.mean(primary[data.matrix.indices] == shuffled[rows])
    assert share > 2.5 * chance, (share, chance)


def test_timestamps_are_not_ordered_by_item_index():
    data = synthetic(n_users=50, n_items=100, n_ratings=2_000)
    row = slice(data.matrix.indptr[0], data.matrix.indptr[1])
    assert not np.all(np.diff(data.timestamps[row]) >= 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset="ml30m"), r"'preset' must be one of"),
        (dict(n_users=0, n_items=5, n_ratings=5), r"'n_users' must be an int >= 1"),
        (dict(n_users=2, n_items=2, n_ratings=5), r"exceeds n_users \* n_items = 4"),
        (dict(n_users=20, n_items=20, n_ratings=100, genre_affinity=2), r"'genre_affinity' must lie in \[0, 1\]"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic(**kwargs)
