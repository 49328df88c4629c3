"""evaluate_heldout (strong generalization) and calibrated_recall: hand-checked values, the batch fold-in
against recommend_for_history, every model that folds in, and the errors."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastcf
import fastcf.models as models
from fastcf.data import IdMap, Interactions, compact, from_arrays, heldout_user_split, k_core, random_split, synthetic
from fastcf.evaluation import evaluate, evaluate_heldout, ranking_metrics
from fastcf.models import EASE, BiasedMF, ImplicitALS, ItemKNN, Popularity, UserKNN
from fastcf.models.base import Recommender


def D(rank):
    return 1.0 / math.log2(rank + 2)


@pytest.fixture(scope="module")
def split():
    # Ratings 1..5 kept as values: the explicit-rating models fit them, the implicit ones read them as weights.
    return heldout_user_split(k_core(synthetic("ml100k", seed=7), 5, 1), 40, 80, seed=0)


# --- hand-checked values ----------------------------------------------------------------------

def popularity_problem():
    """Training popularity of items 0..4 is 5, 4, 3, 2, 1 users; two held-out users."""
    users = np.concatenate([[u] * (5 - u) for u in range(5)])  # user u has items 0..4-u
    items = np.concatenate([np.arange(5 - u) for u in range(5)])
    train = from_arrays(users, items, np.ones(users.size))
    fold_in = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 1])), shape=(2, 5))
    targets = sp.csr_matrix((np.ones(5), ([0, 0, 1, 1, 1], [1, 4, 2, 3, 4])), shape=(2, 5))
    users = IdMap(["A", "B"])
    part = (Interactions(fold_in, users, train.items), Interactions(targets, users, train.items))
    return Popularity().fit(train), part


def test_metric_values_by_hand():
    model, part = popularity_problem()
    # A folds in item 0: ranking 1, 2, 3, 4; targets {1, 4}. B folds in item 1: ranking 0, 2, 3, 4; targets {2, 3, 4}.
    result = evaluate_heldout(model, part, 2, metrics=("recall", "calibrated_recall", "ndcg", "precision"),
                              per_user=True)
    a_ndcg = D(0) / (D(0) + D(1))
    b_ndcg = D(1) / (D(0) + D(1))
    expected = {"recall": (1 / 2 + 1 / 3) / 2, "calibrated_recall": (1 / 2 + 1 / 2) / 2,
                "ndcg": (a_ndcg + b_ndcg) / 2, "precision": (1 / 2 + 1 / 2) / 2}
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-12), name
    assert result["n_users"] == 2 and result["n_users_skipped"] == 0
    frame = result.per_user
    assert frame.index.tolist() == ["A", "B"]
    np.testing.assert_allclose(frame["calibrated_recall"], [1 / 2, 1 / 2])
    np.testing.assert_allclose(frame["recall"], [1 / 2, 1 / 3])
    # At k = 4 every list holds every admissible item: both users find all their targets.
    full = evaluate_heldout(model, part, 4, metrics=("recall", "calibrated_recall"))
    assert full["recall"] == full["calibrated_recall"] == 1.0
    # The ideal DCG is over min(k, |T|) ranks (Liang et al.'s NDCG@k): at k = 1 A's one slot is a hit.
    assert evaluate_heldout(model, part, 1, metrics=("ndcg",), per_user=True).per_user["ndcg"].tolist() == [1.0, 0.0]


def test_calibrated_recall_is_recall_with_the_denominator_capped_at_k(split):
    train, _, test = split
    model = EASE(regularization=50.0).fit(train)
    for k in (5, 200):
        frame = evaluate_heldout(model, test, k, metrics=("recall", "calibrated_recall"), per_user=True).per_user
        hits = frame["hits"].to_numpy()
        n = frame["n_test"].to_numpy()
        np.testing.assert_allclose(frame["calibrated_recall"], hits / np.minimum(k, n))
        np.testing.assert_allclose(frame["recall"], hits / n)
        short = n <= k
        np.testing.assert_array_equal(frame["calibrated_recall"][short], frame["recall"][short])
        if k == 5:
            assert (~short).any() and (frame["calibrated_recall"][~short] > frame["recall"][~short]).any()


def test_several_cutoffs_rank_once_and_equal_each_cutoff_alone(split):
    train, _, test = split
    model = ImplicitALS(factors=8, iterations=3, random_state=0).fit(train)
    metrics = ("calibrated_recall", "ndcg", "map", "coverage", "auc")
    together = evaluate_heldout(model, test, (50, 20, 100), metrics=metrics)
    assert sorted(together) == [20, 50, 100]
    for k, result in together.items():
        alone = evaluate_heldout(model, test, k, metrics=metrics)
        assert dict(result) == pytest.approx(dict(alone), abs=1e-12) and result.k == k


def test_evaluate_reports_calibrated_recall_too(split):
    train = split.train
    inner_train, inner_test = random_split(train, 0.2, seed=1)
    model = ItemKNN(k=20).fit(inner_train)
    result = evaluate(model, inner_train, inner_test, 10, metrics=("calibrated_recall", "recall", "precision_implicit"),
                      per_user=True)
    frame = result.per_user
    np.testing.assert_allclose(frame["calibrated_recall"], frame["hits"] / np.minimum(10, frame["n_test"]))
    assert result["calibrated_recall"] == pytest.approx(frame["calibrated_recall"].mean())
    assert result["calibrated_recall"] >= result["recall"]


# --- the batch fold-in is recommend_for_history's -------------------------------------------

def per_user_lists(model, part, k):
    """Each held-out user alone through recommend_for_history (raw item IDs -> dense indices)."""
    fold_in = part.fold_in
    lists = np.full((fold_in.n_users, k), -1, dtype=np.int64)
    for row in range(fold_in.n_users):
        lo, hi = fold_in.matrix.indptr[row], fold_in.matrix.indptr[row + 1]
        history = dict(zip(fold_in.items.raw_ids[fold_in.matrix.indices[lo:hi]].tolist(),
                           fold_in.matrix.data[lo:hi].tolist()))
        ids, _ = model.recommend_for_history(history, k)
        lists[row, :len(ids)] = model.items_.to_index(ids)
    return lists


@pytest.mark.parametrize("make", [
    lambda: EASE(regularization=50.0),
    lambda: ItemKNN(k=30),
    lambda: Popularity(),
    lambda: ImplicitALS(factors=8, iterations=3, random_state=0, dtype=np.float64),
    lambda: BiasedMF(factors=8, epochs=3, random_state=0, dtype=np.float64),
], ids=["EASE", "ItemKNN", "Popularity", "ImplicitALS", "BiasedMF"])
def test_the_batch_fold_in_equals_recommend_for_history_user_by_user(split, make):
    train, _, test = split
    model = make().fit(train)
    k = 20
    metrics = ("recall", "calibrated_recall", "ndcg", "map", "mrr")
    batch = evaluate_heldout(model, test, k, metrics=metrics, per_user=True, n_threads=2)
    alone = ranking_metrics(per_user_lists(model, test, k), test.targets, metrics=metrics, per_user=True)
    pd.testing.assert_frame_equal(batch.per_user, alone.per_user, check_exact=False, rtol=1e-12)
    assert dict(batch) == pytest.approx(dict(alone), abs=1e-12)


def test_results_do_not_depend_on_threads_block_size_or_backend(split):
    train, _, test = split
    for make in (lambda: ImplicitALS(factors=8, iterations=2, random_state=0), lambda: EASE(regularization=50.0)):
        model = make().fit(train)
        expected = evaluate_heldout(model, test, 10, metrics=("calibrated_recall", "ndcg", "auc"), n_threads=1,
                                    backend="reference")
        for n_threads, block_size in ((2, 1), (2, 7)):
            got = evaluate_heldout(model, test, 10, metrics=("calibrated_recall", "ndcg", "auc"), n_threads=n_threads,
                                   block_size=block_size)
            assert dict(got) == pytest.approx(dict(expected), abs=1e-12)


# --- every model that folds in; those that do not -----------------------------------------------

#: A small configuration of every public model (a new one fails test_every_public_model_is_listed).
FACTORIES = {
    "ImplicitALS": lambda: models.ImplicitALS(factors=4, iterations=2, random_state=0),
    "BPR": lambda: models.BPR(factors=4, epochs=2, random_state=0, n_threads=1),
    "WARP": lambda: models.WARP(factors=4, epochs=2, random_state=0, n_threads=1),
    "HybridMF": lambda: models.HybridMF(factors=4, epochs=2, random_state=0, n_threads=1),
    "BiasedMF": lambda: models.BiasedMF(factors=4, epochs=2, random_state=0),
    "SVDpp": lambda: models.SVDpp(factors=4, epochs=2, random_state=0),
    "ExplicitALS": lambda: models.ExplicitALS(factors=4, iterations=2, random_state=0),
    "BaselineOnly": lambda: models.BaselineOnly(epochs=2),
    "Popularity": lambda: models.Popularity(),
    "EASE": lambda: models.EASE(regularization=10.0),
    "ItemKNN": lambda: models.ItemKNN(k=5),
    "UserKNN": lambda: models.UserKNN(k=5),
    "KNNBasic": lambda: models.KNNBasic(k=5),
    "KNNWithMeans": lambda: models.KNNWithMeans(k=5),
    "KNNBaseline": lambda: models.KNNBaseline(k=5, baseline_params={"epochs": 2}),
}


def public_models():
    return {name for (module, name), cls in Recommender._registry.items()
            if module.startswith("fastcf.") and getattr(models, name, None) is cls
            and cls.__init__ is not object.__init__}


def test_every_public_model_is_listed():
    assert set(FACTORIES) == public_models()


@pytest.mark.parametrize("name", sorted(set(FACTORIES) - {"UserKNN"}))
def test_every_model_that_folds_in_can_be_evaluated(split, name):
    train, validation, _ = split
    model = FACTORIES[name]().fit(train)
    result = evaluate_heldout(model, validation, (10, 100), metrics=("calibrated_recall", "ndcg", "coverage"))
    for k in (10, 100):
        assert result[k]["n_users"] == validation.n_users
        for metric in ("calibrated_recall", "ndcg", "coverage"):
            assert 0.0 <= result[k][metric] <= 1.0, (name, k, metric)
    assert result[100]["calibrated_recall"] >= result[10]["calibrated_recall"] - 1e-12


def test_a_model_without_fold_in_is_refused_by_name(split):
    model = UserKNN(k=5).fit(split.train)
    with pytest.raises(TypeError, match=r"evaluate_heldout: UserKNN cannot fold in new users \(it has no "
                                        r"recommend_for_history\)"):
        evaluate_heldout(model, split.test)


# --- errors ------------------------------------------------------------------------------------

def test_bad_calls_are_refused_by_name(split):
    train, validation, test = split
    model = EASE(regularization=10.0).fit(train)
    with pytest.raises(TypeError, match=r"evaluate_heldout: 'part' must be a HeldoutPart .*; got one Interactions"):
        evaluate_heldout(model, test.fold_in)
    with pytest.raises(TypeError, match=r"evaluate_heldout: 'part' must be a HeldoutPart"):
        evaluate_heldout(model, "test")
    with pytest.raises(TypeError, match=r"'part.targets' must be fastcf Interactions or a scipy sparse matrix; "
                                        r"got list"):
        evaluate_heldout(model, (test.fold_in, [1, 2]))
    with pytest.raises(ValueError, match=r"'part.fold_in' and 'part.targets' must share ID maps"):
        evaluate_heldout(model, (validation.fold_in, test.targets))
    with pytest.raises(ValueError, match=r"evaluate_heldout: 'rmse' is a rating metric"):
        evaluate_heldout(model, test, metrics=("ndcg", "rmse"))
    with pytest.raises(ValueError, match=r"evaluate_heldout: unknown metric 'recall_at_k'"):
        evaluate_heldout(model, test, metrics=("recall_at_k",))
    with pytest.raises(ValueError, match=r"evaluate_heldout: 'k' must be an int >= 1; got 0"):
        evaluate_heldout(model, test, k=(10, 0))
    with pytest.raises(TypeError, match=r"evaluate_heldout: 'k' must be an int >= 1 or a sequence of them; got '10'"):
        evaluate_heldout(model, test, k="10")
    with pytest.raises(ValueError, match=r"evaluate_heldout: 'k' must be an int >= 1 or a non-empty sequence"):
        evaluate_heldout(model, test, k=())
    with pytest.raises(TypeError, match=r"evaluate_heldout: 'model' must be a fitted fastcf model that folds in"):
        evaluate_heldout(object(), test)
    with pytest.raises(fastcf.exceptions.NotFittedError, match=r"EASE is not fitted yet"):
        evaluate_heldout(EASE(), test)
    other = EASE(regularization=10.0).fit(compact(train.select_entries(train.matrix.indices != 0)))
    with pytest.raises(ValueError, match=r"evaluate_heldout: the part's items are not the model's"):
        evaluate_heldout(other, test)
    wrong_width = sp.csr_matrix((2, train.n_items + 1))
    with pytest.raises(ValueError, match=r"'part.fold_in' must have one column per fitted item"):
        evaluate_heldout(model, (wrong_width, wrong_width))
    negative = test.fold_in.replace(test.fold_in.matrix * -1.0)
    with pytest.raises(ValueError, match=r"evaluate_heldout: 'part.fold_in'"):
        evaluate_heldout(ImplicitALS(factors=4, iterations=1).fit(train), (negative, test.targets))


def test_sparse_parts_for_a_model_fitted_on_a_matrix():
    model, (fold_in, targets) = popularity_problem()
    bare = Popularity().fit(model.seen_)
    by_ids = evaluate_heldout(model, (fold_in, targets), 2, metrics=("calibrated_recall", "ndcg"))
    by_matrix = evaluate_heldout(bare, (fold_in.matrix, targets.matrix), 2, metrics=("calibrated_recall", "ndcg"),
                                 per_user=True)
    assert dict(by_ids) == dict(by_matrix)
    assert by_matrix.per_user.index.tolist() == [0, 1]
    # A held-out user without targets is skipped and counted.
    no_target = targets.matrix.copy().tolil()
    no_target[1, :] = 0
    no_target = sp.csr_matrix(no_target)
    no_target.eliminate_zeros()
    result = evaluate_heldout(bare, (fold_in.matrix, no_target), 2, metrics=("calibrated_recall",))
    assert result["n_users"] == 1 and result["n_users_skipped"] == 1 and result["calibrated_recall"] == 0.5


def test_a_model_updated_with_new_items_after_the_split(split):
    train, _, test = split
    model = ItemKNN(k=20).fit(train)
    expected = evaluate_heldout(model, test, 10, metrics=("calibrated_recall", "ndcg"), per_user=True)
    new_user = train.users.raw_ids.max() + 1
    model.partial_fit(from_arrays([new_user, new_user], [10**6, 10**6 + 1], [1.0, 1.0]))
    assert len(model.items_) == train.n_items + 2
    updated = evaluate_heldout(model, test, 10, metrics=("calibrated_recall", "ndcg"), per_user=True)
    # The two new items belong to one new user only: no similarity among the old items moves, and
    # the new ones score 0 for every held-out user, below any item they share a neighbour with.
    assert dict(updated) == pytest.approx(dict(expected), abs=1e-12)
    pd.testing.assert_frame_equal(updated.per_user, expected.per_user)
