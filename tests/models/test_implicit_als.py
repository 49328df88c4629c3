"""ImplicitALS: behaviour on hand-made and synthetic data, errors, fold-in, explain, partial_fit."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import from_arrays, synthetic
from fastcf.exceptions import NotFittedError
from fastcf.models import ImplicitALS


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=150, n_items=120, n_ratings=3_000, seed=5)


def two_blocks():
    """Users 0-3 like items 0-3, users 4-7 like items 4-7; each user misses one item of their block."""
    users, items = [], []
    for u in range(8):
        block = range(0, 4) if u < 4 else range(4, 8)
        for i in block:
            if i != (u % 4) + (0 if u < 4 else 4):
                users.append(u)
                items.append(i)
    return from_arrays(users, items, np.ones(len(users)))


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_recommends_the_missing_item_of_the_users_block(solver):
    data = two_blocks()
    model = ImplicitALS(factors=2, regularization=0.01, alpha=10, iterations=20, solver=solver, random_state=0)
    model.fit(data)
    for u in range(8):
        top, _ = model.recommend(u, 1)
        assert top[0] == (u % 4) + (0 if u < 4 else 4), (u, top)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cholesky_loss_never_increases(data, dtype):
    model = ImplicitALS(factors=10, iterations=8, solver="cholesky", track_loss=True, dtype=dtype, random_state=1)
    model.fit(data)
    losses = np.array(model.loss_history_)
    assert losses.shape == (8,)
    assert np.all(np.diff(losses) <= 1e-6 * losses[:-1]), losses


def test_cg_loss_falls(data):
    model = ImplicitALS(factors=10, iterations=8, solver="cg", track_loss=True, random_state=1).fit(data)
    assert model.loss_history_[-1] < 0.8 * model.loss_history_[0]


def test_fold_in_of_a_training_user_gives_back_its_factors(data):
    model = ImplicitALS(factors=10, iterations=5, solver="cholesky", dtype=np.float64, random_state=2).fit(data)
    for user in data.users.raw_ids[:5]:
        row = data.matrix[data.users.to_index(user)]
        history = dict(zip(data.items.raw_ids[row.indices], row.data))
        np.testing.assert_allclose(model.user_factors_for(history), model.user_factors_[data.users.to_index(user)],
                                   rtol=1e-8, atol=1e-10)
    batch = model.user_factors_for(data.matrix[:5])
    np.testing.assert_allclose(batch, model.user_factors_[:5], rtol=1e-8, atol=1e-10)


def test_explain_decomposes_the_score_exactly(data):
    model = ImplicitALS(factors=10, iterations=5, solver="cholesky", dtype=np.float64, random_state=3).fit(data)
    user = data.users.raw_ids[7]
    item = model.recommend(user, 1)[0][0]
    ids, contributions, total = model.explain(user, item, k=3)
    assert len(ids) == 3 and np.all(np.diff(contributions) <= 0)
    np.testing.assert_allclose(total, model.predict([user], [item])[0], rtol=1e-8)
    seen = set(data.items.raw_ids[data.matrix[data.users.to_index(user)].indices].tolist())
    assert set(ids.tolist()) <= seen


def test_results_do_not_depend_on_threads_and_one_seed_gives_one_model(data):
    a = ImplicitALS(factors=8, iterations=3, random_state=4, n_threads=1).fit(data)
    b = ImplicitALS(factors=8, iterations=3, random_state=4, n_threads=2).fit(data)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_edge_cases_stay_finite():
    # An item nobody rated, a user with one rating, and more factors than items.
    data = from_arrays([1, 2, 2, 3], [10, 10, 11, 12], [1.0, 2.0, 1.0, 5.0])
    matrix = sp.csr_matrix((data.matrix.data, data.matrix.indices, data.matrix.indptr), shape=(3, 5))
    for solver in ("cg", "cholesky"):
        model = ImplicitALS(factors=8, iterations=3, solver=solver, random_state=0).fit(matrix)
        assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
        assert np.allclose(model.item_factors_[3:], 0)  # unrated items get zero factors


def test_partial_fit_adds_users_and_items(data):
    model = ImplicitALS(factors=8, iterations=3, solver="cholesky", random_state=0).fit(data)
    before = model.item_factors_.copy()
    new = from_arrays([9001, 9001, 9002], [1, 9999, 9999], [5.0, 4.0, 3.0])
    model.partial_fit(new)
    assert model.users_.to_index(9001) == data.n_users and model.items_.to_index(9999) == data.n_items
    assert model.user_factors_.shape == (data.n_users + 2, 8) and model.item_factors_.shape == (data.n_items + 1, 8)
    untouched = np.setdiff1d(np.arange(data.n_items), [model.items_.to_index(1)])
    np.testing.assert_array_equal(model.item_factors_[untouched], before[untouched])
    assert np.abs(model.item_factors_[-1]).sum() > 0
    ids, _ = model.recommend(9001, 3)
    assert not {1, 9999} & set(ids.tolist())


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(factors=0), ValueError, r"ImplicitALS: 'factors' must be an int >= 1; got 0"),
        (dict(iterations=2.5), TypeError, r"'iterations' must be an int >= 1"),
        (dict(regularization=-1), ValueError, r"'regularization' must be a finite number >= 0; got -1"),
        (dict(alpha=float("nan")), ValueError, r"'alpha' must be a finite number >= 0"),
        (dict(solver="lu"), ValueError, r"'solver' must be one of \('cg', 'cholesky', 'subspace'\); got 'lu'"),
        (dict(solver="subspace", block_size=0), ValueError, r"ImplicitALS: 'block_size' must be an int >= 1; got 0"),
        (dict(solver="subspace", block_size=2.0), TypeError, r"ImplicitALS: 'block_size' must be an int >= 1; got 2\.0"),
        (dict(dtype=np.int32), ValueError, r"'dtype' must be float32 or float64"),
        (dict(callback=3), TypeError, r"'callback' must be callable"),
    ],
)
def test_bad_parameters_are_named_at_fit(data, params, error, message):
    model = ImplicitALS(**params)  # stored verbatim, checked at fit
    with pytest.raises(error, match=message):
        model.fit(data)


def test_errors_before_fit_and_for_unknown_ids(data):
    model = ImplicitALS(factors=4, iterations=1)
    with pytest.raises(NotFittedError, match=r"ImplicitALS is not fitted yet; call fit before recommend"):
        model.recommend(1)
    model.fit(data)
    with pytest.raises(KeyError, match=r"unknown user id\(s\) \[123456\]"):
        model.recommend(123456)
    with pytest.raises(KeyError, match=r"unknown item id"):
        model.similar_items(-5)
    with pytest.raises(TypeError, match=r"'data' must be fastcf Interactions or a users x items scipy sparse"):
        ImplicitALS().fit(np.ones((3, 3)))


def test_non_finite_input_is_refused_by_name():
    matrix = sp.csr_matrix(np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"must be finite; got inf at user index 0, column"):
        ImplicitALS().fit(matrix)


def test_callback_can_stop_early_and_sees_the_loss(data):
    calls = []

    def stop_after_two(iteration, model, loss):
        calls.append((iteration, loss))
        return iteration < 2

    model = ImplicitALS(factors=4, iterations=10, callback=stop_after_two, track_loss=True).fit(data)
    assert [c[0] for c in calls] == [1, 2] and all(c[1] > 0 for c in calls)
    assert len(model.loss_history_) == 2


def test_similar_users_and_items_exclude_the_query(data):
    model = ImplicitALS(factors=8, iterations=3, random_state=0).fit(data)
    users, sims = model.similar_users(data.users.raw_ids[:3], 4)
    assert users.shape == (3, 4)
    for row, user in enumerate(data.users.raw_ids[:3]):
        assert user not in users[row]
    assert np.all(sims <= 1 + 1e-5)


def test_non_finite_factors_name_the_iteration(data, monkeypatch):
    import fastcf.models.implicit_als as module

    real = module.als_half_step_unchecked
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # the user half-step of iteration 2 (iteration 1 runs the checked path)
            args[4][0, 0] = np.nan
        return out

    monkeypatch.setattr(module, "als_half_step_unchecked", poisoned)
    with pytest.raises(FloatingPointError, match=r"user factors became non-finite in iteration 2; raise 'regularization'"):
        ImplicitALS(factors=4, iterations=3, random_state=0).fit(data)


def test_fit_checks_its_arrays_once_then_runs_the_unchecked_core(data, monkeypatch):
    """No O(nnz) re-check per half-step: the checked kernel runs in iteration 1 only."""
    import fastcf.models.implicit_als as module

    counts = {"checked": 0, "unchecked": 0}
    for name, key in (("als_half_step", "checked"), ("als_half_step_unchecked", "unchecked")):
        real = getattr(module, name)

        def counted(*args, _real=real, _key=key, **kwargs):
            counts[_key] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    spied = ImplicitALS(factors=4, iterations=4, random_state=0).fit(data)
    assert counts == {"checked": 2, "unchecked": 6}
    monkeypatch.undo()
    plain = ImplicitALS(factors=4, iterations=4, random_state=0).fit(data)
    np.testing.assert_array_equal(spied.user_factors_, plain.user_factors_)
