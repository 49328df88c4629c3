"""ImplicitALS(solver="subspace"), iALS++: the same optimum as the Cholesky solver, monotone loss,
exact fold-in, thread counts, and block_size >= factors as the Cholesky solver."""

import numpy as np
import pytest

from fastcf.data import synthetic
from fastcf.kernels import als_half_step
from fastcf.models import ImplicitALS


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=120, n_items=90, n_ratings=2_000, seed=8)


def fit(data, **params):
    params = {"factors": 16, "regularization": 0.5, "alpha": 2.0, "dtype": np.float64, "random_state": 3,
              "track_loss": True, **params}
    return ImplicitALS(**params).fit(data)


def test_iterated_to_convergence_it_reaches_the_cholesky_solvers_loss(data):
    # Both descend the same objective from the same start; run each until its loss settles
    # (ALS creeps along flat valleys: 300 exact iterations, and block descent twice as many).
    exact = fit(data, solver="cholesky", regularization=2.0, iterations=300)
    ours = fit(data, solver="subspace", regularization=2.0, block_size=4, iterations=600)
    assert exact.loss_history_[-1] == pytest.approx(exact.loss_history_[-50], rel=1e-5)  # settled
    assert ours.loss_history_[-1] == pytest.approx(exact.loss_history_[-1], rel=1e-4)
    # and it was not there after a few iterations, so the comparison means something
    assert ours.loss_history_[2] > exact.loss_history_[-1] * (1 + 1e-3)


def test_rendles_formulation_reaches_the_cholesky_solvers_loss(data):
    # Frequency-scaled λ (ν = 1) and α0 = 0.1: the subspace solver gets each row's own λ_u too.
    rendle = dict(regularization=0.2, regularization_exp=1.0, unobserved_weight=0.1)
    exact = fit(data, solver="cholesky", iterations=300, **rendle)
    ours = fit(data, solver="subspace", block_size=4, iterations=600, **rendle)
    assert exact.loss_history_[-1] == pytest.approx(exact.loss_history_[-50], rel=1e-5)  # settled
    assert ours.loss_history_[-1] == pytest.approx(exact.loss_history_[-1], rel=1e-4)
    one_block = fit(data, solver="subspace", block_size=16, iterations=4, **rendle)
    np.testing.assert_allclose(one_block.user_factors_, fit(data, solver="cholesky", iterations=4, **rendle)
                               .user_factors_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_size", [1, 5])
def test_the_loss_never_increases(data, dtype, block_size):
    losses = np.array(fit(data, solver="subspace", block_size=block_size, iterations=10, dtype=dtype).loss_history_)
    assert np.all(np.diff(losses) <= (1e-6 if dtype == np.float32 else 1e-12) * losses[:-1]), losses
    assert losses[-1] < 0.8 * losses[0]


def test_a_block_of_all_factors_is_the_cholesky_solver(data):
    exact = fit(data, solver="cholesky", iterations=4)
    for block_size in (16, 64):
        ours = fit(data, solver="subspace", block_size=block_size, iterations=4)
        np.testing.assert_allclose(ours.user_factors_, exact.user_factors_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours.item_factors_, exact.item_factors_, rtol=1e-8, atol=1e-10)


def test_fold_in_stays_exact(data):
    model = fit(data, solver="subspace", block_size=4, iterations=3)
    rows = data.matrix[:6]
    confidence = model._confidence(rows, dtype=np.float64)
    expected = np.zeros((6, 16))
    als_half_step(confidence.indptr, confidence.indices, confidence.data, model.item_factors_, expected,
                  regularization=model.regularization)
    np.testing.assert_allclose(model.user_factors_for(rows), expected, rtol=1e-10, atol=1e-12)
    # The fitted factors of those users are not exact after 3 iterations of block descent.
    assert not np.allclose(model.user_factors_[:6], expected, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fit_does_not_depend_on_the_thread_count(data, dtype):
    one, two = (fit(data, solver="subspace", block_size=3, iterations=3, dtype=dtype, n_threads=n) for n in (1, 2))
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)


def test_recommends_the_missing_item_of_the_users_block():
    from fastcf.data import from_arrays

    users, items = [], []
    for u in range(8):
        block = range(0, 4) if u < 4 else range(4, 8)
        missing = (u % 4) + (0 if u < 4 else 4)
        users += [u] * 3
        items += [i for i in block if i != missing]
    model = ImplicitALS(factors=4, block_size=2, solver="subspace", regularization=0.01, alpha=10, iterations=40,
                        random_state=0).fit(from_arrays(users, items, np.ones(len(users))))
    for u in range(8):
        assert model.recommend(u, 1)[0][0] == (u % 4) + (0 if u < 4 else 4), u


def test_block_size_is_stored_verbatim_and_checked_at_fit(data):
    model = ImplicitALS(solver="subspace", block_size=0)
    assert model.get_params()["block_size"] == 0
    with pytest.raises(ValueError, match=r"ImplicitALS: 'block_size' must be an int >= 1; got 0"):
        model.fit(data)
