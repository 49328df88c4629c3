"""Seconds per ALS epoch and loss, by embedding dimension: iALS++ (subspace), Cholesky, CG, implicit.

    python scripts/bench_ials_dims.py [--scale 1.0] [--dims 64,256,512,1024] [--repeats 3]
                                      [--threads 2] [--block-size 32] [--cg-steps 3]
                                      [--budget 60] [--budget-dims 256,512] [--seed 0]

Data: ``fastcf.data.synthetic("ml20m")`` (138,493 users x 26,744 items, 20M ratings); --scale s
keeps s of the users and ratings and √s of the items (so that a user's history keeps roughly
its length), e.g. --scale 0.01 for a quick check. Confidence 1 + 2 * rating, regularization
0.01 (implicit's default), float32; every solver starts from the same factors.

Part 1, for every d in --dims: --repeats epochs (an epoch = the user half-step, then the item
half-step) of each solver, the solvers in alternation (subspace, cholesky, cg, implicit,
subspace, ...) so that machine noise falls on all alike, each carrying its factors over to its
next epoch as a fit does. Printed: the median seconds per epoch and the loss (the objective
of ``fastcf.kernels.als_loss``, computed outside the timing) after each epoch. fastcf's
solvers are its Cython kernels: ``als_subspace_half_step`` (block_size --block-size, one sweep),
``als_half_step`` exact and with --cg-steps CG steps. implicit (if it imports) is
implicit.cpu.als.AlternatingLeastSquares with its conjugate-gradient default, fitted one
iteration at a time (it keeps its factors between fits) on the same confidences; its time
is the one it reports to its fit_callback.

Part 2, for every d in --budget-dims: subspace and Cholesky each run whole epochs until
--budget seconds have passed; printed: the epochs done and the loss reached ("loss at equal
wall time"). The load average is printed before each part: the figures mean little on a busy
machine.
"""

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp

import _peers
import fastcf
from fastcf.kernels import als_half_step, als_loss, als_subspace_half_step

REGULARIZATION = 0.01
ML20M = (138_493, 26_744, 20_000_263)


def dataset(scale, seed):
    """The user x item CSR of confidences 1 + 2 * rating, float32."""
    from fastcf.data import synthetic

    users, items, ratings = ML20M
    data = synthetic("ml20m", n_users=max(100, int(users * scale)), n_items=max(50, int(items * np.sqrt(scale))),
                     n_ratings=max(1_000, int(ratings * scale)), seed=seed)
    matrix = data.matrix.astype(np.float32)
    matrix.data = 1 + 2 * matrix.data
    return sp.csr_matrix(matrix)


def load_average():
    return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


class FastcfSolver:
    """One fastcf solver's state: its factors, carried from epoch to epoch."""

    def __init__(self, name, user_items, item_users, users, items, threads, block_size, cg_steps):
        self.name, self.user_items, self.item_users = name, user_items, item_users
        self.users, self.items = users.copy(), items.copy()
        self.threads, self.block_size, self.cg_steps = threads, block_size, cg_steps

    def _half_step(self, csr, other, factors):
        arrays = (csr.indptr, csr.indices, csr.data, other, factors)
        if self.name == "subspace":
            als_subspace_half_step(*arrays, regularization=REGULARIZATION, block_size=self.block_size,
                                   n_threads=self.threads, backend="cython")
        else:
            als_half_step(*arrays, regularization=REGULARIZATION, cg_steps=self.cg_steps if self.name == "cg" else 0,
                          n_threads=self.threads, backend="cython")

    def epoch(self):
        """Seconds of one epoch (users, then items)."""
        begin = time.perf_counter()
        self._half_step(self.user_items, self.items, self.users)
        self._half_step(self.item_users, self.users, self.items)
        return time.perf_counter() - begin

    def factors(self):
        return self.users, self.items


class ImplicitSolver:
    """implicit's CPU ALS (conjugate gradient), one iteration per fit, its factors kept between fits."""

    name = "implicit cg"

    def __init__(self, user_items, users, items, threads, cg_steps, seed):
        from implicit.cpu.als import AlternatingLeastSquares

        self.user_items = user_items
        with _peers._single_threaded_blas():  # implicit warns when built beside a threaded BLAS
            self.model = AlternatingLeastSquares(factors=users.shape[1], regularization=REGULARIZATION, alpha=1.0,
                                                 use_cg=True, iterations=1, num_threads=threads,
                                                 calculate_training_loss=False, random_state=seed, dtype=np.float32)
        self.model.cg_steps = cg_steps  # an attribute in implicit 0.7, not a parameter
        self.model.user_factors, self.model.item_factors = users.copy(), items.copy()  # the common start
        self.seconds = []
        self.model.fit_callback = lambda iteration, elapsed, loss: self.seconds.append(elapsed)

    def epoch(self):
        with _peers._single_threaded_blas():
            self.model.fit(self.user_items, show_progress=False)
        return self.seconds[-1]

    def factors(self):
        return self.model.user_factors, self.model.item_factors


def loss(user_items, solver):
    users, items = solver.factors()
    return als_loss(user_items.indptr, user_items.indices, user_items.data, users, items,
                    regularization=REGULARIZATION, backend="cython")


def warm_up(threads, block_size):
    """Load every twin and page in the code once on a tiny problem, outside any timing."""
    rng = np.random.default_rng(0)
    tiny = sp.random(20, 30, density=0.2, format="csr", dtype=np.float32, random_state=0)
    tiny.data = 1 + tiny.data
    other = rng.random((30, 8)).astype(np.float32)
    x = np.zeros((20, 8), dtype=np.float32)
    als_half_step(tiny.indptr, tiny.indices, tiny.data, other, x, regularization=0.1, n_threads=threads,
                  backend="cython")
    als_subspace_half_step(tiny.indptr, tiny.indices, tiny.data, other, x, regularization=0.1,
                           block_size=block_size, n_threads=threads, backend="cython")


def solvers_for(d, args, user_items, item_users, implicit_ok):
    rng = np.random.default_rng(args.seed + d)
    users = (rng.random((user_items.shape[0], d)) * 0.01).astype(np.float32)
    items = (rng.random((user_items.shape[1], d)) * 0.01).astype(np.float32)
    out = [FastcfSolver(name, user_items, item_users, users, items, args.threads, args.block_size, args.cg_steps)
           for name in ("subspace", "cholesky", "cg")]
    if implicit_ok:
        out.append(ImplicitSolver(user_items, users, items, args.threads, args.cg_steps, args.seed))
    return out


def per_epoch(args, user_items, item_users, implicit_ok):
    print(f"\nPart 1: seconds per epoch (median of {args.repeats} alternating epochs) and the loss after each; "
          f"{load_average()}")
    for d in args.dims:
        solvers = solvers_for(d, args, user_items, item_users, implicit_ok)
        seconds = {s.name: [] for s in solvers}
        losses = {s.name: [] for s in solvers}
        for _ in range(args.repeats):
            for solver in solvers:
                time.sleep(args.pause)  # let the previous solver's idle OpenMP workers settle
                seconds[solver.name].append(solver.epoch())
                losses[solver.name].append(loss(user_items, solver))
        print(f"d = {d}:")
        for name in seconds:
            trail = ", ".join(f"{value:.6g}" for value in losses[name])
            print(f"  {name:12s} {np.median(seconds[name]):9.3f} s/epoch   loss after each epoch: {trail}")


def equal_time(args, user_items, item_users):
    print(f"\nPart 2: loss at equal wall time ({args.budget:g} s of whole epochs each); {load_average()}")
    for d in args.budget_dims:
        solvers = solvers_for(d, args, user_items, item_users, implicit_ok=False)[:2]  # subspace, cholesky
        print(f"d = {d}:")
        for solver in solvers:
            spent, epochs = 0.0, 0
            while spent < args.budget:
                spent += solver.epoch()
                epochs += 1
            print(f"  {solver.name:12s} {epochs:4d} epochs in {spent:8.2f} s   loss {loss(user_items, solver):.6g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda text: [int(v) for v in text.split(",") if v.strip()]  # noqa: E731
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 20M shape's users and ratings")
    parser.add_argument("--dims", type=ints, default=[64, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--cg-steps", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per solver in part 2")
    parser.add_argument("--budget-dims", type=ints, default=[256, 512])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds of rest before each timed epoch")
    args = parser.parse_args()

    start = time.perf_counter()
    user_items = dataset(args.scale, args.seed)
    item_users = user_items.T.tocsr()
    print(f"fastcf {fastcf.__version__} ({fastcf.__file__}); data: {user_items.shape[0]:,} users x "
          f"{user_items.shape[1]:,} items, {user_items.nnz:,} ratings, made in {time.perf_counter() - start:.1f} s; "
          f"{args.threads} threads, float32, block_size {args.block_size}, {args.cg_steps} CG steps")
    implicit_ok = _peers.available("implicit")
    print(f"implicit: {_peers.version('implicit')}" + ("" if implicit_ok else f" ({_peers.missing('implicit')})"))
    warm_up(args.threads, args.block_size)
    per_epoch(args, user_items, item_users, implicit_ok)
    equal_time(args, user_items, item_users)


if __name__ == "__main__":
    main()
