"""The SGD kernel: twins agree with the reference epoch, results do not depend on threads."""

import numpy as np
import pytest

from fastcf.kernels import sgd_epoch, sgd_schedule, svdpp_epoch

BACKENDS = ["reference", "numba", "cython"]


def problem(n_users=37, n_items=23, nnz=300, f=5, dtype=np.float64, seed=0, n_blocks=3, index=np.int64):
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, size=nnz, replace=False)
    users, items = (keys // n_items).astype(index), (keys % n_items).astype(index)
    ratings = rng.integers(1, 6, size=nnz).astype(dtype)
    block_ptr, order = sgd_schedule(users, items, n_users, n_items, n_blocks, seed=seed)
    state = dict(
        user_factors=(0.1 * rng.standard_normal((n_users, f))).astype(dtype),
        item_factors=(0.1 * rng.standard_normal((n_items, f))).astype(dtype),
        user_bias=np.zeros(n_users, dtype), item_bias=np.zeros(n_items, dtype),
    )
    return (block_ptr, users[order], items[order], ratings[order]), state


def run(args, state, backend, n_threads=1, epochs=1, **kw):
    state = {k: v.copy() for k, v in state.items()}
    params = dict(global_mean=3.0, learning_rate=0.01, reg_factors=0.05, reg_bias=0.02)
    params.update(kw)
    losses = [sgd_epoch(*args, **state, **params, n_threads=n_threads, backend=backend) for _ in range(epochs)]
    return state, losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_twins_match_the_reference_epoch(backend, dtype, index):
    args, state = problem(dtype=dtype, index=index, f=11)
    expected, expected_loss = run(args, state, "reference")
    got, loss = run(args, state, backend, n_threads=2)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for name in state:
        np.testing.assert_allclose(got[name], expected[name], rtol=tol, atol=tol, err_msg=name)
    assert loss[0] == pytest.approx(expected_loss[0], rel=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bit_identical_at_one_and_two_threads(backend):
    args, state = problem(n_users=97, n_items=101, nnz=2000, f=16, dtype=np.float32, n_blocks=5)
    epochs = 1 if backend == "reference" else 4
    one, loss_one = run(args, state, backend, n_threads=1, epochs=epochs)
    two, loss_two = run(args, state, backend, n_threads=2, epochs=epochs)
    for name in state:
        assert np.array_equal(one[name], two[name]), name
    assert loss_one == loss_two


@pytest.mark.parametrize("f", [3, 4, 12, 100])
def test_cython_float32_tails_match_the_reference(f):
    # f % 8 of 3, 4 (a 128-bit step), 4 + scalar and 4 (f = 100) after the 8- and 16-wide loops.
    args, state = problem(n_users=50, n_items=40, nnz=600, f=f, dtype=np.float32, n_blocks=3)
    expected, _ = run(args, {k: v.astype(np.float64) for k, v in state.items()}, "reference")
    got, _ = run(args, state, "cython")
    for name in state:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 8])
def test_cython_point_to_point_waits_give_the_bits_of_barriers(n_blocks):
    # The wavefront order (each block waits only for its two predecessors) against one barrier
    # per sub-epoch, at 1, 2 and 3 threads (3 threads and B = 2: a thread without a block).
    from fastcf.kernels.sgd import _cython

    if not _cython.WAVEFRONT_AVAILABLE:
        pytest.skip("this build syncs with barriers only")
    args, state = problem(n_users=97, n_items=101, nnz=3000, f=20, dtype=np.float32, n_blocks=n_blocks)
    previous = _cython._use_wavefront()
    try:
        _cython._use_wavefront(False)
        expected, expected_loss = run(args, state, "cython", n_threads=2, epochs=3)
        _cython._use_wavefront(True)
        for n_threads in (1, 2, 3):
            got, loss = run(args, state, "cython", n_threads=n_threads, epochs=3)
            for name in state:
                assert np.array_equal(got[name], expected[name]), (name, n_threads)
            assert loss == expected_loss
    finally:
        _cython._use_wavefront(previous)


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_loss_falls_and_planted_ratings_are_recovered(backend):
    rng = np.random.default_rng(3)
    n_users, n_items, f = 60, 50, 2
    p, q = rng.standard_normal((n_users, f)), rng.standard_normal((n_items, f))
    bu, bi = 0.3 * rng.standard_normal(n_users), 0.3 * rng.standard_normal(n_items)
    users, items = np.divmod(np.arange(n_users * n_items), n_items)
    ratings = 3.0 + bu[users] + bi[items] + np.einsum("ij,ij->i", p[users], q[items])
    block_ptr, order = sgd_schedule(users, items, n_users, n_items, 4, seed=0)
    args = (block_ptr, users[order], items[order], ratings[order])
    state = dict(user_factors=0.1 * rng.standard_normal((n_users, f)), item_factors=0.1 * rng.standard_normal((n_items, f)),
                 user_bias=np.zeros(n_users), item_bias=np.zeros(n_items))
    _, losses = run(args, state, backend, epochs=300, learning_rate=0.02, reg_factors=0.0, reg_bias=0.0)
    assert losses[10] < losses[0] and losses[-1] < 0.01 * losses[0]
    assert np.sqrt(losses[-1] / ratings.size) < 0.02, np.sqrt(losses[-1] / ratings.size)


def test_schedule_blocks_are_disjoint_and_ordered_by_seed():
    args, _ = problem(n_users=50, n_items=40, nnz=600, n_blocks=4)
    block_ptr, users, items, _ = args
    assert block_ptr.shape == (17,) and block_ptr[-1] == 600
    for a in range(4):
        rows = [users[block_ptr[a * 4 + b]: block_ptr[a * 4 + b + 1]] for b in range(4)]
        others = [users[block_ptr[c * 4]: block_ptr[c * 4 + 4]] for c in range(4) if c != a]
        assert not set(np.concatenate(rows)) & set(np.concatenate(others))
    again, _ = problem(n_users=50, n_items=40, nnz=600, n_blocks=4)
    assert all(np.array_equal(x, y) for x, y in zip(args, again))
    # Another seed: the same blocks, another order within them.
    ptr_1, order_1 = sgd_schedule(users, items, 50, 40, 4, seed=1)
    assert np.array_equal(ptr_1, block_ptr) and not np.array_equal(order_1, np.arange(600))
    assert np.array_equal(np.sort(order_1[block_ptr[5]:block_ptr[6]]), np.arange(block_ptr[5], block_ptr[6]))


def test_empty_ratings_and_one_block():
    args, state = problem(nnz=0)
    for backend in BACKENDS:
        out, loss = run(args, state, backend)
        assert loss == [0.0] and np.array_equal(out["user_factors"], state["user_factors"])
    args, state = problem(n_blocks=1)
    ref, _ = run(args, state, "reference")
    got, _ = run(args, state, "cython")
    np.testing.assert_allclose(got["item_factors"], ref["item_factors"], rtol=1e-10)


def test_errors_name_the_argument():
    args, state = problem()
    block_ptr, users, items, ratings = args
    bad = dict(state, user_bias=state["user_bias"].astype(np.float32))
    with pytest.raises(TypeError, match="'user_bias'"):
        run(args, bad, "numba")
    with pytest.raises(ValueError, match="'learning_rate'"):
        run(args, state, "numba", learning_rate=0.0)
    with pytest.raises(ValueError, match="'block_ptr'"):
        run((block_ptr[:-1], users, items, ratings), state, "numba")
    with pytest.raises(ValueError, match="user ranges of the block schedule overlap"):
        run((block_ptr, users[::-1].copy(), items, ratings), state, "numba")
    with pytest.raises(ValueError, match="'items' must lie in"):
        run((block_ptr, users, items + 100, ratings), state, "numba")


def run_svdpp(args, state, backend, n_threads=1, epochs=1):
    state = {k: v.copy() for k, v in state.items()}
    params = dict(global_mean=3.0, learning_rate=0.01, reg_factors=0.05, reg_bias=0.02)
    losses = [svdpp_epoch(*args, state["user_factors"], state["implicit_sums"], state["item_factors"],
                          state["user_bias"], state["item_bias"], state["gradient_sums"], **params,
                          n_threads=n_threads, backend=backend) for _ in range(epochs)]
    return state, losses


def svdpp_state(state, seed=1):
    rng = np.random.default_rng(seed)
    dtype = state["user_factors"].dtype
    return dict(state, implicit_sums=(0.1 * rng.standard_normal(state["user_factors"].shape)).astype(dtype),
                gradient_sums=np.zeros_like(state["user_factors"]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_svdpp_twins_match_the_reference_epoch(backend, dtype):
    args, state = problem(dtype=dtype, f=7, index=np.int32)
    state = svdpp_state(state)
    expected, expected_loss = run_svdpp(args, state, "reference")
    got, loss = run_svdpp(args, state, backend, n_threads=2)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for name in state:
        np.testing.assert_allclose(got[name], expected[name], rtol=tol, atol=tol, err_msg=name)
    assert np.array_equal(got["implicit_sums"], state["implicit_sums"])  # read only
    assert loss[0] == pytest.approx(expected_loss[0], rel=tol)


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_svdpp_bit_identical_at_one_and_two_threads(backend):
    args, state = problem(n_users=97, n_items=101, nnz=2000, f=16, dtype=np.float32, n_blocks=5)
    state = svdpp_state(state)
    one, loss_one = run_svdpp(args, state, backend, n_threads=1, epochs=3)
    two, loss_two = run_svdpp(args, state, backend, n_threads=2, epochs=3)
    for name in state:
        assert np.array_equal(one[name], two[name]), name
    assert loss_one == loss_two


def test_svdpp_with_zero_sums_is_the_biased_mf_epoch():
    args, state = problem(f=6)
    plain, plain_loss = run(args, state, "reference")
    svdpp, svdpp_loss = run_svdpp(args, dict(state, implicit_sums=np.zeros_like(state["user_factors"]),
                                             gradient_sums=np.zeros_like(state["user_factors"])), "reference")
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        np.testing.assert_allclose(svdpp[name], plain[name], rtol=1e-12, atol=1e-12)
    assert svdpp_loss == pytest.approx(plain_loss)


def test_cython_float32_plain_path_matches_the_reference():
    from fastcf.kernels.sgd import _cython

    args, state = problem(dtype=np.float32, f=13)
    expected, _ = run(args, state, "reference")
    previous = _cython._use_simd()
    try:
        _cython._use_simd(False)
        plain, _ = run(args, state, "cython", n_threads=2)
    finally:
        _cython._use_simd(previous)
    simd, _ = run(args, state, "cython", n_threads=2)
    for name in state:
        np.testing.assert_allclose(plain[name], expected[name], rtol=1e-4, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(simd[name], expected[name], rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("n_blocks", [1, 7, 256, 257])
@pytest.mark.parametrize("seed", [None, 3])
def test_schedule_order_is_the_stable_sort_of_the_block_keys(n_blocks, seed):
    """The 16-bit radix path (n_blocks <= 256) and the wide path give the one stable order, ties included."""
    from fastcf.kernels.sgd import _ranges

    rng = np.random.default_rng(n_blocks)
    users, items = rng.integers(0, 900, 20_000), rng.integers(0, 700, 20_000)
    block_ptr, order = sgd_schedule(users, items, 900, 700, n_blocks, seed=seed)
    block = _ranges(users, 900, n_blocks)[users].astype(np.int64) * n_blocks + _ranges(items, 700, n_blocks)[items]
    visit = np.arange(users.size) if seed is None else np.random.default_rng(seed).permutation(users.size)
    expected = visit[np.argsort(block[visit], kind="mergesort")]
    assert np.array_equal(order, expected)
    assert block_ptr[-1] == users.size and np.all(np.diff(block[order]) >= 0)
