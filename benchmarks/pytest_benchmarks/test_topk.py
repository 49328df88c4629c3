"""select_topk, reference / numba / cython in one pytest-benchmark group.

    pytest benchmarks/pytest_benchmarks --benchmark-only

The table's ratios in parentheses are each twin against the fastest; the issue's target is
each compiled twin >= 5x faster than the reference (NumPy partition + sort) at 2 threads.
"""

import pytest

from fastcf.kernels import select_topk
from fastcf.testing import topk_problem

N_ROWS, N_ITEMS, K, N_EXCLUDED, THREADS = 2_000, 26_744, 10, 150, 2


@pytest.fixture(scope="module", params=["float32", "float64"])
def problem(request):
    return topk_problem(N_ROWS, N_ITEMS, N_EXCLUDED, dtype=request.param)


@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_select_topk(benchmark, problem, backend):
    scores, indptr, indices = problem
    benchmark.group = f"select_topk {N_ROWS}x{N_ITEMS} k={K} {scores.dtype}, {THREADS} threads"

    def run():
        return select_topk(
            scores, K, exclude_indptr=indptr, exclude_indices=indices, n_threads=THREADS, backend=backend
        )

    run()  # compile the Numba twin before timing
    items, _ = benchmark.pedantic(run, rounds=7, warmup_rounds=1)
    assert items.shape == (N_ROWS, K) and (items >= 0).all()
