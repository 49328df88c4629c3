"""Strong generalization on MovieLens 20M: EASE, iALS and popularity beside the published figures.

The protocol of Liang, Krishnan, Hoffman & Jebara (2018), "Variational Autoencoders for
Collaborative Filtering" (WWW 2018), which EASE (Steck 2019, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019) and iALS (Rendle, Krichene, Zhang & Koren 2021,
"Revisiting the Performance of iALS on Item Recommendation Benchmarks", RecSys 2022) report on:

1. ratings >= 4 become 1, the others are dropped; users with at least 5 such items are kept
   (``binarize``, ``k_core(data, 5, 1)``);
2. 10,000 validation and 10,000 test users are held out at random; the models train on the
   other users only (``heldout_user_split``);
3. each held-out user's items (those the training users have) are split 80 / 20 into
   fold-in items and targets; the fitted model folds the user in from the fold-in items and
   ranks every other item (``evaluate_heldout``);
4. Recall@20 and Recall@50 with the denominator min(k, number of targets) (fastcf's
   ``calibrated_recall``) and NDCG@100, averaged over the test users.

Hyperparameters are fixed as published; nothing is selected on the test users. ``--tune``
picks EASE's lambda and iALS's regularization on the validation users (small grids) first.

Published (ML-20M test users)      Recall@20  Recall@50  NDCG@100
  EASE, lambda = 500 (Steck 2019)      0.391      0.521     0.420
  iALS (Rendle et al. 2021)            0.395      0.532     0.422
  Mult-VAE (Liang et al. 2018)         0.395      0.537     0.426

iALS follows Rendle et al.'s recipe: d = 2048, lambda = 0.003 with frequency-scaled
regularization (nu = 1: ``regularization_exp``), unobserved weight alpha0 = 0.1, 16 epochs,
the "subspace" solver (``SOLVER`` below). Where this fastcf's ImplicitALS lacks
``regularization_exp`` or that solver, the run says so and goes on without it (plain
regularization; the "cg" solver). Two differences remain: fastcf weighs an observed pair by
c (1 - score)^2 only, where Rendle et al. add alpha0 score^2 to every pair, observed ones
included (here c = 1: ``confidence="raw"`` on the binary data); and fastcf's initial factors
have standard deviation 0.01, Rendle et al.'s 0.1 / sqrt(d). Mult-VAE is not a fastcf model;
its figures are shown for reference.

The full recipe needs a large machine (ML-20M's 136,677 users, d = 2048). ``--factors`` and
``--iterations`` make it fit a small one; ``--synthetic`` runs on a synthetic set of ML-20M's
shape (138,493 users x 26,744 items x 20,000,263 ratings, half stars), ``--scale`` shrinking
it; ``--movielens PATH`` runs the protocol on any release fastcf reads (ML-100K, ML-1M, ...),
holding out 10% of the users for each part.

Usage:
  python scripts/reproduce_ml20m.py [PATH_TO_ML-20M]            (default: ../shared/data/ml-20m)
  python scripts/reproduce_ml20m.py --movielens ../shared/data/ml-1m --factors 128 --iterations 8
  python scripts/reproduce_ml20m.py --synthetic --scale 0.01 --factors 32 --iterations 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import fastcf
from fastcf.data import binarize, heldout_user_split, k_core, read_movielens, synthetic
from fastcf.data.synthetic import PRESETS
from fastcf.evaluation import evaluate_heldout
from fastcf.exceptions import DataError
from fastcf.models import EASE, ImplicitALS, Popularity

#: iALS's solver in Rendle et al.'s recipe; switch it here (or with --solver).
SOLVER = "subspace"
#: Used instead when ImplicitALS has no SOLVER.
FALLBACK_SOLVER = "cg"
#: (Recall@20, Recall@50, NDCG@100) on ML-20M's test users, as published.
PUBLISHED = {
    "EASE": (0.391, 0.521, 0.420),
    "iALS": (0.395, 0.532, 0.422),
    "Mult-VAE": (0.395, 0.537, 0.426),
}
#: Users held out for validation and for test on ML-20M (Liang et al.).
ML20M_HELDOUT = 10_000
CUTOFFS = (20, 50, 100)
METRICS = ("calibrated_recall", "ndcg")
#: The --tune grids (validation users, NDCG@100).
EASE_GRID = (100.0, 200.0, 500.0, 1000.0, 2000.0)
IALS_GRID = (0.001, 0.003, 0.01)
MODELS = ("ease", "ials", "popularity")
HERE = Path(__file__).resolve()


def default_ml20m():
    """../shared/data/ml-20m beside the checkout, or from the working directory, if present."""
    for root in (HERE.parents[2] if len(HERE.parents) > 2 else None, Path.cwd().parent):
        if root is not None and (root / "shared" / "data" / "ml-20m" / "ratings.csv").exists():
            return root / "shared" / "data" / "ml-20m"
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("path", nargs="?", help="the MovieLens 20M folder (ratings.csv); default ../shared/data/ml-20m")
    source.add_argument("--movielens", metavar="PATH",
                        help="any MovieLens release fastcf reads (100K, 1M, 10M, 20M, ...)")
    source.add_argument("--synthetic", action="store_true", help="a synthetic set of ML-20M's shape")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="--synthetic: users, ratings and held-out users times SCALE, items times sqrt(SCALE)")
    parser.add_argument("--heldout", type=float, default=None,
                        help="users held out per part: a count, or a fraction < 1 (default 10,000 on ML-20M, scaled "
                             "with --scale; 0.1 of the users on other releases)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--factors", type=int, default=2048, help="iALS dimension (Rendle et al.: 2048)")
    parser.add_argument("--iterations", type=int, default=16, help="iALS epochs (Rendle et al.: 16)")
    parser.add_argument("--ials-regularization", type=float, default=0.003, help="lambda (Rendle et al.: 0.003)")
    parser.add_argument("--ials-nu", type=float, default=1.0, help="frequency scaling of lambda, regularization_exp")
    parser.add_argument("--ials-alpha0", type=float, default=0.1, help="unobserved weight (Rendle et al.: 0.1)")
    parser.add_argument("--solver", default=SOLVER,
                        help=f"iALS solver (default {SOLVER}; {FALLBACK_SOLVER} where absent)")
    parser.add_argument("--ease-lambda", type=float, default=500.0, help="EASE's lambda (Steck: 500 on ML-20M)")
    parser.add_argument("--tune", action="store_true",
                        help="choose EASE's lambda and iALS's lambda on the validation users")
    parser.add_argument("--seed", type=int, default=98765,
                        help="the split's seed (Liang et al.'s number; not their split)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    args.models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose among {', '.join(MODELS)}")
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must lie in (0, 1]; got {args.scale}")
    return args


# --- data --------------------------------------------------------------------------------------

def load(args):
    """(description, binarised and filtered Interactions, users held out per part, whether it is ML-20M)."""
    if args.synthetic:
        users, items, ratings, _ = PRESETS["ml20m"]
        shape = (max(10, round(users * args.scale)), max(10, round(items * np.sqrt(args.scale))))
        n_ratings = min(max(100, round(ratings * args.scale)), shape[0] * shape[1] // 2)
        raw = synthetic("ml20m", n_users=shape[0], n_items=shape[1], n_ratings=n_ratings, seed=args.seed)
        label = (f"synthetic ML-20M shape x {args.scale:g} ({shape[0]:,} users x {shape[1]:,} items, "
                 f"{n_ratings:,} ratings)")
        heldout = args.heldout if args.heldout is not None else max(1, round(ML20M_HELDOUT * args.scale))
        is_ml20m = False
    else:
        path = args.movielens or args.path or default_ml20m()
        if path is None:
            sys.exit("reproduce_ml20m: MovieLens 20M not found at ../shared/data/ml-20m; give its folder, or use "
                     "--movielens PATH or --synthetic.")
        try:
            raw = read_movielens(path, metadata=False)
        except (OSError, DataError) as error:
            sys.exit(f"reproduce_ml20m: {error}")
        # Known by its shape: the published figures and the 10,000 + 10,000 users are ML-20M's.
        ml20m_users, _, ml20m_ratings, _ = PRESETS["ml20m"]
        is_ml20m = (raw.n_users, raw.nnz) == (ml20m_users, ml20m_ratings)
        label = f"MovieLens at {path} ({raw.n_users:,} users x {raw.n_items:,} items, {raw.nnz:,} ratings)"
        default = ML20M_HELDOUT if is_ml20m else 0.1
        heldout = args.heldout if args.heldout is not None else default
    data = k_core(binarize(raw, 4.0), 5, 1)
    heldout = int(heldout) if heldout >= 1 else float(heldout)
    return label, data, heldout, is_ml20m


# --- models ------------------------------------------------------------------------------------

def ials_options(args):
    """ImplicitALS's parameters for Rendle et al.'s recipe, less what this ImplicitALS lacks (said once)."""
    params = dict(factors=args.factors, iterations=args.iterations, regularization=args.ials_regularization,
                  unobserved_weight=args.ials_alpha0, alpha=1.0, confidence="raw", random_state=0)
    notes = []
    if "regularization_exp" in ImplicitALS._param_names():
        params["regularization_exp"] = args.ials_nu
    else:
        notes.append(f"ImplicitALS has no 'regularization_exp' here (frequency-scaled lambda, nu = {args.ials_nu:g}): "
                     f"plain lambda = {args.ials_regularization:g} is used; the recipe needs that change merged.")
    solver = args.solver
    if not solver_available(solver):
        notes.append(f"ImplicitALS has no solver {solver!r} here: {FALLBACK_SOLVER!r} is used instead.")
        solver = FALLBACK_SOLVER
    params["solver"] = solver
    return params, notes


def solver_available(solver: str) -> bool:
    """Whether ImplicitALS fits with ``solver`` (asked of a tiny fit, not of a private list)."""
    try:
        ImplicitALS(factors=2, iterations=1, solver=solver, random_state=0).fit(sp.csr_matrix(np.eye(3)))
    except (TypeError, ValueError) as error:
        if "solver" in str(error):
            return False
        raise
    return True


def builders(args, ials_params):
    return {
        "popularity": ("Popularity", lambda: Popularity()),
        "ease": ("EASE", lambda: EASE(regularization=args.ease_lambda, n_threads=args.threads)),
        "ials": ("iALS", lambda: ImplicitALS(**ials_params, n_threads=args.threads)),
    }


def tune(args, ials_params, train, validation):
    """EASE's and iALS's lambda by NDCG@100 on the validation users; returns what was chosen."""
    chosen = {}
    grids = {"ease": ("regularization", EASE_GRID, lambda value: EASE(regularization=value, n_threads=args.threads)),
             "ials": ("regularization", IALS_GRID,
                      lambda value: ImplicitALS(**{**ials_params, "regularization": value}, n_threads=args.threads))}
    for key, (param, grid, make) in grids.items():
        if key not in args.models:
            continue
        scores = {}
        for value in grid:
            model = make(value).fit(train)
            scores[value] = evaluate_heldout(model, validation, 100, metrics=("ndcg",), n_threads=args.threads)["ndcg"]
            print(f"  tune {key}: {param} = {value:g}: validation NDCG@100 = {scores[value]:.4f}", flush=True)
        chosen[key] = max(scores, key=lambda value: (scores[value], -grid.index(value)))
        print(f"  tune {key}: {param} = {chosen[key]:g} chosen", flush=True)
    if "ease" in chosen:
        args.ease_lambda = chosen["ease"]
    if "ials" in chosen:
        ials_params["regularization"] = chosen["ials"]
    return chosen


# --- the run -----------------------------------------------------------------------------------

def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        fastcf.set_num_threads(args.threads)
    started = time.perf_counter()
    label, data, heldout, is_ml20m = load(args)
    print(f"data: {label}")
    print(f"binarised (rating >= 4) and users with >= 5 kept: {data.n_users:,} users x {data.n_items:,} items, "
          f"{data.nnz:,} interactions ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    train, validation, test = heldout_user_split(data, heldout, heldout, seed=args.seed)
    print(f"split (seed {args.seed}): {train.n_users:,} training users x {train.n_items:,} items, "
          f"{validation.n_users:,} validation and {test.n_users:,} test users ({time.perf_counter() - started:.1f} s)")
    for note in test.fold_in.report.notes:
        print(f"  test part: {note}")

    ials_params, notes = ials_options(args) if "ials" in args.models else ({}, [])
    for note in notes:
        print(f"note: {note}")
    if args.tune:
        print("tuning on the validation users:")
        tune(args, ials_params, train, validation)
    rows = []
    for key in args.models:
        name, make = builders(args, ials_params)[key]
        model = make()
        started = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = evaluate_heldout(model, test, CUTOFFS, metrics=METRICS, n_threads=args.threads)
        eval_seconds = time.perf_counter() - started
        values = (result[20]["calibrated_recall"], result[50]["calibrated_recall"], result[100]["ndcg"])
        rows.append((name, model, values, fit_seconds, eval_seconds, result[100]["n_users"]))
        print(f"{name}: fit {fit_seconds:.1f} s, fold-in and evaluation of {result[100]['n_users']:,} test users "
              f"{eval_seconds:.1f} s", flush=True)
    print_table(rows, is_ml20m)
    return 0


def print_table(rows, is_ml20m: bool) -> None:
    print()
    print("Test users (strong generalization); Recall@k = calibrated_recall (denominator min(k, |targets|))")
    published_header = "published R@20 / R@50 / N@100" if is_ml20m else "published (ML-20M only)"
    print(f"{'model':<12} {'Recall@20':>9} {'Recall@50':>9} {'NDCG@100':>9}   {published_header:<30} {'fit s':>8} "
          f"{'eval s':>8}")
    for name, model, values, fit_seconds, eval_seconds, _ in rows:
        published = PUBLISHED.get(name)
        shown = " / ".join(f"{v:.3f}" for v in published) if published and is_ml20m else "-"
        print(f"{name:<12} {values[0]:9.4f} {values[1]:9.4f} {values[2]:9.4f}   {shown:<30} {fit_seconds:8.1f} "
              f"{eval_seconds:8.1f}")
    if is_ml20m:
        print(f"{'Mult-VAE':<12} {'':>9} {'':>9} {'':>9}   {' / '.join(f'{v:.3f}' for v in PUBLISHED['Mult-VAE']):<30}"
              f" (not a fastcf model)")
    for name, model, *_ in rows:
        print(f"  {name}: {model!r}")


if __name__ == "__main__":
    sys.exit(main())
