"""Bounded memory (issue 11, list 5): recommend and evaluate for every user of a 50,000-user x
20,000-item factor model, measured by tracemalloc's peak, stay far below n_users x n_items.

tracemalloc sees every NumPy allocation: outputs, copies, exclusion CSRs and the kernels'
per-thread scratch (allocated through NumPy by every twin), which is a constant per thread,
independent of the number of users. The dense users x items float32 matrix these calls never
build would be n_users * n_items * 4 bytes = 4 GB.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.evaluation import evaluate
from fastcf.kernels.metrics import DEFAULT_BLOCK_SIZE
from fastcf.kernels.topk._numba import _SCRATCH_BYTES as TOPK_SCRATCH_PER_THREAD
from fastcf.models import ImplicitALS

N_USERS, N_ITEMS, FACTORS, K, PER_USER, THREADS = 50_000, 20_000, 8, 10, 5, 2
MiB = 1 << 20


@pytest.fixture(scope="module")
def big_model():
    """A fitted-looking ImplicitALS of the stated size (factors drawn, not fitted: the memory of
    serving does not depend on how the factors were found)."""
    rng = np.random.default_rng(5)
    model = ImplicitALS(factors=FACTORS, n_threads=THREADS)
    model.user_factors_ = rng.standard_normal((N_USERS, FACTORS), dtype=np.float32)
    model.item_factors_ = rng.standard_normal((N_ITEMS, FACTORS), dtype=np.float32)
    model.seen_ = _random_csr(rng, PER_USER)
    model.users_ = model.items_ = None
    return model


def _random_csr(rng, per_user):
    indices = rng.integers(0, N_ITEMS, N_USERS * per_user).astype(np.int32)
    indptr = np.arange(0, N_USERS * per_user + 1, per_user, dtype=np.int32)
    matrix = sp.csr_matrix((np.ones(indices.size, np.float32), indices, indptr), shape=(N_USERS, N_ITEMS))
    matrix.sum_duplicates()
    return matrix


def _peak(call):
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _csr_bytes(matrix):
    return matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes


def test_recommend_for_all_users_stays_within_the_bound(big_model):
    users = np.arange(N_USERS)
    (ids, scores), peak = _peak(lambda: big_model.recommend(users, K))
    assert ids.shape == (N_USERS, K)
    # The bound: the outputs (int64 ids, float32 scores) and one int64 temporary of their shape,
    # the user index and the gathered user factors, the exclusion CSR copied once (int64), the
    # top-k kernel's scratch (a block of scores per thread), and 16 MiB to spare.
    outputs = N_USERS * K * (8 + 4 + 8)
    inputs = N_USERS * 8 + big_model.user_factors_.nbytes
    exclusions = 2 * (big_model.seen_.indices.size + N_USERS + 1) * 8
    scratch = THREADS * TOPK_SCRATCH_PER_THREAD
    bound = outputs + inputs + exclusions + scratch + 16 * MiB
    print(f"peak {peak / MiB:.1f} MiB, bound {bound / MiB:.1f} MiB")
    assert peak <= bound, f"peak {peak / MiB:.1f} MiB > bound {bound / MiB:.1f} MiB"
    assert bound < N_USERS * N_ITEMS * 4 / 30  # the dense score matrix would be 30x more


def test_evaluate_for_all_users_stays_within_the_bound(big_model):
    test = _random_csr(np.random.default_rng(6), 2)
    result, peak = _peak(lambda: evaluate(big_model, big_model.seen_, test, K, n_threads=THREADS))
    assert result is not None
    # The bound: per-user metric rows and top-k lists (float64, int64), the train and test CSRs
    # copied a few times while being checked and indexed (int64), the factors once more, the
    # metrics kernel's scratch (a block of users x N_ITEMS scores per thread), 16 MiB to spare.
    per_user = N_USERS * (12 * 8 + K * 8)
    csrs = 4 * (_csr_bytes(big_model.seen_) + _csr_bytes(test)) * 2
    factors = big_model.user_factors_.nbytes + big_model.item_factors_.nbytes
    scratch = THREADS * DEFAULT_BLOCK_SIZE * N_ITEMS * 8
    bound = per_user + csrs + factors + scratch + 16 * MiB
    print(f"peak {peak / MiB:.1f} MiB, bound {bound / MiB:.1f} MiB")
    assert peak <= bound, f"peak {peak / MiB:.1f} MiB > bound {bound / MiB:.1f} MiB"
    assert bound < N_USERS * N_ITEMS * 4 / 20
