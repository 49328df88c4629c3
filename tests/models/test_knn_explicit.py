"""KNNBasic, KNNWithMeans, KNNBaseline: a plain-loop reference, Surprise on the same data, fallback, fold-in."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import synthetic
from fastcf.models import KNNBaseline, KNNBasic, KNNWithMeans

MODELS = {
    "KNNBasic": lambda: KNNBasic(k=10),
    "KNNWithMeans-cosine": lambda: KNNWithMeans(k=10, measure="cosine"),
    "KNNBaseline": lambda: KNNBaseline(k=10),
    "KNNBaseline-pruned": lambda: KNNBaseline(k=5, max_neighbours=20, min_k=2),
}


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=80, n_items=60, n_ratings=1_500, seed=8)


def loop_reference(model, u, i):
    """Surprise's estimate, written as its loop over the user's rated items (item-based)."""
    R = model.seen_
    S = model.similarity_.toarray()
    mu, bu, bi = model.global_mean_, model.user_bias_, model.item_bias_
    rated = R[u].indices
    neighbours = sorted(((S[i, j], j, R[u, j]) for j in rated if S[i, j] > 0), key=lambda t: (-t[0], t[1]))[:model.k]
    if len(neighbours) < model.min_k:
        return mu + bu[u] + bi[i], True
    base = {"KNNBasic": lambda x: 0.0, "KNNWithMeans": lambda x: model.means_[x],
            "KNNBaseline": lambda x: mu + bu[u] + bi[x]}[type(model).__name__]
    total = sum(s * (r - base(j)) for s, j, r in neighbours)
    return base(i) + total / sum(s for s, _, _ in neighbours), False


@pytest.mark.parametrize("cls, params", [(KNNBasic, {}), (KNNWithMeans, {"measure": "cosine"}),
                                         (KNNBaseline, {}), (KNNBaseline, {"min_k": 3, "k": 4})])
def test_predictions_equal_the_loop_reference(data, cls, params):
    model = cls(**params).fit(data)
    rng = np.random.default_rng(0)
    user_index, item_index = rng.integers(0, data.n_users, 300), rng.integers(0, data.n_items, 300)
    got, fallback = model.predict(data.users.raw_ids[user_index], data.items.raw_ids[item_index], clip=False,
                                  return_fallback=True)
    for p, (u, i) in enumerate(zip(user_index, item_index)):
        expected, impossible = loop_reference(model, u, i)
        assert fallback[p] == impossible
        assert got[p] == pytest.approx(expected, rel=1e-9), (u, i)
    assert fallback.mean() < 0.5


def test_item_based_knn_baseline_equals_surprise(data):
    surprise = pytest.importorskip("surprise", reason="scikit-surprise is not installed")
    import pandas as pd

    rows = np.repeat(np.arange(data.n_users), np.diff(data.matrix.indptr))
    users, items = data.users.raw_ids[rows], data.items.raw_ids[data.matrix.indices]
    frame = pd.DataFrame({"user": users, "item": items, "rating": data.matrix.data.astype(np.float64)})
    trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(1, 5))).build_full_trainset()
    theirs = surprise.KNNBaseline(k=20, sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False)
    theirs.fit(trainset)
    # Surprise's baseline defaults (ALS, reg_u = 15, reg_i = 10, 10 epochs), so b_ui agree.
    ours = KNNBaseline(k=20, baseline_params={"reg_user": 15.0, "reg_item": 10.0}, rating_scale=(1, 5)).fit(data)
    rng = np.random.default_rng(1)
    user_index, item_index = rng.integers(0, data.n_users, 400), rng.integers(0, data.n_items, 400)
    # Unrated pairs, as in a test set: for a rated one Surprise counts the item as its own
    # neighbour (similarity 1), which fastcf leaves out.
    unrated = np.asarray(data.matrix[user_index, item_index]).ravel() == 0
    query_users = data.users.raw_ids[user_index[unrated]]
    query_items = data.items.raw_ids[item_index[unrated]]
    expected = [theirs.predict(u, i).est for u, i in zip(query_users, query_items)]
    np.testing.assert_allclose(ours.predict(query_users, query_items), expected, atol=1e-9)


def test_user_based_predictions_follow_the_users_who_rated_the_item():
    R = sp.csr_matrix(np.array([[5, 4, 0], [5, 4, 1], [1, 2, 5], [0, 4, 4]], dtype=np.float64))
    model = KNNBasic(user_based=True, measure="cosine", k=1).fit(R)
    S = model.similarity_.toarray()
    # Item 2's raters are users 1, 2, 3; user 0's nearest of them by cosine decides alone.
    best = max((1, 2, 3), key=lambda v: S[0, v])
    assert model.predict([0], [2])[0] == pytest.approx(R[best, 2])
    ids, _ = model.similar_users(0, 1)
    assert ids.tolist() == [int(np.argmax(S[0]))]
    with pytest.raises(NotImplementedError, match="user_based=False"):
        model.recommend_for_history({0: 5.0}, 2)


def test_fold_in_predicts_like_the_training_user(data):
    model = KNNBaseline(k=15).fit(data)
    row = data.matrix[3]
    history = dict(zip(data.items.raw_ids[row.indices], row.data))
    items = data.items.raw_ids[:20]
    folded = model.predict_for_history(history, items)
    trained = model.predict(np.repeat(data.users.raw_ids[3], 20), items)
    # The folded-in bias is the ridge step of the baseline, not its alternating fit.
    assert np.corrcoef(folded, trained)[0, 1] > 0.95
    ids, _ = model.recommend_for_history(history, 5)
    assert not set(ids.tolist()) & set(history)


def test_explain_lists_the_neighbours_of_the_prediction(data):
    model = KNNBaseline(k=5).fit(data)
    user, item = data.users.raw_ids[2], data.items.raw_ids[9]
    ids, contributions, total = model.explain(user, item, k=5)
    u, i = data.users.to_index(user), data.items.to_index(item)
    baseline = model.global_mean_ + model.user_bias_[u] + model.item_bias_[i]
    # total is the sum of the neighbours' terms: the prediction less its base.
    assert contributions.sum() == pytest.approx(total)
    assert total == pytest.approx(model.predict([user], [item], clip=False)[0] - baseline)
    assert set(ids.tolist()) <= set(data.items.raw_ids[data.matrix[u].indices].tolist())


@pytest.mark.parametrize("params, message", [
    ({"k": 0}, "KNNBaseline: 'k' must be an int >= 1; got 0."),
    ({"min_k": 0}, "KNNBaseline: 'min_k' must be an int >= 1; got 0."),
    ({"measure": "msd"}, "KNNBaseline: 'measure' must be one of"),
    ({"max_neighbours": 0}, "KNNBaseline: 'max_neighbours' must be an int >= 1; got 0."),
    ({"shrinkage": -2.0}, "KNNBaseline: 'shrinkage' must be a finite number >= 0; got -2.0."),
])
def test_bad_parameters_are_named(data, params, message):
    with pytest.raises(ValueError) as caught:
        KNNBaseline(**params).fit(data)
    assert message in str(caught.value)
