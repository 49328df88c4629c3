"""als_subspace_half_step (iALS++, Rendle et al. 2021): the reference against a dense block oracle
and the exact solve, every twin against the reference, monotone descent, thread counts, errors."""

import contextlib

import numpy as np
import pytest

from fastcf.kernels import als_half_step, als_loss, als_subspace_half_step
from fastcf.kernels.als import _cython

BACKENDS = ["reference", "numba", "cython"]
# "cython-chunks" shrinks the Cython twin's syrk block to 16 rows, so that rows of a few dozen
# entries already take the block-full branch.
COMPILED = ["numba", "cython", "cython-chunks"]
FLOATS = [np.float32, np.float64]
LAMBDA = 0.05
# Float32 against the float64 reference: each block step is a backward-stable solve of a
# system with κ below 1e3 (asserted), so its error is about κ · 6e-8 · b, and a few steps of
# block descent compound it only mildly.
F32_RTOL = 2e-4
F64_RTOL = 1e-10


@contextlib.contextmanager
def variant(name):
    if name != "cython-chunks":
        yield name
        return
    # The smallest staging chunks, and no row short enough to gather its Y_u: the path that
    # reads Y in place (the default "cython" variant gathers every row here).
    saved = _cython.CHUNK_BYTES, _cython.CG_BLOCK_BYTES
    _cython.CHUNK_BYTES = _cython.CG_BLOCK_BYTES = 1
    try:
        yield "cython"
    finally:
        _cython.CHUNK_BYTES, _cython.CG_BLOCK_BYTES = saved


def random_problem(rng, n_rows, n_other, f, per_row, *, duplicates=False, low_confidence=False, penalties=False):
    """(indptr, indices, confidence, Y, warm start X, row_regularization or None), float64.

    Every seventh row is empty; columns of Y shrink from scale 1 to 0.2, so that blocks
    couple and float32 rounding shows.
    """
    lengths = np.minimum(rng.poisson(per_row, n_rows), n_other)
    lengths[::7] = 0
    rows = []
    for n in lengths:
        items = rng.permutation(n_other)[:n]
        if duplicates and n:
            items = rng.permutation(np.concatenate([items, items[: max(1, n // 2)]]))
        rows.append(items)
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows + [np.zeros(0, np.int64)]).astype(np.int64)
    confidence = 1 + 3 * rng.random(indices.size)
    confidence[rng.random(indices.size) < 0.15] = 1.0  # adds nothing to A, only to the right side
    if low_confidence:
        low = rng.random(indices.size) < 0.25
        confidence[low] = 0.6 + 0.4 * rng.random(low.sum())
    other = rng.standard_normal((n_other, f)) * np.linspace(1.0, 0.2, f)
    warm = 0.1 * rng.standard_normal((n_rows, f))
    extra = rng.random(n_rows) * 0.5 if penalties else None
    return indptr, indices, confidence, other, warm, extra


def cast(problem, dtype):
    indptr, indices, confidence, other, warm, extra = problem
    return (indptr, indices, confidence.astype(dtype), other.astype(dtype), warm.astype(dtype),
            None if extra is None else extra.astype(dtype))


def subspace(problem, backend, block_size, sweeps=1, regularization=LAMBDA, **kwargs):
    indptr, indices, confidence, other, warm, extra = problem
    x = warm.copy()
    with variant(backend) as name:
        result = als_subspace_half_step(indptr, indices, confidence, other, x, regularization=regularization,
                                        block_size=block_size, sweeps=sweeps, row_regularization=extra,
                                        backend=name, **kwargs)
    assert result is x
    return x


def normal_equations(problem, u, regularization=LAMBDA):
    """Row u's A_u, b_u in float64, entry by entry (a duplicate counts twice)."""
    indptr, indices, confidence, other, _, extra = problem
    y = other.astype(np.float64)
    a = y.T @ y + (regularization + (0.0 if extra is None else float(extra[u]))) * np.eye(y.shape[1])
    b = np.zeros(y.shape[1])
    for p in range(indptr[u], indptr[u + 1]):
        yi, c = y[indices[p]], float(confidence[p])
        a += (c - 1) * np.outer(yi, yi)
        b += c * yi
    return a, b


def exact_rows(problem):
    """Every row's exact solution (0 for an empty row), from the dense normal equations."""
    indptr, f = problem[0], problem[3].shape[1]
    return np.array([np.zeros(f) if indptr[u] == indptr[u + 1] else np.linalg.solve(*normal_equations(problem, u))
                     for u in range(indptr.size - 1)])


def assert_rows_close(got, expected, rtol):
    """Each row within rtol of the expected row's norm."""
    scale = np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-30)
    np.testing.assert_array_less(np.abs(got.astype(np.float64) - expected) / scale, rtol)


@pytest.fixture(scope="module")
def problems():
    rng = np.random.default_rng(22)
    cases = {
        "typical": random_problem(rng, 60, 300, 12, 20),
        "penalties": random_problem(rng, 40, 200, 12, 15, penalties=True),
        "duplicates and low confidence": random_problem(rng, 40, 50, 12, 10, duplicates=True, low_confidence=True,
                                                        penalties=True),
        "one item": random_problem(rng, 15, 1, 12, 1),
        "one factor": random_problem(rng, 25, 40, 1, 5, penalties=True),
        "long rows": random_problem(rng, 5, 2000, 12, 900, low_confidence=True),
    }
    # One entry in every row (poisson lengths cannot give that).
    indptr = np.arange(21, dtype=np.int64)
    cases["one entry per row"] = (indptr, rng.integers(0, 30, 20), 1 + 4 * rng.random(20),
                                  rng.standard_normal((30, 12)), 0.1 * rng.standard_normal((20, 12)), None)
    for name, problem in cases.items():
        for u in range(problem[0].size - 1):
            assert np.linalg.cond(normal_equations(problem, u)[0]) < 1e3, name
    return cases


CASES = ["typical", "penalties", "duplicates and low confidence", "one item", "one entry per row", "one factor",
         "long rows"]
# 1: coordinate descent; 5 does not divide 12 (a last block of 2); 4 divides; 12: one exact block
# (larger blocks: test_one_block_of_all_factors_is_the_cholesky_solve).
BLOCKS = [1, 4, 5, 12]


# --- the reference against oracles ---------------------------------------------------------

def dense_block_descent(problem, u, block_size, sweeps, regularization=LAMBDA):
    """Block coordinate descent on the dense form of the row's objective (every item, not only
    the row's entries): x_B = argmin Σ_i (c_i s_i² − 2 t_i s_i) + λ_u ‖x‖², the rest of x fixed."""
    indptr, indices, confidence, other, warm, extra = problem
    y = other.astype(np.float64)
    n_other, f = y.shape
    # Item i with entries q (several if duplicated) costs s_i² + Σ_q [c_q (1 − s_i)² − s_i²]
    # = c_i s_i² − 2 t_i s_i + const, with c_i = 1 + Σ_q (c_q − 1) and t_i = Σ_q c_q.
    c = np.ones(n_other)
    target = np.zeros(n_other)
    for q in range(indptr[u], indptr[u + 1]):
        c[indices[q]] += float(confidence[q]) - 1
        target[indices[q]] += float(confidence[q])
    lam = regularization + (0.0 if extra is None else float(extra[u]))
    x = warm[u].astype(np.float64).copy()
    for _ in range(sweeps):
        for k in range(0, f, block_size):
            block = slice(k, min(k + block_size, f))
            rest = x.copy()
            rest[block] = 0
            yb = y[:, block]
            a = yb.T @ (c[:, None] * yb) + lam * np.eye(yb.shape[1])
            x[block] = np.linalg.solve(a, yb.T @ (target - c * (y @ rest)))
    return x


@pytest.mark.parametrize("case", ["typical", "penalties", "duplicates and low confidence", "one factor"])
@pytest.mark.parametrize("block_size", [1, 5, 12])
@pytest.mark.parametrize("sweeps", [1, 3])
def test_reference_is_block_descent_on_the_dense_objective(problems, case, block_size, sweeps):
    problem = problems[case]
    got = subspace(problem, "reference", block_size, sweeps)
    for u in range(problem[0].size - 1):
        if problem[0][u] == problem[0][u + 1]:
            np.testing.assert_array_equal(got[u], 0)  # an empty row: 0, as the other solvers
        else:
            expected = dense_block_descent(problem, u, block_size, sweeps)
            np.testing.assert_allclose(got[u], expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-chunks"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("block_size", [12, 13, 100])
def test_one_block_of_all_factors_is_the_cholesky_solve(problems, backend, dtype, block_size):
    for case in ("typical", "penalties", "duplicates and low confidence", "long rows"):
        problem = cast(problems[case], dtype)
        indptr, indices, confidence, other, warm, extra = problem
        got = subspace(problem, backend, block_size)
        if extra is None:
            exact = warm.copy()
            with variant(backend) as name:
                als_half_step(indptr, indices, confidence, other, exact, regularization=LAMBDA, backend=name)
        else:  # per-row λ: the dense normal equations
            exact = exact_rows(problem)
        assert_rows_close(got, exact.astype(np.float64), F32_RTOL if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block_size", [1, 3])
def test_many_sweeps_converge_to_the_solution_of_the_normal_equations(backend, block_size):
    # Block descent on a positive definite quadratic converges linearly; with κ < 10 a few
    # dozen sweeps reach rounding.
    rng = np.random.default_rng(5)
    problem = random_problem(rng, 30, 200, 8, 15, penalties=True)
    problem = problem[:3] + (rng.standard_normal((200, 8)),) + problem[4:]
    assert max(np.linalg.cond(normal_equations(problem, u)[0]) for u in range(30)) < 10
    exact = exact_rows(problem)
    assert_rows_close(subspace(problem, backend, block_size, sweeps=200), exact, 1e-9)
    # and one sweep is not there yet, so the test above means something
    assert not np.allclose(subspace(problem, backend, block_size, sweeps=1), exact, rtol=1e-3)


# --- every twin against the reference ------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("sweeps", [1, 3])
def test_twins_match_the_reference(problems, case, backend, dtype, block_size, sweeps):
    expected = subspace(problems[case], "reference", block_size, sweeps)  # float64: float32's target too
    got = subspace(cast(problems[case], dtype), backend, block_size, sweeps)
    assert got.dtype == dtype
    assert_rows_close(got, expected, F32_RTOL if dtype == np.float32 else F64_RTOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_a_given_gram_is_used_as_computed(problems, backend, dtype):
    problem = cast(problems["penalties"], dtype)
    other = problem[3]
    expected = subspace(problem, backend, 5)
    np.testing.assert_array_equal(subspace(problem, backend, 5, gram=other.T @ other), expected)


# --- descent -------------------------------------------------------------------------------

def _transpose(indptr, indices, confidence, n_cols):
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    t_indptr = np.concatenate([[0], np.cumsum(np.bincount(indices, minlength=n_cols))]).astype(indptr.dtype)
    return t_indptr, rows[order].astype(indices.dtype), confidence[order]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("block_size", [1, 3, 8])
def test_every_half_step_never_increases_the_objective(backend, dtype, block_size):
    rng = np.random.default_rng(7)
    indptr, indices, confidence, _, _, _ = random_problem(rng, 70, 50, 8, 8, low_confidence=True)
    confidence = confidence.astype(dtype)
    users = (rng.random((70, 8)) * 0.1).astype(dtype)
    items = (rng.random((50, 8)) * 0.1).astype(dtype)
    user_extra = (rng.random(70) * 0.2).astype(dtype)
    item_extra = (rng.random(50) * 0.2).astype(dtype)
    by_item = _transpose(indptr, indices, confidence, 50)

    def objective():
        base = als_loss(indptr, indices, confidence, users, items, regularization=LAMBDA, backend="reference")
        return (base + float(user_extra @ np.sum(users.astype(np.float64) ** 2, axis=1))
                + float(item_extra @ np.sum(items.astype(np.float64) ** 2, axis=1)))

    losses = [objective()]
    with variant(backend) as name:
        for _ in range(6):
            als_subspace_half_step(indptr, indices, confidence, items, users, regularization=LAMBDA,
                                   block_size=block_size, row_regularization=user_extra, backend=name)
            losses.append(objective())
            als_subspace_half_step(*by_item, users, items, regularization=LAMBDA, block_size=block_size,
                                   row_regularization=item_extra, backend=name)
            losses.append(objective())
    slack = 1e-5 if dtype == np.float32 else 1e-12
    assert all(b <= a * (1 + slack) for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0]


# --- adversarial inputs --------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS + ["cython-chunks"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_empty_rows_no_rows_and_no_items(backend, dtype):
    with variant(backend) as name:
        x = np.zeros((0, 3), dtype=dtype)
        als_subspace_half_step([0], [], [], np.ones((4, 3), dtype=dtype), x, regularization=0.1, block_size=2,
                               backend=name)
        x = np.ones((3, 3), dtype=dtype)
        als_subspace_half_step([0, 0, 0, 0], [], [], np.zeros((0, 3), dtype=dtype), x, regularization=0.1,
                               block_size=2, row_regularization=np.ones(3), backend=name)
        np.testing.assert_array_equal(x, 0)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-chunks"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_hand_computed_coordinate_descent(backend, dtype):
    # Y = I (2 x 2), λ = 0.5, row 0: item 0 with c = 3, warm start x = (1, 1). G = YᵀY + λI = 1.5 I.
    # Block 0: A = 1.5 + 2 = 3.5, g = c − (c − 1) s_0 − (G x)_0 = 3 − 2·1 − 1.5 = −0.5: x_0 = 1 − 1/7.
    # Block 1: item 0 has no weight there: A = 1.5, g = −1.5 · 1: x_1 = 0. Row 1: empty, x = 0.
    y = np.eye(2, dtype=dtype)
    x = np.ones((2, 2), dtype=dtype)
    with variant(backend) as name:
        als_subspace_half_step([0, 1, 1], [0], np.array([3.0]), y, x, regularization=0.5, block_size=1, backend=name)
    np.testing.assert_allclose(x, [[6 / 7, 0], [0, 0]], rtol=1e-6, atol=1e-6)


def indefinite_problem(dtype):
    """Y = I (2 x 2), λ = 0: a row with c on item 0 has A_00 = c in block 0, so rows 3 (c = −1)
    and 6 (c = −2) fail there; row 5 (c = 0.5) is fine."""
    indptr = np.array([0, 1, 2, 2, 3, 4, 5, 6])
    indices = np.array([1, 0, 0, 1, 0, 0])
    confidence = np.array([2.0, 3.0, -1.0, 4.0, 0.5, -2.0], dtype=dtype)
    return indptr, indices, confidence, np.eye(2, dtype=dtype)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-chunks"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("block_size", [1, 2])
def test_a_block_that_is_not_positive_definite_raises_naming_the_row(backend, dtype, block_size):
    indptr, indices, confidence, y = indefinite_problem(dtype)
    x = np.zeros((7, 2), dtype=dtype)
    x[3] = x[6] = 9.0
    with variant(backend) as name, pytest.raises(
        ValueError,
        match=r"als_subspace_half_step: the Cholesky solve failed on 2 of 7 row\(s\) \(first: row 3\): .*not "
              r"positive definite\. Raise 'regularization' \(now 0\.0\)",
    ):
        als_subspace_half_step(indptr, indices, confidence, y, x, regularization=0.0, block_size=block_size,
                               sweeps=2, backend=name)
    # The other rows were solved (Y = I decouples the coordinates: exact in one sweep), the
    # failed rows kept their values.
    np.testing.assert_allclose(x[[0, 1, 4, 5]], [[0, 1], [1, 0], [0, 1], [1, 0]], rtol=1e-6)
    np.testing.assert_array_equal(x[[3, 6]], 9.0)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("block_size", [3, 16])
def test_results_do_not_depend_on_thread_count(backend, dtype, block_size):
    # Each row is solved on its own by the same code, so equality is exact.
    problem = cast(random_problem(np.random.default_rng(3), 97, 1001, 16, 40, penalties=True), dtype)
    results = [subspace(problem, backend, block_size, sweeps=2, n_threads=n) for n in (1, 2, 3)]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_are_not_modified_and_read_only_inputs_work(problems, backend):
    indptr, indices, confidence, other, warm, extra = problems["penalties"]
    inputs = (indptr, indices, confidence, other, extra)
    before = [a.copy() for a in inputs]
    for array in inputs:
        array.flags.writeable = False
    try:
        x = warm.copy()
        als_subspace_half_step(indptr, indices, confidence, other, x, regularization=0.1, block_size=4,
                               row_regularization=extra, backend=backend)
        for array, copy in zip(inputs, before):
            np.testing.assert_array_equal(array, copy)
    finally:
        for array in inputs:
            array.flags.writeable = True


def test_integer_or_other_dtype_row_regularization_is_cast_to_the_factors_dtype(problems):
    indptr, indices, confidence, other, warm, _ = cast(problems["typical"], np.float32)
    expected = warm.copy()
    als_subspace_half_step(indptr, indices, confidence, other, expected, regularization=0.1, block_size=4,
                           row_regularization=np.ones(warm.shape[0], dtype=np.float32))
    got = warm.copy()
    als_subspace_half_step(indptr, indices, confidence, other, got, regularization=0.1, block_size=4,
                           row_regularization=[1] * warm.shape[0])
    np.testing.assert_array_equal(got, expected)


# --- bad arguments -------------------------------------------------------------------------

def good_arguments():
    return dict(indptr=np.array([0, 1, 3]), indices=np.array([0, 1, 2]), confidence=np.array([2.0, 3.0, 1.5]),
                other_factors=np.ones((3, 2)), factors=np.zeros((2, 2)), regularization=0.1, block_size=1)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(block_size=0), ValueError, r"als_subspace_half_step: 'block_size' must be an int >= 1; got 0"),
        (dict(block_size=-2), ValueError, r"'block_size' must be an int >= 1; got -2"),
        (dict(block_size=2.0), TypeError, r"'block_size' must be an int >= 1; got 2\.0"),
        (dict(block_size=True), TypeError, r"'block_size' must be an int >= 1; got True"),
        (dict(block_size=None), TypeError, r"'block_size' must be an int >= 1; got None"),
        (dict(sweeps=0), ValueError, r"als_subspace_half_step: 'sweeps' must be an int >= 1; got 0"),
        (dict(sweeps=1.5), TypeError, r"'sweeps' must be an int >= 1; got 1\.5"),
        (dict(row_regularization=np.ones(3)), ValueError,
         r"'row_regularization' must be a 1-D array with one value per row of 'factors' \(2\); got shape \(3,\)"),
        (dict(row_regularization=np.ones((2, 1))), ValueError, r"'row_regularization' must be a 1-D array"),
        (dict(row_regularization=np.array([0.1, -0.5])), ValueError,
         r"'row_regularization' must be made of values >= 0 \(a penalty per row\); got -0\.5 at position 1"),
        (dict(row_regularization=np.array([0.1, np.nan])), ValueError,
         r"'row_regularization' must be finite; got nan at position 1"),
        (dict(row_regularization=np.array(["a", "b"])), TypeError, r"'row_regularization' must hold real numbers"),
        (dict(factors=np.array([[0.0, np.inf], [0, 0]])), ValueError,
         r"'factors \(the warm start\)' must be finite; got inf at row 0, column 1"),
        (dict(regularization=-1.0), ValueError, r"'regularization' must be a finite number >= 0; got -1\.0"),
        (dict(other_factors=np.ones((3, 2), dtype=np.float32)), TypeError,
         r"'other_factors' and 'factors' must have the same dtype"),
        (dict(indices=np.array([0, 1, 3])), ValueError, r"'indices' must lie in \[0, 3\)"),
        (dict(gram=np.ones((3, 3))), ValueError, r"'gram' must have shape \(2, 2\)"),
        (dict(n_threads=0), ValueError, r"als_subspace_half_step: 'n_threads' must be an int >= 1 or None; got 0"),
        (dict(backend="fortran"), ValueError, r"'backend' must be one of"),
    ],
)
def test_bad_arguments_name_the_argument(change, error, message):
    with pytest.raises(error, match=message):
        als_subspace_half_step(**{**good_arguments(), **change})


def test_block_size_and_regularization_are_keyword_only_and_required():
    for missing in ("regularization", "block_size"):
        arguments = good_arguments()
        del arguments[missing]
        with pytest.raises(TypeError, match=missing):
            als_subspace_half_step(**arguments)
    with pytest.raises(TypeError):
        als_subspace_half_step(*good_arguments().values())


def test_factors_sharing_memory_with_other_factors_are_refused():
    square = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"'factors' and 'other_factors' must not share memory"):
        als_subspace_half_step([0, 1, 2, 3], [0, 1, 2], [2.0, 2.0, 2.0], square, square, regularization=0.1,
                               block_size=1)


@pytest.mark.parametrize("path", ["cython", "cython-chunks"])
@pytest.mark.parametrize("simd", [True, False])
@pytest.mark.parametrize("block_size, f", [(16, 32), (16, 48), (32, 32), (16, 40), (32, 64)])
def test_float32_simd_blocks_match_the_reference(simd, block_size, f, path):
    # Blocks that are multiples of 16 wide in float32 run on the SIMD rank update and Cholesky
    # (when f is a multiple of 16 too); the others, and simd off, on BLAS. Both match the reference,
    # on rows that gather their Y_u and on rows too long for it, which stream Y in chunks.
    rng = np.random.default_rng(f + block_size)
    problem = random_problem(rng, 50, 120, f, 25, penalties=True, low_confidence=True)
    expected = subspace(problem, "reference", block_size, 2)
    was = _cython._use_simd(simd)
    try:
        with variant(path) as backend:
            got = subspace(cast(problem, np.float32), backend, block_size, 2)
            again = subspace(cast(problem, np.float32), backend, block_size, 2, n_threads=1)
    finally:
        _cython._use_simd(was)
    assert_rows_close(got, expected, F32_RTOL)
    assert np.array_equal(got, again)
