"""Tuned fastcf ImplicitALS against tuned implicit ALS: grids of one size, the same splits, one metric code.

For every split (MovieLens 100K u1..u5 by default; ``--movielens PATH --latest`` for any release
with timestamps, each user's latest 20% as test), each library's grid is searched on a
validation split of the training part (each user's random 20%, or latest 20% with
``--latest``); the best point by NDCG@10 on validation is refitted on the whole training part
and scored on the test part. Both libraries' factors are scored by ``fastcf.evaluate`` (training
items excluded), so the metric code is one. implicit (0.7.3) takes the stored values times its
``alpha`` as the confidences; fastcf's grid uses its own formulation (``--fastcf-grid``).

Usage: python scripts/tune_ials.py [--data ../shared/data/ml-100k] [--threads 2] [--folds 1,2,3,4,5]
       [--movielens PATH --latest] [--iterations 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import _peers
import fastcf
from fastcf.data import read_movielens, read_movielens_folds
from fastcf.data.splits import _rank_within_rows, _split
from fastcf.models import ImplicitALS

#: implicit's grid: 3 x 4 x 4 = 48 points (alpha scales the stored values into confidences).
IMPLICIT_GRID = {
    "factors": [32, 64, 128],
    "regularization": [3.0, 10.0, 30.0, 100.0],
    "alpha": [0.3, 1.0, 3.0, 10.0],
}
#: fastcf's grid, also 48 points: the same factors and regularization, and four formulations
#: (``FORMULATIONS``) in place of implicit's four alphas.
FASTCF_GRID = {
    "factors": [32, 64, 128],
    "regularization": [3.0, 10.0, 30.0, 100.0],
    "formulation": ["raw", "linear 1", "linear 0.3", "log 3"],
}
#: A formulation's name -> ImplicitALS parameters: "raw" is implicit's own convention (c = r).
FORMULATIONS = {
    "raw": dict(confidence="raw"),
    "linear 1": dict(confidence="linear", alpha=1.0),
    "linear 0.3": dict(confidence="linear", alpha=0.3),
    "log 3": dict(confidence="log", alpha=3.0),
}


def grid_points(grid: dict) -> list:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def latest_split(data, fraction: float):
    """Each user's latest ``fraction`` of entries (ties by item) as test; every user keeps one."""
    counts = np.diff(data.matrix.indptr).astype(np.int64)
    n_test = np.minimum(np.round(fraction * counts).astype(np.int64), np.maximum(counts - 1, 0))
    rank = _rank_within_rows(data, -data.timestamps.astype(np.float64))
    return _split(data, rank < np.repeat(n_test, counts), "drop")


def random_split(data, fraction: float, seed: int):
    return fastcf.data.user_fraction_split(data, fraction, seed=seed)


def fit_fastcf(train, params, iterations, threads, seed):
    params = dict(params)
    params.update(FORMULATIONS.get(params.pop("formulation", None), {}))
    model = ImplicitALS(iterations=iterations, random_state=seed, n_threads=threads, **params)
    return model.fit(train)


def fit_implicit(train, params, iterations, threads, seed):
    confidences = train.matrix.astype(np.float32)
    confidences.data *= np.float32(params["alpha"])
    implicit_model, _ = _peers.implicit_als_fit(
        confidences, factors=params["factors"], regularization=params["regularization"], use_cg=True, cg_steps=3,
        iterations=iterations, threads=threads, seed=seed,
    )
    return _peers.factor_model(implicit_model.user_factors, implicit_model.item_factors, train.matrix, train.users,
                               train.items)


def ndcg(model, train, test, threads) -> float:
    return float(fastcf.evaluate(model, train, test, 10, metrics=["ndcg"], n_threads=threads)["ndcg"])


def tune(fit, grid, train, test, validation_split, iterations, threads, seed):
    """(best params, validation NDCG@10, test NDCG@10, seconds of the search)."""
    started = time.perf_counter()
    inner_train, inner_test = validation_split(train)
    scored = [(ndcg(fit(inner_train, p, iterations, threads, seed), inner_train, inner_test, threads), i)
              for i, p in enumerate(grid)]
    best_score, best = max(scored)
    final = fit(train, grid[best], iterations, threads, seed)
    return grid[best], best_score, ndcg(final, train, test, threads), time.perf_counter() - started


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"))
    parser.add_argument("--movielens", help="any MovieLens release fastcf reads (instead of the 100K folds)")
    parser.add_argument("--latest", action="store_true", help="per-user latest 20%% as test and validation")
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fastcf-grid", type=json.loads, default=None, help="JSON dict of lists")
    parser.add_argument("--implicit-grid", type=json.loads, default=None, help="JSON dict of lists")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    if args.movielens:
        data = read_movielens(args.movielens)
        splits = {"all": latest_split(data, 0.2) if args.latest else random_split(data, 0.2, args.seed)}
    else:
        folds = read_movielens_folds(args.data)
        splits = {f"u{f}": folds[int(f) - 1] for f in args.folds.split(",")}

    def validation(train):
        return latest_split(train, 0.2) if args.latest else random_split(train, 0.2, args.seed + 1)

    grids = {"fastcf": grid_points(args.fastcf_grid or FASTCF_GRID),
             "implicit": grid_points(args.implicit_grid or IMPLICIT_GRID)}
    if len(grids["fastcf"]) != len(grids["implicit"]):
        print(f"note: grids of different sizes ({len(grids['fastcf'])} vs {len(grids['implicit'])} points)")
    fits = {"fastcf": fit_fastcf}
    if _peers.available("implicit"):
        fits["implicit"] = fit_implicit
    else:
        print(f"implicit is not installed ({_peers.missing('implicit')}): fastcf only")
    print(f"load average {os.getloadavg()[0]:.2f}, {args.threads} threads, {args.iterations} iterations, "
          f"grid sizes {', '.join(f'{name} {len(grids[name])}' for name in fits)}")
    results = {}
    for name, (train, test) in splits.items():
        for library, fit in fits.items():
            params, validation_score, test_score, seconds = tune(
                fit, grids[library], train, test, validation, args.iterations, args.threads, args.seed)
            results.setdefault(library, {})[name] = dict(params=params, validation=validation_score,
                                                          test=test_score, seconds=seconds)
            print(f"{name} {library:>8}: test NDCG@10 {test_score:.4f} (validation {validation_score:.4f}, "
                  f"{seconds:.1f} s) {params}", flush=True)
    for library in fits:
        scores = [r["test"] for r in results[library].values()]
        print(f"{library:>8}: mean test NDCG@10 {statistics.mean(scores):.4f} over {len(scores)} split(s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
