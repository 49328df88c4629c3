"""BPR, WARP and HybridMF: learning, fold-in, cold start from features, feature matrices, errors."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import Interactions, item_features, synthetic, user_features
from fastcf.evaluation import evaluate, ranking_metrics
from fastcf.models import BPR, WARP, HybridMF


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=400, n_items=150, n_ratings=12_000, genre_affinity=0.8, seed=3)


@pytest.fixture(scope="module")
def split(data):
    from fastcf.data import random_split

    return random_split(data, 0.2, seed=0)


def popularity(train):
    """The baseline to beat: every user scores an item by its training count (a factor model of rank 1)."""
    from fastcf.models import FactorModel

    model = FactorModel()
    model.user_factors_ = np.ones((train.n_users, 1), np.float32)
    model.item_factors_ = np.bincount(train.matrix.indices, minlength=train.n_items).astype(np.float32)[:, None]
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    return model


@pytest.mark.parametrize("model", [BPR(factors=8, epochs=30, regularization=0.05, random_state=0, n_threads=1),
                                   WARP(factors=8, epochs=40, regularization=0.05, random_state=0, n_threads=1)],
                         ids=["BPR", "WARP"])
def test_learns_and_beats_popularity_on_planted_data(model, split):
    train, test = split
    model.fit(train)
    history = model.loss_history_
    assert history[-1] > history[0] + 0.05, history
    ours = evaluate(model, train, test, k=10, metrics=["ndcg", "auc"])
    popular = evaluate(popularity(train), train, test, k=10, metrics=["ndcg", "auc"])
    assert ours["ndcg"] > popular["ndcg"] + 0.02, (ours["ndcg"], popular["ndcg"])
    assert ours["auc"] > popular["auc"] + 0.02, (ours["auc"], popular["auc"])


def test_one_thread_repeats_and_two_threads_learn_as_well(split):
    train, test = split
    one = BPR(factors=8, epochs=20, regularization=0.05, random_state=4, n_threads=1).fit(train)
    again = BPR(factors=8, epochs=20, regularization=0.05, random_state=4, n_threads=1).fit(train)
    assert np.array_equal(one.user_factors_, again.user_factors_)
    assert np.array_equal(one.item_bias_, again.item_bias_)
    two = BPR(factors=8, epochs=20, regularization=0.05, random_state=4, n_threads=2).fit(train)
    auc_one = evaluate(one, train, test, metrics=["auc"])["auc"]
    auc_two = evaluate(two, train, test, metrics=["auc"])["auc"]
    assert abs(auc_one - auc_two) < 0.02, (auc_one, auc_two)


@pytest.mark.parametrize("cls", [BPR, WARP, HybridMF])
def test_fold_in_of_a_training_history_lands_near_the_fitted_user(cls, data):
    model = cls(factors=16, epochs=20, random_state=0, n_threads=1, fold_in_epochs=40).fit(data)
    item_factors = model.item_factors_.copy()
    users = np.arange(30)
    histories = data.matrix[users]
    folded = model.user_factors_for(histories)
    assert folded.shape == (30, 16)
    assert np.array_equal(model.item_factors_, item_factors), "fold-in must not move the items"
    fitted, _ = model.recommend(data.users.raw_ids[users], 10)
    from_history, _ = model.recommend_for_history(histories, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fitted, from_history)])
    assert overlap > 0.5, overlap
    # One history given as raw IDs is the same history as its one-row matrix (samples depend
    # on the whole batch, so a row of a larger batch differs a little).
    single = model.user_factors_for(list(data.items.raw_ids[histories[0].indices]))
    np.testing.assert_array_equal(single, model.user_factors_for(histories[0])[0])
    # An empty history has nothing to step on: the start, zero.
    assert not model.user_factors_for([]).any()


def test_hybrid_cold_start_users_from_demographics_beat_popularity():
    from fastcf.data import IdMap

    # Synthetic demographics depend on each user's favourite genre, weakly: a small but real edge.
    data = synthetic(n_users=1500, n_items=200, n_ratings=15_000, genre_affinity=0.8, seed=3)
    rng = np.random.default_rng(0)
    cold = np.sort(rng.choice(data.n_users, data.n_users // 5, replace=False))
    warm = np.setdiff1d(np.arange(data.n_users), cold)
    train = data.replace(data.matrix[warm], users=IdMap(data.users.raw_ids[warm], "user"), timestamps=None)
    model = HybridMF(factors=8, epochs=30, regularization=0.05, user_identity=False, random_state=0,
                     n_threads=1).fit(train)
    assert model.user_feature_names_.size > 0 and model.item_feature_names_.size > 0
    features, names = user_features(data, users=data.users.raw_ids[cold])
    assert np.array_equal(names, model.user_feature_names_)
    top, _ = model.recommend_for_features(features, 10)
    truth = data.matrix[cold]
    ours = ranking_metrics(np.asarray(data.items.to_index(top.ravel())).reshape(top.shape), truth, metrics=["ndcg"])
    empty = sp.csr_matrix((cold.size, data.n_items))
    counts = np.bincount(train.matrix.indices, minlength=data.n_items)
    popular = np.tile(np.argsort(-counts, kind="stable")[:10], (cold.size, 1))
    baseline = ranking_metrics(popular, truth, metrics=["ndcg"])
    assert empty.nnz == 0
    assert ours["ndcg"] > baseline["ndcg"] + 0.005, (ours["ndcg"], baseline["ndcg"])
    # The same user by feature names, and the cold vector as the fold-in start.
    names_of_first = list(names[features[0].indices])
    np.testing.assert_allclose(model.cold_user_factors(names_of_first), model.cold_user_factors(features)[0], rtol=1e-6)
    started = model.user_factors_for([], user_features=names_of_first)
    np.testing.assert_allclose(started, model.cold_user_factors(names_of_first), rtol=1e-6)


def test_hybrid_scores_a_new_item_from_its_genres(data):
    model = HybridMF(factors=16, epochs=30, random_state=0, n_threads=1).fit(data)
    favourite = data.user_info.loc[data.users.raw_ids, "favourite_genre"].to_numpy()
    genres = ["Drama", "Comedy", "Thriller"]
    scores = model.score_new_items([[f"genre={g}"] for g in genres])
    assert scores.shape == (data.n_users, 3)
    for column, genre in enumerate(genres):
        fans = favourite == genre
        others = scores[:, [c for c in range(3) if c != column]].max(axis=1)
        # Fans of a genre rank the new item of that genre first more often than the others do.
        assert (scores[fans, column] > others[fans]).mean() > (scores[~fans, column] > others[~fans]).mean() + 0.2
    one = model.score_new_items(["genre=Drama"], users=data.users.raw_ids[:5])
    np.testing.assert_allclose(one, scores[:5, 0], rtol=1e-5, atol=1e-6)
    # A new item with a training item's genres is that item without its own (identity) part.
    genres_of_first = [f"genre={g}" for g in data.item_info.loc[data.items.raw_ids[0], "genres"]]
    side_vector = model.item_factors_[0] - model.item_embeddings_[0]
    side_bias = model.item_bias_[0] - model.item_feature_bias_[0]
    np.testing.assert_allclose(model.score_new_items(genres_of_first), model.user_factors_ @ side_vector + side_bias,
                               rtol=1e-4, atol=1e-5)


def test_hybrid_with_features_only_and_explicit_feature_matrices(data):
    users, user_names = user_features(data)
    items, item_names = item_features(data, columns=("genres", "year"))
    model = HybridMF(factors=8, epochs=5, user_identity=False, random_state=0, n_threads=1)
    model.fit(data, user_features=(users, user_names), item_features=(items, item_names))
    assert model.user_embeddings_.shape == (user_names.size, 8)
    assert model.item_embeddings_.shape == (data.n_items + item_names.size, 8)
    # Users with the same demographics are the same user to this model.
    same = np.flatnonzero(abs(users - users[[0] * users.shape[0]]).sum(axis=1).A.ravel() == 0)
    if same.size > 1:
        np.testing.assert_allclose(model.user_factors_[same[1]], model.user_factors_[same[0]], rtol=1e-6)
    plain = HybridMF(factors=8, epochs=5, random_state=0, n_threads=1).fit(data, user_features=None, item_features=None)
    bpr = BPR(factors=8, epochs=5, random_state=0, n_threads=1).fit(data)
    np.testing.assert_array_equal(plain.user_factors_, bpr.user_factors_)  # no features: plain BPR MF


def test_feature_matrices_from_metadata(data):
    users, names = user_features(data)
    assert users.shape == (data.n_users, names.size) and users.sum(axis=1).min() == 3  # age, gender, occupation
    assert {"gender=F", "gender=M"} <= set(names) and all(n.split("=")[0] in ("age", "gender", "occupation") for n in names)
    items, item_names = item_features(data)
    genres = data.item_info.loc[data.items.raw_ids, "genres"]
    np.testing.assert_array_equal(items.sum(axis=1).A.ravel(), genres.map(len).to_numpy())
    first = set(item_names[items[0].indices])
    assert first == {f"genre={g}" for g in genres.iloc[0]}
    missing, _ = user_features(data, users=np.array([10**9]))
    assert missing.shape == (1, names.size) and missing.nnz == 0
    with pytest.raises(ValueError, match="user_info has no column 'income'"):
        user_features(data, columns=("income",))
    with pytest.raises(ValueError, match="carry no item_info"):
        item_features(Interactions(data.matrix, data.users, data.items))


def test_errors_name_the_argument(data):
    with pytest.raises(ValueError, match="'loss' must be one of"):
        HybridMF(loss="hinge").fit(data)
    with pytest.raises(ValueError, match="'factors' must be an int >= 1; got 0"):
        BPR(factors=0).fit(data)
    with pytest.raises(ValueError, match="'learning_rate' must be a finite number > 0"):
        WARP(learning_rate=0).fit(data)
    with pytest.raises(ValueError, match="with user_identity=False the users need side features"):
        HybridMF(user_identity=False, epochs=1).fit(data.matrix)
    with pytest.raises(ValueError, match="'user_features' must have one row per user"):
        HybridMF(epochs=1).fit(data, user_features=sp.csr_matrix((3, 2)))
    model = HybridMF(factors=4, epochs=1, random_state=0).fit(data)
    with pytest.raises(KeyError, match="unknown user feature 'age=200'"):
        model.recommend_for_features(["age=200"])
    with pytest.raises(ValueError, match="one column per item feature"):
        model.score_new_items(sp.csr_matrix((1, 2)))
