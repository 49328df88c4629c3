"""Quality of the neighbourhood models and EASE on MovieLens 100K, beside their peers.

1. Item-based KNNBaseline (pearson-baseline, shrinkage 100): test RMSE on the five canned
   folds u1..u5, fastcf beside Surprise's ``KNNBaseline(sim_options={'name':
   'pearson_baseline', 'user_based': False})`` on the very same folds (fastcf with its own
   baseline defaults, and with Surprise's baseline regularisation, reg_u = 15 / reg_i = 10).
   Fit + predict seconds per fold are reported as medians over the folds (Surprise is
   single-threaded; fastcf runs at ``--threads``).
2. NDCG@10 and precision@10 on u1.base -> u1.test for Popularity, ItemKNN, EASE and
   ImplicitALS, all through ``fastcf.evaluate`` (the same split, exclusions and metric code).

Usage: python scripts/bench_knn_quality.py [--data /work/shared/data/ml-100k] [--threads 2] [--no-surprise]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import fastcf
from fastcf.data import read_movielens_folds
from fastcf.evaluation import evaluate
from fastcf.models import EASE, ImplicitALS, ItemKNN, KNNBaseline, Popularity


def triples(split):
    rows = np.repeat(np.arange(split.n_users), np.diff(split.matrix.indptr))
    return split.users.raw_ids[rows], split.items.raw_ids[split.matrix.indices], split.matrix.data.astype(np.float64)


def fastcf_fold(train, test, **params):
    started = time.perf_counter()
    users, items, ratings = triples(test)
    predicted = KNNBaseline(**params).fit(train).predict(users, items)
    return float(np.sqrt(np.mean((predicted - ratings) ** 2))), time.perf_counter() - started


def surprise_fold(train, test):
    import pandas as pd
    import surprise

    users, items, ratings = triples(train)
    frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
    started = time.perf_counter()
    trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = surprise.KNNBaseline(sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False)
    algo.fit(trainset)
    predictions = algo.test(list(zip(*triples(test))))
    return surprise.accuracy.rmse(predictions, verbose=False), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-surprise", action="store_true")
    args = parser.parse_args()
    fastcf.set_num_threads(args.threads)
    folds = read_movielens_folds(args.data)

    runs = {"fastcf KNNBaseline": lambda tr, te: fastcf_fold(tr, te),
            "fastcf KNNBaseline (Surprise's baseline regs)":
                lambda tr, te: fastcf_fold(tr, te, baseline_params={"reg_user": 15.0, "reg_item": 10.0})}
    if not args.no_surprise:
        runs["Surprise KNNBaseline"] = surprise_fold
    results = {name: [] for name in runs}
    # Alternate the peers fold by fold, so that noise on the machine hits all alike.
    for train, test in folds:
        for name, run in runs.items():
            results[name].append(run(train, test))
    print("Item-based KNNBaseline, pearson_baseline, MovieLens 100K u1..u5")
    print(f"{'':48s} {'mean RMSE':>9s}  {'per fold':40s} {'s/fold (median)':>15s}")
    for name, values in results.items():
        rmse = [v[0] for v in values]
        seconds = statistics.median(v[1] for v in values)
        print(f"{name:48s} {np.mean(rmse):9.4f}  {str(np.round(rmse, 4).tolist()):40s} {seconds:15.2f}")

    train, test = folds[0]
    models = {
        "Popularity": Popularity(),
        "ItemKNN (cosine, k=100)": ItemKNN(),
        "ItemKNN (bm25, k=100)": ItemKNN(measure="bm25"),
        "EASE (λ=500)": EASE(),
        "ImplicitALS (64 factors, 15 it.)": ImplicitALS(factors=64, regularization=0.01, alpha=1.0, iterations=15,
                                                         random_state=0),
    }
    print("\nu1.base -> u1.test, fastcf.evaluate, k = 10")
    print(f"{'':34s} {'NDCG@10':>8s} {'P@10':>8s} {'fit s':>7s}")
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
        result = evaluate(model, train, test, k=10)
        print(f"{name:34s} {result['ndcg']:8.4f} {result['precision']:8.4f} {seconds:7.2f}")


if __name__ == "__main__":
    main()
