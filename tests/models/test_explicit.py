"""Explicit-rating models: predict with fallback, fold-in, reproducibility (the shared contract: test_contract.py)."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import synthetic
from fastcf.models import BaselineOnly, BiasedMF, ExplicitALS, SVDpp

MODELS = {
    "BaselineOnly": lambda: BaselineOnly(),
    "BiasedMF": lambda: BiasedMF(factors=8, epochs=5, random_state=0),
    "BiasedMF-float64-numba": lambda: BiasedMF(factors=8, epochs=5, random_state=0, dtype=np.float64, backend="numba"),
    "SVDpp": lambda: SVDpp(factors=8, epochs=5, random_state=0),
    "ExplicitALS": lambda: ExplicitALS(factors=8, iterations=3, random_state=0),
}


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=150, n_items=120, n_ratings=4_000, seed=5)


def pairs(data):
    rows = np.repeat(np.arange(data.n_users), np.diff(data.matrix.indptr))
    return data.users.raw_ids[rows], data.items.raw_ids[data.matrix.indices], data.matrix.data


@pytest.mark.parametrize("name", ["BaselineOnly", "BiasedMF", "SVDpp", "ExplicitALS"])
def test_predict_is_clipped_and_fits_the_training_data(data, name):
    model = MODELS[name]().fit(data)
    users, items, ratings = pairs(data)
    predicted, fallback = model.predict(users, items, return_fallback=True)
    low, high = model.rating_scale_
    assert (low, high) == (ratings.min(), ratings.max())
    assert predicted.min() >= low and predicted.max() <= high
    assert not fallback.any()
    rmse = np.sqrt(np.mean((predicted - ratings) ** 2))
    assert rmse < np.std(ratings), (rmse, np.std(ratings))
    unclipped = model.predict(users, items, clip=False)
    assert np.allclose(np.clip(unclipped, low, high), predicted)
    custom = MODELS[name]()
    custom.rating_scale = (2.0, 4.0)
    assert custom.fit(data).predict(users, items).max() <= 4.0


@pytest.mark.parametrize("name", ["BaselineOnly", "BiasedMF", "SVDpp", "ExplicitALS"])
def test_unknown_users_and_items_fall_back_to_the_baseline(data, name):
    model = MODELS[name]().fit(data)
    user, item = data.users.raw_ids[3], data.items.raw_ids[7]
    got, fallback = model.predict([user, -99, user, -99], [item, item, -99, -99], clip=False, return_fallback=True)
    u, i = data.users.to_index(user), data.items.to_index(item)
    assert fallback.tolist() == [False, True, True, True]
    mu = model.global_mean_
    np.testing.assert_allclose(got[1:], [mu + model.item_bias_[i], mu + model.user_bias_[u], mu], rtol=1e-6)


def test_users_without_training_ratings_fall_back(data):
    matrix = data.matrix.tolil()
    matrix[0, :] = 0
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    model = BiasedMF(factors=4, epochs=3, random_state=0).fit(matrix)
    assert not model.known_users_[0] and not np.any(model.user_factors_[0])
    _, fallback = model.predict([0, 1], [5, 5], return_fallback=True)
    assert fallback.tolist() == [True, False]


def test_biased_mf_is_bit_identical_at_one_and_two_threads(data):
    for backend in ("cython", "numba"):
        one = BiasedMF(factors=16, epochs=3, random_state=1, n_threads=1, backend=backend).fit(data)
        two = BiasedMF(factors=16, epochs=3, random_state=1, n_threads=2, backend=backend).fit(data)
        for attribute in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
            assert np.array_equal(getattr(one, attribute), getattr(two, attribute)), (backend, attribute)
        assert one.loss_history_ == two.loss_history_


def test_biased_mf_loss_falls_and_other_seeds_differ(data):
    model = BiasedMF(factors=8, epochs=10, random_state=0).fit(data)
    assert model.loss_history_[-1] < model.loss_history_[0]
    other = BiasedMF(factors=8, epochs=10, random_state=1).fit(data)
    assert not np.array_equal(model.user_factors_, other.user_factors_)


def test_fold_in_reproduces_the_baseline_user_step(data):
    model = BaselineOnly().fit(data)
    u = 4
    lo, hi = data.matrix.indptr[u], data.matrix.indptr[u + 1]
    history = dict(zip(data.items.raw_ids[data.matrix.indices[lo:hi]], data.matrix.data[lo:hi]))
    bias, factors = model.fold_in(history)
    assert factors is None
    # The last alternating step solved the users exactly: folding a user in gives its bias back.
    assert bias == pytest.approx(model.user_bias_[u], rel=1e-9)


def test_fold_in_of_biased_mf_predicts_like_the_trained_user(data):
    model = BiasedMF(factors=8, epochs=20, random_state=0).fit(data)
    u = 10
    lo, hi = data.matrix.indptr[u], data.matrix.indptr[u + 1]
    items = data.items.raw_ids[data.matrix.indices[lo:hi]]
    ratings = data.matrix.data[lo:hi]
    bias, factors = model.fold_in(dict(zip(items, ratings)))
    assert factors.shape == (8,) and np.isfinite(bias)
    folded = model.predict_for_history(dict(zip(items, ratings)), items)
    trained = model.predict(np.full(items.size, data.users.raw_ids[u]), items)
    # Both fit the same ratings; the exact solve fits them at least as well as SGD did.
    assert np.sqrt(np.mean((folded - ratings) ** 2)) <= np.sqrt(np.mean((trained - ratings) ** 2)) + 0.05
    empty_bias, empty_factors = model.fold_in({})
    assert empty_bias == 0 and not empty_factors.any()
    ids, scores = model.recommend_for_history(dict(zip(items, ratings)), 5)
    assert not set(ids.tolist()) & set(items.tolist())
    np.testing.assert_allclose(scores, model.predict_for_history(dict(zip(items, ratings)), ids, clip=False), rtol=1e-5)


def test_recommend_scores_are_predicted_ratings(data):
    model = BiasedMF(factors=8, epochs=5, random_state=0).fit(data)
    user = data.users.raw_ids[2]
    ids, scores = model.recommend(user, 5)
    np.testing.assert_allclose(scores, model.predict(np.full(5, user), ids, clip=False), rtol=1e-5)
    baseline = BaselineOnly().fit(data)
    ids, scores = baseline.recommend(user, 5)
    np.testing.assert_allclose(scores, baseline.predict(np.full(5, user), ids, clip=False), rtol=1e-9)


def test_planted_ratings_are_recovered():
    rng = np.random.default_rng(0)
    n_users, n_items = 80, 60
    p, q = rng.standard_normal((n_users, 2)), rng.standard_normal((n_items, 2))
    full = 3 + 0.5 * p @ q.T
    mask = rng.random(full.shape) < 0.5
    train = sp.csr_matrix(np.where(mask, full, 0))
    model = BiasedMF(factors=2, epochs=200, learning_rate=0.02, learning_rate_decay=1.0, reg_factors=0.001,
                     reg_bias=0.001, init_std=0.1, n_blocks=3, random_state=0, dtype=np.float64).fit(train)
    users, items = np.nonzero(~mask)
    error = model.predict(users, items, clip=False) - full[users, items]
    assert np.sqrt(np.mean(error ** 2)) < 0.1


@pytest.mark.parametrize("param, value, message", [
    ("factors", 0, "BiasedMF: 'factors' must be an int >= 1; got 0."),
    ("learning_rate", 0.0, "BiasedMF: 'learning_rate' must be a finite number > 0; got 0.0."),
    ("learning_rate_decay", 1.5, "BiasedMF: 'learning_rate_decay' must be a finite number in (0, 1]; got 1.5."),
    ("reg_factors", -1, "BiasedMF: 'reg_factors' must be a finite number >= 0; got -1."),
    ("rating_scale", (5, 1), "BiasedMF: 'rating_scale' must be finite with low <= high; got (5, 1)."),
])
def test_parameters_are_checked_in_fit(data, param, value, message):
    model = BiasedMF(**{param: value})
    assert getattr(model, param) == value  # stored verbatim
    with pytest.raises((ValueError, TypeError)) as info:
        model.fit(data)
    assert str(info.value) == message


def test_baseline_parameters_are_checked(data):
    with pytest.raises(ValueError, match="BaselineOnly: 'reg_user' must be a finite number >= 0; got -1."):
        BaselineOnly(reg_user=-1).fit(data)


def test_svdpp_is_bit_identical_at_one_and_two_threads(data):
    for backend in ("cython", "numba"):
        one = SVDpp(factors=16, epochs=3, random_state=1, n_threads=1, backend=backend).fit(data)
        two = SVDpp(factors=16, epochs=3, random_state=1, n_threads=2, backend=backend).fit(data)
        for attribute in ("user_factors_", "item_factors_", "implicit_factors_", "user_bias_", "item_bias_"):
            assert np.array_equal(getattr(one, attribute), getattr(two, attribute)), (backend, attribute)


def test_svdpp_user_vectors_include_the_implicit_sums(data):
    model = SVDpp(factors=8, epochs=10, random_state=0, learning_rate_implicit=0.01).fit(data)
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert np.abs(model.implicit_factors_).max() > 0
    counts = np.diff(data.matrix.indptr)
    u = int(np.argmax(counts))
    lo, hi = data.matrix.indptr[u], data.matrix.indptr[u + 1]
    z = model.implicit_factors_[data.matrix.indices[lo:hi]].sum(axis=0) / np.sqrt(hi - lo)
    np.testing.assert_allclose(model.user_factors_[u], model.explicit_user_factors_[u] + z, rtol=1e-4, atol=1e-6)
    items = data.items.raw_ids[data.matrix.indices[lo:hi]]
    ratings = data.matrix.data[lo:hi]
    folded = model.predict_for_history(dict(zip(items, ratings)), items)
    trained = model.predict(np.full(items.size, data.users.raw_ids[u]), items)
    assert np.sqrt(np.mean((folded - ratings) ** 2)) <= np.sqrt(np.mean((trained - ratings) ** 2)) + 0.05


def test_explicit_als_fold_in_gives_back_the_fitted_user(data):
    model = ExplicitALS(factors=6, iterations=5, random_state=0, dtype=np.float64).fit(data)
    assert all(b <= a + 1e-9 for a, b in zip(model.loss_history_, model.loss_history_[1:]))
    u = 7
    lo, hi = data.matrix.indptr[u], data.matrix.indptr[u + 1]
    history = dict(zip(data.items.raw_ids[data.matrix.indices[lo:hi]], data.matrix.data[lo:hi]))
    bias, factors = model.fold_in(history)
    # The last half-step solved the users exactly, so a fold-in repeats it.
    assert bias == pytest.approx(model.user_bias_[u], rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(factors, model.user_factors_[u], rtol=1e-8, atol=1e-10)


def test_svdpp_defaults_stay_finite_when_items_have_very_many_raters():
    # Each y_j takes one step per rater; summed, 3,000 raters made the default rate diverge in
    # epoch 5 here (and in epoch 2 on MovieLens 10M, with up to ~35,000 raters an item).
    rng = np.random.default_rng(3)
    n_users, n_items, popular = 3_000, 300, 100
    rows = np.concatenate([np.repeat(np.arange(n_users), popular), np.repeat(np.arange(n_users), 10)])
    cols = np.concatenate([np.tile(np.arange(popular), n_users), rng.integers(popular, n_items, n_users * 10)])
    keys = np.unique(rows * n_items + cols)  # the long-tail draws may repeat an item
    rows, cols = keys // n_items, keys % n_items
    taste = rng.normal(size=(n_users, 4)) @ rng.normal(size=(4, n_items))
    ratings = np.clip(np.round(3.5 + taste[rows, cols] + rng.normal(0, 0.5, rows.size)), 1, 5)
    matrix = sp.csr_matrix((ratings, (rows, cols)), shape=(n_users, n_items))
    model = SVDpp(epochs=5, random_state=0).fit(matrix)
    assert np.isfinite(model.implicit_factors_).all() and np.isfinite(model.user_factors_).all()
    assert np.all(np.diff(model.loss_history_) < 0), model.loss_history_
    assert np.abs(model.implicit_factors_[:popular]).max() > 0
