"""Evaluation plots from the command line.

    python -m fastcf.evaluation curves  --data ml100k --factors 16 64 --metric ndcg --out curves.png
    python -m fastcf.evaluation history --data ml100k --factors 64 --iterations 15 --out history.png

``--data`` is a synthetic preset (ml100k, ml1m, ml10m, ml20m) or a MovieLens folder. The
data are split at random (``--test-fraction``, ``--seed``); ImplicitALS models with each
``--factors`` are fitted on the train part and measured on the test part.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence


def _data(name: str):
    from fastcf.data import read_movielens, synthetic
    from fastcf.data.synthetic import PRESETS

    if name in PRESETS:
        return synthetic(name)
    path = Path(name)
    if not path.exists():
        raise SystemExit(f"fastcf.evaluation: --data must be one of {', '.join(PRESETS)} or a MovieLens folder; "
                         f"{name!r} is neither.")
    return read_movielens(path, metadata=False)


def _model(args, factors: int, callback=None):
    from fastcf.models import ImplicitALS

    return ImplicitALS(factors=factors, iterations=args.iterations, regularization=args.regularization,
                       alpha=args.alpha, random_state=args.seed, callback=callback, track_loss=callback is not None)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from fastcf.data import random_split
    from fastcf.evaluation.curves import EvaluationCallback, compare_at_k
    from fastcf.evaluation.plots import plot_history, plot_metric_at_k

    parser = argparse.ArgumentParser(prog="python -m fastcf.evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("plot", choices=["curves", "history"], help="metric@k curves, or loss and metric per iteration")
    parser.add_argument("--data", default="ml100k", help="synthetic preset or MovieLens folder (default ml100k)")
    parser.add_argument("--factors", type=int, nargs="+", default=[64])
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--metric", nargs="+", default=["ndcg"])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50])
    parser.add_argument("-k", type=int, default=10, help="cut-off of the per-iteration metric (history)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)

    train, test = random_split(_data(args.data), args.test_fraction, seed=args.seed)
    if args.plot == "curves":
        models = {f"ImplicitALS f={f}": _model(args, f).fit(train) for f in args.factors}
        curves = compare_at_k(models, train, test, args.ks, args.metric)
        plot_metric_at_k(curves, args.metric, path=args.out, title=f"{args.data}: metric@k")
        for name, frame in curves.items():
            print(f"{name}\n{frame.round(4).to_string()}")
    else:
        if len(args.factors) != 1:
            parser.error("history draws one model: give one --factors value")
        callback = EvaluationCallback(train, test, args.k, args.metric)
        _model(args, args.factors[0], callback).fit(train)
        plot_history(callback, path=args.out, title=f"{args.data}: ImplicitALS f={args.factors[0]}")
        print(callback.to_frame().round(4).to_string())
    print(f"wrote {Path(args.out).with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
