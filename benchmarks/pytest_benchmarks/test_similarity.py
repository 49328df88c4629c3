"""Item-item similarity top-20, reference / numba / cython in one pytest-benchmark group per measure.

    pytest benchmarks/pytest_benchmarks/test_similarity.py --benchmark-only

Data: the synthetic MovieLens-100K-shaped preset as items x users (the dense reference still
finishes there), 2 threads. The comparison with implicit and sparse_dot_topn on the 1M, 10M
and 20M shapes is scripts/bench_similarity.py.
"""

import pytest

from fastcf.data import synthetic
from fastcf.kernels import similarity_topk

THREADS, K = 2, 20


@pytest.fixture(scope="module")
def items_users():
    return synthetic("ml100k").matrix.T.tocsr()


@pytest.mark.parametrize("measure", ["cosine", "pearson", "jaccard"])
@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_similarity_topk(benchmark, items_users, measure, backend):
    matrix = items_users
    benchmark.group = f"similarity_topk {measure} ml100k items x users, k={K}, {THREADS} threads"

    def run():
        return similarity_topk(matrix.indptr, matrix.indices, matrix.data, matrix.shape[1], K, measure=measure,
                               n_threads=THREADS, backend=backend)

    run()  # compile the Numba twin before timing
    indptr, indices, values = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert indptr.shape == (matrix.shape[0] + 1,) and (values > 0).all()
