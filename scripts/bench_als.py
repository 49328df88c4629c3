"""Time one implicit-ALS iteration (user half-step + item half-step) per backend and solver.

    python scripts/bench_als.py [--users 6040] [--items 3706] [--nnz 1000209] [--factors 64]
                                [--threads 2] [--repeats 3] [--cg-steps 3] [--dtype float32]
                                [--backends reference,numba,cython] [--with-reference] [--seed 0]

The data are random but shaped like MovieLens (default: the 1M shape; the 20M shape is
--users 138493 --items 26744 --nnz 20000263): item popularity and user activity follow power
laws, ratings 1..5, confidence 1 + 2 * rating, no duplicate pairs. An iteration solves the
users on the user x item CSR, then the items on its transpose (built once, outside the timing,
as a model would). Backends run in alternation (numba, cython, numba, ...) so that machine
noise falls on all of them alike; the table gives the median of --repeats iterations each,
after one untimed warm-up iteration (Numba compiles there). The NumPy reference is skipped
above 100,000 ratings unless --with-reference is given.

If ``implicit`` is importable, implicit.cpu.als.AlternatingLeastSquares(iterations=1) is fitted
on the same CSR in the same run, alternating with fastcf, and the ratios are printed. implicit
takes the stored values themselves as the confidence c_ui, which is what it is given here, so
both solve the same problem. Its figure is the iteration time implicit reports to its
fit_callback (its two half-steps, as for fastcf); the whole fit, which also transposes the
matrix and initialises the factors, is printed beside it.
"""

import argparse
import time

import numpy as np
import scipy.sparse as sp

import _peers
import fastcf

BACKENDS = ("reference", "numba", "cython")
REGULARIZATION = 0.01  # implicit's default, so that the peer runs with its own setting


def implicit_dataset(n_users, n_items, nnz, seed=0):
    """A user x item CSR of confidences (float32) with power-law popularity and activity.

    Pairs are drawn (user by activity, item by popularity) until ``nnz`` distinct ones exist;
    each user's activity is capped at n_items, so that many distinct pairs exist.
    """
    if nnz > n_users * n_items:
        raise SystemExit(f"--nnz {nnz} exceeds users x items = {n_users * n_items}.")
    rng = np.random.default_rng(seed)
    # Zipf-like weights: the top item holds about 0.3% of the ratings, as in MovieLens.
    popularity = 1.0 / (np.arange(n_items) + 0.02 * n_items) ** 1.1
    activity = rng.pareto(1.5, n_users) + 1.0
    popularity = rng.permutation(popularity / popularity.sum())
    activity /= activity.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < nnz:
        draw = int((nnz - keys.size) * 1.1) + 1000
        users = rng.choice(n_users, draw, p=activity)
        items = rng.choice(n_items, draw, p=popularity)
        keys = np.unique(np.concatenate([keys, users * np.int64(n_items) + items]))
    keys = rng.choice(keys, nnz, replace=False)
    users, items = np.divmod(np.sort(keys), n_items)
    ratings = rng.integers(1, 6, nnz).astype(np.float32)
    matrix = sp.csr_matrix((1 + 2 * ratings, (users, items)), shape=(n_users, n_items))
    matrix.sort_indices()
    return matrix


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["ml100k", "ml1m", "ml10m", "ml20m"],
                        help="use fastcf.data.synthetic(preset) (confidence 1 + 2 * rating) instead of --users/--items/--nnz")
    parser.add_argument("--users", type=int, default=6_040)
    parser.add_argument("--items", type=int, default=3_706)
    parser.add_argument("--nnz", type=int, default=1_000_209)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cg-steps", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backends", default="reference,numba,cython", help="comma-separated fastcf twins to time")
    parser.add_argument("--with-reference", action="store_true", help="time the NumPy reference at any size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds of rest before each timed run")
    args = parser.parse_args()

    start = time.perf_counter()
    if args.preset:
        from fastcf.data import synthetic

        user_items = synthetic(args.preset, seed=args.seed).matrix.astype(np.float32)
        user_items.data = 1 + 2 * user_items.data
        args.users, args.items = user_items.shape
    else:
        user_items = implicit_dataset(args.users, args.items, args.nnz, args.seed)
    item_users = user_items.T.tocsr()
    counts_u, counts_i = np.diff(user_items.indptr), np.diff(item_users.indptr)
    print(
        f"data: {args.users:,} users x {args.items:,} items, {user_items.nnz:,} ratings "
        f"(per user: median {np.median(counts_u):.0f}, max {counts_u.max():,}; per item: median "
        f"{np.median(counts_i):.0f}, max {counts_i.max():,}), generated in {time.perf_counter() - start:.1f} s"
    )
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(args.seed + 1)
    init_users = (rng.random((args.users, args.factors)) * 0.01).astype(dtype)
    init_items = (rng.random((args.items, args.factors)) * 0.01).astype(dtype)

    asked = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(asked) - set(BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {', '.join(unknown)}; choose from {', '.join(BACKENDS)}.")
    backends = [b for b in asked if b != "reference" or args.with_reference or user_items.nnz <= 100_000]
    solvers = {"cholesky": 0, "cg": args.cg_steps}
    user_items_typed = sp.csr_matrix((user_items.data.astype(dtype), user_items.indices, user_items.indptr),
                                     shape=user_items.shape)
    runs = {(f"fastcf {backend}", solver): _peers.fastcf_als_iteration_runner(
                user_items_typed, init_users, init_items, regularization=REGULARIZATION, cg_steps=steps,
                threads=args.threads, backend=backend)
            for backend in backends for solver, steps in solvers.items()}
    peer = None
    if _peers.available("implicit"):
        peer = _peers.implicit_als_runner(user_items, factors=args.factors, regularization=REGULARIZATION,
                                          cg_steps=args.cg_steps, threads=args.threads, seed=args.seed,
                                          dtype=dtype)
        runs.update({("implicit", solver): run for solver, run in peer.items()})
    if _peers.available("LensKit"):
        runs[("lenskit", "cholesky")] = _peers.lenskit_als_runner(user_items, factors=args.factors,
                                                                 regularization=REGULARIZATION)

    for run in runs.values():  # warm-up: Numba compiles, pages are touched
        run()
    seconds = {key: [] for key in runs}
    walls = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, run in runs.items():
            # Idle OpenMP/TBB workers of the previous runner spin for a while before they
            # sleep; on 2 cores they would steal the next runner's time. Let them settle.
            time.sleep(args.pause)
            begin = time.perf_counter()
            reported = run()  # a runner may report its own iteration time (implicit does)
            walls[key].append(time.perf_counter() - begin)
            seconds[key].append(walls[key][-1] if reported is None else reported)

    peer_version = ""
    if peer is not None:
        import implicit

        peer_version = f", implicit {implicit.__version__}"
    print(
        f"one ALS iteration, {args.factors} factors, {args.dtype}, {args.threads} threads, "
        f"cg = {args.cg_steps} CG steps, median of {args.repeats} alternating runs "
        f"(fastcf {fastcf.__version__}{peer_version})"
    )
    medians = {key: float(np.median(values)) for key, values in seconds.items()}
    print(f"{'runner':<18} {'solver':<9} {'median s':>9} {'min s':>8} {'speed-up':>12}  (implicit's median / this one)")
    for (runner, solver), median in medians.items():
        versus = medians.get(("implicit", solver))
        ratio = f"{versus / median:>11.2f}x" if versus and runner != "implicit" else ""
        print(f"{runner:<18} {solver:<9} {median:>9.3f} {min(seconds[(runner, solver)]):>8.3f} {ratio:>12}")
    lenskit_median = medians.get(("lenskit", "cholesky"))
    if lenskit_median:
        for (runner, solver), median in medians.items():
            if runner.startswith("fastcf") and solver == "cholesky":
                print(f"{runner} cholesky vs LensKit ImplicitMFScorer: {lenskit_median / median:.2f}x")
    else:
        print("lenskit is not importable: no LensKit figures (it needs torch; see the README's benchmark notes).")
    if peer is None:
        print("implicit is not importable: no peer figures (pip install implicit==0.7.3 to add them).")
    else:
        for solver in solvers:
            print(
                f"implicit {solver}: whole fit(iterations=1) median {np.median(walls[('implicit', solver)]):.3f} s "
                f"(the iteration above plus transposing the matrix and initialising the factors)"
            )


if __name__ == "__main__":
    main()
