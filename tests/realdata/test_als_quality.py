"""ImplicitALS on MovieLens 100K (u1.base -> u1.test) against implicit 0.7.3, same metric code."""

from pathlib import Path

import numpy as np
import pytest

from fastcf.data import read_movielens_folds
from fastcf.evaluation import evaluate, ranking_metrics
from fastcf.models import ImplicitALS

ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k"
pytestmark = pytest.mark.skipif(not (ML100K / "u1.base").exists(), reason=f"MovieLens 100K not found at {ML100K}")

FACTORS, REGULARIZATION, ALPHA, ITERATIONS = 64, 0.01, 1.0, 15


@pytest.fixture(scope="module")
def fold():
    return read_movielens_folds(ML100K)[0]


def implicit_metrics(train, test, use_cg):
    implicit_als = pytest.importorskip("implicit.als", reason="implicit is not installed (pip install '.[test]')")
    import threadpoolctl

    # implicit takes the stored value itself as the confidence: give it 1 + alpha * r.
    confidence = train.matrix.astype(np.float32)
    confidence.data = 1.0 + ALPHA * confidence.data
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = implicit_als.AlternatingLeastSquares(
            factors=FACTORS, regularization=REGULARIZATION, alpha=1.0, iterations=ITERATIONS, use_cg=use_cg,
            random_state=0, calculate_training_loss=False,
        )
        model.fit(confidence, show_progress=False)
    users = np.flatnonzero(np.diff(test.matrix.indptr))
    ids, _ = model.recommend(users, train.matrix[users], N=10, filter_already_liked_items=True)
    recommended = np.full((test.n_users, 10), -1, dtype=np.int64)
    recommended[users] = ids
    return ranking_metrics(recommended, test.matrix)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_precision_and_ndcg_at_10_match_or_beat_implicit(fold, solver):
    train, test = fold
    ours = evaluate(
        ImplicitALS(factors=FACTORS, regularization=REGULARIZATION, alpha=ALPHA, iterations=ITERATIONS,
                    solver=solver, random_state=0).fit(train),
        train, test, k=10,
    )
    theirs = implicit_metrics(train, test, use_cg=solver == "cg")
    assert ours["n_users"] == theirs["n_users"] == 459
    for metric in ("precision", "ndcg"):
        assert ours[metric] >= theirs[metric] - 0.005, (metric, ours[metric], theirs[metric])
    assert ours["precision"] > 0.35  # far above popularity-free chance on this split
