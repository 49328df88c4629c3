"""The similarity kernel (item-item cosine, top-20), reference / numba / cython in one group,
beside implicit's CosineRecommender and sparse_dot_topn on the same matrix where installed.

    pytest benchmarks/pytest_benchmarks/test_similarity.py --benchmark-only

Skipped, with the reason, until fastcf.kernels.similarity_topk is in this fastcf.
Data: MovieLens 100K (or its synthetic shape) items x users, 2 threads.
"""

import numpy as np
import pytest

from asv_suites._common import THREADS, data

K = 20


@pytest.fixture(scope="module")
def user_items():
    return data("ml100k").matrix.astype(np.float32)


def _group(matrix):
    return f"item-item cosine top-{K}, {matrix.shape[1]:,} items x {matrix.shape[0]:,} users, {THREADS} threads"


@pytest.mark.parametrize("backend", ["reference", "numba", "cython"])
def test_similarity_topk(benchmark, user_items, backend):
    kernels = pytest.importorskip("fastcf.kernels")
    if not hasattr(kernels, "similarity_topk"):
        pytest.skip("fastcf.kernels.similarity_topk is not in this fastcf yet")
    item_users = user_items.T.tocsr()
    benchmark.group = _group(user_items)

    def run():
        return kernels.similarity_topk(item_users.indptr, item_users.indices, item_users.data, item_users.shape[1],
                                       K, measure="cosine", n_threads=THREADS, backend=backend)

    run()
    indptr, _, values = benchmark.pedantic(run, rounds=3, warmup_rounds=0)
    assert indptr.shape == (item_users.shape[0] + 1,) and (values > 0).all()


@pytest.mark.parametrize("peer", ["implicit", "sparse_dot_topn"])
def test_similarity_peer(benchmark, user_items, peer):
    pytest.importorskip(peer, reason=f"{peer} is not installed")
    benchmark.group = _group(user_items)
    if peer == "implicit":
        from implicit.nearest_neighbours import CosineRecommender

        def run():
            return CosineRecommender(K=K, num_threads=THREADS).fit(user_items, show_progress=False)
    else:
        from sparse_dot_topn import sp_matmul_topn

        item_users = user_items.T.tocsr()
        norms = np.sqrt(np.asarray(item_users.multiply(item_users).sum(axis=1)).ravel())
        normalised = item_users.multiply(1 / np.maximum(norms, 1e-30)[:, None]).tocsr()

        def run():
            return sp_matmul_topn(normalised, normalised.T.tocsr(), top_n=K, sort=True, n_threads=THREADS)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
