"""Arguments of fitted models' calls that are refused with a named error, not read as something else."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import IdMap, Interactions
from fastcf.models import (BPR, EASE, BaselineOnly, BiasedMF, ImplicitALS, ItemKNN, KNNBasic, KNNWithMeans,
                           Popularity, UserKNN)


@pytest.fixture(scope="module")
def ratings():
    matrix = sp.random(12, 15, density=0.5, format="csr", random_state=3)
    matrix.data = np.round(matrix.data * 4 + 1)
    return matrix


@pytest.fixture(scope="module")
def rated_interactions(ratings):
    return Interactions(ratings, IdMap(np.arange(ratings.shape[0]) * 10, "user"),
                        IdMap(np.arange(ratings.shape[1]) * 10, "item"))


@pytest.mark.parametrize("model", [BaselineOnly(), BiasedMF(factors=4, epochs=2, random_state=0), KNNBasic(k=5)],
                         ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("bad, expected", [(np.array([[0, 10]]), "1-D array"), (np.array([np.nan]), "nan"),
                                           (np.array([10.5]), "10.5")])
def test_predict_refuses_ids_that_are_no_ids(model, bad, expected, rated_interactions):
    model.fit(rated_interactions)
    # An unknown but well-formed ID falls back to the baseline, as documented ...
    assert np.isfinite(model.predict(np.array([10**6]), np.array([10]))).all()
    # ... a NaN, a fraction or a 2-D array is no ID, and is refused.
    with pytest.raises(ValueError, match=rf"{type(model).__name__}\.predict: 'users'.*{expected}"):
        model.predict(bad, np.array([10]))
    with pytest.raises(ValueError, match=rf"{type(model).__name__}\.predict: 'items'.*{expected}"):
        model.predict(np.array([10]), bad)


def test_predict_takes_whole_float_ids(rated_interactions):
    model = BaselineOnly().fit(rated_interactions)
    np.testing.assert_array_equal(model.predict(np.array([10.0]), np.array([20.0])),
                                  model.predict(np.array([10]), np.array([20])))


@pytest.mark.parametrize("make", [lambda: BiasedMF(factors=4, epochs=2, random_state=0), lambda: KNNWithMeans(k=5),
                                  lambda: ImplicitALS(factors=4, iterations=2, random_state=0),
                                  lambda: BPR(factors=4, epochs=2, random_state=0, n_threads=1)])
def test_history_none_is_a_type_error(make, ratings):
    model = make().fit(ratings)
    call = model.fold_in if hasattr(model, "fold_in") else model.recommend_for_history
    with pytest.raises(TypeError, match=r"'history' must be .*; got None"):
        call(None)


@pytest.mark.parametrize("make", [lambda: ItemKNN(k=5), lambda: UserKNN(k=5), lambda: Popularity(),
                                  lambda: KNNBasic(k=5, user_based=True), lambda: EASE(regularization=10.0),
                                  lambda: BaselineOnly()])
@pytest.mark.parametrize("n_threads, error", [(0, ValueError), (-1, ValueError), (True, TypeError),
                                              ("2", TypeError), (1.5, TypeError)])
def test_similar_rows_check_n_threads(make, n_threads, error, ratings):
    model = make().fit(ratings)
    with pytest.raises(error, match=r"\.similar_items: 'n_threads' must be an int >= 1"):
        model.similar_items([0], n_threads=n_threads)
    ids, _ = model.similar_items([0], n_threads=1)
    assert ids.shape[0] == 1


def test_similar_users_checks_n_threads(ratings):
    model = UserKNN(k=5).fit(ratings)
    with pytest.raises(ValueError, match=r"UserKNN\.similar_users: 'n_threads'"):
        model.similar_users([0], n_threads=0)


@pytest.mark.parametrize("make", [lambda: ItemKNN(k=5), lambda: UserKNN(k=5), lambda: EASE(regularization=10.0),
                                  lambda: ImplicitALS(factors=4, iterations=2, random_state=0),
                                  lambda: KNNBasic(k=5)])
def test_explain_refuses_an_array_of_ids(make, ratings):
    model = make().fit(ratings)
    ids, contributions, total = model.explain(0, 1)
    assert np.isfinite(total)
    with pytest.raises(ValueError, match=r"\.explain: 'user' must be one ID; got shape \(2,\)"):
        model.explain(np.array([0, 1]), 1)
    with pytest.raises(ValueError, match=r"\.explain: 'item' must be one ID; got shape \(2,\)"):
        model.explain(0, np.array([0, 1]))


_PRUNING = dict(measure="cosine", shrinkage=0.0, min_support=1, alpha=0.5, bm25_k1=1.2, bm25_b=0.75,
                n_threads=None, backend=None)


def test_pruned_similarity_names_its_rows(ratings):
    from fastcf.exceptions import DataError
    from fastcf.models.item_knn import pruned_similarity

    reference = pruned_similarity(ratings, 3, **_PRUNING)
    # Another sparse format is the same rows.
    assert (pruned_similarity(ratings.tocoo(), 3, **_PRUNING) != reference).nnz == 0
    with pytest.raises(TypeError, match=r"pruned_similarity: 'rows' must be a scipy sparse matrix; got ndarray"):
        pruned_similarity(ratings.toarray(), 3, **_PRUNING)
    broken = ratings.copy()
    broken.data[0] = np.nan
    with pytest.raises(DataError, match=r"pruned_similarity: 'rows' must be finite; got nan at row index 0"):
        pruned_similarity(broken, 3, **_PRUNING)
    falling = ratings.copy()
    falling.indptr = falling.indptr.copy()
    falling.indptr[2] = 0
    with pytest.raises(DataError, match=r"pruned_similarity: 'rows\.indptr'"):
        pruned_similarity(falling, 3, **_PRUNING)


@pytest.mark.parametrize("n_items, error", [(0, ValueError), (-1, ValueError), ("4", TypeError),
                                            (2.5, TypeError), (True, TypeError)])
def test_ease_required_memory_checks_n_items(n_items, error):
    assert EASE.required_memory(3, np.float64) == 72
    with pytest.raises(error, match=r"EASE\.required_memory: 'n_items' must be an int >= 1"):
        EASE.required_memory(n_items)
