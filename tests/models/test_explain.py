"""explain for every model: one form (ids, contributions, total) and, where the math allows, the exact score.

The models are taken from ``Recommender._registry`` (every public class of fastcf.models with a
constructor of its own), so a new model is covered without editing this file.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import fastcf.models as models
from fastcf.data import IdMap, Interactions, synthetic
from fastcf.models import (BPR, WARP, BaselineOnly, BiasedMF, ExplicitALS, HybridMF, KNNBaseline, Popularity,
                           Recommender, SVDpp)

#: Small settings, applied to whichever of them a model has, so that every fit is quick.
SMALL = {"factors": 4, "epochs": 4, "iterations": 3, "random_state": 0, "n_threads": 1, "k": 5, "n_blocks": 2,
         "regularization": 10.0}
#: Models whose regularization is not small-valued: EASE needs a large one, the rest their default.
KEEP_REGULARIZATION = {"BPR", "WARP", "HybridMF", "ImplicitALS"}


def public_models():
    found = {cls for (module, name), cls in Recommender._registry.items()
             if module.startswith("fastcf.") and getattr(models, name, None) is cls
             and cls.__init__ is not object.__init__}
    return sorted(found, key=lambda cls: cls.__name__)


def small(cls, **params):
    names = cls._param_names()
    settings = {k: v for k, v in SMALL.items() if k in names}
    if cls.__name__ in KEEP_REGULARIZATION:
        settings.pop("regularization", None)
    return cls(**{**settings, **params})


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=60, n_items=40, n_ratings=900, seed=7)


@pytest.fixture(scope="module")
def with_an_empty_user():
    """Ratings 1..5 over 12 users x 10 items; user 0 has none."""
    matrix = sp.random(12, 10, density=0.5, format="lil", random_state=4)
    matrix[0, :] = 0
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    matrix.data = np.ceil(matrix.data * 5)
    return Interactions(matrix, IdMap(np.arange(12) * 10, "user"), IdMap(np.arange(10) * 10, "item"))


def training_items(data, user):
    return data.items.raw_ids[data.matrix[data.users.to_index(user)].indices]


@pytest.mark.parametrize("cls", public_models(), ids=lambda cls: cls.__name__)
def test_every_model_explains_in_one_form(cls, data):
    model = small(cls).fit(data)
    user, item = data.users.raw_ids[5], data.items.raw_ids[3]
    history = training_items(data, user)
    ids, contributions, total = model.explain(user, item, k=data.n_items + 10)  # k beyond the history
    assert ids.ndim == 1 and contributions.shape == ids.shape and contributions.dtype == np.float64
    assert isinstance(total, float) and np.isfinite(contributions).all()
    # total is the sum of all the terms: with k covering them all, of those returned.
    assert np.isclose(contributions.sum(), total, rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(contributions) <= 0)
    explained_by_users = getattr(model, "user_based", False) or cls.__name__ == "UserKNN"
    assert set(ids.tolist()) <= set((data.users.raw_ids if explained_by_users else history).tolist())
    assert len(set(ids.tolist())) == ids.size
    # Equal terms (ItemKNN's zeros, say) go to the smaller index first.
    index = (data.users if explained_by_users else data.items).to_index(ids)
    assert np.all(np.diff(index)[np.diff(contributions) == 0] > 0)
    top_ids, top, top_total = model.explain(user, item, k=2)
    assert top_ids.tolist() == ids[:2].tolist() and top.tolist() == contributions[:2].tolist()
    assert top_total == total


@pytest.mark.parametrize("cls", public_models(), ids=lambda cls: cls.__name__)
def test_a_user_without_history_has_no_terms(cls, with_an_empty_user):
    model = small(cls).fit(with_an_empty_user)
    ids, contributions, total = model.explain(0, 30, k=3)
    assert ids.shape == (0,) and contributions.shape == (0,) and total == 0.0


@pytest.mark.parametrize("cls", public_models(), ids=lambda cls: cls.__name__)
def test_explain_checks_its_arguments_at_the_edge(cls, with_an_empty_user):
    model = small(cls)
    name = cls.__name__
    from fastcf.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match=rf"{name} is not fitted yet; call fit before explain"):
        model.explain(10, 30)
    model.fit(with_an_empty_user)
    with pytest.raises(KeyError, match=rf"{name}\.explain: unknown user id"):
        model.explain(7, 30)
    with pytest.raises(KeyError, match=rf"{name}\.explain: unknown item id"):
        model.explain(10, 35)
    with pytest.raises(ValueError, match=rf"{name}\.explain: 'k' must be an int >= 1; got 0"):
        model.explain(10, 30, k=0)
    with pytest.raises(ValueError, match=rf"{name}\.explain: 'user' must be one ID"):
        model.explain([10, 20], 30)


# --- exact decompositions ---------------------------------------------------------------

def history_of(data, index):
    row = data.matrix[index]
    return dict(zip(data.items.raw_ids[row.indices], row.data))


def personal_part(model, item_index, prediction):
    """The prediction minus what no rating of the user makes, μ + b_i."""
    return prediction - model.global_mean_ - model.item_bias_[item_index]


def test_baseline_terms_are_the_residuals_over_reg_plus_count(data):
    model = BaselineOnly(reg_user=4.0, epochs=4).fit(data)
    for index in (0, 9, 31):
        user = data.users.raw_ids[index]
        ids, terms, total = model.explain(user, data.items.raw_ids[2], k=100)
        item_index = data.items.to_index(ids)
        ratings = dict(zip(training_items(data, user), data.matrix[index].data))
        expected = (np.array([ratings[i] for i in ids], dtype=np.float64) - model.global_mean_ - model.item_bias_[item_index]) / (
            4.0 + len(ratings))
        np.testing.assert_allclose(terms, expected, rtol=1e-12)
        # The fit ends on the user step: the terms make the fitted bias and so every prediction.
        assert total == pytest.approx(model.user_bias_[index], rel=1e-12, abs=1e-14)
        for item in data.items.raw_ids[:5]:
            prediction = model.predict(user, item, clip=False)
            assert model.explain(user, item)[2] == pytest.approx(
                personal_part(model, data.items.to_index(item), prediction), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-4)])
def test_explicit_als_decomposes_its_fitted_users_exactly(data, dtype, rtol):
    model = ExplicitALS(factors=5, iterations=4, dtype=dtype, random_state=1).fit(data)
    for index in (1, 17, 44):
        user = data.users.raw_ids[index]
        top, scores = model.recommend(user, 4)
        for item, score in zip(top, scores):
            total = model.explain(user, item)[2]
            item_index = data.items.to_index(item)
            assert total == pytest.approx(personal_part(model, item_index, float(score)), rel=rtol, abs=rtol)
            assert total == pytest.approx(personal_part(model, item_index, model.predict(user, item, clip=False)),
                                          rel=rtol, abs=rtol)


@pytest.mark.parametrize("cls", [BiasedMF, SVDpp, ExplicitALS], ids=lambda cls: cls.__name__)
def test_rating_factor_models_decompose_the_fold_in_exactly(cls, data):
    model = small(cls, dtype=np.float64).fit(data)
    for index in (2, 23, 58):
        user, history = data.users.raw_ids[index], history_of(data, index)
        top, scores = model.recommend_for_history(history, 4)
        for item, score in zip(top, scores):
            item_index = data.items.to_index(item)
            total = model.explain(user, item)[2]
            assert total == pytest.approx(personal_part(model, item_index, float(score)), rel=1e-9, abs=1e-9)
            folded = model.predict_for_history(history, [item], clip=False)[0]
            assert total == pytest.approx(personal_part(model, item_index, folded), rel=1e-9, abs=1e-9)


def test_sgd_users_are_not_their_fold_in(data):
    # What BiasedMF's docstring warns: the decomposition is the fold-in's, not the SGD user's.
    model = small(BiasedMF, dtype=np.float64, epochs=10).fit(data)
    user, item = data.users.raw_ids[2], data.items.raw_ids[0]
    fitted = personal_part(model, 0, model.predict(user, item, clip=False))
    assert abs(model.explain(user, item)[2] - fitted) > 1e-6


def test_explicit_als_refuses_a_singular_ridge_system_by_name():
    # One rating, two factors and no penalty: the user's system has rank 1.
    matrix = sp.csr_matrix(np.array([[5.0, 0.0, 0.0], [4.0, 3.0, 1.0], [1.0, 2.0, 5.0]]))
    model = ExplicitALS(factors=2, iterations=1, random_state=0, dtype=np.float64).fit(matrix)
    model.reg_factors = model.reg_bias = 0.0
    with pytest.raises(ValueError, match=r"ExplicitALS\.explain: the user's ridge system is not positive definite "
                                         r"\(their 1 ratings .*raise 'reg_factors' \(now 0\.0\)"):
        model.explain(0, 1)


def test_explicit_knn_terms_sum_to_the_prediction_less_its_base(data):
    model = KNNBaseline(k=5, baseline_params={"epochs": 3}).fit(data)
    for index in range(10):
        user, item = data.users.raw_ids[index], data.items.raw_ids[9]
        ids, contributions, total = model.explain(user, item, k=10)
        prediction, fallback = model.predict(user, item, clip=False, return_fallback=True)
        u, i = data.users.to_index(user), data.items.to_index(item)
        baseline = model.global_mean_ + model.user_bias_[u] + model.item_bias_[i]
        assert total == pytest.approx(prediction - baseline, abs=1e-12)
        assert (ids.size == 0) == fallback


# --- documented approximations -----------------------------------------------------------

@pytest.mark.parametrize("cls", [BPR, WARP, HybridMF], ids=lambda cls: cls.__name__)
def test_ranking_models_give_the_item_side_similarities(cls, data):
    model = small(cls).fit(data)
    user, item = data.users.raw_ids[12], data.items.raw_ids[6]
    ids, terms, total = model.explain(user, item, k=100)
    factors = model.item_factors_.astype(np.float64)
    np.testing.assert_allclose(terms, factors[data.items.to_index(ids)] @ factors[6], rtol=1e-12)
    history = data.items.to_index(training_items(data, user))
    assert total == pytest.approx(factors[6] @ factors[history].sum(axis=0), rel=1e-10)


def test_popularity_has_nothing_of_the_history_in_its_score(data):
    model = Popularity().fit(data)
    user, item = data.users.raw_ids[0], data.items.raw_ids[4]
    ids, terms, total = model.explain(user, item)
    assert ids.size == 0 and terms.size == 0 and total == 0.0
    assert model.predict(user, item) == model.popularity_[4] > 0
