"""ImplicitALS's formulation: confidence "linear" / "raw" / "log", the unobserved weight α0 and the
frequency-scaled regularisation (regularization_exp), checked against the normal equations solved
densely and, for "raw", against implicit."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import from_arrays, synthetic
from fastcf.models import ImplicitALS
from fastcf.models.implicit_als import confidence_values, frequency_regularization


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=60, n_items=40, n_ratings=700, seed=4)


def _dense_user_solve(matrix, Y, confidence, alpha0, regularization):
    """Every user's exact minimiser of Σ_stored c (1 − x·y)² + α0 Σ_unstored (x·y)² + λ|x|²."""
    out = np.zeros((matrix.shape[0], Y.shape[1]))
    for u in range(matrix.shape[0]):
        lo, hi = matrix.indptr[u], matrix.indptr[u + 1]
        items, c = matrix.indices[lo:hi], confidence[lo:hi]
        weights = np.full(Y.shape[0], alpha0)
        weights[items] = c
        target = np.zeros(Y.shape[0])
        target[items] = 1.0
        A = (Y * weights[:, None]).T @ Y + regularization * np.eye(Y.shape[1])
        out[u] = np.linalg.solve(A, (Y * (weights * target)[:, None]).sum(axis=0))
    return out


@pytest.mark.parametrize("kind", ["linear", "raw", "log"])
@pytest.mark.parametrize("alpha0", [1.0, 0.1, 3.0])
def test_a_half_step_solves_the_stated_objective(data, kind, alpha0):
    model = ImplicitALS(factors=6, confidence=kind, unobserved_weight=alpha0, alpha=1.5, confidence_epsilon=2.0,
                        regularization=0.3, dtype=np.float64, solver="cholesky")
    Y = np.random.default_rng(0).standard_normal((data.n_items, 6))
    X = np.zeros((data.n_users, 6))
    model._half_step(model._confidence(data.matrix), Y, X, cg_steps=0)
    c = confidence_values(data.matrix.data, kind, 1.5, 2.0)
    np.testing.assert_allclose(X, _dense_user_solve(data.matrix, Y, c, alpha0, 0.3), rtol=1e-8, atol=1e-10)


def test_the_default_is_hu_et_al(data):
    default = ImplicitALS(factors=4, iterations=3, random_state=0).fit(data)
    stated = ImplicitALS(factors=4, iterations=3, random_state=0, confidence="linear", unobserved_weight=1.0).fit(data)
    np.testing.assert_array_equal(default.user_factors_, stated.user_factors_)


def test_raw_confidence_gives_implicits_half_step(data):
    """The same objective as implicit's AlternatingLeastSquares: confidence = the stored value."""
    least_squares = pytest.importorskip("implicit.cpu._als").least_squares
    model = ImplicitALS(factors=8, confidence="raw", regularization=0.5, dtype=np.float32, solver="cholesky")
    Y = np.random.default_rng(1).standard_normal((data.n_items, 8)).astype(np.float32)
    ours = np.zeros((data.n_users, 8), np.float32)
    model._half_step(model._confidence(data.matrix), Y, ours, cg_steps=0)
    theirs = np.zeros((data.n_users, 8), np.float32)
    least_squares(sp.csr_matrix(data.matrix, dtype=np.float32), theirs, Y, 0.5, num_threads=1)
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-4)


def test_the_loss_is_the_stated_objective_and_goes_down(data):
    model = ImplicitALS(factors=4, iterations=4, unobserved_weight=0.2, confidence="log", track_loss=True,
                        random_state=0, dtype=np.float64).fit(data)
    X, Y = model.user_factors_, model.item_factors_
    scores = X @ Y.T
    c = confidence_values(data.matrix.data, "log", model.alpha, 1.0)
    stored = np.zeros_like(scores, dtype=bool)
    rows = np.repeat(np.arange(data.n_users), np.diff(data.matrix.indptr))
    stored[rows, data.matrix.indices] = True
    expected = (np.sum(c * (1 - scores[rows, data.matrix.indices]) ** 2) + 0.2 * np.sum(scores[~stored] ** 2)
                + model.regularization * (np.sum(X * X) + np.sum(Y * Y)))
    assert model.loss_history_[-1] == pytest.approx(expected, rel=1e-6)
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_explain_decomposes_the_score_under_alpha0(data):
    model = ImplicitALS(factors=5, iterations=3, solver="cholesky", unobserved_weight=0.3, confidence="raw",
                        random_state=0, dtype=np.float64).fit(data)
    user, item = data.users.raw_ids[2], data.items.raw_ids[5]
    _, _, total = model.explain(user, item, k=3)
    u, i = data.users.to_index(user), data.items.to_index(item)
    assert total == pytest.approx(float(model.user_factors_[u] @ model.item_factors_[i]), rel=1e-6)


@pytest.mark.parametrize("params, message", [
    (dict(confidence="square"), r"'confidence' must be one of \('linear', 'raw', 'log'\)"),
    (dict(unobserved_weight=0.0), r"'unobserved_weight' must be a finite number > 0"),
    (dict(confidence_epsilon=-1.0), r"'confidence_epsilon' must be a finite number > 0"),
])
def test_bad_formulations_are_named(data, params, message):
    with pytest.raises(ValueError, match=message):
        ImplicitALS(factors=4, iterations=1, **params).fit(data)


# --- frequency-scaled regularisation (regularization_exp, Rendle et al. 2021) -------------------

def test_frequency_regularization_is_rendles_formula():
    counts = np.array([0, 3, 10])
    np.testing.assert_allclose(frequency_regularization(counts, 50, 0.003, 1.0, 0.1), 0.003 * (counts + 5.0))
    np.testing.assert_allclose(frequency_regularization(counts, 50, 0.2, 0.5, 1.0), 0.2 * np.sqrt(counts + 50.0))
    np.testing.assert_array_equal(frequency_regularization(counts, 50, 0.2, 0.0, 0.1), np.full(3, 0.2))


def _stated_user_solve(matrix, Y, confidence, alpha0, penalties):
    """Every user's exact minimiser of Σ_stored c (1 − x·y)² + α0 Σ_unstored (x·y)² + λ_u |x|²."""
    out = np.zeros((matrix.shape[0], Y.shape[1]))
    for u in range(matrix.shape[0]):
        out[u] = _dense_user_solve(matrix[u], Y, confidence[matrix.indptr[u]:matrix.indptr[u + 1]], alpha0,
                                   penalties[u])[0]
    return out


@pytest.mark.parametrize("nu", [1.0, 0.5])
def test_fitted_user_factors_solve_the_frequency_scaled_problem(data, nu):
    model = ImplicitALS(factors=5, iterations=3, solver="cholesky", regularization=0.003, regularization_exp=nu,
                        unobserved_weight=0.1, alpha=1.0, dtype=np.float64, random_state=0).fit(data)
    counts = np.diff(data.matrix.indptr)
    penalties = 0.003 * (counts + 0.1 * data.n_items) ** nu  # λ_u = λ (n_u + α0 n_items)^ν
    c = confidence_values(data.matrix.data, "linear", 1.0)
    expected = _stated_user_solve(data.matrix, model.item_factors_, c, 0.1, penalties)
    np.testing.assert_allclose(model.user_factors_, expected, rtol=1e-7, atol=1e-10)


def test_nu_zero_is_the_flat_regularization_to_the_bit(data):
    flat = ImplicitALS(factors=4, iterations=3, random_state=0, unobserved_weight=0.3).fit(data)
    stated = ImplicitALS(factors=4, iterations=3, random_state=0, unobserved_weight=0.3, regularization_exp=0.0).fit(data)
    np.testing.assert_array_equal(flat.user_factors_, stated.user_factors_)
    np.testing.assert_array_equal(flat.item_factors_, stated.item_factors_)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_the_loss_with_frequency_scaling_is_the_stated_objective_and_goes_down(data, solver):
    model = ImplicitALS(factors=4, iterations=4, unobserved_weight=0.2, regularization=0.01, regularization_exp=1.0,
                        track_loss=True, random_state=0, dtype=np.float64, solver=solver).fit(data)
    X, Y = model.user_factors_, model.item_factors_
    scores = X @ Y.T
    c = confidence_values(data.matrix.data, "linear", model.alpha)
    stored = np.zeros_like(scores, dtype=bool)
    rows = np.repeat(np.arange(data.n_users), np.diff(data.matrix.indptr))
    stored[rows, data.matrix.indices] = True
    user_counts = np.diff(data.matrix.indptr)
    item_counts = np.bincount(data.matrix.indices, minlength=data.n_items)
    lam_u = 0.01 * (user_counts + 0.2 * data.n_items)
    lam_i = 0.01 * (item_counts + 0.2 * data.n_users)
    expected = (np.sum(c * (1 - scores[rows, data.matrix.indices]) ** 2) + 0.2 * np.sum(scores[~stored] ** 2)
                + np.sum(lam_u * np.sum(X * X, axis=1)) + np.sum(lam_i * np.sum(Y * Y, axis=1)))
    assert model.loss_history_[-1] == pytest.approx(expected, rel=1e-6)
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_fold_in_of_a_training_user_gives_its_frequency_scaled_factors(data):
    model = ImplicitALS(factors=5, iterations=3, solver="cholesky", regularization=0.01, regularization_exp=1.0,
                        unobserved_weight=0.1, dtype=np.float64, random_state=0).fit(data)
    for u in (0, 7, 33):
        user = data.users.raw_ids[u]
        row = data.matrix[u]
        history = {data.items.raw_ids[i]: v for i, v in zip(row.indices, row.data)}
        np.testing.assert_allclose(model.user_factors_for(history), model.user_factors_[u], rtol=1e-8, atol=1e-12)
        assert model.recommend(user, 3)[0].shape == (3,)


def test_explain_decomposes_the_score_with_frequency_scaling(data):
    model = ImplicitALS(factors=5, iterations=3, solver="cholesky", unobserved_weight=0.3, regularization=0.02,
                        regularization_exp=1.0, random_state=0, dtype=np.float64).fit(data)
    user, item = data.users.raw_ids[2], data.items.raw_ids[5]
    _, _, total = model.explain(user, item, k=3)
    u, i = data.users.to_index(user), data.items.to_index(item)
    assert total == pytest.approx(float(model.user_factors_[u] @ model.item_factors_[i]), rel=1e-6)


def test_partial_fit_solves_touched_users_with_their_new_counts(data):
    model = ImplicitALS(factors=4, iterations=2, solver="cholesky", regularization=0.01, regularization_exp=1.0,
                        unobserved_weight=0.1, dtype=np.float64, random_state=0).fit(data)
    user, items = data.users.raw_ids[4], data.items.raw_ids[[0, 1, 2]]
    new = from_arrays(np.array([user] * 3), items, np.array([1.0, 2.0, 1.0]))
    model.partial_fit(new)
    u = model.users_.to_index(user)
    # The last of partial_fit's half-steps re-solves the touched user exactly, with λ_u of its new row.
    seen = model.seen_
    c = confidence_values(seen.data, "linear", model.alpha)
    penalty = 0.01 * (np.diff(seen.indptr)[u] + 0.1 * seen.shape[1])
    expected = _dense_user_solve(seen[u], model.item_factors_, c[seen.indptr[u]:seen.indptr[u + 1]], 0.1, penalty)[0]
    np.testing.assert_allclose(model.user_factors_[u], expected, rtol=1e-8, atol=1e-12)


def test_regularization_exp_round_trips_through_save_and_load(data, tmp_path):
    model = ImplicitALS(factors=4, iterations=2, regularization_exp=0.75, unobserved_weight=0.5, random_state=0).fit(data)
    model.save(tmp_path / "model")
    loaded = ImplicitALS.load(tmp_path / "model")
    assert loaded.get_params()["regularization_exp"] == 0.75
    user = data.users.raw_ids[1]
    history = {data.items.raw_ids[i]: 1.0 for i in (3, 4)}
    np.testing.assert_array_equal(loaded.user_factors_for(history), model.user_factors_for(history))
    np.testing.assert_array_equal(loaded.recommend(user, 5)[0], model.recommend(user, 5)[0])


@pytest.mark.parametrize("value, error", [(-1.0, ValueError), (np.nan, ValueError), (np.inf, ValueError),
                                          ("1", TypeError), (None, TypeError), (True, TypeError)])
def test_bad_regularization_exp_is_named(data, value, error):
    with pytest.raises(error, match=r"ImplicitALS: 'regularization_exp' must be a finite number >= 0"):
        ImplicitALS(factors=4, iterations=1, regularization_exp=value).fit(data)
