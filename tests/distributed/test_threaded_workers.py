"""fastcf.distributed on threaded workers (processes=False): the single machine's bits.

Every task then runs in a worker thread of this process, beside the main thread that fitted
the single-machine model first; so this is also the test that fastcf's BLAS limit holds in
Python threads other than the main one.
"""

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")

import fastcf.distributed as fd  # noqa: E402
from fastcf.models import ImplicitALS  # noqa: E402

PARAMS = dict(factors=24, iterations=4, regularization=0.1, alpha=2.0, random_state=11)


@pytest.fixture(scope="module")
def threaded_client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def ratings():
    matrix = sp.random(211, 157, density=0.05, random_state=5, format="csr")
    matrix.data = np.ceil(matrix.data * 5)
    return matrix


@pytest.mark.parametrize("solver, n_blocks", [("cg", 3), ("cholesky", 4)])
def test_threaded_workers_give_the_single_machines_bits(threaded_client, ratings, solver, n_blocks):
    single = ImplicitALS(solver=solver, **PARAMS).fit(ratings)  # in the main thread, first
    ours = fd.fit_als(threaded_client, ratings, solver=solver, n_blocks=n_blocks, **PARAMS)
    np.testing.assert_array_equal(ours.user_factors_, single.user_factors_)
    np.testing.assert_array_equal(ours.item_factors_, single.item_factors_)


def test_threaded_workers_leave_the_clients_blas_as_it_was(threaded_client, ratings):
    import threadpoolctl

    def blas_threads():
        return {pool["filepath"]: pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                if pool["user_api"] == "blas"}

    before = blas_threads()
    fd.fit_als(threaded_client, ratings, n_blocks=4, **PARAMS)
    assert blas_threads() == before


def _blas_threads_inside_a_kernel_scope():
    import threadpoolctl

    from fastcf.kernels._threads import kernel_threads

    with kernel_threads(1, "probe"):  # the scope every kernel call and the YᵀY task enter
        return sorted({pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"})


def test_blas_reads_one_inside_kernels_on_threaded_workers(threaded_client, ratings):
    ImplicitALS(**PARAMS).fit(ratings)  # the main thread uses BLAS first, as a user's program would
    futures = [threaded_client.submit(_blas_threads_inside_a_kernel_scope, pure=False) for _ in range(8)]
    assert [future.result() for future in futures] == [[1]] * 8
