"""Time ``fastcf.evaluate`` of one model class on the 10M shape, from random factors (no fit).

The model's fitted state is set directly (factors, item biases where the class has them,
seen_, ID maps), so that the time is evaluate's alone: the path it takes (the fused
score-and-select kernel for dot-product models, dense score blocks otherwise) is what is
measured. One JSON line: the median and every run's seconds, and the NDCG (so that two
builds timed alternately can be seen to compute the same thing).

Usage: python scripts/time_evaluate_model.py [--model BPR] [--preset ml10m] [--factors 64]
       [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

import fastcf
import fastcf.models
from fastcf.data import random_split, synthetic


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="BPR")
    parser.add_argument("--preset", default="ml10m")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    data = synthetic(args.preset, seed=0)
    train, test = random_split(data, 0.2, seed=0)
    rng = np.random.default_rng(0)
    model = getattr(fastcf.models, args.model)(factors=args.factors, n_threads=args.threads)
    model.user_factors_ = (0.1 * rng.standard_normal((train.n_users, args.factors))).astype(np.float32)
    model.item_factors_ = (0.1 * rng.standard_normal((train.n_items, args.factors))).astype(np.float32)
    model.item_bias_ = (0.1 * rng.standard_normal(train.n_items)).astype(np.float32)
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    seconds, ndcg = [], None
    for _ in range(args.repeats):
        started = time.perf_counter()
        ndcg = fastcf.evaluate(model, train, test, 10, metrics=["ndcg", "precision", "recall"],
                               n_threads=args.threads)["ndcg"]
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"model": args.model, "preset": args.preset, "fastcf": os.path.dirname(fastcf.__file__),
                      "median_s": round(statistics.median(seconds), 3), "runs_s": [round(s, 3) for s in seconds],
                      "ndcg": round(float(ndcg), 6), "load": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
