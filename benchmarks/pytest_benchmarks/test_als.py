"""One implicit-ALS half-step, one explicit-ALS half-step and recommend-all, reference / numba / cython in one group each.

    pytest benchmarks/pytest_benchmarks/test_als.py --benchmark-only

Data: the synthetic MovieLens-100K-shaped preset (the NumPy reference finishes there), 64
factors, confidence 1 + 2 * rating, 2 threads. The peer comparison is scripts/bench_als.py.
"""

import numpy as np
import pytest

from fastcf.data import synthetic
from fastcf.kernels import als_explicit_half_step, als_half_step, select_topk_dot

THREADS, FACTORS = 2, 64


@pytest.fixture(scope="module")
def problem():
    data = synthetic("ml100k")
    confidence = data.matrix.astype(np.float32)
    confidence.data = 1 + 2 * confidence.data
    rng = np.random.default_rng(0)
    items = (0.1 * rng.standard_normal((data.n_items, FACTORS))).astype(np.float32)
    users = (0.1 * rng.standard_normal((data.n_users, FACTORS))).astype(np.float32)
    return confidence, users, items


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_als_user_half_step(benchmark, problem, backend, solver):
    confidence, users, items = problem
    benchmark.group = f"als_half_step users, ml100k shape, {FACTORS} factors, {solver}, {THREADS} threads"
    factors = users.copy()

    def run():
        return als_half_step(confidence.indptr, confidence.indices, confidence.data, items, factors,
                             regularization=0.01, cg_steps=3 if solver == "cg" else 0,
                             n_threads=THREADS, backend=backend)

    run()  # compile the Numba twin before timing
    out = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_recommend_all_fused(benchmark, problem, backend):
    confidence, users, items = problem
    benchmark.group = f"select_topk_dot recommend-all k=10, ml100k shape, {THREADS} threads"

    def run():
        return select_topk_dot(users, items, 10, exclude_indptr=confidence.indptr,
                               exclude_indices=confidence.indices, n_threads=THREADS, backend=backend)

    run()
    top, _ = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert top.shape == (users.shape[0], 10)


@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_als_explicit_user_half_step(benchmark, problem, backend):
    confidence, users, items = problem  # confidence 1 + 2 r: the ratings back are (c − 1) / 2
    ratings = (confidence.data - 1) / 2
    item_bias = np.zeros(items.shape[0], dtype=np.float32)
    benchmark.group = f"als_explicit_half_step users, ml100k shape, {FACTORS} factors, {THREADS} threads"
    factors, bias = users.copy(), np.zeros(users.shape[0], dtype=np.float32)

    def run():
        return als_explicit_half_step(confidence.indptr, confidence.indices, ratings, items, item_bias, factors, bias,
                                      global_mean=float(ratings.mean()), reg_factors=0.1, reg_bias=0.1,
                                      n_threads=THREADS, backend=backend)

    run()
    out, _ = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert np.isfinite(out).all()
