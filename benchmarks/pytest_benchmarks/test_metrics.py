"""The ranking-metrics kernel, reference / numba / cython in one pytest-benchmark group, and
fastcf.evaluate against implicit's ranking_metrics_at_k on the same factors.

    pytest benchmarks/pytest_benchmarks/test_metrics.py --benchmark-only
"""

import numpy as np
import pytest

from fastcf.data import random_split, synthetic
from fastcf.evaluation import evaluate
from fastcf.kernels import factor_ranking_metrics
from fastcf.models import ImplicitALS

N_USERS, K, F, THREADS = 1_000, 10, 64, 2
METRICS = ["precision", "recall", "ndcg", "map"]


@pytest.fixture(scope="module")
def split():
    return random_split(synthetic("ml1m"), 0.2, seed=0)


@pytest.fixture(scope="module")
def factors(split):
    train, _ = split
    rng = np.random.default_rng(0)
    U = (0.1 * rng.standard_normal((train.n_users, F))).astype(np.float32)
    V = (0.1 * rng.standard_normal((train.n_items, F))).astype(np.float32)
    return U, V


@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_factor_ranking_metrics(benchmark, split, factors, backend):
    train, test = split
    U, V = factors
    users = np.flatnonzero(np.diff(test.matrix.indptr))[:N_USERS]
    benchmark.group = f"factor_ranking_metrics {users.size} users x {train.n_items} items, f={F}, k={K}, {THREADS} threads"

    def run():
        return factor_ranking_metrics(U, V, users, train.matrix.indptr, train.matrix.indices, test.matrix.indptr,
                                      test.matrix.indices, K, auc=True, n_threads=THREADS, backend=backend)

    expected = factor_ranking_metrics(U, V, users, train.matrix.indptr, train.matrix.indices, test.matrix.indptr,
                                      test.matrix.indices, K, auc=True, backend="reference")
    got = benchmark.pedantic(run, rounds=3 if backend == "reference" else 7, warmup_rounds=1)
    np.testing.assert_array_equal(got[0], expected[0])


@pytest.fixture(scope="module")
def model(split, factors):
    train, _ = split
    model = ImplicitALS(factors=F)
    model.user_factors_, model.item_factors_ = factors
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    return model


@pytest.mark.parametrize("library", ["fastcf", "implicit"])
def test_evaluate_all_users_against_implicit(benchmark, split, model, library):
    train, test = split
    benchmark.group = f"precision/recall/NDCG/MAP@{K}, all users of ml1m (synthetic), f={F}, {THREADS} threads"
    if library == "fastcf":
        def run():
            return evaluate(model, train, test, K, metrics=METRICS, n_threads=THREADS, backend="cython")
    else:
        pytest.importorskip("implicit", reason="implicit is not installed")
        import threadpoolctl
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.evaluation import ranking_metrics_at_k

        peer = AlternatingLeastSquares(factors=F, num_threads=THREADS)
        peer.user_factors, peer.item_factors = model.user_factors_, model.item_factors_
        train32, test32 = train.matrix.astype(np.float32), test.matrix.astype(np.float32)

        def run():
            with threadpoolctl.threadpool_limits(1, "blas"):
                return ranking_metrics_at_k(peer, train32, test32, K=K, show_progress=False, num_threads=THREADS)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
