"""partial_fit: every model that has it takes new users, items and entries of the fitted ID
kind, serves them, saves and loads them; ALS models move only the rows the entries touch."""

import numpy as np
import pytest

import fastcf
from fastcf import from_arrays
from fastcf.data import leave_k_out, synthetic
from fastcf.exceptions import DataError
from fastcf.models import ExplicitALS, ImplicitALS
from fastcf.models.base import Recommender, _merged


def _public_models():
    import fastcf.models as models

    return sorted((cls for cls in Recommender._registry.values()
                   if cls.__module__.startswith("fastcf.models") and cls.__name__ in models.__all__
                   and cls._fit is not Recommender._fit),  # the abstract bases fit nothing
                  key=lambda cls: cls.__name__)


MODELS = _public_models()


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=120, n_items=60, n_ratings=2400, seed=3)


def _new(data):
    """Two new users, one of them with only new items, and an old user with a new item."""
    old_item = int(data.items.raw_ids[5])
    return from_arrays([9001, 9001, 9002, 9002, int(data.users.raw_ids[0])],
                       [7001, 7002, 7001, old_item, 7002], [5.0, 4.0, 5.0, 3.0, 4.0])


def _fitted(cls, data):
    params = cls().get_params()
    kwargs = {name: value for name, value in (("random_state", 0), ("n_threads", 1)) if name in params}
    return cls(**kwargs).fit(data)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_every_model_that_updates_serves_and_saves_the_new_rows(cls, data, tmp_path):
    model = _fitted(cls, data)
    if not hasattr(model, "partial_fit"):
        pytest.skip(f"{cls.__name__} has no partial_fit (see its docstring)")
    assert model.drift_ == 0.0
    model.partial_fit(_new(data))
    assert model.n_users == data.n_users + 2 and model.n_items == data.n_items + 2
    assert 0 < model.drift_ <= 1 and model.seen_.nnz == data.nnz + 5
    ids, scores = model.recommend(9001, 5, exclude_seen=False)
    assert np.isfinite(scores[ids != -1]).all() and (ids != -1).any()
    path = model.save(tmp_path / "m.npz")
    loaded = fastcf.load(path)
    np.testing.assert_array_equal(loaded.recommend([9001, 9002], 5)[0], model.recommend([9001, 9002], 5)[0])
    assert loaded.drift_ == model.drift_


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_ids_of_another_kind_are_refused_and_leave_the_model_as_it_was(cls, data):
    model = _fitted(cls, data)
    if not hasattr(model, "partial_fit"):
        pytest.skip(f"{cls.__name__} has no partial_fit")
    seen = model.seen_
    with pytest.raises(TypeError, match=r"partial_fit: 'users' must be IDs of the fitted kind \(integer"):
        model.partial_fit(from_arrays(["u_new"], [int(data.items.raw_ids[0])], [4.0]))
    assert model.seen_ is seen and model.n_users == data.n_users


@pytest.mark.parametrize("cls", [ImplicitALS, ExplicitALS])
def test_als_updates_move_only_the_touched_rows_and_solve_them_exactly(cls, data):
    model = _fitted(cls, data)
    users, items = model.user_factors_.copy(), model.item_factors_.copy()
    update = _new(data)
    model.partial_fit(update)
    touched_users = set(model.users_.to_index(update.users.raw_ids).tolist())
    touched_items = set(model.items_.to_index(update.items.raw_ids).tolist())
    for old, new, touched in ((users, model.user_factors_, touched_users), (items, model.item_factors_, touched_items)):
        untouched = [r for r in range(old.shape[0]) if r not in touched]
        np.testing.assert_array_equal(new[untouched], old[untouched])  # bit for bit
    # The last step re-solved the touched users exactly: a fold-in of their history agrees.
    for user in (9001, 9002):
        row = model.users_.to_index(user)
        lo, hi = model.seen_.indptr[row], model.seen_.indptr[row + 1]
        history = dict(zip(model.items_.raw_ids[model.seen_.indices[lo:hi]].tolist(), model.seen_.data[lo:hi]))
        np.testing.assert_allclose(model.user_factors_for(history), model.user_factors_[row], rtol=1e-4, atol=1e-5)


def test_sgd_rating_models_keep_their_fitted_items(data):
    from fastcf.models import BiasedMF

    model = _fitted(BiasedMF, data)
    items, bias = model.item_factors_.copy(), model.item_bias_.copy()
    model.partial_fit(_new(data))
    np.testing.assert_array_equal(model.item_factors_[:data.n_items], items)
    np.testing.assert_array_equal(model.item_bias_[:data.n_items], bias)
    assert np.abs(model.item_factors_[data.n_items:]).sum() > 0  # the new items are solved


def test_a_new_item_of_new_users_only_is_learned(data):
    model = _fitted(ImplicitALS, data).partial_fit(_new(data))
    assert np.abs(model.item_factors_[model.items_.to_index(7002)]).sum() > 0


def test_a_new_value_replaces_the_old_one_explicit_zeros_too():
    import scipy.sparse as sp

    old = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]]))
    new = sp.csr_matrix((np.array([0.0, 7.0]), np.array([1, 0]), np.array([0, 1, 1, 2])), shape=(3, 3))
    merged = _merged(old, new)
    np.testing.assert_array_equal(merged.toarray(), [[1, 0, 0], [0, 3, 4], [7, 0, 0]])
    assert merged.nnz == 5 and merged.has_canonical_format  # the explicit zero is an entry


def test_refused_values_leave_the_model_as_it_was(data):
    model = _fitted(ImplicitALS, data)
    factors = model.user_factors_
    with pytest.raises(DataError, match=r"ImplicitALS.partial_fit: 'data' must be >= 0"):
        model.partial_fit(from_arrays([9001], [int(data.items.raw_ids[0])], [-1.0]))
    assert model.user_factors_ is factors and model.drift_ == 0.0


def test_evaluate_after_an_update_uses_the_models_grown_id_maps(data):
    train, test = leave_k_out(data, k=2)
    model = _fitted(ImplicitALS, train)
    before = fastcf.evaluate(model, train, test, 10)["ndcg"]
    model.partial_fit(_new(data))
    after = fastcf.evaluate(model, train, test, 10)
    assert after["n_users"] > 0 and abs(after["ndcg"] - before) < 0.05


def test_an_id_beyond_the_fitted_dtype_is_refused_not_wrapped(data):
    from fastcf.data import IdMap, Interactions
    import scipy.sparse as sp

    model = _fitted(ImplicitALS, data)
    huge = np.array([2**63 + 5], dtype=np.uint64)
    update = Interactions(sp.csr_matrix(np.ones((1, 1), np.float32)), IdMap(huge), IdMap(data.items.raw_ids[:1]))
    with pytest.raises(DataError, match=r"ImplicitALS.partial_fit: 'users' must be IDs that fit the fitted dtype int64"):
        model.partial_fit(update)
    assert model.n_users == data.n_users
