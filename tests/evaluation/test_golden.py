"""Golden cases: every metric and convention on small examples computed by hand.

Six users, six items, k = 3; the model's score of item i for user u is S[u, i] (a factor
model with user factors S and item factors the identity, so the ranking is plain to see).

    user  scores               train       test (gain)            top 3 (admissible, ties to lower index)
    0     9 5 8 1 7 3          {0}         2 (3), 4 (1)           2 4 1    hits at ranks 0, 1
    1     1 4 4 2 4 3          {}          0 (1), 5 (2)           1 2 4    no hit (a three-way tie)
    2     0 3 9 3 5 3          {2}         1 (1), 3 (2), 5 (3)    4 1 3    hits at ranks 1, 2 (ties)
    3     0 0 0 0 0 0          {0, 1}      none                   skipped
    4     1 2 3 4 5 6          all items   2 (1)                  empty    the test item was trained on
    5     2 2 1 3 2 0          {}          0 (1)                  3 0 1    hit at rank 1
"""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.evaluation import (
    catalog_coverage, evaluate, intra_list_diversity, mae, metrics_at_k, novelty, ranking_metrics, rating_metrics,
    rmse,
)
from fastcf.models import ImplicitALS

D = [1 / math.log2(r + 2) for r in range(10)]  # D(r) = 1 / log2(r + 2)

S = np.array([
    [9, 5, 8, 1, 7, 3],
    [1, 4, 4, 2, 4, 3],
    [0, 3, 9, 3, 5, 3],
    [0, 0, 0, 0, 0, 0],
    [1, 2, 3, 4, 5, 6],
    [2, 2, 1, 3, 2, 0],
], dtype=np.float64)
TRAIN = [[0], [], [2], [0, 1], [0, 1, 2, 3, 4, 5], []]
TEST = {0: {2: 3.0, 4: 1.0}, 1: {0: 1.0, 5: 2.0}, 2: {1: 1.0, 3: 2.0, 5: 3.0}, 4: {2: 1.0}, 5: {0: 1.0}}
TOP = [[2, 4, 1], [1, 2, 4], [4, 1, 3], [-1, -1, -1], [3, 0, 1]]  # evaluated users 0, 1, 2, 4, 5

# Per evaluated user (0, 1, 2, 4, 5), by hand:
PER_USER = {
    "precision": [2 / 3, 0, 2 / 3, 0, 1 / 3],
    "recall": [1, 0, 2 / 3, 0, 1],
    "f1": [0.8, 0, 2 / 3, 0, 0.5],  # 2PR / (P + R)
    "map": [1, 0, (1 / 2 + 2 / 3) / 3, 0, (1 / 2) / 1],
    "ndcg": [1, 0, (D[1] + D[2]) / (D[0] + D[1] + D[2]), 0, D[1] / D[0]],
    "ndcg_graded": [1, 0, (1 * D[1] + 2 * D[2]) / (3 * D[0] + 2 * D[1] + 1 * D[2]), 0, D[1] / D[0]],
    "mrr": [1, 0, 1 / 2, 0, 1 / 2],
    "hit_rate": [1, 0, 1, 0, 1],
    # pairs (positive above negative) + half the ties, over #pos * #neg:
    # user 1: only item 5 (3) beats item 3 (2): 1/8; user 2: every positive (3) beats item 0 (0),
    # none beats item 4 (5): 3/6; user 4 has no admissible positive; user 5: item 0 (2) beats
    # items 2 and 5, ties items 1 and 4, loses to 3: (2 + 1) / 5.
    "auc": [1, 1 / 8, 1 / 2, math.nan, 3 / 5],
    # implicit's formula: (Σ hits before each miss + ((h + |T|) / 2)(N - misses)) / (|T| N), N = 6 - |T|;
    # user 4's list is all pads, which are not misses (implicit would count 3 and give 1/5).
    "auc_implicit": [(2 + 2 * 3) / 8, (0 + 1 * 1) / 8, (0 + 2.5 * 2) / 9, (0 + 0.5 * 5) / 5, (1 + 1 * 3) / 5],
}
HITS = [2, 0, 2, 0, 1]
M = [2, 2, 3, 1, 1]  # min(k, |T|)


def matrices():
    train = sp.csr_matrix((np.ones(sum(map(len, TRAIN))), [i for row in TRAIN for i in row],
                           np.cumsum([0] + [len(row) for row in TRAIN])), shape=(6, 6))
    rows, cols, vals = zip(*[(u, i, g) for u, items in TEST.items() for i, g in items.items()])
    test = sp.csr_matrix((vals, (rows, cols)), shape=(6, 6))
    return train, test


def scores_model(train):
    """A factor model whose scores are S: user factors S, item factors the identity."""
    model = ImplicitALS(factors=6)
    model.user_factors_, model.item_factors_ = S.copy(), np.eye(6)
    model.seen_, model.users_, model.items_ = train, None, None
    return model


@pytest.fixture(scope="module")
def result():
    train, test = matrices()
    return evaluate(scores_model(train), train, test, 3, metrics=list(PER_USER) + ["precision_implicit", "auc"],
                    per_user=True)


@pytest.mark.parametrize("metric", list(PER_USER))
def test_per_user_values(result, metric):
    table = result.per_user
    assert list(table.index) == [0, 1, 2, 4, 5]
    np.testing.assert_allclose(table[metric].to_numpy(), PER_USER[metric], rtol=1e-12)


@pytest.mark.parametrize("metric", [m for m in PER_USER if m not in ("auc",)])
def test_overall_values_are_means_over_evaluated_users(result, metric):
    assert result[metric] == pytest.approx(np.mean(PER_USER[metric]), rel=1e-12)


def test_precision_divides_by_k_and_the_implicit_variant_is_a_ratio_of_sums(result):
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["precision_implicit"] == pytest.approx(sum(HITS) / sum(M)) == pytest.approx(5 / 9)
    np.testing.assert_array_equal(result.per_user["hits"], HITS)


def test_auc_leaves_out_users_where_it_is_undefined(result):
    assert result["auc"] == pytest.approx((1 + 1 / 8 + 1 / 2 + 3 / 5) / 4)
    assert result["n_users_auc_undefined"] == 1


def test_users_without_test_entries_are_skipped_and_counted(result):
    assert result["n_users"] == 5 and result["n_users_skipped"] == 1
    np.testing.assert_array_equal(result.per_user["n_test"], [2, 2, 3, 1, 1])


def test_the_same_lists_through_the_lists_path():
    train, test = matrices()
    lists = np.full((6, 3), -1)
    lists[[0, 1, 2, 4, 5]] = TOP
    lists[3] = [5, 4, 3]  # ignored: user 3 has no test entry
    got = ranking_metrics(lists, test, metrics=[m for m in PER_USER if m != "auc"], per_user=True)
    for metric in PER_USER:
        if metric != "auc":
            np.testing.assert_allclose(got.per_user[metric], PER_USER[metric], rtol=1e-12)
    with pytest.raises(ValueError, match=r"'auc' \(full AUC\) needs every item's score"):
        ranking_metrics(lists, test, metrics=["auc"])


def test_ties_go_to_the_lower_item_index_and_lists_come_back(result):
    train, test = matrices()
    curve = metrics_at_k(scores_model(train), train, test, ks=[1, 2, 3], metrics=["precision"])
    # user 1's three-way tie at score 4 ranks items 1, 2, 4; user 2's tie at 3 ranks 1, 3, 5.
    assert curve.loc[1, "precision"] == pytest.approx(np.mean([1, 0, 0, 0, 0]))
    assert curve.loc[2, "precision"] == pytest.approx(np.mean([1, 0, 0.5, 0, 0.5]))
    assert curve.loc[3, "precision"] == pytest.approx(1 / 3)


def test_k_larger_than_the_catalogue():
    train, test = matrices()
    got = evaluate(scores_model(train), train, test, 10, metrics=["precision", "recall", "ndcg", "map"], per_user=True)
    # Every admissible item is listed, so every test item that is not a training item is hit;
    # user 0 ranks its five admissible items and pads five: precision still divides by k.
    np.testing.assert_allclose(got.per_user["precision"], [2 / 10, 2 / 10, 3 / 10, 0, 1 / 10])
    np.testing.assert_allclose(got.per_user["recall"], [1, 1, 1, 0, 1])
    assert got.per_user["ndcg"].iloc[0] == 1.0 and got.per_user["map"].iloc[0] == 1.0
    # user 2: hits at ranks 1, 2 and 4 (items 1, 3, 5 tie at 3 behind item 4; item 0 is last).
    assert got.per_user["ndcg"].iloc[2] == pytest.approx((D[1] + D[2] + D[3]) / (D[0] + D[1] + D[2]))


def test_empty_lists_are_all_misses():
    _, test = matrices()
    got = ranking_metrics(np.full((6, 3), -1), test, metrics=["precision", "recall", "map", "ndcg", "mrr",
                                                              "hit_rate", "coverage"])
    assert all(got[m] == 0 for m in ("precision", "recall", "map", "ndcg", "mrr", "hit_rate", "coverage"))


def test_exclude_train_false_ranks_training_items_too():
    train, test = matrices()
    got = evaluate(scores_model(train), train, test, 3, metrics=["precision"], exclude_train=False, per_user=True)
    # user 0's top 3 becomes 0, 2, 4 (2 hits); user 2's 2, 4, 1 (1 hit); user 4's 5, 4, 3 (none).
    np.testing.assert_allclose(got.per_user["precision"], [2 / 3, 0, 1 / 3, 0, 1 / 3])


# --- beyond accuracy --------------------------------------------------------------------------

def test_coverage_novelty_diversity_by_hand():
    train, test = matrices()
    got = evaluate(scores_model(train), train, test, 3, metrics=["coverage", "novelty", "diversity"],
                   item_features=np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], float), per_user=True)
    assert got["coverage"] == pytest.approx(5 / 6)  # items 0..4 are recommended to someone
    # Training users with an entry: 0, 2, 3, 4. Item counts 3, 2, 2, 1, 1, 1 -> p = count / 4.
    info = -np.log2(np.array([3, 2, 2, 1, 1, 1]) / 4)
    expected = [info[[2, 4, 1]].mean(), info[[1, 2, 4]].mean(), info[[4, 1, 3]].mean(), np.nan, info[[3, 0, 1]].mean()]
    np.testing.assert_allclose(got.per_user["novelty"], expected)
    assert got["novelty"] == pytest.approx(np.nanmean(expected))
    # Features: cos(0, 1) = 0, cos(x, 2) = 1/sqrt(2) for x in {0, 1, 4, 5}, item 3 is the zero vector.
    c = 1 - 1 / math.sqrt(2)
    # user 0 [2, 4, 1]: pairs (2,4) c, (2,1) c, (4,1) 1; user 2 [4, 1, 3]: (4,1) 1, (4,3) 1, (1,3) 1.
    np.testing.assert_allclose(got.per_user["diversity"], [(2 * c + 1) / 3, (2 * c + 1) / 3, 1.0, np.nan, (1 + 1 + 1) / 3])


def test_list_metric_functions_directly():
    assert catalog_coverage([[0, 1, -1], [1, 2, -1]], 5) == pytest.approx(3 / 5)
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]]))
    # p = [4/4, 2/4, 1/4, unseen -> 1/4]
    np.testing.assert_allclose(novelty([[0, 1], [2, -1], [3, -1], [-1, -1]], train), [0.5, 2.0, 2.0, np.nan])
    features = sp.csr_matrix(np.array([[1.0, 0], [0, 1], [1, 1], [0, 0]]))
    c = 1 - 1 / math.sqrt(2)
    np.testing.assert_allclose(intra_list_diversity([[0, 1, 2], [0, 3, -1], [2, -1, -1]], features),
                               [(1 + 2 * c) / 3, 1.0, np.nan])


# --- ratings ------------------------------------------------------------------------------------

def test_rating_metrics_by_hand():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert rating_metrics([4, 4], [3, 5]) == {"rmse": 1.0, "mae": 1.0}
    with pytest.raises(ValueError, match=r"'y_pred' must be finite; got nan at position 1"):
        rmse([1, 2], [1, np.nan])


def test_rating_metrics_count_fallbacks():
    train, test = matrices()
    got = evaluate(scores_model(train), train, test, 3, metrics=["rmse", "mae"], per_user=True)
    rows, cols = test.nonzero()
    error = test.data - S[rows, cols]
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean(error ** 2)))
    assert got["mae"] == pytest.approx(np.mean(np.abs(error)))
    # Users 1 and 5 have no training entry: their 3 test entries are the model's fallback.
    assert got["n_fallback"] == 3
    assert got.per_user["rmse"].loc[5] == pytest.approx(abs(1.0 - S[5, 0]))
