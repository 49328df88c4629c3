"""Agreement with the peers where the definitions coincide (each test skips where its peer is absent).

- scikit-learn's ``ndcg_score`` (linear gains, ideal over the user's test gains): our graded
  NDCG, and with 0/1 relevance our binary NDCG, user by user.
- Surprise's ``accuracy.rmse`` / ``accuracy.mae`` over ``algo.test(testset)``: our rmse/mae of
  the same predictions, unknown users and items included (Surprise predicts its global mean
  for them, and so does the wrapped model: they are our ``n_fallback`` entries).
- implicit's ``ranking_metrics_at_k`` on the same factors and split: its ``precision`` is our
  ``precision_implicit`` (hits / Σ min(k, |T_u|)), its ``map`` and ``ndcg`` are ours, its
  ``auc`` is our ``auc_implicit`` (not the full AUC).
"""

import numpy as np
import pytest

from fastcf.data import kfold, random_split, synthetic
from fastcf.evaluation import evaluate, mae, rmse
from fastcf.models import ImplicitALS
from fastcf.models.base import Recommender


@pytest.fixture(scope="module")
def split():
    return random_split(synthetic("ml100k"), 0.2, seed=1)


def factor_model(train, U, V):
    model = ImplicitALS(factors=U.shape[1])
    model.user_factors_, model.item_factors_ = U, V
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    return model


@pytest.mark.parametrize("k", [1, 5, 10, 50])
def test_ndcg_matches_scikit_learn(split, k):
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed (pip install '.[test]')")
    train, test = split
    rng = np.random.default_rng(k)
    U = rng.standard_normal((train.n_users, 12))
    V = rng.standard_normal((train.n_items, 12))
    result = evaluate(factor_model(train, U, V), train, test, k, metrics=["ndcg", "ndcg_graded"], per_user=True)
    scores = U @ V.T
    seen, held = train.matrix, test.matrix
    for u in result.per_user.index[:200]:
        user = train.users.to_index(u)
        admissible = np.setdiff1d(np.arange(train.n_items), seen.indices[seen.indptr[user]:seen.indptr[user + 1]])
        gains = np.zeros(train.n_items)
        gains[held.indices[held.indptr[user]:held.indptr[user + 1]]] = held.data[held.indptr[user]:held.indptr[user + 1]]
        y_score = scores[user, admissible][None, :]
        graded = metrics.ndcg_score(gains[admissible][None, :], y_score, k=k)
        binary = metrics.ndcg_score((gains[admissible] > 0)[None, :].astype(float), y_score, k=k)
        assert result.per_user.loc[u, "ndcg_graded"] == pytest.approx(graded, rel=1e-9, abs=1e-12)
        assert result.per_user.loc[u, "ndcg"] == pytest.approx(binary, rel=1e-9, abs=1e-12)


class SurpriseModel(Recommender):
    """A Surprise algorithm behind fastcf's model API: predictions by raw IDs."""

    def __init__(self, algo=None):
        self.algo = algo

    def _score_pairs(self, user_indices, item_indices):
        users, items = self.users_.to_raw(user_indices), self.items_.to_raw(item_indices)
        return np.array([self.algo.predict(u, i).est for u, i in zip(users.tolist(), items.tolist())])


def test_rmse_and_mae_match_surprise_with_fallbacks():
    surprise = pytest.importorskip("surprise", reason="scikit-surprise is not installed")
    from surprise import accuracy

    # A by-user fold with cold="keep": the test users have no training entry, so Surprise's SVD
    # predicts the global mean plus the item bias for them, and they count on both sides.
    train, test = kfold(synthetic("ml100k"), 5, by="user", seed=2, cold="keep")[0]
    frame = train.to_frame()
    data = surprise.Dataset.load_from_df(frame[["user", "item", "rating"]], surprise.Reader(rating_scale=(1, 5)))
    algo = surprise.SVD(n_factors=10, n_epochs=5, random_state=0)
    algo.fit(data.build_full_trainset())
    testset = list(test.to_frame()[["user", "item", "rating"]].itertuples(index=False, name=None))
    predictions = algo.test(testset)

    model = SurpriseModel(algo)
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    ours = evaluate(model, train, test, metrics=["rmse", "mae"])
    assert ours["rmse"] == pytest.approx(accuracy.rmse(predictions, verbose=False), rel=1e-12)
    assert ours["mae"] == pytest.approx(accuracy.mae(predictions, verbose=False), rel=1e-12)
    known_users, known_items = set(frame["user"]), set(frame["item"])
    unknown = sum(p.uid not in known_users or p.iid not in known_items for p in predictions)
    assert ours["n_fallback"] == unknown == test.nnz
    truth = np.array([p.r_ui for p in predictions])
    est = np.array([p.est for p in predictions])
    assert rmse(truth, est) == pytest.approx(accuracy.rmse(predictions, verbose=False), rel=1e-12)
    assert mae(truth, est) == pytest.approx(accuracy.mae(predictions, verbose=False), rel=1e-12)


@pytest.mark.parametrize("k", [5, 10, 30])
def test_ranking_metrics_match_implicit_on_the_same_factors(split, k):
    pytest.importorskip("implicit", reason="implicit is not installed (pip install '.[test]')")
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.evaluation import ranking_metrics_at_k
    import threadpoolctl

    train, test = split
    rng = np.random.default_rng(7)
    U = rng.standard_normal((train.n_users, 16)).astype(np.float32)
    V = rng.standard_normal((train.n_items, 16)).astype(np.float32)
    with threadpoolctl.threadpool_limits(1, "blas"):  # implicit warns about a BLAS pool otherwise
        peer = AlternatingLeastSquares(factors=16, num_threads=1)
        peer.user_factors, peer.item_factors = U, V
        theirs = ranking_metrics_at_k(peer, train.matrix.astype(np.float32), test.matrix.astype(np.float32), K=k,
                                      show_progress=False)
    ours = evaluate(factor_model(train, U, V), train, test, k,
                    metrics=["precision_implicit", "map", "ndcg", "auc_implicit", "precision"])
    assert ours["precision_implicit"] == pytest.approx(theirs["precision"], rel=1e-9)
    assert ours["map"] == pytest.approx(theirs["map"], rel=1e-9)
    assert ours["ndcg"] == pytest.approx(theirs["ndcg"], rel=1e-9)
    assert ours["auc_implicit"] == pytest.approx(theirs["auc"], rel=1e-9)
    # fastcf's own precision divides by k: never above implicit's, which divides by min(k, |T|).
    assert ours["precision"] <= theirs["precision"]
