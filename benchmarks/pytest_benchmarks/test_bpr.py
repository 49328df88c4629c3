"""One ranking-loss epoch (BPR, WARP, with features), reference / numba / cython in one group each.

    pytest benchmarks/pytest_benchmarks/test_bpr.py --benchmark-only

Data: the synthetic MovieLens-100K-shaped preset, 64 factors, 2 threads; 5,000 sampled
triples per call (the plain-Python reference takes a few seconds there). The peer comparison
(implicit, LightFM) is scripts/bench_bpr.py.
"""

import numpy as np
import pytest

from fastcf.data import item_features, synthetic, user_features
from fastcf.data.interactions import entry_rows
from fastcf.kernels import ranking_epoch, ranking_rng_state

THREADS, FACTORS, SAMPLES = 2, 64, 5_000


@pytest.fixture(scope="module")
def problem():
    data = synthetic("ml100k")
    matrix = data.matrix
    return data, matrix, entry_rows(matrix).astype(matrix.indices.dtype)


@pytest.mark.parametrize("case", ["bpr", "warp", "bpr-features"])
@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_ranking_epoch(benchmark, problem, backend, case):
    data, matrix, entry_users = problem
    loss = case.split("-")[0]
    kw = {}
    n_user_rows, n_item_rows = matrix.shape
    if case.endswith("features"):
        import scipy.sparse as sp

        users = sp.hstack([sp.identity(matrix.shape[0], format="csr"), user_features(data)[0]], format="csr")
        items = sp.hstack([sp.identity(matrix.shape[1], format="csr"), item_features(data)[0]], format="csr")
        kw = dict(user_features=users, item_features=items)
        n_user_rows, n_item_rows = users.shape[1], items.shape[1]
    benchmark.group = f"ranking_epoch {case}, ml100k shape, {SAMPLES} samples, {FACTORS} factors, {THREADS} threads"
    rng = np.random.default_rng(0)
    U = (0.1 * rng.standard_normal((n_user_rows, FACTORS))).astype(np.float32)
    V = (0.1 * rng.standard_normal((n_item_rows, FACTORS))).astype(np.float32)
    bias = np.zeros(n_item_rows, np.float32)
    streams = ranking_rng_state(0, 12)  # the models' default n_blocks

    def run():
        return ranking_epoch(matrix.indptr, matrix.indices, entry_users, U, V, bias, streams, loss=loss,
                             n_samples=SAMPLES, learning_rate=0.05, reg_user=0.01, reg_item=0.01,
                             n_threads=THREADS, backend=backend, **kw)

    run()  # compile the Numba twin before timing
    ordered = benchmark.pedantic(run, rounds=3 if backend == "reference" else 10, warmup_rounds=0)
    assert 0 <= ordered <= 1 and np.isfinite(U).all()
