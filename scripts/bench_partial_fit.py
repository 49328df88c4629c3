"""partial_fit against a full refit on MovieLens 100K u1, for every factor model.

Split: u1.base minus 10% of its users (drawn with ``numpy.random.default_rng(seed)``), whose
ratings are then given to ``partial_fit`` (they arrive as new users, with the items they
bring); the refit is a fresh ``fit`` on the whole of u1.base. Both are scored by NDCG@10 on
u1.test (``fastcf.evaluate``, training items excluded) in the updated model's ID space, and
timed: the update alone, against the refit. Each of ``--repeats`` runs (alternating update and
refit) uses another model seed; the medians are printed.

Usage: python scripts/bench_partial_fit.py [--data ../shared/data/ml-100k] [--seed 0]
       [--repeats 3] [--threads 2] [--models ImplicitALS,BPR,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import _peers  # noqa: F401  (puts this checkout first on sys.path when it is built in place)
import fastcf
import fastcf.models
from fastcf.data import compact, read_movielens_folds
from fastcf.data.interactions import entry_rows

MODELS = {
    "ImplicitALS": lambda t, s: fastcf.models.ImplicitALS(factors=64, iterations=15, random_state=s, n_threads=t),
    "BPR": lambda t, s: fastcf.models.BPR(random_state=s, n_threads=t),
    "WARP": lambda t, s: fastcf.models.WARP(random_state=s, n_threads=t),
    "BiasedMF": lambda t, s: fastcf.models.BiasedMF(random_state=s, n_threads=t),
    "SVDpp": lambda t, s: fastcf.models.SVDpp(random_state=s, n_threads=t),
    "ExplicitALS": lambda t, s: fastcf.models.ExplicitALS(random_state=s, n_threads=t),
}


def in_space(data, users, items):
    """``data``'s entries whose user and item the maps know, over those maps."""
    rows = entry_rows(data.matrix)
    known = ((users.to_index(data.users.raw_ids[rows], missing="ignore") >= 0)
             & (items.to_index(data.items.raw_ids[data.matrix.indices], missing="ignore") >= 0))
    return compact(data.select_entries(known)).reindex(users, items)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    train, test = read_movielens_folds(args.data)[0]
    rng = np.random.default_rng(args.seed)
    with_entries = np.flatnonzero(np.diff(train.matrix.indptr) > 0)
    held_out = np.zeros(train.n_users, dtype=bool)
    held_out[rng.choice(with_entries, size=len(with_entries) // 10, replace=False)] = True
    late = held_out[entry_rows(train.matrix)]
    base, update = compact(train.select_entries(~late)), compact(train.select_entries(late))
    print(f"# u1.base {train.nnz} ratings; fit on {base.nnz} ({base.n_users} users), update {update.nnz} "
          f"({update.n_users} users, {update.n_items} items); load {os.getloadavg()[0]:.2f}")
    for name in args.models.split(","):
        make = MODELS[name]
        update_times, refit_times, updated, full = [], [], [], []
        # One model seed per repeat: the NDCG of one seed's refit varies by about 1% at this size.
        for repeat in range(args.repeats):
            model = make(args.threads, repeat).fit(base)
            started = time.perf_counter()
            model.partial_fit(update)
            update_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            refit = make(args.threads, repeat).fit(train)
            refit_times.append(time.perf_counter() - started)
            users, items = model.users_, model.items_
            updated.append(fastcf.evaluate(model, in_space(train, users, items), in_space(test, users, items),
                                           10)["ndcg"])
            full.append(fastcf.evaluate(refit, train, test, 10)["ndcg"])
        updated, full = statistics.median(updated), statistics.median(full)
        row = dict(model=name, ndcg_updated=round(updated, 4), ndcg_refit=round(full, 4),
                   ndcg_ratio=round(updated / full, 4), update_s=round(statistics.median(update_times), 4),
                   refit_s=round(statistics.median(refit_times), 4),
                   speedup=round(statistics.median(refit_times) / statistics.median(update_times), 1),
                   repeats=args.repeats, load=round(os.getloadavg()[0], 2))
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
