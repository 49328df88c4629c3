"""The ranking-loss kernel: twins take the reference's samples, learning works, bad input is named; the grid
schedule's invariants, the twins on it at 1-4 threads (the same bits), and no racy schedule left."""

import inspect

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.kernels import harmonic_rank_weights, ranking_epoch, ranking_rng_state
from fastcf.kernels.bpr import _numba, reference

FAST = ["numba", "cython"]


def positives(n_users=41, n_items=29, density=0.2, seed=0, index=np.int32):
    matrix = sp.random(n_users, n_items, density=density, format="csr", random_state=seed)
    matrix.sort_indices()
    matrix.indptr, matrix.indices = matrix.indptr.astype(index), matrix.indices.astype(index)
    entry_users = np.repeat(np.arange(n_users, dtype=index), np.diff(matrix.indptr))
    return matrix, entry_users


def feature_matrix(n_rows, n_extra, seed, index=np.int32):
    """Identity plus one or two random extra features per row, with weights other than 1."""
    rng = np.random.default_rng(seed)
    rows = [np.eye(n_rows)]
    extra = np.zeros((n_rows, n_extra))
    extra[np.arange(n_rows), rng.integers(0, n_extra, n_rows)] = 0.5
    extra[np.arange(0, n_rows, 3), rng.integers(0, n_extra, (n_rows + 2) // 3)] += 0.25
    csr = sp.csr_matrix(np.hstack(rows + [extra]))
    csr.indptr, csr.indices = csr.indptr.astype(index), csr.indices.astype(index)
    return csr


def state(n_user_rows, n_item_rows, f=9, dtype=np.float64, seed=2, n_blocks=3):
    rng = np.random.default_rng(seed)
    return dict(
        user_embeddings=(0.1 * rng.standard_normal((n_user_rows, f))).astype(dtype),
        item_embeddings=(0.1 * rng.standard_normal((n_item_rows, f))).astype(dtype),
        item_bias=(0.01 * rng.standard_normal(n_item_rows)).astype(dtype),
        rng_state=ranking_rng_state(5, n_blocks),
    )


def run(matrix, entry_users, start, backend, epochs=2, n_threads=1, **kw):
    current = {k: v.copy() for k, v in start.items()}
    params = dict(learning_rate=0.05, reg_user=0.01, reg_item=0.02, reg_bias=0.01)
    params.update(kw)
    ordered = [ranking_epoch(matrix.indptr, matrix.indices, entry_users, **current, **params,
                             n_threads=n_threads, backend=backend) for _ in range(epochs)]
    return current, ordered


def assert_close(got, expected, dtype):
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for name in ("user_embeddings", "item_embeddings", "item_bias"):
        np.testing.assert_allclose(got[name], expected[name], rtol=tol, atol=tol, err_msg=name)
    assert np.array_equal(got["rng_state"], expected["rng_state"]), "the twins drew other random numbers"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("loss", ["bpr", "warp"])
@pytest.mark.parametrize("backend", FAST)
def test_twins_take_the_reference_steps_at_one_thread(backend, loss, index, dtype):
    matrix, entry_users = positives(index=index)
    start = state(*matrix.shape, dtype=dtype)
    expected, expected_ordered = run(matrix, entry_users, start, "reference", loss=loss)
    got, ordered = run(matrix, entry_users, start, backend, loss=loss)
    assert_close(got, expected, dtype)
    assert ordered == expected_ordered


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["bpr", "warp"])
@pytest.mark.parametrize("backend", FAST)
def test_twins_with_feature_matrices(backend, loss, dtype):
    matrix, entry_users = positives(n_users=23, n_items=19, density=0.3, seed=4)
    users, items = feature_matrix(23, 4, seed=1), feature_matrix(19, 3, seed=2)
    start = state(users.shape[1], items.shape[1], f=7, dtype=dtype)
    kw = dict(loss=loss, user_features=users, item_features=items)
    expected, expected_ordered = run(matrix, entry_users, start, "reference", **kw)
    got, ordered = run(matrix, entry_users, start, backend, **kw)
    assert_close(got, expected, dtype)
    assert ordered == expected_ordered


@pytest.mark.parametrize("backend", ["reference"] + FAST)
def test_identity_fast_path_is_the_general_path_with_identity_features(backend):
    matrix, entry_users = positives()
    start = state(*matrix.shape)
    fast, _ = run(matrix, entry_users, start, backend)
    general, _ = run(matrix, entry_users, start, backend, user_features=sp.identity(matrix.shape[0], format="csr"),
                     item_features=sp.identity(matrix.shape[1], format="csr"))
    assert_close(fast, general, np.float64)


@pytest.mark.parametrize("backend", FAST)
def test_fold_in_leaves_the_item_side_alone_and_no_bias_is_no_bias(backend):
    matrix, entry_users = positives()
    start = state(*matrix.shape, dtype=np.float32)
    for loss in ("bpr", "warp"):
        got, _ = run(matrix, entry_users, start, backend, loss=loss, update_items=False)
        expected, _ = run(matrix, entry_users, start, "reference", loss=loss, update_items=False)
        assert np.array_equal(got["item_embeddings"], start["item_embeddings"])
        assert np.array_equal(got["item_bias"], start["item_bias"])
        assert not np.array_equal(got["user_embeddings"], start["user_embeddings"])
        assert_close(got, expected, np.float32)
    got, _ = run(matrix, entry_users, start, backend, learn_bias=False)
    expected, _ = run(matrix, entry_users, start, "reference", learn_bias=False)
    assert np.array_equal(got["item_bias"], start["item_bias"])
    assert_close(got, expected, np.float32)


@pytest.mark.parametrize("with_features", [False, True])
def test_cython_float32_plain_path_matches_the_reference(with_features):
    from fastcf.kernels.bpr import _cython

    matrix, entry_users = positives()
    kw = {}
    start = state(*matrix.shape, f=13, dtype=np.float32)
    if with_features:
        kw = dict(user_features=feature_matrix(41, 4, seed=1), item_features=feature_matrix(29, 3, seed=2))
        start = state(45, 32, f=13, dtype=np.float32)
    expected, _ = run(matrix, entry_users, start, "reference", **kw)
    previous = _cython._use_simd()
    try:
        _cython._use_simd(False)
        plain, _ = run(matrix, entry_users, start, "cython", **kw)
    finally:
        _cython._use_simd(previous)
    assert_close(plain, expected, np.float32)


def planted(n_users=120, n_items=80, f=3, per_user=12, seed=0):
    """Positives drawn from a planted low-rank preference, and held-out positives for each user."""
    rng = np.random.default_rng(seed)
    affinity = rng.standard_normal((n_users, f)) @ rng.standard_normal((f, n_items))
    top = np.argsort(-affinity, axis=1)[:, : 2 * per_user]
    picks = np.array([rng.permutation(row) for row in top])
    train = sp.csr_matrix((np.ones(n_users * per_user), picks[:, :per_user].ravel(),
                           np.arange(n_users + 1) * per_user), shape=(n_users, n_items))
    train.sort_indices()
    return train, picks[:, per_user:]


def held_out_auc(user_embeddings, item_embeddings, item_bias, train, held_out):
    """Mean over users of the share of (held-out positive, never-seen item) pairs ranked right."""
    scores = user_embeddings @ item_embeddings.T + item_bias
    aucs = []
    for u in range(train.shape[0]):
        negative = np.ones(train.shape[1], dtype=bool)
        negative[train.indices[train.indptr[u]:train.indptr[u + 1]]] = False
        negative[held_out[u]] = False
        aucs.append((scores[u, held_out[u]][:, None] > scores[u, negative][None, :]).mean())
    return float(np.mean(aucs))


@pytest.mark.parametrize("loss", ["bpr", "warp"])
@pytest.mark.parametrize("backend", FAST)
def test_held_out_auc_rises_with_epochs_on_planted_data(backend, loss):
    train, held_out = planted()
    entry_users = np.repeat(np.arange(train.shape[0], dtype=np.int32), np.diff(train.indptr))
    current = state(*train.shape, f=8, dtype=np.float32, n_blocks=4)
    learning_rate, reg = {"bpr": (0.1, 0.005), "warp": (0.01, 0.01)}[loss]
    aucs = [held_out_auc(current["user_embeddings"], current["item_embeddings"], current["item_bias"], train, held_out)]
    for epochs in (1, 2, 6, 16):
        for _ in range(epochs):
            ranking_epoch(train.indptr, train.indices, entry_users, **current, loss=loss, learning_rate=learning_rate,
                          reg_user=reg, reg_item=reg, n_threads=2, backend=backend)
        aucs.append(held_out_auc(current["user_embeddings"], current["item_embeddings"], current["item_bias"],
                                 train, held_out))
    assert aucs[0] < 0.6 and aucs[1] < aucs[2] < aucs[3], aucs
    assert aucs[-1] > 0.85, aucs
    assert aucs[-1] > 0.85, aucs


def test_rng_streams_come_from_seed_sequence_spawn():
    streams = ranking_rng_state(7, 5)
    assert streams.shape == (5, 2) and streams.dtype == np.uint64
    child = np.random.SeedSequence(7).spawn(5)[3]
    assert np.array_equal(streams[3], child.generate_state(2, np.uint64))
    assert len(set(streams.ravel().tolist())) == 10
    assert np.array_equal(ranking_rng_state(7, 5), streams)


def test_splitmix64_matches_its_published_first_outputs():
    from fastcf.kernels.bpr.reference import splitmix64

    # Seed 1234567: the first outputs listed with the generator's public reference code.
    state, out = splitmix64(1234567)
    assert out == 6457827717110365317
    state, out = splitmix64(state)
    assert out == 3203168211198807973


def test_harmonic_rank_weights():
    weights = harmonic_rank_weights(4)
    np.testing.assert_allclose(weights, [0, 1, 1.5, 1.5 + 1 / 3, 1.5 + 1 / 3 + 0.25])


@pytest.mark.parametrize("backend", ["reference"] + FAST)
def test_edge_cases(backend):
    matrix, entry_users = positives()
    start = state(*matrix.shape)
    got, ordered = run(matrix, entry_users, start, backend, n_samples=0, epochs=1)
    assert ordered == [0.0] and all(np.array_equal(got[k], start[k]) for k in start)
    # One user who has every item: no negative exists, so no step and no error.
    full = sp.csr_matrix(np.ones((1, 5)))
    one = state(1, 5)
    got, ordered = run(full, np.zeros(5, np.int32), one, backend, epochs=1)
    assert ordered == [0.0] and np.array_equal(got["user_embeddings"], one["user_embeddings"])
    # More blocks than samples, one item row only.
    single = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0]]))
    tiny = state(2, 2, n_blocks=7)
    got, _ = run(single, np.array([0, 1], np.int32), tiny, backend, epochs=1, loss="warp")
    assert np.isfinite(got["item_embeddings"]).all()


def test_errors_name_the_argument():
    matrix, entry_users = positives()
    start = state(*matrix.shape)
    with pytest.raises(ValueError, match="'loss' must be one of"):
        run(matrix, entry_users, start, "numba", loss="hinge")
    with pytest.raises(TypeError, match="'rng_state' must be a writable"):
        run(matrix, entry_users, dict(start, rng_state=start["rng_state"][:, 0].copy()), "numba")
    with pytest.raises(TypeError, match="'item_bias' must have the factors' dtype"):
        run(matrix, entry_users, dict(start, item_bias=start["item_bias"].astype(np.float32)), "numba")
    with pytest.raises(ValueError, match="'indptr' describes 41 users but there are 40"):
        run(matrix, entry_users, dict(start, user_embeddings=start["user_embeddings"][:40].copy()), "numba")
    unsorted = matrix.copy()
    row = int(np.flatnonzero(np.diff(matrix.indptr) >= 2)[0])
    lo = unsorted.indptr[row]
    unsorted.indices[lo], unsorted.indices[lo + 1] = unsorted.indices[lo + 1], unsorted.indices[lo]
    with pytest.raises(ValueError, match=f"sorted and distinct within each row.*row {row}"):
        run(unsorted, entry_users, start, "numba")
    with pytest.raises(ValueError, match="'entry_users' must lie in"):
        run(matrix, entry_users + 100, start, "numba")
    # In range but not the positive's row: swapped users, and every user shifted by one.
    swapped = entry_users.copy()
    first, last = 0, int(np.flatnonzero(entry_users != entry_users[0])[0])
    swapped[first], swapped[last] = swapped[last], swapped[first]
    with pytest.raises(ValueError, match=fr"'entry_users' must give each positive's row.*position 0 says user "
                                         fr"{entry_users[last]}, but 'indptr' puts it in row {entry_users[0]}"):
        run(matrix, swapped, start, "numba")
    with pytest.raises(ValueError, match="'entry_users' must give each positive's row"):
        run(matrix, (entry_users + 1) % matrix.shape[0], start, "numba")
    with pytest.raises(ValueError, match="'learning_rate'"):
        run(matrix, entry_users, start, "numba", learning_rate=-1.0)
    with pytest.raises(ValueError, match="'user_features indices' must lie in"):
        run(matrix, entry_users, start, "numba", user_features=feature_matrix(41, 3, seed=0))
    with pytest.raises(ValueError, match="'rank_weights' must have n_items \\+ 1 = 30"):
        run(matrix, entry_users, start, "numba", loss="warp", rank_weights=np.ones(5))
    with pytest.raises(ValueError, match="'item_embeddings' must be finite"):
        bad = start["item_embeddings"].copy()
        bad[3, 1] = np.nan
        run(matrix, entry_users, dict(start, item_embeddings=bad), "numba")


# --- the grid schedule ------------------------------------------------------------------------

THREADS = (1, 2, 3, 4)
THREADS = (1, 2, 3, 4)


def grid_of(matrix, entry_users, n_blocks, seed=5, n_samples=None, users=None, items=None):
    streams = ranking_rng_state(seed, n_blocks)
    empty = np.zeros(0, np.int64)
    uf = (empty, empty) if users is None else (users.indptr.astype(np.int64), users.indices.astype(np.int64))
    itf = (empty, empty) if items is None else (items.indptr.astype(np.int64), items.indices.astype(np.int64))
    n_user_rows = matrix.shape[0] if users is None else users.shape[1]
    n_item_rows = matrix.shape[1] if items is None else items.shape[1]
    return reference.grid_schedule(matrix.indptr, matrix.indices, entry_users, matrix.shape[1], streams,
                                   matrix.nnz if n_samples is None else n_samples, *uf, n_user_rows, *itf,
                                   n_item_rows)


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 7])
def test_the_grid_covers_every_pair_once_in_disjoint_cells(n_blocks):
    matrix, entry_users = positives(n_users=53, n_items=31, density=0.25, seed=3)
    grid = grid_of(matrix, entry_users, n_blocks)
    user_block = reference.user_blocks(matrix.indptr, n_blocks)
    assert np.all(np.diff(user_block) >= 0), "user blocks are contiguous ranges"
    block_ptr, block_items = grid["block_ptr"], grid["block_items"]
    sizes = np.diff(block_ptr)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == matrix.shape[1]
    assert np.array_equal(np.sort(block_items), np.arange(matrix.shape[1])), "every item in one block"
    item_block = np.repeat(np.arange(n_blocks), sizes)[np.argsort(block_items)]
    # Every stored pair lies in exactly one cell, the cell of its user's and its item's block.
    cell_ptr = grid["cell_ptr"]
    assert cell_ptr[-1] == matrix.nnz
    pairs = set()
    for cell in range(n_blocks * n_blocks):
        a, b = divmod(cell, n_blocks)
        for k in range(cell_ptr[cell], cell_ptr[cell + 1]):
            u, i = int(grid["pair_users"][k]), int(grid["pair_items"][k])
            assert user_block[u] == a and item_block[i] == b
            pairs.add((u, i))
    assert pairs == set(zip(entry_users.tolist(), matrix.indices.tolist()))
    # With n_samples = nnz a cell samples as many times as it holds pairs.
    assert np.array_equal(grid["cell_samples"], np.diff(cell_ptr))
    # The sub-epochs: each cell once, and no two concurrent cells share a block.
    seen = []
    for s in range(n_blocks):
        cells = [(a, (a + s) % n_blocks) for a in range(n_blocks)]
        assert len({a for a, _ in cells}) == len({b for _, b in cells}) == n_blocks
        seen += cells
    assert sorted(seen) == [(a, b) for a in range(n_blocks) for b in range(n_blocks)]


def test_cell_sample_counts_are_proportional_and_add_up():
    matrix, entry_users = positives(n_users=53, n_items=31, density=0.25, seed=3)
    for n_samples in (0, 1, 17, matrix.nnz * 3 + 5):
        grid = grid_of(matrix, entry_users, 4, n_samples=n_samples)
        counts = grid["cell_samples"]
        assert counts.sum() == n_samples and (counts >= 0).all()
        expected = n_samples * np.diff(grid["cell_ptr"]) / matrix.nnz
        assert np.all(np.abs(counts - expected) < 1 + 1e-9)
        assert not counts[np.diff(grid["cell_ptr"]) == 0].any(), "a cell without pairs samples nothing"


def test_item_blocks_are_redrawn_every_epoch_and_follow_the_seed():
    matrix, entry_users = positives(n_users=53, n_items=31, density=0.25, seed=3)
    streams = ranking_rng_state(5, 4)
    first = reference.item_blocks(streams, 31)[0]
    assert np.array_equal(first, reference.item_blocks(ranking_rng_state(5, 4), 31)[0])
    start = state(*matrix.shape, n_blocks=4)
    after, _ = run(matrix, entry_users, start, "reference", epochs=1)
    assert not np.array_equal(first, reference.item_blocks(after["rng_state"], 31)[0])


def test_shared_feature_rows_are_those_of_two_blocks():
    indptr = np.array([0, 2, 4, 5, 6])  # rows 0, 1 in block 0; rows 2, 3 in block 1
    indices = np.array([0, 2, 1, 2, 3, 2])
    slot, shared = reference.shared_rows(indptr, indices, 5, np.array([0, 0, 1, 1]))
    assert shared.tolist() == [2] and slot.tolist() == [-1, -1, 0, -1, -1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("loss", ["bpr", "warp"])
@pytest.mark.parametrize("n_blocks", [1, 3, 4])
@pytest.mark.parametrize("backend", FAST)
def test_twins_take_the_reference_steps_at_every_thread_count(backend, n_blocks, loss, index, dtype):
    matrix, entry_users = positives(index=index)
    start = state(*matrix.shape, dtype=dtype, n_blocks=n_blocks)
    expected, expected_ordered = run(matrix, entry_users, start, "reference", loss=loss)
    first = None
    for n_threads in THREADS:
        got, ordered = run(matrix, entry_users, start, backend, loss=loss, n_threads=n_threads)
        assert_twin(got, expected, dtype, backend)
        assert ordered == expected_ordered
        first = first or got
        assert_same_bits(got, first)


def assert_twin(got, expected, dtype, backend):
    """Bit for bit where the twin adds in the reference's order (Numba; Cython in float64 or
    without AVX2+FMA); float32 Cython with fused multiply-adds to rounding (a few ulps a step)."""
    from fastcf.kernels.bpr import _cython

    fused = backend == "cython" and dtype == np.float32 and _cython._use_simd()
    for name in ("user_embeddings", "item_embeddings", "item_bias"):
        if fused:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            assert np.array_equal(got[name], expected[name]), name
    assert np.array_equal(got["rng_state"], expected["rng_state"]), "the twins drew other random numbers"


def assert_same_bits(got, expected):
    for name in expected:
        assert np.array_equal(got[name], expected[name]), f"{name} depends on the thread count"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["bpr", "warp"])
@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("backend", FAST)
def test_twins_with_shared_feature_rows(backend, identity, loss, dtype):
    matrix, entry_users = positives(n_users=37, n_items=23, density=0.3, seed=4)
    users, items = feature_matrix(37, 4, seed=1), feature_matrix(23, 3, seed=2)
    if not identity:
        users, items = sp.csr_matrix(users[:, 37:]), sp.csr_matrix(items[:, 23:])
    start = state(users.shape[1], items.shape[1], f=7, dtype=dtype, n_blocks=3)
    kw = dict(loss=loss, user_features=users, item_features=items)
    grid = grid_of(matrix, entry_users, 3, users=users, items=items)
    assert grid["user_shared"].size and grid["item_shared"].size, "the test must share rows between blocks"
    expected, expected_ordered = run(matrix, entry_users, start, "reference", **kw)
    first = None
    for n_threads in THREADS:
        got, ordered = run(matrix, entry_users, start, backend, n_threads=n_threads, **kw)
        assert_twin(got, expected, dtype, backend)
        assert ordered == expected_ordered
        first = first or got
        assert_same_bits(got, first)


@pytest.mark.parametrize("with_features", [False, True])
def test_cython_float32_without_fma_gives_the_reference_bits_at_every_thread_count(with_features):
    from fastcf.kernels.bpr import _cython

    matrix, entry_users = positives()
    kw, start = {}, state(*matrix.shape, f=13, dtype=np.float32, n_blocks=4)
    if with_features:
        kw = dict(user_features=feature_matrix(41, 4, seed=1), item_features=feature_matrix(29, 3, seed=2))
        start = state(45, 32, f=13, dtype=np.float32, n_blocks=4)
    expected, _ = run(matrix, entry_users, start, "reference", **kw)
    previous = _cython._use_simd()
    try:
        _cython._use_simd(False)
        for n_threads in THREADS:
            got, _ = run(matrix, entry_users, start, "cython", n_threads=n_threads, **kw)
            assert_same_bits(got, expected)
    finally:
        _cython._use_simd(previous)


@pytest.mark.parametrize("backend", ["reference"] + FAST)
def test_adversarial_grids(backend):
    # A user without positives, a user whose positives cover its item block, items without
    # pairs, fewer items than blocks, one item: each runs, stays finite and matches the reference.
    dense = np.zeros((9, 5))
    dense[1] = 1  # every item
    dense[2, [0, 3]] = 1
    dense[4, 4] = 1
    dense[7, [1, 2]] = 1
    cases = [sp.csr_matrix(dense), sp.csr_matrix(np.ones((3, 1))), sp.csr_matrix(np.eye(4, 6))]
    for matrix in cases:
        matrix.sort_indices()
        entry_users = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
        for n_blocks in (1, 2, 8):
            start = state(*matrix.shape, n_blocks=n_blocks)
            for loss in ("bpr", "warp"):
                got, ordered = run(matrix, entry_users, start, backend, loss=loss, n_threads=2, epochs=3)
                expected, expected_ordered = run(matrix, entry_users, start, "reference", loss=loss, epochs=3)
                assert all(np.isfinite(got[k]).all() for k in ("user_embeddings", "item_embeddings"))
                assert_twin(got, expected, np.float64, backend)
                assert ordered == expected_ordered
    # One item only: it is everyone's positive, no negative exists, nothing moves.
    only = cases[1]
    start = state(3, 1, n_blocks=2)
    got, ordered = run(only, np.arange(3, dtype=np.int32), start, backend, epochs=1)
    assert ordered == [0.0] and np.array_equal(got["user_embeddings"], start["user_embeddings"])


def test_one_block_is_the_serial_schedule():
    """P = 1: one cell holding every pair in CSR order, all the samples, negatives over all items."""
    matrix, entry_users = positives(n_users=23, n_items=17, seed=4)
    empty = np.zeros(0, np.int32)
    grid = reference.grid_schedule(matrix.indptr, matrix.indices, entry_users, 17, ranking_rng_state(3, 1), 40,
                                   empty, empty, 23, empty, empty, 17)
    assert np.array_equal(grid["pair_users"], entry_users) and np.array_equal(grid["pair_items"], matrix.indices)
    assert grid["cell_ptr"].tolist() == [0, matrix.nnz] and grid["cell_samples"].tolist() == [40]
    assert np.array_equal(grid["block_items"], np.arange(17)) and grid["block_ptr"].tolist() == [0, 17]


def test_twins_have_the_reference_signature_and_no_racy_schedule():
    from fastcf.kernels.bpr import _cython

    def names(function):
        try:
            return list(inspect.signature(function).parameters)
        except ValueError:  # a Cython function without signature metadata
            return None

    expected = names(reference.ranking_epoch)
    assert names(_numba.ranking_epoch) == expected
    assert names(_cython.ranking_epoch) in (expected, None)
    for module in (reference, _numba, _cython):
        assert not hasattr(module, "ranking_epoch_hogwild"), module.__name__
    assert "schedule" not in inspect.signature(ranking_epoch).parameters
    matrix, entry_users = positives()
    with pytest.raises(TypeError, match="schedule"):
        run(matrix, entry_users, state(*matrix.shape), "numba", epochs=1, schedule="hogwild")


def test_the_grid_refuses_more_than_1024_blocks():
    matrix, entry_users = positives()
    with pytest.raises(ValueError, match=r"ranking_epoch: 'rng_state' must be of shape \(P, 2\) with P <= 1024 blocks "
                                         r"for the grid schedule .*; got shape \(1025, 2\)"):
        run(matrix, entry_users, {**state(*matrix.shape), "rng_state": np.ones((1025, 2), np.uint64)}, "numba",
            epochs=1)
    with pytest.raises(ValueError, match=r"ranking_rng_state: 'n_blocks' must be at most 1024 for the grid schedule"):
        ranking_rng_state(0, 1025)


@pytest.mark.parametrize("loss", ["bpr", "warp"])
def test_grid_learns_as_well_as_the_serial_schedule_on_planted_data(loss):
    train, held_out = planted()
    entry_users = np.repeat(np.arange(train.shape[0], dtype=np.int32), np.diff(train.indptr))
    learning_rate, reg = {"bpr": (0.1, 0.005), "warp": (0.01, 0.01)}[loss]
    aucs = {}
    for name, n_blocks in (("grid", 12), ("serial", 1)):
        current = state(*train.shape, f=8, dtype=np.float32, n_blocks=n_blocks)
        for _ in range(25):
            ranking_epoch(train.indptr, train.indices, entry_users, **current, loss=loss, learning_rate=learning_rate,
                          reg_user=reg, reg_item=reg, n_threads=2, backend="cython")
        aucs[name] = held_out_auc(current["user_embeddings"], current["item_embeddings"], current["item_bias"],
                                  train, held_out)
    assert aucs["grid"] > aucs["serial"] - 0.02, aucs
    assert aucs["grid"] > 0.85, aucs


@pytest.mark.parametrize("with_features", [False, True])
def test_cython_grid_at_more_threads_than_cores(with_features):
    """ranking_epoch caps threads at the usable cores (two on small machines); the twin itself
    is called here with 3 and 4 OpenMP threads, so more threads than cells' worth really run."""
    from fastcf.kernels.bpr import LOSSES, _cython, _feature_csr

    matrix, entry_users = positives(n_users=61, n_items=37, density=0.3, seed=8)
    users = feature_matrix(61, 4, seed=1) if with_features else None
    items = feature_matrix(37, 3, seed=2) if with_features else None
    start = state(61 + 4 if with_features else 61, 37 + 3 if with_features else 37, f=11, dtype=np.float32,
                  n_blocks=5)
    uf = _feature_csr(users, "user_features", start["user_embeddings"].shape[0], np.float32, "test")
    itf = _feature_csr(items, "item_features", start["item_embeddings"].shape[0], np.float32, "test")
    uf = tuple(a.astype(np.int32) if a.dtype.kind == "i" else a for a in uf)
    itf = tuple(a.astype(np.int32) if a.dtype.kind == "i" else a for a in itf)
    results = []
    for n_threads in (1, 3, 4):
        current = {k: v.copy() for k, v in start.items()}
        for _ in range(2):
            grid = reference.grid_schedule(matrix.indptr, matrix.indices, entry_users, 37, current["rng_state"],
                                           matrix.nnz, uf[0], uf[1], current["user_embeddings"].shape[0], itf[0],
                                           itf[1], current["item_embeddings"].shape[0])
            _cython.ranking_epoch(
                matrix.indptr, matrix.indices, grid["pair_users"], grid["pair_items"], grid["cell_ptr"],
                grid["cell_samples"], grid["block_items"], grid["block_ptr"], *uf, grid["user_slot"],
                grid["user_shared"], *itf, grid["item_slot"], grid["item_shared"], current["user_embeddings"],
                current["item_embeddings"], current["item_bias"], current["rng_state"],
                np.linspace(0, 1, 38), LOSSES["warp"], 10, 0.05, 0.01, 0.01, 0.01, True, True, n_threads)
        results.append(current)
    for other in results[1:]:
        assert_same_bits(other, results[0])
