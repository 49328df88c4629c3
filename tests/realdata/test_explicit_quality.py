"""Explicit-rating models on MovieLens 100K, the five canned folds u1..u5: mean test RMSE.

Targets (issue 6, Surprise's published figures): BaselineOnly <= 0.944, BiasedMF <= 0.934,
SVDpp <= 0.919, all with fastcf's defaults. Where Surprise is installed, it runs on the very
same folds and the two are printed side by side (``pytest -s``); fastcf must not be worse.
Every fold's test set is what ``read_movielens_folds`` gives (cold users and items dropped).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from fastcf.data import read_movielens_folds

ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k"
pytestmark = pytest.mark.skipif(not (ML100K / "u1.base").exists(), reason=f"MovieLens 100K not found at {ML100K}")

# ExplicitALS has no target in the issue; it is held to Surprise's published SVD figure.
TARGETS = {"BaselineOnly": 0.944, "BiasedMF": 0.934, "SVDpp": 0.919, "ExplicitALS": 0.934}
SURPRISE_PEER = {"BaselineOnly": "BaselineOnly", "BiasedMF": "SVD", "SVDpp": "SVDpp"}


@pytest.fixture(scope="module")
def folds():
    return read_movielens_folds(ML100K)


def test_pairs(split):
    rows = np.repeat(np.arange(split.n_users), np.diff(split.matrix.indptr))
    return split.users.raw_ids[rows], split.items.raw_ids[split.matrix.indices], split.matrix.data.astype(np.float64)


test_pairs.__test__ = False  # a helper, not a test


def fastcf_model(name):
    import fastcf.models as models

    cls = getattr(models, name, None)
    if cls is None:
        pytest.skip(f"fastcf.models.{name} is not implemented yet")
    params = {} if name == "BaselineOnly" else {"random_state": 0}
    return cls(**params)


def fastcf_rmse(name, folds):
    scores = []
    for train, test in folds:
        model = fastcf_model(name).fit(train)
        users, items, ratings = test_pairs(test)
        scores.append(float(np.sqrt(np.mean((model.predict(users, items) - ratings) ** 2))))
    return float(np.mean(scores)), scores


def surprise_rmse(name, folds):
    surprise = pytest.importorskip("surprise", reason="scikit-surprise is not installed")
    import pandas as pd

    scores = []
    for train, test in folds:
        users, items, ratings = test_pairs(train)
        frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
        trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(1, 5))).build_full_trainset()
        algo = getattr(surprise, SURPRISE_PEER[name])(**({"verbose": False} if name == "BaselineOnly" else {"random_state": 0}))
        algo.fit(trainset)
        predictions = algo.test(list(zip(*test_pairs(test))))
        scores.append(surprise.accuracy.rmse(predictions, verbose=False))
    return float(np.mean(scores)), scores


@pytest.mark.parametrize("name", list(TARGETS))
def test_mean_rmse_meets_the_target(folds, name):
    mean, per_fold = fastcf_rmse(name, folds)
    print(f"\nfastcf {name}: mean RMSE {mean:.4f} over u1..u5 {np.round(per_fold, 4).tolist()} (target {TARGETS[name]})")
    assert mean <= TARGETS[name], (name, mean, per_fold)


@pytest.mark.parametrize("name", ["BaselineOnly", "BiasedMF", "SVDpp"])
def test_side_by_side_with_surprise(folds, name):
    if name == "SVDpp" and not os.environ.get("FASTCF_SLOW_PEERS"):
        pytest.skip("Surprise's SVDpp takes minutes on five folds; set FASTCF_SLOW_PEERS=1 to run it")
    theirs, _ = surprise_rmse(name, folds)
    ours, _ = fastcf_rmse(name, folds)
    print(f"\n{name}: fastcf {ours:.4f}   Surprise {SURPRISE_PEER[name]} {theirs:.4f}   (mean RMSE, u1..u5)")
    assert ours <= theirs + 0.002, (ours, theirs)
