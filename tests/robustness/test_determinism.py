"""Determinism (issue 11, list 4): one seed, one answer, bit for bit; and the thread count does
not change ALS, top-k or the metrics (each row is computed alone), nor the SGD models (their
block schedule is fixed by the seed and n_blocks, as their docstrings state).
"""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.kernels import factor_ranking_metrics, select_topk, select_topk_dot

COMPILED = ["numba", "cython"]


def _fitted_arrays(model):
    """Every fitted array of a model (attributes ending in '_'), by name; a sparse matrix
    (a kNN model's similarity, say) by its arrays."""
    arrays = {}
    for name, value in vars(model).items():
        if not name.endswith("_"):
            continue
        if isinstance(value, np.ndarray):
            arrays[name] = value
        elif sp.issparse(value) and name != "seen_":  # seen_ is the training data, not fitted
            arrays.update({f"{name}.{part}": getattr(value, part) for part in ("data", "indices", "indptr")})
    return arrays


def _fitted_array(model, name):
    attribute, _, part = name.partition(".")
    value = getattr(model, attribute)
    return getattr(value, part) if part else value


def test_one_seed_gives_bitwise_identical_models(make_model, ratings_matrix):
    first, second = make_model().fit(ratings_matrix), make_model().fit(ratings_matrix)
    arrays = _fitted_arrays(first)
    assert arrays, "the model has no fitted arrays to compare"
    for name, value in arrays.items():
        assert np.array_equal(value, _fitted_array(second, name)), name
    other_seed = make_model(random_state=1) if "random_state" in first.get_params() else None
    if other_seed is not None and "user_factors_" in arrays:
        assert not np.array_equal(other_seed.fit(ratings_matrix).user_factors_, first.user_factors_)


def test_models_do_not_depend_on_the_thread_count(make_model, limitation, ratings_matrix):
    if "n_threads" not in make_model().get_params():
        pytest.skip("the model has no thread count")
    if limitation("thread_count"):
        pytest.skip(limitation("thread_count"))
    one, two = make_model(n_threads=1).fit(ratings_matrix), make_model(n_threads=2).fit(ratings_matrix)
    for name, value in _fitted_arrays(one).items():
        assert np.array_equal(value, _fitted_array(two, name)), name
    users = np.arange(ratings_matrix.shape[0])
    for a, b in zip(one.recommend(users, 7, n_threads=1), two.recommend(users, 7, n_threads=2)):
        assert np.array_equal(a, b)


@pytest.fixture(scope="module")
def odd_problem():
    """97 users x 1001 items: sizes that do not split evenly between threads or blocks."""
    rng = np.random.default_rng(97)
    users = rng.standard_normal((97, 16)).astype(np.float32)
    items = rng.standard_normal((1001, 16)).astype(np.float32)
    train = [np.sort(rng.choice(1001, rng.integers(0, 30), replace=False)) for _ in range(97)]
    test = [np.sort(rng.choice(1001, rng.integers(0, 10), replace=False)) for _ in range(97)]

    def csr(lists):
        return np.r_[0, np.cumsum([len(r) for r in lists])], np.concatenate(lists).astype(np.int64)

    return users, items, csr(train), csr(test)


@pytest.mark.parametrize("backend", COMPILED)
def test_topk_is_identical_at_one_and_two_threads(odd_problem, backend):
    users, items, (indptr, indices), _ = odd_problem
    scores = np.round(users @ items.T, 1)  # rounding makes ties
    for call in (lambda n: select_topk(scores, 50, exclude_indptr=indptr, exclude_indices=indices,
                                       n_threads=n, backend=backend),
                 lambda n: select_topk_dot(users, items, 50, exclude_indptr=indptr, exclude_indices=indices,
                                           n_threads=n, backend=backend)):
        one, two = call(1), call(2)
        assert all(np.array_equal(a, b) for a, b in zip(one, two))


@pytest.mark.parametrize("backend", COMPILED)
def test_metrics_are_identical_at_one_and_two_threads(odd_problem, backend):
    users, items, train, test = odd_problem
    results = [factor_ranking_metrics(users, items, np.arange(97), *train, *test, 20, auc=True, block_size=7,
                                      n_threads=n, backend=backend) for n in (1, 2)]
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1], equal_nan=True)
