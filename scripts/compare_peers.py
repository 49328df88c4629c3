"""fastcf against every installed peer on identical data and tasks: speed, quality, distance to the limit.

    python scripts/compare_peers.py [--preset ml1m [ml10m ...]] [--tasks als-cg,bpr,...] [--repeats 3]
                                    [--threads 2] [--backends cython[,numba]] [--out docs/benchmarks]
                                    [--update-doc docs/benchmarks.md] [--quality-max-ratings 2000000]

Presets: ``ml100k``, ``ml1m``, ``ml10m``, ``ml20m`` (``fastcf.data.synthetic``, the shapes of
the MovieLens releases) and ``ml100k-real`` (MovieLens 100K from ../shared/data/ml-100k, or
``--data-dir``). Every task gets the same arrays for every library.

Tasks (``--tasks``, default all; ``--list`` prints them): one small registered function per
task builds the runners, fastcf's (one per ``--backends`` twin) and each peer's. A runner whose
library or fastcf API is missing is skipped with the reason, so tasks for models merged
later (BPR, WARP, the similarity kernel) run as soon as the API exists.

Timing: one untimed warm-up run of each runner (Numba compiles, pages are touched), then
``--repeats`` rounds in which the runners alternate (A B C A B C ...), with ``--pause`` seconds
of rest before each run so that the previous runner's idle OpenMP/TBB workers do not steal its
time. The table gives the median and the spread, and for each peer the ratio peer median /
fastcf median (> 1: fastcf is faster), pair by pair against fastcf's first backend.

Quality: each library is also fitted to convergence (``--quality-iterations`` /
``--quality-epochs``) on an 80/20 random split of the same data (seed 0) and scored by the same
code, fastcf's: NDCG@10 over all test users (train items excluded) for ranking models, RMSE for
rating models; for similarity, the share of fastcf's top-20 neighbours the peer also lists; for
recommend, the share of top-10 slots equal to fastcf's. Quality fits are skipped above
``--quality-max-ratings`` (they take many iterations of every library).

Distance to the limit, the roofline: the same run measures this machine's fp32 matrix-multiply
rate (NumPy's BLAS, ``--threads`` threads, square sgemm of --gemm-size) and its memory bandwidth
(STREAM's triad on 256 MiB float64 arrays, Numba threads, at 1 and ``--threads`` threads). For
every library on the tasks below, one run's flops F and least bytes moved B (every array read or
written once, each stored entry reading the factor row it multiplies; caches can only lower the
real traffic) give the bound max(F / sgemm rate, B / bandwidth), and the table reports the share
bound / median time and which bound binds. Flop and byte counts (benchmarks/asv_suites/_common.py,
shared with asv's track_ benchmarks; f factors, N ratings, n_u users, n_i items, s CG steps;
symmetric products counted once, as in LAPACK's SYRK):

- ALS Cholesky, one iteration (both half-steps):
  2 N f^2 (confidence-weighted rank-1 updates) + 4 N f (right-hand sides)
  + (n_u + n_i) (f^3 / 3 + 2 f^2) (factorise and solve) + (n_u + n_i) f^2 (the two Gram matrices)
- ALS CG, one iteration: (s + 1) (2 (n_u + n_i) f^2 + 8 N f) (residual and s products with
  the Gram matrix plus the rated rows) + 4 N f + 10 s (n_u + n_i) f + (n_u + n_i) f^2
- recommend top-k for all users: 2 n_u n_i f (the scores; the selection is not counted)
- biased MF SGD epoch: 8 N f flops; N (12 + 16 (f + 1)) bytes (a triple, two rows and biases read and written)
- BPR epoch of N samples: 13 N f flops; N (8 + 24 f) bytes (three rows read and written)
- ALS bytes, one half-step: 8 (n + 1) + 8 N + 4 (n_other f + N f + n f) (+ 4 n f for CG's warm start)
- recommend bytes: 4 (n_u + n_i) f + 4 N + 8 n_u + 12 k n_u

Output (``--out``): ``<preset>.md`` (the tables), ``<preset>.json`` (every timing) and
``<preset>-speedups.png`` (fastcf's speed-up over each peer, per task, log scale, with the goal
of the model issues marked); while a preset runs, ``<preset>.partial.json`` holds the tasks
finished so far (left behind if the run dies). ``--update-doc FILE`` replaces the part of FILE between
``<!-- compare_peers:start -->`` and ``<!-- compare_peers:end -->`` with the machine summary and
the tables of this run.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

import _peers
import fastcf
from fastcf.data import random_split, read_movielens, synthetic

REPO = _peers.REPO
sys.path.insert(0, str(REPO / "benchmarks"))
from asv_suites._common import (  # noqa: E402  (one flop and byte count for all)
    als_iteration_bytes, als_iteration_flops, ranking_epoch_bytes, ranking_epoch_flops, recommend_bytes,
    recommend_flops, roofline_seconds, sgd_epoch_bytes, sgd_epoch_flops, sgemm_gflops, triad_bandwidth,
)
SHARED_ML100K = REPO.parent / "shared" / "data" / "ml-100k"


# --- what is run: runners, tasks, the registry ------------------------------------------------

@dataclass
class Runner:
    """One library on one task. ``run`` does one unit of work; it may return its own seconds."""

    library: str
    run: Callable[[], Optional[float]]
    quality: Optional[Callable[[], float]] = None
    note: str = ""


@dataclass
class Task:
    key: str
    title: str
    unit: str
    quality_name: str
    build: Callable[["Problem"], List[Runner]]
    goals: Dict[str, float]  # peer -> the speed-up over it that a model issue asks for
    goal_presets: Optional[tuple]  # the presets the issue states its goals on (None: every preset)
    goal_source: str = ""
    # (flops, bytes) of one run, the same for every library (benchmarks/asv_suites/_common.py)
    work: Optional[Callable[["Problem"], tuple]] = None

    def goal_for(self, library: str, preset: str) -> Optional[float]:
        if self.goal_presets is not None and preset not in self.goal_presets:
            return None
        return self.goals.get(library)


TASKS: Dict[str, Task] = {}


def task(key, title, unit, quality_name, goals=None, goal_presets=None, goal_source="", work=None):
    """Register ``build(problem) -> [Runner]``; it raises Skip for a runner that cannot run.
    ``work(problem) -> (flops, bytes)`` of one run places every library on the roofline."""

    def register(build):
        TASKS[key] = Task(key, title, unit, quality_name, build, dict(goals or {}),
                          None if goal_presets is None else tuple(goal_presets), goal_source, work)
        return build

    return register


class Skip(Exception):
    """A task or runner that cannot run here; the message says why (shown in the table)."""


@dataclass
class Problem:
    """The data and settings every runner of a preset shares."""

    preset: str
    data: object
    args: argparse.Namespace
    skipped: Dict[str, Dict[str, str]] = field(default_factory=dict)  # task -> library -> reason
    _cache: Dict[str, object] = field(default_factory=dict)

    def cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def split(self):
        return self.cached("split", lambda: random_split(self.data, 0.2, seed=0))

    @property
    def confidence(self):
        """users x items confidences 1 + 2 r in float32 (alpha = 2), as bench_als."""

        def make():
            matrix = self.data.matrix.astype(np.float32)
            matrix.data = 1 + 2 * matrix.data
            return matrix

        return self.cached("confidence", make)

    @property
    def with_quality(self) -> bool:
        return not self.args.no_quality and self.data.nnz <= self.args.quality_max_ratings

    def skip(self, task_key, library, reason):
        self.skipped.setdefault(task_key, {})[library] = reason

    def peer(self, task_key, library, peer_name=None) -> bool:
        """True when the peer imports; else record why it is skipped."""
        reason = _peers.missing(peer_name or library)
        if reason:
            self.skip(task_key, library, f"not installed ({reason})")
        return reason is None

    def random_factors(self, f):
        def make():
            rng = np.random.default_rng(0)
            return ((0.1 * rng.standard_normal((self.data.n_users, f))).astype(np.float32),
                    (0.1 * rng.standard_normal((self.data.n_items, f))).astype(np.float32))

        return self.cached(f"factors{f}", make)


def fastcf_api(task_key, problem, module, name):
    """The fastcf object ``module.name`` if this checkout has it, else record a skip and None."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        problem.skip(task_key, "fastcf", f"{module}.{name} is not in this fastcf yet")
        return None


def accepts(callable_, name) -> bool:
    try:
        return name in inspect.signature(callable_).parameters
    except (TypeError, ValueError):
        return False


def quality_or_none(problem, make):
    return make if problem.with_quality else None


# --- the tasks ----------------------------------------------------------------------------------

def _als_runners(problem, key, solver):
    args = problem.args
    conf = problem.confidence
    steps = 0 if solver == "cholesky" else args.cg_steps
    f = args.factors
    users, items = problem.random_factors(f)
    init_users, init_items = users * 0.1, items * 0.1
    train, test = problem.split

    def train_conf():
        matrix = train.matrix.astype(np.float32)
        matrix.data = 1 + 2 * matrix.data
        return matrix

    runners = []
    for backend in args.backends:
        def fastcf_quality(backend=backend):
            from fastcf.models import ImplicitALS

            model = ImplicitALS(factors=f, regularization=args.regularization, alpha=2.0,
                                iterations=args.quality_iterations, solver=solver, cg_steps=args.cg_steps,
                                n_threads=args.threads, backend=backend, random_state=0).fit(train)
            return _peers.ndcg_at_10(model.user_factors_, model.item_factors_, train, test, args.threads)

        runners.append(Runner(f"fastcf {backend}", _peers.fastcf_als_iteration_runner(
            conf, init_users, init_items, regularization=args.regularization, cg_steps=steps,
            threads=args.threads, backend=backend), quality_or_none(problem, fastcf_quality)))
    if problem.peer(key, "implicit"):
        def implicit_quality():
            model, _ = _peers.implicit_als_fit(train_conf(), factors=f, regularization=args.regularization,
                                               use_cg=solver == "cg", cg_steps=args.cg_steps,
                                               iterations=args.quality_iterations, threads=args.threads)
            return _peers.ndcg_at_10(model.user_factors, model.item_factors, train, test, args.threads)

        run = _peers.implicit_als_runner(conf, factors=f, regularization=args.regularization, cg_steps=steps,
                                         threads=args.threads)[solver]
        runners.append(Runner("implicit", run, quality_or_none(problem, implicit_quality),
                              note="its own iteration time (fit_callback)"))
    if solver == "cholesky" and problem.peer(key, "LensKit"):
        def lenskit_quality():
            users_, items_ = _peers.lenskit_als_fit(train_conf(), factors=f, regularization=args.regularization,
                                                    iterations=args.quality_iterations)
            return _peers.ndcg_at_10(users_, items_, train, test, args.threads)

        runners.append(Runner("LensKit", _peers.lenskit_als_runner(conf, factors=f, regularization=args.regularization),
                              quality_or_none(problem, lenskit_quality), note="ImplicitMFScorer epoch"))
    return runners


def _als_work(steps_of):
    def work(problem):
        conf, f = problem.confidence, problem.args.factors
        steps = steps_of(problem.args)
        return (als_iteration_flops(*conf.shape, conf.nnz, f, steps),
                als_iteration_bytes(*conf.shape, conf.nnz, f, steps))
    return work


def _sgd_work(problem):
    return sgd_epoch_flops(problem.data.nnz, problem.args.sgd_factors), sgd_epoch_bytes(problem.data.nnz,
                                                                                        problem.args.sgd_factors)


def _ranking_work(problem):
    # One epoch samples as many (user, positive) pairs as there are stored entries.
    return ranking_epoch_flops(problem.data.nnz, problem.args.factors), ranking_epoch_bytes(problem.data.nnz,
                                                                                            problem.args.factors)


def _recommend_work(problem):
    data, f = problem.data, problem.args.factors
    return recommend_flops(data.n_users, data.n_items, f), recommend_bytes(data.n_users, data.n_items, f, 10, data.nnz)


@task("als-cholesky", "Implicit ALS, one iteration, Cholesky", "s / iteration", "NDCG@10",
      work=_als_work(lambda args: 0))
def als_cholesky(problem):
    return _als_runners(problem, "als-cholesky", "cholesky")


@task("als-cg", "Implicit ALS, one iteration, CG (3 steps)", "s / iteration", "NDCG@10",
      work=_als_work(lambda args: args.cg_steps))
def als_cg(problem):
    return _als_runners(problem, "als-cg", "cg")


def _rating_arrays(problem):
    """Train triples and test pairs as indices, shared by the rating models' peers."""
    from fastcf.data.interactions import entry_rows

    def make():
        train, test = problem.split
        t = train.matrix
        triples = np.column_stack([entry_rows(t), t.indices, t.data]).astype(np.float32)
        return triples, entry_rows(test.matrix), test.matrix.indices, test.matrix.data

    return problem.cached("rating_arrays", make)


def _rmse_of_fastcf(problem, model):
    train, test = problem.split
    _, test_users, test_items, truth = _rating_arrays(problem)
    model.fit(train)
    predicted = model.predict(train.users.to_raw(test_users), train.items.to_raw(test_items))
    return _peers.rmse(truth, predicted)


def _sgd_runners(problem, key, model_class, svdpp):
    """fastcf's SGD model per backend and Surprise's SVD (or SVDpp), on the same ratings."""
    from fastcf.data.interactions import entry_rows

    args, data = problem.args, problem.data
    f = args.sgd_factors
    runners = []
    for backend in args.backends:
        def epoch(backend=backend):
            return _peers.fastcf_epoch(data, f, args.threads, args.epochs_per_run, backend, model=model_class)[0]

        def quality(backend=backend):
            return _rmse_of_fastcf(problem, model_class(factors=f, epochs=args.quality_epochs, n_threads=args.threads,
                                                        random_state=0, backend=backend))

        runners.append(Runner(f"fastcf {backend}", epoch, quality_or_none(problem, quality),
                              note="median epoch of a fit (callback)"))
    if svdpp and data.nnz > args.surprise_svdpp_max_ratings:
        problem.skip(key, "Surprise", f"SVDpp takes minutes per epoch above {args.surprise_svdpp_max_ratings:,} "
                                      "ratings (--surprise-svdpp-max-ratings)")
    elif problem.peer(key, "Surprise"):
        trainset = _peers.surprise_trainset(entry_rows(data.matrix), data.matrix.indices, data.matrix.data,
                                            _scale(data))

        def surprise_quality():
            triples, test_users, test_items, truth = _rating_arrays(problem)
            train_set = _peers.surprise_trainset(triples[:, 0].astype(np.int64), triples[:, 1].astype(np.int64),
                                                 triples[:, 2], _scale(data))
            algo = _peers.surprise_fit(train_set, f, args.quality_epochs, svdpp=svdpp)
            return _peers.rmse(truth, _peers.surprise_predict(algo, train_set, test_users, test_items))

        runners.append(Runner("Surprise", lambda: _peers.surprise_epoch(trainset, f, svdpp=svdpp),
                              quality_or_none(problem, surprise_quality),
                              note=f"{'SVDpp' if svdpp else 'SVD'}, 1 thread (Surprise has no threads)"))
    return runners


def _scale(data):
    return float(data.matrix.data.min()), float(data.matrix.data.max())


@task("sgd-mf", "Biased MF by SGD, one epoch (100 factors)", "s / epoch", "RMSE",
      goals={"LIBMF": 3.0, "Surprise": 30.0}, goal_source="issue 6: <= 1/3 of LIBMF's, <= 1/30 of Surprise SVD's",
      work=_sgd_work)
def sgd_mf(problem):
    from fastcf.data.interactions import entry_rows
    from fastcf.models import BiasedMF

    args, data = problem.args, problem.data
    runners = _sgd_runners(problem, "sgd-mf", BiasedMF, svdpp=False)
    if problem.peer("sgd-mf", "LIBMF"):
        f = args.sgd_factors
        triples = np.column_stack([entry_rows(data.matrix), data.matrix.indices, data.matrix.data]).astype(np.float32)

        def libmf_quality():
            train_triples, test_users, test_items, truth = _rating_arrays(problem)
            predicted = _peers.libmf_predict(train_triples, test_users, test_items, f, args.threads,
                                             args.quality_epochs)
            return _peers.rmse(truth, np.clip(predicted, *_scale(data)))

        runners.append(Runner("LIBMF", lambda: _peers.libmf_epoch(triples, f, args.threads, args.epochs_per_run),
                              quality_or_none(problem, libmf_quality), note="PyPI binding (no SIMD), L2 = 0.1"))
    return runners


@task("svdpp", "SVD++ by SGD, one epoch (100 factors)", "s / epoch", "RMSE",
      goals={"Surprise": 100.0}, goal_source="issue 6: <= 1/100 of Surprise SVDpp's")
def svdpp(problem):
    from fastcf.models import SVDpp

    return _sgd_runners(problem, "svdpp", SVDpp, svdpp=True)


@task("explicit-als", "Explicit biased ALS, one iteration", "s / iteration", "RMSE")
def explicit_als(problem):
    from fastcf.models import ExplicitALS

    args, data = problem.args, problem.data
    f = args.factors

    def make(callback=None, iterations=args.epochs_per_run):
        return ExplicitALS(factors=f, iterations=iterations, random_state=0, callback=callback)

    def epoch():
        with fastcf.set_num_threads(args.threads):  # ExplicitALS takes the library-wide thread count
            return _peers.callback_epoch_seconds(make, data)[0]

    def quality():
        with fastcf.set_num_threads(args.threads):
            return _rmse_of_fastcf(problem, make(iterations=args.quality_iterations))

    runners = [Runner("fastcf", epoch, quality_or_none(problem, quality), note="median iteration of a fit")]
    if problem.peer("explicit-als", "LensKit"):
        def lenskit_quality():
            train, test = problem.split
            _, test_users, test_items, truth = _rating_arrays(problem)
            predicted = _peers.lenskit_biased_predict(train.matrix, test_users, test_items, factors=f,
                                                      regularization=0.1, iterations=args.quality_iterations)
            return _peers.rmse(truth, np.clip(predicted, *_scale(data)))

        runners.append(Runner("LensKit", _peers.lenskit_biased_runner(data.matrix, factors=f, regularization=0.1),
                              quality_or_none(problem, lenskit_quality), note="BiasedMFScorer epoch"))
    return runners


def _fastcf_ranking_model_runners(problem, key, name, lr, reg, quality_epochs):
    """fastcf's BPR or WARP (when present): median seconds per epoch of one fit, NDCG@10."""
    model_class = fastcf_api(key, problem, "fastcf.models", name)
    if model_class is None:
        return []
    args = problem.args
    train, test = problem.split

    def make(epochs, backend, callback=None):
        params = dict(factors=args.factors, learning_rate=lr, regularization=reg, iterations=epochs, random_state=0,
                      callback=callback)
        for option, value in (("n_threads", args.threads), ("backend", backend)):
            if accepts(model_class, option):
                params[option] = value
        return model_class(**{k: v for k, v in params.items() if accepts(model_class, k)})

    runners = []
    for backend in args.backends:
        def quality(backend=backend):
            from fastcf.evaluation import evaluate

            model = make(quality_epochs, backend).fit(train)
            return float(evaluate(model, train, test, 10, metrics=["ndcg"], n_threads=args.threads)["ndcg"])

        # Timestamps from the per-epoch callback, as for the SGD models: a difference of two fits
        # is swamped by the fit's one-off setup on small data (it came out negative on ML-100K).
        runners.append(Runner(f"fastcf {backend}", lambda backend=backend: _peers.callback_epoch_seconds(
            lambda callback: make(1 + args.epochs_per_run, backend, callback=callback), problem.data)[0],
            quality_or_none(problem, quality), note="median epoch of a fit (callback)"))
    return runners


def _lightfm_runner(problem, loss, lr, reg, quality_epochs):
    args = problem.args
    train, test = problem.split

    def quality():
        users, items = _peers.lightfm_factors(train.matrix, loss=loss, factors=args.factors, learning_rate=lr,
                                              regularization=reg, epochs=quality_epochs, threads=args.threads)
        return _peers.ndcg_at_10(users, items, train, test, args.threads)

    run = _peers.lightfm_epoch_runner(problem.data.matrix, loss=loss, factors=args.factors, learning_rate=lr,
                                      regularization=reg, threads=args.threads)
    return Runner("LightFM", run, quality_or_none(problem, quality), note=f"loss={loss!r}, fit_partial epoch")


@task("bpr", "BPR, one epoch (64 factors)", "s / epoch", "NDCG@10",
      goals={"implicit": 2.0}, goal_presets=("ml10m",),
      goal_source="issue 8: <= 0.5 x implicit's CPU BPR on the 10M shape", work=_ranking_work)
def bpr(problem):
    args = problem.args
    lr, reg = args.bpr_learning_rate, args.bpr_regularization
    runners = _ranking_runners(problem, "bpr", "BPR")
    train, test = problem.split
    if problem.peer("bpr", "implicit"):
        def epoch():
            seconds = _peers.implicit_bpr_fit(problem.data.matrix, factors=args.factors, learning_rate=lr,
                                              regularization=reg, iterations=1 + args.epochs_per_run,
                                              threads=args.threads)[1]
            return float(np.median(seconds))

        def quality():
            model, _ = _peers.implicit_bpr_fit(train.matrix, factors=args.factors, learning_rate=lr,
                                               regularization=reg, iterations=args.quality_epochs,
                                               threads=args.threads)
            return _peers.ndcg_at_10(*_peers.implicit_bpr_factors(model), train, test, args.threads)

        runners.insert(-1 if runners and runners[-1].library == "LightFM" else len(runners),
                       Runner("implicit", epoch, quality_or_none(problem, quality), note="epochs from its callback"))
    return runners


@task("warp", "WARP, one epoch (64 factors)", "s / epoch", "NDCG@10",
      goals={"LightFM": 2.0}, goal_presets=("ml10m",),
      goal_source="issue 8: <= 0.5 x LightFM's on the 10M shape")
def warp(problem):
    return _ranking_runners(problem, "warp", "WARP")


def _ranking_runners(problem, key, name):
    """fastcf's BPR or WARP (when present) and LightFM with the same loss."""
    args = problem.args
    lr, reg = args.bpr_learning_rate, args.bpr_regularization
    runners = _fastcf_ranking_model_runners(problem, key, name, lr, reg, args.quality_epochs)
    if problem.peer(key, "LightFM"):
        runners.append(_lightfm_runner(problem, key, lr, reg, args.quality_epochs))
    return runners


def _overlap(reference, other):
    """Share of the reference's neighbour entries (row, neighbour) that ``other`` lists too."""
    reference, other = reference.tocsr(), other.tocsr()
    ref = set(zip(np.repeat(np.arange(reference.shape[0]), np.diff(reference.indptr)).tolist(),
                  reference.indices.tolist()))
    oth = set(zip(np.repeat(np.arange(other.shape[0]), np.diff(other.indptr)).tolist(), other.indices.tolist()))
    return len(ref & oth) / max(len(ref), 1)


@task("similarity", "Item-item cosine, top-20 neighbours", "s / call", "overlap@20",
      goals={"implicit": 2.0, "sparse_dot_topn": 1.5}, goal_presets=("ml10m", "ml20m"),
      goal_source="issue 7: >= 2x implicit, >= 1.5x sparse_dot_topn on the 10M and 20M shapes")
def similarity(problem):
    import scipy.sparse as sp

    args, k = problem.args, 20
    user_items = problem.data.matrix.astype(np.float32)
    item_users = user_items.T.tocsr()
    results = {}

    def keep(name, matrix):
        results[name] = matrix
        return None

    runners = []
    similarity_topk = fastcf_api("similarity", problem, "fastcf.kernels", "similarity_topk")
    if similarity_topk is not None:
        for backend in args.backends:
            def run(backend=backend):
                indptr, indices, values = similarity_topk(item_users.indptr, item_users.indices, item_users.data,
                                                          item_users.shape[1], k, measure="cosine",
                                                          n_threads=args.threads, backend=backend)
                return keep("fastcf", sp.csr_matrix((values, indices, indptr), shape=(item_users.shape[0],) * 2))

            runners.append(Runner(f"fastcf {backend}", run))
    if problem.peer("similarity", "implicit"):
        runners.append(Runner("implicit", lambda: keep("implicit", _peers.implicit_cosine_neighbours(
            user_items, k, args.threads)), note="CosineRecommender(K=20).fit"))
    if problem.peer("similarity", "sparse_dot_topn"):
        normalised = _peers.row_normalised(item_users)
        runners.append(Runner("sparse_dot_topn", lambda: keep("sparse_dot_topn", _peers.sparse_dot_topn_neighbours(
            normalised, k, args.threads)), note="sp_matmul_topn(A, A.T, top_n=20) on the normalised matrix"))
    for runner in runners:
        name = runner.library.split()[0]
        if name != "fastcf" and "fastcf" in [r.library.split()[0] for r in runners]:
            runner.quality = lambda name=name: _overlap(results["fastcf"], results[name])
    return runners


@task("recommend", "Recommend top-10 for every user (same factors)", "s / call", "same slots", work=_recommend_work)
def recommend(problem):
    args, data = problem.args, problem.data
    f = args.factors
    users, items = problem.random_factors(f)
    model = _peers.factor_model(users, items, data.matrix, data.users, data.items)
    raw_users = data.users.raw_ids
    out = {}

    def fastcf_run(backend):
        model.backend = backend
        ids, _ = model.recommend(raw_users, 10, n_threads=args.threads)
        out["fastcf"] = data.items.to_index(ids.ravel()).reshape(ids.shape)

    runners = [Runner(f"fastcf {backend}", lambda backend=backend: fastcf_run(backend))
               for backend in args.backends]
    if problem.peer("recommend", "implicit"):
        peer = _peers.implicit_recommend_runner(users, items, data.matrix, 10, args.threads)

        def implicit_run():
            out["implicit"] = peer()

        runners.append(Runner("implicit", implicit_run, lambda: float(np.mean(out["fastcf"] == out["implicit"]))))
    return runners


@task("evaluate", "Evaluate precision/recall/NDCG/MAP@10, all test users", "s / call", "NDCG@10 reported")
def evaluate_all(problem):
    from fastcf.evaluation import evaluate

    args = problem.args
    train, test = problem.split
    users, items = problem.random_factors(args.factors)
    model = _peers.factor_model(users, items, train.matrix, train.users, train.items)
    out = {}
    metrics = ["precision", "recall", "ndcg", "map"]

    def fastcf_run(backend):
        out["fastcf"] = evaluate(model, train, test, 10, metrics=metrics, n_threads=args.threads, backend=backend)

    runners = [Runner(f"fastcf {backend}", lambda backend=backend: fastcf_run(backend),
                      lambda: float(out["fastcf"]["ndcg"])) for backend in args.backends]
    if problem.peer("evaluate", "implicit"):
        peer = _peers.implicit_ranking_metrics_runner(users, items, train, test, 10, args.threads)

        def implicit_run():
            out["implicit"] = peer()

        runners.append(Runner("implicit", implicit_run, lambda: float(out["implicit"]["ndcg"]),
                              note="ranking_metrics_at_k (also AUC)"))
    return runners


@task("read", "Read a ratings CSV into CSR + ID maps", "s / file", "entries read")
def read_file(problem):
    args = problem.args
    if problem.preset.endswith("-real"):
        raise Skip("timed on the synthetic presets (a MovieLens-style ratings.csv is written for them)")
    csv = Path(args.workdir) / f"ratings-{problem.preset}.csv"
    if not csv.exists():
        _peers.write_ratings_csv(problem.preset, csv)
    counts, peaks = {}, {}

    def reader(name, script):
        def run():
            seconds, peak, counts[name] = _peers.timed_read(script, csv)
            peaks.setdefault(name, []).append(peak)
            return seconds

        return run

    runners = [Runner("fastcf", reader("fastcf", _peers.READ_FASTCF), lambda: float(counts["fastcf"]),
                      note="fresh process; ID maps, cleaning report"),
               Runner("pandas+scipy", reader("pandas+scipy", _peers.READ_BASELINE),
                      lambda: float(counts["pandas+scipy"]), note="fresh process; read_csv + coo.tocsr")]
    problem.cached("read_peaks", lambda: peaks)
    return runners


@task("select-topk", "select_topk, 2,000 x 26,744 scores, k = 10", "s / call", "",
      goals={"NumPy reference": 5.0}, goal_source="top-k issue: compiled twins >= 5x the reference")
def select_topk_task(problem):
    from fastcf.kernels import select_topk
    from fastcf.testing import topk_problem

    args = problem.args
    scores, indptr, indices = problem.cached("topk", lambda: topk_problem(2_000, 26_744, 150, dtype="float32"))

    def run(backend):
        return lambda: (select_topk(scores, 10, exclude_indptr=indptr, exclude_indices=indices,
                                    n_threads=args.threads, backend=backend), None)[1]

    return ([Runner(f"fastcf {backend}", run(backend)) for backend in args.backends]
            + [Runner("NumPy reference", run("reference"), note="fastcf's reference twin: argpartition + sort")])


# --- timing and reporting -----------------------------------------------------------------------

def time_runners(runners: List[Runner], repeats: int, pause: float) -> Dict[str, List[float]]:
    for runner in runners:  # warm-up: Numba compiles, pages are touched
        runner.run()
    seconds = {runner.library: [] for runner in runners}
    for _ in range(repeats):
        for runner in runners:
            time.sleep(pause)
            start = time.perf_counter()
            reported = runner.run()
            wall = time.perf_counter() - start
            seconds[runner.library].append(wall if reported is None else float(reported))
    return seconds


def run_preset(preset, args, gemm, bandwidth=None):
    data = load_data(preset, args)
    problem = Problem(preset, data, args)
    print(f"\n== {preset}: {data.n_users:,} users x {data.n_items:,} items, {data.nnz:,} ratings", flush=True)
    results = []
    for key in args.tasks:
        spec = TASKS[key]
        started = time.perf_counter()
        try:
            runners = spec.build(problem)
        except Skip as reason:
            problem.skip(key, "(task)", str(reason))
            runners = []
        if not runners:
            print(f"   {key}: nothing to run ({problem.skipped.get(key, {})})", flush=True)
            results.append({"task": key, "rows": [], "repeats": args.repeats, "gemm_gflops": gemm})
            continue
        seconds = time_runners(runners, args.repeats, args.pause)
        work = spec.work(problem) if spec.work is not None else None
        reference = f"fastcf {args.backends[0]}" if f"fastcf {args.backends[0]}" in seconds else "fastcf"
        rows = []
        for runner in runners:
            median = float(np.median(seconds[runner.library]))
            quality = None
            if runner.quality is not None:
                try:
                    quality = runner.quality()
                except Exception as exc:  # a peer's quality fit failing must not lose the timings
                    runner.note = (runner.note + "; " if runner.note else "") + f"quality failed: {exc}"
            fastcf_median = float(np.median(seconds[reference])) if reference in seconds else None
            is_fastcf = runner.library.startswith("fastcf")
            rows.append({
                "library": runner.library, "median": median, "min": min(seconds[runner.library]),
                "max": max(seconds[runner.library]), "seconds": seconds[runner.library],
                "speedup": None if is_fastcf or fastcf_median is None else median / fastcf_median,
                "quality": quality, "note": runner.note,
                **_roofline(work, median, gemm, bandwidth),
            })
        # Each task keeps its own run's repeat count and sgemm rate: --merge mixes runs.
        results.append({"task": key, "rows": rows, "reference": reference, "repeats": args.repeats,
                        "gemm_gflops": gemm, "bandwidth_gbs": bandwidth})
        print(f"   {key}: " + ", ".join(f"{r['library']} {r['median']:.4g} s" for r in rows)
              + f"  ({time.perf_counter() - started:.0f} s)", flush=True)
        # A later task that crashes or is killed must not take the finished ones with it:
        # main() replaces this file by PRESET.json at the end.
        partial_path(args, preset).write_text(
            json.dumps(preset_report(preset, data, results, problem, gemm, bandwidth), indent=1, default=float))
    return preset_report(preset, data, results, problem, gemm, bandwidth)


def _roofline(work, median, gemm, bandwidth) -> dict:
    """A row's place on the roofline: the bound that binds and the share of it reached."""
    if work is None or not bandwidth or not median:
        return {}
    flops, n_bytes = work
    bound, binding = roofline_seconds(flops, n_bytes, gemm, bandwidth)
    return {"work_flops": flops, "work_bytes": n_bytes, "bound": binding, "bound_seconds": bound,
            "roofline_share": bound / median}


def partial_path(args, preset) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{preset}.partial.json"


def preset_report(preset, data, results, problem, gemm, bandwidth=None):
    return {"preset": preset, "shape": [data.n_users, data.n_items, data.nnz], "results": list(results),
            "skipped": dict(problem.skipped), "gemm_gflops": gemm, "bandwidth_gbs": bandwidth,
            "repeats": problem.args.repeats,
            "read_peak_mib": problem._cache.get("read_peaks")}


def load_data(preset, args):
    if preset == "ml100k-real":
        path = Path(args.data_dir) if args.data_dir else SHARED_ML100K
        if not path.exists():
            raise SystemExit(f"--preset ml100k-real: MovieLens 100K not found at {path} (give --data-dir).")
        return read_movielens(path, metadata=False)
    return synthetic(preset)


def machine_summary(args, gemm, bandwidth=None):
    lines = []
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(re.findall(r"^([^:]+):\s+(.*)$", lscpu, flags=re.M))
        flags = fields.get("Flags", "").split()
        simd = ", ".join(x for x in ("avx2", "fma", "avx512f", "avx512_bf16") if x in flags)
        lines.append(f"CPU: {fields.get('Model name', '?')}, {fields.get('CPU(s)', '?')} logical CPUs "
                     f"({fields.get('Core(s) per socket', '?')} cores per socket, {fields.get('Thread(s) per core', '?')} "
                     f"thread(s) per core), L2 {fields.get('L2 cache', '?')}, L3 {fields.get('L3 cache', '?')}, "
                     f"SIMD {simd or 'none listed'}; {fields.get('Hypervisor vendor', 'bare metal')} "
                     f"{'guest' if 'Hypervisor vendor' in fields else ''}".rstrip())
    except OSError:
        lines.append(f"CPU: {platform.processor() or platform.machine()}")
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '')})"
                     for i in threadpool_info() if i.get("user_api") == "blas")
    lines.append(f"Python {platform.python_version()}, NumPy {np.__version__} (BLAS: {blas or '?'}), "
                 f"fastcf {fastcf.__version__} from {Path(fastcf.__file__).parent}")
    lines.append("Peers: " + ", ".join(f"{p} {_peers.version(p)}" for p in _peers.PEER_MODULES))
    lines.append(f"fp32 matrix multiply (NumPy sgemm, {args.gemm_size}^2, {args.threads} threads): "
                 f"{gemm:.1f} GFLOP/s, measured in this run")
    if bandwidth:
        lines.append("Memory bandwidth (STREAM triad, float64, 3 x 256 MiB arrays, Numba threads): " + ", ".join(
            f"{rate:.1f} GB/s at {threads} thread{'s' if threads > 1 else ''}" for threads, rate in bandwidth.items())
            + ", measured in this run")
    if hasattr(os, "getloadavg"):
        # Other work on the machine hurts fastcf's parallel kernels (OpenMP barriers wait for
        # descheduled threads) more than single-threaded peers: the load says how quiet it was.
        lines.append("Load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    return lines


def _fmt_seconds(value):
    return f"{value:.3g}"


def _fmt_quality(value, name):
    if value is None:
        return ""
    if name == "entries read":
        return f"{value:,.0f}"
    return f"{value:.4f}"


def earlier_machine_lines(text):
    """The bullet lines under "Machine and versions:" in a doc's compare_peers section."""
    start = text.find("<!-- compare_peers:start -->")
    block = text[start:].split("Machine and versions:", 1)[1] if start >= 0 and "Machine and versions:" in text[start:] else ""
    lines = []
    for line in block.splitlines():
        if line.startswith("### ") or line.startswith("<!--"):
            break
        if line.startswith("- "):
            lines.append(line)
    return lines


def merge_reports(earlier, now):
    """``now``'s tasks replace ``earlier``'s; every other task of ``earlier`` is kept, in TASKS order."""
    rerun = {result["task"] for result in now["results"]}
    kept = [result for result in earlier["results"] if result["task"] not in rerun and result["task"] in TASKS]
    order = list(TASKS)
    for result in kept:  # reports written before tasks carried their run's settings
        result.setdefault("gemm_gflops", earlier.get("gemm_gflops"))
        result.setdefault("bandwidth_gbs", earlier.get("bandwidth_gbs"))
        if earlier.get("repeats") is not None:
            result.setdefault("repeats", earlier["repeats"])
    merged = dict(now)
    merged["results"] = sorted(kept + now["results"], key=lambda result: order.index(result["task"]))
    merged["skipped"] = {**{k: v for k, v in earlier.get("skipped", {}).items() if k not in rerun},
                         **now.get("skipped", {})}
    if not now.get("read_peak_mib") and earlier.get("read_peak_mib"):
        merged["read_peak_mib"] = earlier["read_peak_mib"]
    return merged


def markdown(report, args) -> str:
    n_users, n_items, nnz = report["shape"]
    repeats = {}  # repeat count -> the titles of the tasks timed with it
    for result in report["results"]:
        repeats.setdefault(result.get("repeats", args.repeats), []).append(TASKS[result["task"]].title)
    common = max(repeats, key=lambda n: len(repeats[n])) if repeats else args.repeats
    others = "".join(f"; median of {n} for {', '.join(titles)}" for n, titles in repeats.items() if n != common)
    out = [f"### {report['preset']}: {n_users:,} users x {n_items:,} items, {nnz:,} ratings", "",
           f"{args.threads} threads, median of {common} alternating runs{others} (after one warm-up run each); "
           f"speed-up = peer median / fastcf ({args.backends[0]}) median, > 1 means fastcf is faster.", "",
           "| task | library | median s | min-max s | fastcf speed-up | goal | quality | note |",
           "|---|---|---:|---|---:|---|---:|---|"]
    behind, limit, gemm_rates, bandwidths = [], [], set(), set()
    for result in report["results"]:
        spec = TASKS[result["task"]]
        libraries = [row["library"] for row in result["rows"]]
        for row in result["rows"]:
            speedup = row["speedup"]
            goal, target = "", spec.goal_for(row["library"], report["preset"])
            if target:
                if speedup is None:
                    goal = f">= {target:g}x; no fastcf runner"
                else:
                    goal = f">= {target:g}x {'met' if speedup >= target else 'NOT met'}"
            quality = _fmt_quality(row["quality"], spec.quality_name)
            if quality:
                quality = f"{spec.quality_name} {quality}"
            out.append(f"| {spec.title} | {row['library']} | {_fmt_seconds(row['median'])} | "
                       f"{_fmt_seconds(row['min'])}-{_fmt_seconds(row['max'])} | "
                       f"{'' if speedup is None else f'{speedup:.2f}x'} | {goal} | {quality} | {row['note']} |")
            if speedup is not None and (speedup < 1 or "NOT" in goal):
                behind.append(f"- {spec.title}: fastcf {'is slower than' if speedup < 1 else 'misses its goal against'} "
                              f"{row['library']} ({speedup:.2f}x{'; goal ' + format(target, 'g') + 'x' if goal else ''}).")
            if row.get("roofline_share") is not None:
                gemm = result.get("gemm_gflops") or report["gemm_gflops"]
                gemm_rates.add(round(gemm, 1))
                bandwidths.add(round(result.get("bandwidth_gbs") or report["bandwidth_gbs"], 1))
                achieved = row["work_flops"] / row["median"] / 1e9
                limit.append(f"| {spec.title} | {row['library']} | {achieved:.1f} | {100 * achieved / gemm:.0f}% | "
                             f"{row['work_bytes'] / row['median'] / 1e9:.1f} | {row['bound']} | "
                             f"{100 * row['roofline_share']:.0f}% |")
        for library, reason in report["skipped"].get(result["task"], {}).items():
            out.append(f"| {spec.title} | {library} | skipped | | | | | {reason} |")
            if library.startswith("fastcf") and libraries:
                behind.append(f"- {spec.title}: not measured for fastcf ({reason}).")
    if limit:
        out += ["", f"Distance to the limit (the roofline): each run's flops and least bytes moved (formulas in "
                    f"docs/benchmarks.md and benchmarks/asv_suites/_common.py) against this machine's fp32 sgemm "
                    f"rate, {' / '.join(f'{g:.1f}' for g in sorted(gemm_rates))} GFLOP/s, and its STREAM triad "
                    f"bandwidth, {' / '.join(f'{b:.1f}' for b in sorted(bandwidths))} GB/s, both measured in the run "
                    f"that timed each task at its thread count. The bound is the larger of flops / sgemm rate and "
                    f"bytes / bandwidth; share = bound / median time.",
                "", "| task | library | GFLOP/s | share of sgemm | GB/s (least bytes) | bound | share of roofline |",
                "|---|---|---:|---:|---:|---|---:|", *limit]
    if report.get("read_peak_mib"):
        out += ["", "Peak resident memory of the read (fresh process, median): " + ", ".join(
            f"{name} {np.median(v):.0f} MiB" for name, v in report["read_peak_mib"].items())]
    out += ["", "Where fastcf is not yet ahead:" if behind else "fastcf is ahead of every peer timed here.", *behind]
    return "\n".join(out) + "\n"


def bar_chart(report, path, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [(f"{TASKS[r['task']].key}\nvs {row['library']}", row["speedup"],
             TASKS[r["task"]].goal_for(row["library"], report["preset"]))
            for r in report["results"] for row in r["rows"] if row["speedup"] is not None]
    if not bars:
        return False
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(bars) + 1.5))
    y = np.arange(len(bars))
    values = [b[1] for b in bars]
    axes.barh(y, values, color=["#2a7" if v >= 1 else "#c44" for v in values])
    for position, (_, value, goal) in zip(y, bars):
        axes.text(value, position, f" {value:.2f}x", va="center", fontsize=8)
        if goal:
            axes.plot([goal, goal], [position - 0.4, position + 0.4], color="black", lw=2)
    axes.axvline(1, color="grey", lw=1)
    axes.set_xscale("log")
    axes.set_yticks(y, [b[0] for b in bars], fontsize=8)
    axes.invert_yaxis()
    n_users, n_items, nnz = report["shape"]
    axes.set_title(f"fastcf speed-up over each peer, {report['preset']} ({nnz:,} ratings), {args.threads} threads\n"
                   "(> 1: fastcf faster; black tick: the model issue's goal)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def update_doc(path: Path, text: str):
    start, end = "<!-- compare_peers:start -->", "<!-- compare_peers:end -->"
    doc = path.read_text()
    if start not in doc or end not in doc:
        raise SystemExit(f"--update-doc: {path} has no {start} ... {end} section to replace.")
    head, rest = doc.split(start, 1)
    path.write_text(head + start + "\n" + text + "\n" + end + rest.split(end, 1)[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--preset", nargs="+", default=["ml1m"],
                        choices=["ml100k", "ml1m", "ml10m", "ml20m", "ml100k-real"])
    parser.add_argument("--data-dir", help="MovieLens 100K folder for ml100k-real (default ../shared/data/ml-100k)")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task keys (default: all)")
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    parser.add_argument("--backends", default="cython", help="fastcf twins to time, comma-separated (first: the ratio)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds of rest before each timed run")
    parser.add_argument("--factors", type=int, default=64, help="ALS, BPR/WARP, recommend, evaluate, explicit ALS")
    parser.add_argument("--sgd-factors", type=int, default=100, help="biased MF and SVD++ (issue 6's setting)")
    parser.add_argument("--regularization", type=float, default=0.01, help="implicit ALS (implicit's default)")
    parser.add_argument("--cg-steps", type=int, default=3)
    parser.add_argument("--bpr-learning-rate", type=float, default=0.05)
    parser.add_argument("--bpr-regularization", type=float, default=0.01)
    parser.add_argument("--epochs-per-run", type=int, default=3, help="epochs per timed SGD/BPR fit (median or difference)")
    parser.add_argument("--quality-iterations", type=int, default=10, help="ALS iterations of the quality fits")
    parser.add_argument("--quality-epochs", type=int, default=20, help="SGD/BPR epochs of the quality fits")
    parser.add_argument("--quality-max-ratings", type=int, default=2_000_000, help="no quality fits above this size")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--surprise-svdpp-max-ratings", type=int, default=150_000)
    parser.add_argument("--gemm-size", type=int, default=2048)
    parser.add_argument("--workdir", default="/tmp/fastcf-bench", help="where the ratings CSVs are written")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks"))
    parser.add_argument("--update-doc", help="replace the compare_peers section of this Markdown file")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other tasks' results from the last run's <out>/<preset>.json and replace "
                             "only the tasks run now (re-running a few tasks after a change)")
    args = parser.parse_args(argv)
    if args.list:
        for spec in TASKS.values():
            print(f"{spec.key:<14} {spec.title} [{spec.unit}; quality: {spec.quality_name or '-'}]"
                  + (f"  goal: {spec.goal_source}" if spec.goals else ""))
        return
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(args.tasks) - set(TASKS))
    if unknown:
        parser.error(f"--tasks: unknown {', '.join(unknown)}; choose from {', '.join(TASKS)}.")
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not set(args.backends) <= {"cython", "numba", "reference"}:
        parser.error(f"--backends: choose from cython, numba, reference; got {args.backends}.")

    gemm = sgemm_gflops(args.threads, args.gemm_size)
    bandwidth = {threads: triad_bandwidth(threads) for threads in sorted({1, args.threads})}
    summary = machine_summary(args, gemm, bandwidth)
    print("\n".join(summary), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections = ["Machine and versions:", "", *[f"- {line}" for line in summary], ""]
    if args.merge and args.update_doc and Path(args.update_doc).exists():
        # The rows kept from earlier runs were measured on the machine those runs describe.
        machine_lines = earlier_machine_lines(Path(args.update_doc).read_text())
        if machine_lines:
            sections = ["Machine and versions:", "", *machine_lines,
                        f"- Re-run of {', '.join(args.tasks)} on {time.strftime('%Y-%m-%d %H:%M')}: "
                        + "; ".join(summary), ""]
    for preset in args.preset:
        report = run_preset(preset, args, gemm, bandwidth[args.threads])
        if args.merge and (out / f"{preset}.json").exists():
            report = merge_reports(json.loads((out / f"{preset}.json").read_text()), report)
        text = markdown(report, args)
        (out / f"{preset}.md").write_text(text)
        (out / f"{preset}.json").write_text(json.dumps(report, indent=1, default=float))
        partial_path(args, preset).unlink(missing_ok=True)
        chart = out / f"{preset}-speedups.png"
        drawn = bar_chart(report, chart, args)
        print(text)
        sections.append(text)
        if drawn:
            relative = chart.relative_to(REPO / "docs") if chart.is_relative_to(REPO / "docs") else chart
            sections += [f"![fastcf speed-ups, {preset}]({relative})", ""]
    if hasattr(os, "getloadavg"):
        sections.append("Load average at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + ".")
    command = ("python scripts/compare_peers.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    produced = f"`{command}` on {time.strftime('%Y-%m-%d %H:%M')}"
    if args.merge and args.update_doc and Path(args.update_doc).exists():
        earlier = re.search(r"Produced by (.*?)\.\n", Path(args.update_doc).read_text())
        if earlier:
            produced = f"{earlier.group(1)}; tasks {', '.join(args.tasks)} re-run by {produced}"
    sections.append(f"Produced by {produced}.")
    if args.update_doc:
        update_doc(Path(args.update_doc), "\n".join(sections))
        print(f"updated {args.update_doc}")


if __name__ == "__main__":
    main()
