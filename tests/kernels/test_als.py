"""als_half_step (also with per-row λ), als_loss and als_explicit_half_step: the reference against dense
oracles, every twin against the reference."""

import contextlib
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastcf.kernels import als_explicit_half_step, als_half_step, als_loss
from fastcf.kernels.als import _cython

BACKENDS = ["reference", "numba", "cython"]
# "cython-blas" is the Cython twin with its float32 SIMD kernels switched off (BLAS/LAPACK
# path); "cython-chunks" shrinks its blocks to 16 rows, so that short rows already take the
# block-full and re-gather branches that real data reach only with rows of thousands.
COMPILED = ["numba", "cython", "cython-blas", "cython-chunks"]
FLOATS = [np.float32, np.float64]
INDEX = [np.int32, np.int64]
LAMBDA = 0.05


@contextlib.contextmanager
def twin_variant(name):
    """The backend argument for ``name``, with the Cython twin's switches set for the block."""
    if name not in ("cython-blas", "cython-chunks"):
        yield name
        return
    saved = _cython._use_simd(), _cython.CHUNK_BYTES, _cython.CG_BLOCK_BYTES
    try:
        if name == "cython-blas":
            _cython._use_simd(False)
        else:
            _cython.CHUNK_BYTES = _cython.CG_BLOCK_BYTES = 1
        yield "cython"
    finally:
        _cython._use_simd(saved[0])
        _cython.CHUNK_BYTES, _cython.CG_BLOCK_BYTES = saved[1:]


def make_problem(rng, n_rows, n_other, f, mean_per_row, dtype=np.float64, index_dtype=np.int64,
                 duplicates=False, low_confidence=False, spread=0.1):
    """A random CSR (unsorted indices), Y with unequal column scales, and a warm start X.

    Column scales from 1 down to ``spread`` make the systems moderately ill-conditioned (see
    ``conditions``), so that float32 rounding shows. ``low_confidence`` adds confidences in
    [0.5, 1], which subtract from YᵀY; ``duplicates`` repeats some entries within their row.
    """
    counts = rng.poisson(mean_per_row, n_rows)
    counts[:: max(1, n_rows // 7)] = 0  # some empty rows
    rows = []
    for count in counts:
        items = rng.choice(n_other, min(count, n_other), replace=False)
        if duplicates and items.size:
            items = np.concatenate([items, rng.choice(items, max(1, items.size // 3))])
            rng.shuffle(items)
        rows.append(items)
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    indptr[1:] = np.cumsum([r.size for r in rows])
    indices = np.concatenate(rows + [np.zeros(0, dtype=np.int64)]).astype(index_dtype)
    confidence = 1 + 4 * rng.random(indices.size)
    confidence[rng.random(indices.size) < 0.1] = 1.0  # c = 1 adds nothing to A, only to b
    if low_confidence:
        low = rng.random(indices.size) < 0.2
        confidence[low] = 0.5 + 0.5 * rng.random(low.sum())
    scales = np.geomspace(1.0, spread, f)
    other = (rng.standard_normal((n_other, f)) * scales).astype(dtype)
    warm = (rng.standard_normal((n_rows, f)) * 0.1).astype(dtype)
    return indptr, indices, confidence.astype(dtype), other, warm


def half_step(problem, backend, cg_steps=0, regularization=LAMBDA, **kwargs):
    indptr, indices, confidence, other, warm = problem
    factors = warm.copy()
    with twin_variant(backend) as name:
        result = als_half_step(
            indptr, indices, confidence, other, factors,
            regularization=regularization, cg_steps=cg_steps, backend=name, **kwargs,
        )
    assert result is factors
    return factors


def loss(problem, user_factors, backend, regularization=LAMBDA, **kwargs):
    indptr, indices, confidence, other, _ = problem
    with twin_variant(backend) as name:
        return als_loss(indptr, indices, confidence, user_factors, other,
                        regularization=regularization, backend=name, **kwargs)


def systems(problem, regularization=LAMBDA):
    """Each row's (A_u, b_u) in float64, straight from the formula."""
    indptr, indices, confidence, other, _ = problem
    y = other.astype(np.float64)
    for u in range(indptr.size - 1):
        items, c = indices[indptr[u]:indptr[u + 1]], confidence[indptr[u]:indptr[u + 1]].astype(np.float64)
        a = y.T @ y + regularization * np.eye(y.shape[1])
        for i, ci in zip(items, c):  # entry by entry, so a duplicate counts twice
            a += (ci - 1) * np.outer(y[i], y[i])
        yield a, y[items].T @ c


def conditions(problem):
    return np.array([np.linalg.cond(a) for a, _ in systems(problem)])


def assert_close_rows(got, expected, rtol):
    """Each row within rtol of the expected row's norm (a solve's error is relative to ‖x‖)."""
    scale = np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-30)
    np.testing.assert_array_less(np.abs(got - expected) / scale, rtol)


# Float32 tolerance for exact solves: a backward-stable solve in float32 (eps 6e-8) of a system
# with condition number κ has relative error up to about κ · eps · (a small multiple of f); the
# test problems keep κ below 1e3 (asserted), so 2e-4 leaves room for f up to 40 without
# letting a wrong formula (errors of order 1) through.
F32_RTOL = 2e-4
F64_RTOL = 1e-6


@pytest.fixture(scope="module")
def problems():
    rng = np.random.default_rng(11)
    cases = {
        "typical": make_problem(rng, 97, 1001, 16, 25),
        "duplicates and low confidence": make_problem(rng, 40, 60, 8, 12, duplicates=True, low_confidence=True),
        "more factors than items": make_problem(rng, 30, 5, 12, 3),
        "one factor": make_problem(rng, 25, 40, 1, 4),
        "odd width": make_problem(rng, 31, 200, 21, 30),
        "long rows": make_problem(rng, 6, 3000, 24, 1500, low_confidence=True),
    }
    for name, problem in cases.items():
        assert conditions(problem).max() < 1e3, name
    return cases


CASES = ["typical", "duplicates and low confidence", "more factors than items", "one factor",
         "odd width", "long rows"]


def as_dtypes(problem, dtype, index_dtype):
    indptr, indices, confidence, other, warm = problem
    return (indptr.astype(index_dtype), indices.astype(index_dtype), confidence.astype(dtype),
            other.astype(dtype), warm.astype(dtype))


# --- the reference against dense oracles ---------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_reference_solves_each_rows_normal_equations(problems, case):
    problem = problems[case]
    got = half_step(problem, "reference")
    for u, (a, b) in enumerate(systems(problem)):
        expected = np.zeros_like(b) if problem[0][u] == problem[0][u + 1] else np.linalg.solve(a, b)
        np.testing.assert_allclose(got[u], expected, rtol=1e-9, atol=1e-12)


def test_reference_matches_the_dense_formulation_of_the_paper(rng):
    # x_u = (Yᵀ C_u Y + λI)⁻¹ Yᵀ C_u p_u with dense C_u (1 where unstored) and p_u.
    problem = make_problem(rng, 20, 30, 5, 6)
    indptr, indices, confidence, other, _ = problem
    got = half_step(problem, "reference")
    for u in range(20):
        c_dense = np.ones(30)
        p_dense = np.zeros(30)
        c_dense[indices[indptr[u]:indptr[u + 1]]] = confidence[indptr[u]:indptr[u + 1]]
        p_dense[indices[indptr[u]:indptr[u + 1]]] = 1
        a = other.T @ (c_dense[:, None] * other) + LAMBDA * np.eye(5)
        np.testing.assert_allclose(got[u], np.linalg.solve(a, other.T @ (c_dense * p_dense)), rtol=1e-10)


def dense_loss(problem, x, regularization=LAMBDA):
    """Σ_u Σ_i c_ui (p_ui − x_uᵀy_i)² + λ(‖X‖² + ‖Y‖²), entry by entry for the stored pairs."""
    indptr, indices, confidence, y, _ = problem
    x, y = x.astype(np.float64), y.astype(np.float64)
    scores = x @ y.T
    total = np.sum(scores**2)  # every pair with c = 1, p = 0
    for u in range(x.shape[0]):
        for i, c in zip(indices[indptr[u]:indptr[u + 1]], confidence[indptr[u]:indptr[u + 1]]):
            total += c * (1 - scores[u, i]) ** 2 - scores[u, i] ** 2
    return total + regularization * (np.sum(x**2) + np.sum(y**2))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
def test_loss_matches_the_dense_computation(problems, case, backend):
    problem = problems[case]
    x = problem[4]
    assert loss(problem, x, backend) == pytest.approx(dense_loss(problem, x), rel=1e-10)


def test_hand_computed_one_factor_case():
    # Y = (2, 1, 3)ᵀ, λ = 0.5, so YᵀY + λ = 14.5.
    # Row 0: items 0 (c = 3) and 2 (c = 2): A = 14.5 + 2·4 + 1·9 = 31.5, b = 3·2 + 2·3 = 12.
    # Row 1: no entries: x = 0.  Row 2: item 1 (c = 5): A = 14.5 + 4·1 = 18.5, b = 5.
    # Row 3: item 1 twice (c = 2, 3): A = 14.5 + 1 + 2 = 17.5, b = 5.
    indptr = np.array([0, 2, 2, 3, 5])
    indices = np.array([0, 2, 1, 1, 1])
    confidence = np.array([3.0, 2.0, 5.0, 2.0, 3.0])
    y = np.array([[2.0], [1.0], [3.0]])
    expected = np.array([[12 / 31.5], [0.0], [5 / 18.5], [5 / 17.5]])
    for backend in BACKENDS + ["cython-blas"]:
        for dtype in FLOATS:
            x = np.full((4, 1), 7.0, dtype=dtype)
            with twin_variant(backend) as name:
                als_half_step(indptr, indices, confidence, y.astype(dtype), x, regularization=0.5, backend=name)
            np.testing.assert_allclose(x, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    # The loss of X = (1, 0, 0, 0)ᵀ: pairs of row 0 score 2, 1, 3. Stored (0, 0): 3·(1 − 2)² = 3,
    # stored (0, 2): 2·(1 − 3)² = 8, unstored (0, 1): 1² = 1; the other rows score 0, so their
    # stored entries cost c · 1 = 5 + 2 + 3; λ(‖X‖² + ‖Y‖²) = 0.5 · (1 + 14).
    x = np.array([[1.0], [0.0], [0.0], [0.0]])
    for backend in BACKENDS:
        got = als_loss(indptr, indices, confidence, x, y, regularization=0.5, backend=backend)
        assert got == pytest.approx(3 + 8 + 1 + 10 + 7.5, rel=1e-14)


# --- every twin against the reference ------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_cholesky_twins_match_the_reference(problems, case, backend, dtype, index_dtype):
    problem = as_dtypes(problems[case], dtype, index_dtype)
    expected = half_step(problems[case], "reference")  # float64: the float32 twins' target too
    got = half_step(problem, backend)
    assert got.dtype == dtype
    assert_close_rows(got, expected, F32_RTOL if dtype == np.float32 else F64_RTOL)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [1, 3])
def test_cg_twins_match_the_reference_cg(problems, case, backend, dtype, cg_steps):
    problem = as_dtypes(problems[case], dtype, np.int32)
    expected = half_step(problems[case], "reference", cg_steps=cg_steps)
    got = half_step(problem, backend, cg_steps=cg_steps)
    # The same steps in the same order: float64 agrees to rounding. Float32 follows the
    # float64 iterates within its solve tolerance, as for Cholesky.
    assert_close_rows(got, expected, F32_RTOL if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("f", [1, 7, 16])
@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
def test_cg_with_f_steps_converges_to_the_cholesky_solution(rng, f, backend):
    # In exact arithmetic CG solves an f x f positive definite system in f steps. In floating
    # point that holds only while the search directions stay conjugate, i.e. for well-
    # conditioned systems (with κ in the hundreds, f steps leave errors near 1e-3), so this
    # problem has κ < 10.
    problem = make_problem(rng, 40, 300, f, 20, spread=1.0)
    assert conditions(problem).max() < 10
    exact = half_step(problem, "reference")
    assert_close_rows(half_step(problem, backend, cg_steps=f), exact, 1e-8)
    if f > 2:  # and fewer steps are not there yet, so the test above means something
        assert not np.allclose(half_step(problem, backend, cg_steps=1), exact, rtol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("per_row", [False, True])
def test_loss_never_increases_over_alternating_cholesky_half_steps(rng, backend, dtype, per_row):
    indptr, indices, confidence, items, users = make_problem(rng, 60, 80, 6, 10, dtype=dtype)
    users = (rng.random(users.shape) * 0.01).astype(dtype)
    items = (rng.random(items.shape) * 0.01).astype(dtype)
    by_item = _transpose(indptr, indices, confidence, items.shape[0])
    # per_row: a small flat λ plus each row's own λ_u (row_penalties, below).
    regularization = 0.01 if per_row else LAMBDA
    user_rows, item_rows = (row_penalties(rng, 60), row_penalties(rng, 80)) if per_row else (None, None)
    penalties = dict(regularization=regularization, user_regularization=user_rows, item_regularization=item_rows)
    losses = []
    with twin_variant(backend) as name:
        for _ in range(6):
            als_half_step(indptr, indices, confidence, items, users, regularization=regularization,
                          row_regularization=user_rows, backend=name)
            losses.append(als_loss(indptr, indices, confidence, users, items, backend=name, **penalties))
            als_half_step(*by_item, users, items, regularization=regularization, row_regularization=item_rows,
                          backend=name)
            losses.append(als_loss(indptr, indices, confidence, users, items, backend=name, **penalties))
    # Each exact half-step minimises the loss over one side; float32 factors may wobble by
    # rounding once converged.
    slack = 1e-5 if dtype == np.float32 else 1e-12
    assert all(b <= a * (1 + slack) for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0]


def _transpose(indptr, indices, confidence, n_cols):
    """The item x user CSR of a user x item CSR (duplicates kept)."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    t_indptr = np.zeros(n_cols + 1, dtype=indptr.dtype)
    t_indptr[1:] = np.cumsum(np.bincount(indices, minlength=n_cols))
    return t_indptr, rows[order].astype(indices.dtype), confidence[order]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n_rows=st.integers(0, 6), n_other=st.integers(1, 8), f=st.integers(1, 6),
       cg_steps=st.integers(0, 3), index_dtype=st.sampled_from(INDEX))
def test_property_every_twin_equals_the_reference(data, n_rows, n_other, f, cg_steps, index_dtype):
    # Entries of Y in [-2, 2], confidences in [1, 20] and λ = 0.5 keep every A_u ⪰ 0.5 I.
    rows = [data.draw(st.lists(st.integers(0, n_other - 1), max_size=12)) for _ in range(n_rows)]
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=index_dtype)
    confidence = data.draw(hnp.arrays(np.float64, indices.size, elements=st.floats(1, 20)))
    other = data.draw(hnp.arrays(np.float64, (n_other, f), elements=st.floats(-2, 2)))
    warm = data.draw(hnp.arrays(np.float64, (n_rows, f), elements=st.floats(-1, 1)))
    problem = (indptr, indices, confidence, other, warm)
    expected = half_step(problem, "reference", cg_steps=cg_steps, regularization=0.5)
    expected_loss = loss(problem, expected, "reference", regularization=0.5)
    for backend in COMPILED:
        got = half_step(problem, backend, cg_steps=cg_steps, regularization=0.5)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
        assert loss(problem, expected, backend, regularization=0.5) == pytest.approx(expected_loss, rel=1e-10, abs=1e-10)


# --- adversarial inputs -------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS + COMPILED[1:])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [0, 2])
def test_empty_and_single_interaction_rows(backend, dtype, cg_steps):
    y = np.array([[1.0, 0.5], [0.0, 2.0], [1.0, 1.0]], dtype=dtype)
    indptr = np.array([0, 0, 1, 1, 2], dtype=np.int32)
    indices = np.array([2, 0], dtype=np.int32)
    confidence = np.array([4.0, 1.0], dtype=dtype)
    x = np.full((4, 2), 0.3, dtype=dtype)
    with twin_variant(backend) as name:
        als_half_step(indptr, indices, confidence, y, x, regularization=0.1, cg_steps=cg_steps, backend=name)
    np.testing.assert_array_equal(x[[0, 2]], 0)  # empty rows: x = 0 whatever the solver
    assert np.isfinite(x).all() and np.abs(x[[1, 3]]).min() > 0
    gram = y.astype(np.float64).T @ y + 0.1 * np.eye(2)
    if cg_steps == 2:  # two CG steps solve a 2 x 2 system
        np.testing.assert_allclose(x[1], np.linalg.solve(gram + 3 * np.outer(y[2], y[2]), 4 * y[2]), rtol=1e-4)
        np.testing.assert_allclose(x[3], np.linalg.solve(gram, y[0]), rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_no_rows_and_no_items(backend, dtype):
    with twin_variant(backend) as name:
        x = np.zeros((0, 3), dtype=dtype)
        als_half_step([0], [], [], np.ones((4, 3), dtype=dtype), x, regularization=0.1, backend=name)
        x = np.ones((3, 3), dtype=dtype)
        for cg_steps in (0, 3):
            als_half_step([0, 0, 0, 0], [], [], np.zeros((0, 3), dtype=dtype), x,
                          regularization=0.1, cg_steps=cg_steps, backend=name)
            np.testing.assert_array_equal(x, 0)
        assert als_loss([0, 0, 0, 0], [], [], x, np.zeros((0, 3), dtype=dtype), regularization=1.0, backend=name) == 0


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
def test_cg_stops_on_a_zero_residual_without_dividing_by_zero(backend):
    # Y = 0: A = λI and b = 0, so a zero warm start has r = 0 exactly.
    x = np.zeros((3, 4))
    with twin_variant(backend) as name, np.errstate(all="raise"):
        als_half_step([0, 2, 2, 3], [0, 1, 1], [2.0, 3.0, 4.0], np.zeros((2, 4)), x,
                      regularization=0.1, cg_steps=5, backend=name)
    np.testing.assert_array_equal(x, 0)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [0, 3])
def test_results_do_not_depend_on_thread_count(rng, backend, dtype, cg_steps):
    # Each row is solved on its own by the same code, so equality is exact.
    problem = make_problem(rng, 97, 1001, 16, 40, dtype=dtype, index_dtype=np.int32)
    results = [half_step(problem, backend, cg_steps=cg_steps, n_threads=n) for n in (1, 2, 3)]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    losses = [loss(problem, results[0], backend, n_threads=n) for n in (1, 2, 3)]
    assert losses[0] == losses[1] == losses[2]


@pytest.mark.parametrize("backend", COMPILED)
def test_more_threads_than_rows_and_cores(rng, backend):
    problem = make_problem(rng, 5, 50, 4, 8)
    expected = half_step(problem, "reference")
    assert_close_rows(half_step(problem, backend, n_threads=64), expected, F64_RTOL)


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_concurrent_calls_from_python_threads(rng, backend):
    problem = make_problem(rng, 200, 300, 16, 30, dtype=np.float32)
    expected = half_step(problem, backend, n_threads=2)
    failures = []

    def work():
        try:
            for _ in range(5):
                np.testing.assert_array_equal(half_step(problem, backend, n_threads=2), expected)
        except Exception as exc:  # collected and re-raised in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


# --- systems that are not positive definite -----------------------------------------------

def indefinite_problem(dtype):
    """Y = I (2 x 2), λ = 0: a row with c < 1 on item 0 has A[0, 0] = c, so c = 0 is singular
    and c < 0 indefinite. Rows 3 and 6 fail; row 5 (c = 0.5) is fine."""
    indptr = np.array([0, 1, 2, 2, 3, 4, 5, 6], dtype=np.int64)
    indices = np.array([1, 0, 0, 1, 0, 0], dtype=np.int64)
    confidence = np.array([2.0, 3.0, -1.0, 4.0, 0.5, -2.0], dtype=dtype)
    return indptr, indices, confidence, np.eye(2, dtype=dtype)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [0, 2])
def test_a_system_that_is_not_positive_definite_raises_naming_the_row(backend, dtype, cg_steps):
    indptr, indices, confidence, y = indefinite_problem(dtype)
    x = np.zeros((7, 2), dtype=dtype)
    x[3] = x[6] = 9.0 if cg_steps == 0 else 0.0  # CG starts at 0 so that p meets A's negative side
    solver = "the Cholesky solve" if cg_steps == 0 else r"conjugate gradient \(2 steps\)"
    with twin_variant(backend) as name, pytest.raises(
        ValueError,
        match=rf"als_half_step: {solver} failed on 2 of 7 row\(s\) \(first: row 3\): .*not positive "
              rf"definite\. Raise 'regularization' \(now 0\.0\)",
    ):
        als_half_step(indptr, indices, confidence, y, x, regularization=0.0, cg_steps=cg_steps, backend=name)
    # The other rows were solved; the failed rows kept their values.
    np.testing.assert_allclose(x[[0, 1, 4, 5]], [[0, 1], [1, 0], [0, 1], [1, 0]], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cg_steps", [0, 2])
def test_a_failed_row_with_its_own_penalty_names_that_penalty_not_a_zero_regularization(backend, cg_steps):
    """With per-row penalties (ImplicitALS's ν > 0) 'regularization' may be 0: the hint gives the row's own."""
    indptr, indices, confidence, y = indefinite_problem(np.float64)
    x = np.zeros((7, 2))
    x[3] = x[6] = 9.0 if cg_steps == 0 else 0.0
    row_penalty = np.array([0.5, 0.5, 0.5, 0.25, 0.5, 0.5, 0.5])
    with twin_variant(backend) as name, pytest.raises(
        ValueError,
        match=r"\(first: row 3\): .*Row 3's penalty is 0\.25 \('regularization' 0\.0 \+ its 'row_regularization' "
              r"0\.25; in ImplicitALS both come from 'regularization' and 'regularization_exp'\): raise it",
    ):
        als_half_step(indptr, indices, confidence, y, x, regularization=0.0, cg_steps=cg_steps,
                      row_regularization=row_penalty, backend=name)
    np.testing.assert_array_equal(x[[3, 6]], 9.0 if cg_steps == 0 else 0.0)
    # Regularization large enough makes every system positive definite.
    with twin_variant(backend) as name:
        als_half_step(indptr, indices, confidence, y, x, regularization=3.0, cg_steps=cg_steps, backend=name)
    assert np.isfinite(x).all()


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
def test_an_empty_row_needs_no_factorisation_even_with_a_singular_gram(backend):
    # f = 3 > 2 items and λ = 0: YᵀY is singular. The empty row 0 still gets x = 0; row 1's
    # A = diag(2, 1, 0) is singular and fails.
    x = np.ones((2, 3))
    with twin_variant(backend) as name, pytest.raises(ValueError, match=r"failed on 1 of 2 row\(s\) \(first: row 1\)"):
        als_half_step([0, 0, 1], [0], [2.0], np.array([[1.0, 0, 0], [0, 1.0, 0]]), x,
                      regularization=0.0, backend=name)
    np.testing.assert_array_equal(x, [[0, 0, 0], [1, 1, 1]])


# --- input handling -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_are_not_modified_and_read_only_inputs_work(rng, backend):
    indptr, indices, confidence, other, warm = make_problem(rng, 10, 20, 3, 5, index_dtype=np.int32)
    inputs = (indptr, indices, confidence, other)
    before = [a.copy() for a in inputs]
    for array in inputs:
        array.flags.writeable = False
    x = warm.copy()
    als_half_step(indptr, indices, confidence, other, x, regularization=0.1, cg_steps=2, backend=backend)
    als_loss(indptr, indices, confidence, x, other, regularization=0.1, backend=backend)
    for array, copy in zip(inputs, before):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_mixed_index_dtypes_non_contiguous_or_big_endian_other_factors_and_integer_confidence(rng, backend):
    indptr, indices, confidence, other, warm = make_problem(rng, 10, 20, 4, 5)
    expected = half_step((indptr, indices, np.round(confidence), other, warm), "reference")
    wide = np.zeros((20, 8))
    wide[:, ::2] = other
    for other_factors in (wide[:, ::2], other.astype(">f8")):
        x = warm.copy()
        als_half_step(indptr.astype(np.int32), indices.astype(np.uint16), np.round(confidence).astype(int),
                      other_factors, x, regularization=LAMBDA, backend=backend)
        assert_close_rows(x, expected, F64_RTOL)


def good_arguments():
    return dict(
        indptr=np.array([0, 1, 3]), indices=np.array([0, 1, 2]), confidence=np.array([2.0, 3.0, 1.5]),
        other_factors=np.ones((3, 2)), factors=np.zeros((2, 2)), regularization=0.1,
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(factors=[[0.0, 0.0], [0.0, 0.0]]), TypeError,
         r"als_half_step: 'factors' must be a NumPy array \(it is updated in place\); got list"),
        (dict(factors=np.zeros(2)), ValueError, r"'factors' must be a 2-D array \(rows x factors\); got 1-D"),
        (dict(factors=np.zeros((2, 2), dtype=int)), TypeError, r"'factors' must hold float32 or float64 numbers; got dtype int64"),
        (dict(factors=np.zeros((2, 2), dtype=np.float16)), TypeError, r"'factors' must hold float32 or float64.*float16"),
        (dict(factors=np.zeros((2, 4))[:, ::2]), ValueError, r"'factors' must be C-contiguous"),
        (dict(factors=np.zeros((2, 2), dtype=">f8")), ValueError, r"'factors' must be in the machine's byte order; got dtype >f8"),
        (dict(factors=np.asfortranarray(np.zeros((2, 3)))), ValueError, r"'factors' must be C-contiguous"),
        (dict(factors=np.zeros((2, 0)), other_factors=np.ones((3, 0))), ValueError, r"'factors' must have at least one column"),
        (dict(other_factors=np.ones((3, 2), dtype=np.float32)), TypeError,
         r"'other_factors' and 'factors' must have the same dtype; got float32 and float64"),
        (dict(other_factors=np.ones((3, 3))), ValueError,
         r"'other_factors' and 'factors' must have the same number of columns \(factors\); got shapes \(3, 3\) and \(2, 2\)"),
        (dict(other_factors=np.ones(3)), ValueError, r"'other_factors' must be a 2-D array"),
        (dict(other_factors=np.array([[1.0, np.inf], [1, 1], [1, 1]])), ValueError,
         r"'other_factors' must be finite; got inf at row 0, column 1"),
        (dict(indptr=np.array([0, 3])), ValueError, r"'indptr' must have n_rows \+ 1 = 3 entries; got 2"),
        (dict(indptr=np.array([0, 2, 1])), ValueError, r"'indptr' must be non-decreasing"),
        (dict(indices=np.array([0, 1, 3])), ValueError, r"'indices' must lie in \[0, 3\); got 3 at position 2 \(row 1\)"),
        (dict(indices=np.array([0.0, 1.0, 2.0])), TypeError, r"'indices' must be an integer array; got dtype float64"),
        (dict(confidence=np.array([2.0, 3.0])), ValueError,
         r"'confidence' must be a 1-D array with one value per stored entry \(len\('indices'\) = 3\); got shape \(2,\)"),
        (dict(confidence=np.array([2.0, np.nan, 1.0])), ValueError, r"'confidence' must be finite; got nan at position 1"),
        (dict(confidence=np.array([2.0, 1e300, 1.0]), other_factors=np.ones((3, 2), dtype=np.float32),
              factors=np.zeros((2, 2), dtype=np.float32)), ValueError,
         r"'confidence' holds 1e\+300 at position 1, beyond the range of float32, the factors' dtype"),
        (dict(confidence=np.array(["a", "b", "c"])), TypeError, r"'confidence' must hold real numbers; got dtype <U1"),
        (dict(regularization=-0.1), ValueError, r"'regularization' must be a finite number >= 0; got -0\.1"),
        (dict(regularization=np.nan), ValueError, r"'regularization' must be a finite number >= 0; got nan"),
        (dict(regularization=True), TypeError, r"'regularization' must be a finite number >= 0; got True"),
        (dict(regularization="0.1"), TypeError, r"'regularization' must be a finite number >= 0; got '0\.1'"),
        (dict(cg_steps=-1), ValueError, r"'cg_steps' must be an int >= 0; got -1"),
        (dict(cg_steps=2.0), TypeError, r"'cg_steps' must be an int >= 0; got 2\.0"),
        (dict(cg_steps=3, factors=np.array([[0.0, np.nan], [0, 0]])), ValueError,
         r"'factors \(the conjugate-gradient warm start\)' must be finite; got nan at row 0, column 1"),
        (dict(n_threads=0), ValueError, r"als_half_step: 'n_threads' must be an int >= 1 or None; got 0"),
        (dict(backend="fortran"), ValueError, r"'backend' must be one of"),
    ],
)
def test_bad_arguments_to_als_half_step_name_the_argument(change, error, message):
    arguments = {**good_arguments(), **change}
    with pytest.raises(error, match=message):
        als_half_step(**arguments)


def test_read_only_factors_and_shared_memory_are_refused():
    arguments = good_arguments()
    arguments["factors"].flags.writeable = False
    with pytest.raises(ValueError, match=r"'factors' must be writable"):
        als_half_step(**arguments)
    square = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"'factors' and 'other_factors' must not share memory"):
        als_half_step([0, 1, 2, 3], [0, 1, 2], [2.0, 2.0, 2.0], square, square, regularization=0.1)


def test_factors_are_not_read_by_the_cholesky_solver():
    arguments = good_arguments()
    arguments["factors"][:] = np.nan
    assert np.isfinite(als_half_step(**arguments)).all()


def test_regularization_is_keyword_only_and_required():
    arguments = good_arguments()
    del arguments["regularization"]
    with pytest.raises(TypeError, match="regularization"):
        als_half_step(**arguments)
    with pytest.raises(TypeError):
        als_half_step(*good_arguments().values())


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(user_factors=np.ones((2, 2), dtype=np.float32)), TypeError,
         r"als_loss: 'item_factors' and 'user_factors' must have the same dtype; got float64 and float32"),
        (dict(item_factors=np.ones((3, 5))), ValueError, r"'item_factors' and 'user_factors' must have the same number of columns"),
        (dict(user_factors=np.ones((3, 2))), ValueError, r"'indptr' must have n_rows \+ 1 = 4 entries; got 3"),
        (dict(user_factors=np.array([[np.nan, 0], [0, 0]])), ValueError, r"'user_factors' must be finite; got nan at row 0"),
        (dict(item_factors=np.full((3, 2), -np.inf)), ValueError, r"'item_factors' must be finite; got -inf at row 0"),
        (dict(regularization=-1), ValueError, r"als_loss: 'regularization' must be a finite number >= 0; got -1"),
        (dict(confidence=np.array([1.0, 2.0, np.inf])), ValueError, r"'confidence' must be finite; got inf at position 2"),
    ],
)
def test_bad_arguments_to_als_loss_name_the_argument(change, error, message):
    arguments = dict(indptr=np.array([0, 1, 3]), indices=np.array([0, 1, 2]), confidence=np.array([2.0, 3.0, 1.5]),
                     user_factors=np.ones((2, 2)), item_factors=np.ones((3, 2)), regularization=0.1)
    with pytest.raises(error, match=message):
        als_loss(**{**arguments, **change})


# === per-row regularisation: row_regularization, user_regularization, item_regularization ======

def row_penalties(rng, n_rows, dtype=np.float64):
    """λ_u in [0, 2), some exactly 0 (a row with only the flat λ)."""
    rows = 2 * rng.random(n_rows)
    rows[::5] = 0
    return rows.astype(dtype)


def systems_per_row(problem, rows, regularization=LAMBDA):
    """Each row's (A_u, b_u) with (λ + λ_u) I, in float64, straight from the formula."""
    for (a, b), lam in zip(systems(problem, regularization), rows.astype(np.float64)):
        yield a + lam * np.eye(a.shape[0]), b


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("regularization", [LAMBDA, 0.0])
def test_reference_solves_each_rows_normal_equations_with_its_own_lambda(problems, case, regularization):
    problem = problems[case]
    # λ_u > 0 where λ is 0: rows with low confidences stay positive definite.
    rows = row_penalties(np.random.default_rng(3), problem[0].size - 1) + (regularization == 0)
    got = half_step(problem, "reference", regularization=regularization, row_regularization=rows)
    for u, (a, b) in enumerate(systems_per_row(problem, rows, regularization)):
        expected = np.zeros_like(b) if problem[0][u] == problem[0][u + 1] else np.linalg.solve(a, b)
        np.testing.assert_allclose(got[u], expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [0, 3])
def test_twins_match_the_reference_with_row_regularization(problems, case, backend, dtype, cg_steps):
    rows = row_penalties(np.random.default_rng(5), problems[case][0].size - 1)
    problem = as_dtypes(problems[case], dtype, np.int32 if cg_steps else np.int64)
    expected = half_step(problems[case], "reference", cg_steps=cg_steps, row_regularization=rows)
    got = half_step(problem, backend, cg_steps=cg_steps, row_regularization=rows)
    assert got.dtype == dtype
    assert_close_rows(got, expected, F32_RTOL if dtype == np.float32 else (F64_RTOL if not cg_steps else 1e-9))


@pytest.mark.parametrize("backend", BACKENDS + COMPILED[1:])
@pytest.mark.parametrize("cg_steps", [0, 2])
def test_no_row_regularization_is_the_flat_lambda_to_the_bit(problems, backend, cg_steps):
    problem = problems["duplicates and low confidence"]
    flat = half_step(problem, backend, cg_steps=cg_steps)
    np.testing.assert_array_equal(half_step(problem, backend, cg_steps=cg_steps, row_regularization=None), flat)
    # λ_u = 0 adds exact zeros to the diagonal (Cholesky); in CG, adding 0 · v changes no value.
    zeros = np.zeros(problem[0].size - 1)
    np.testing.assert_array_equal(half_step(problem, backend, cg_steps=cg_steps, row_regularization=zeros), flat)
    # And the flat λ moved into every row's λ_u solves the same systems.
    moved = half_step(problem, backend, cg_steps=cg_steps, regularization=0.0, row_regularization=zeros + LAMBDA)
    assert_close_rows(moved, flat, 1e-9)


@pytest.mark.parametrize("backend", BACKENDS + COMPILED[1:])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [0, 2])
def test_row_regularization_on_empty_one_entry_and_duplicate_rows(backend, dtype, cg_steps):
    # Rows 0 and 2 empty (λ_u 5 and 0), row 1 one entry, row 3 item 0 twice.
    csr = (np.array([0, 0, 1, 1, 3], np.int32), np.array([2, 0, 0], np.int32), np.array([4.0, 1.0, 2.0], dtype))
    y = np.array([[1.0, 0.5], [0.0, 2.0], [1.0, 1.0]], dtype=dtype)
    x = np.full((4, 2), 0.3, dtype=dtype)
    with twin_variant(backend) as name:
        als_half_step(*csr, y, x, regularization=0.1, row_regularization=np.array([5.0, 0.7, 0.0, 2.5]),
                      cg_steps=cg_steps, backend=name)
    np.testing.assert_array_equal(x[[0, 2]], 0)  # empty rows: x = 0 whatever λ_u
    gram = y.astype(np.float64).T @ y + 0.1 * np.eye(2)
    y0 = y[0].astype(np.float64)
    expected = {1: np.linalg.solve(gram + 3 * np.outer(y[2], y[2]) + 0.7 * np.eye(2), 4 * y[2]),
                3: np.linalg.solve(gram + np.outer(y0, y0) + 2.5 * np.eye(2), 3 * y0)}
    for u, want in expected.items():  # two CG steps solve a 2 x 2 system, too
        np.testing.assert_allclose(x[u], want, rtol=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cg_steps", [0, 3])
def test_row_regularization_results_do_not_depend_on_thread_count(rng, backend, dtype, cg_steps):
    problem = make_problem(rng, 97, 1001, 16, 40, dtype=dtype, index_dtype=np.int32)
    rows = row_penalties(rng, 97, dtype)
    results = [half_step(problem, backend, cg_steps=cg_steps, row_regularization=rows, n_threads=n)
               for n in (1, 2, 3)]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    users = rows.astype(np.float64)
    items = row_penalties(rng, 1001)
    losses = [loss(problem, results[0], backend, user_regularization=users, item_regularization=items, n_threads=n)
              for n in (1, 2, 3)]
    assert losses[0] == losses[1] == losses[2]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
def test_loss_with_per_row_lambda_matches_the_dense_computation(problems, case, backend):
    problem = problems[case]
    x, y = problem[4], problem[3]
    rng = np.random.default_rng(8)
    users, items = row_penalties(rng, x.shape[0]), row_penalties(rng, y.shape[0])
    expected = (dense_loss(problem, x) + np.sum(users * np.sum(x.astype(np.float64) ** 2, axis=1))
                + np.sum(items * np.sum(y.astype(np.float64) ** 2, axis=1)))
    got = loss(problem, x, backend, user_regularization=users, item_regularization=items)
    assert got == pytest.approx(expected, rel=1e-10)
    assert loss(problem, x, backend, user_regularization=None, item_regularization=None) == loss(problem, x, backend)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n_rows=st.integers(0, 6), n_other=st.integers(1, 8), f=st.integers(1, 6),
       cg_steps=st.integers(0, 3))
def test_property_every_twin_equals_the_reference_with_row_regularization(data, n_rows, n_other, f, cg_steps):
    # λ = 0 and λ_u in [0.5, 4]: every A_u ⪰ 0.5 I with confidences >= 1.
    rows = [data.draw(st.lists(st.integers(0, n_other - 1), max_size=12)) for _ in range(n_rows)]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    confidence = data.draw(hnp.arrays(np.float64, indices.size, elements=st.floats(1, 20)))
    other = data.draw(hnp.arrays(np.float64, (n_other, f), elements=st.floats(-2, 2)))
    warm = data.draw(hnp.arrays(np.float64, (n_rows, f), elements=st.floats(-1, 1)))
    penalties = data.draw(hnp.arrays(np.float64, n_rows, elements=st.floats(0.5, 4)))
    problem = (indptr, indices, confidence, other, warm)
    expected = half_step(problem, "reference", cg_steps=cg_steps, regularization=0.0, row_regularization=penalties)
    for backend in COMPILED:
        got = half_step(problem, backend, cg_steps=cg_steps, regularization=0.0, row_regularization=penalties)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def test_row_regularization_is_cast_to_the_factors_dtype_and_not_modified():
    arguments = good_arguments()
    rows = np.array([1, 2])  # integers: cast
    als_half_step(**arguments, row_regularization=rows)
    again = good_arguments()
    als_half_step(**again, row_regularization=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(arguments["factors"], again["factors"])
    assert rows.dtype.kind == "i"


@pytest.mark.parametrize(
    "rows, error, message",
    [
        (np.ones(3), ValueError,
         r"als_half_step: 'row_regularization' must be a 1-D array with one value per row of 'factors' \(2\); "
         r"got shape \(3,\)"),
        (np.ones((2, 1)), ValueError, r"'row_regularization' must be a 1-D array .* got shape \(2, 1\)"),
        (np.array([0.5, -0.1]), ValueError,
         r"als_half_step: 'row_regularization' must be made of values >= 0 \(a penalty per row\); got -0\.1 at "
         r"position 1"),
        (np.array([np.nan, 1.0]), ValueError, r"als_half_step: 'row_regularization' must be finite; got nan at position 0"),
        (np.array([np.inf, 1.0]), ValueError, r"'row_regularization' must be finite; got inf at position 0"),
        (np.array(["a", "b"]), TypeError, r"als_half_step: 'row_regularization' must hold real numbers; got dtype <U1"),
        (np.array([1 + 1j, 1]), TypeError, r"'row_regularization' must hold real numbers; got dtype complex128"),
        ("0.1", ValueError, r"'row_regularization' must be a 1-D array"),
        (0.1, ValueError, r"'row_regularization' must be a 1-D array"),
    ],
)
def test_bad_row_regularization_names_the_argument(rows, error, message):
    with pytest.raises(error, match=message):
        als_half_step(**good_arguments(), row_regularization=rows)


def test_row_regularization_beyond_float32_is_refused():
    arguments = {**good_arguments(), "other_factors": np.ones((3, 2), np.float32), "factors": np.zeros((2, 2), np.float32)}
    with pytest.raises(ValueError, match=r"'row_regularization' holds 1e\+300 at position 0, beyond the range of float32"):
        als_half_step(**arguments, row_regularization=np.array([1e300, 0.0]))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(user_regularization=np.ones(3)), r"als_loss: 'user_regularization' must be a 1-D array with one value "
                                               r"per row of 'user_factors' \(2\); got shape \(3,\)"),
        (dict(item_regularization=np.ones(2)), r"'item_regularization' must be a 1-D array with one value per row of "
                                               r"'item_factors' \(3\)"),
        (dict(user_regularization=np.array([1.0, -1.0])), r"als_loss: 'user_regularization' must be made of values >= 0"),
        (dict(item_regularization=np.array([1.0, np.nan, 0])), r"'item_regularization' must be finite; got nan"),
    ],
)
def test_bad_per_row_lambda_to_als_loss_names_the_argument(change, message):
    arguments = dict(indptr=np.array([0, 1, 3]), indices=np.array([0, 1, 2]), confidence=np.array([2.0, 3.0, 1.5]),
                     user_factors=np.ones((2, 2)), item_factors=np.ones((3, 2)), regularization=0.1)
    with pytest.raises(ValueError, match=message):
        als_loss(**{**arguments, **change})


# === explicit ratings: als_explicit_half_step =================================================

MU, REG_F, REG_B = 3.5, 0.05, 0.02


def make_explicit(rng, *args, dtype=np.float64, index_dtype=np.int64, **kwargs):
    """make_problem's CSR and Y, with ratings in 1..5 and item biases c: (indptr, indices, r, Y, c)."""
    indptr, indices, _, other, _ = make_problem(rng, *args, dtype=dtype, index_dtype=index_dtype, **kwargs)
    ratings = rng.integers(1, 6, indices.size).astype(dtype)
    other_bias = (0.3 * rng.standard_normal(other.shape[0])).astype(dtype)
    return indptr, indices, ratings, other, other_bias


def explicit_step(problem, backend, reg_factors=REG_F, reg_bias=REG_B, global_mean=MU, fill=7.0, **kwargs):
    """(factors, bias) after one half-step from arrays filled with ``fill`` (never read)."""
    indptr, indices, ratings, other, other_bias = problem
    factors = np.full((indptr.size - 1, other.shape[1]), fill, dtype=other.dtype)
    bias = np.full(indptr.size - 1, fill, dtype=other.dtype)
    with twin_variant(backend) as name:
        result = als_explicit_half_step(
            indptr, indices, ratings, other, other_bias, factors, bias, global_mean=global_mean,
            reg_factors=reg_factors, reg_bias=reg_bias, backend=name, **kwargs,
        )
    assert result[0] is factors and result[1] is bias
    return factors, bias


def explicit_oracle(problem, reg_factors=REG_F, reg_bias=REG_B, global_mean=MU):
    """Each row's (x_u, b_u) as a least-squares problem, in float64: the penalty as extra rows.

    min ‖D z − t‖² + n_u (λ_b b² + λ_f ‖x‖²) = min ‖[D; √(n_u Λ)] z − [t; 0]‖², D's rows (y_j, 1).
    """
    indptr, indices, ratings, other, other_bias = (np.asarray(a, dtype=np.float64) if a.dtype.kind == "f" else a
                                                   for a in problem)
    f = other.shape[1]
    x, b = np.zeros((indptr.size - 1, f)), np.zeros(indptr.size - 1)
    for u in range(indptr.size - 1):
        items = indices[indptr[u]:indptr[u + 1]]
        if items.size == 0:
            continue
        design = np.hstack([other[items], np.ones((items.size, 1))])
        penalty = np.diag(np.sqrt(items.size * np.append(np.full(f, reg_factors), reg_bias)))
        target = ratings[indptr[u]:indptr[u + 1]] - global_mean - other_bias[items]
        z = np.linalg.lstsq(np.vstack([design, penalty]), np.append(target, np.zeros(f + 1)), rcond=None)[0]
        x[u], b[u] = z[:f], z[f]
    return x, b


def explicit_conditions(problem, reg_factors=REG_F, reg_bias=REG_B):
    indptr, indices, _, other, _ = problem
    y = other.astype(np.float64)
    out = [1.0]
    for u in range(indptr.size - 1):
        items = indices[indptr[u]:indptr[u + 1]]
        if items.size:
            design = np.hstack([y[items], np.ones((items.size, 1))])
            a = design.T @ design + items.size * np.diag(np.append(np.full(y.shape[1], reg_factors), reg_bias))
            out.append(np.linalg.cond(a))
    return np.array(out)


def assert_close_explicit(got, expected, rtol):
    """Rows of (x_u, b_u) within rtol of the expected row's norm."""
    assert_close_rows(np.column_stack([got[0], got[1]]).astype(np.float64),
                      np.column_stack([expected[0], expected[1]]), rtol)


@pytest.fixture(scope="module")
def explicit_problems():
    rng = np.random.default_rng(12)
    cases = {
        "typical": make_explicit(rng, 97, 1001, 16, 25),
        "duplicates": make_explicit(rng, 40, 60, 8, 12, duplicates=True),
        "more factors than items": make_explicit(rng, 30, 5, 12, 3),
        "one factor": make_explicit(rng, 25, 40, 1, 4),
        "odd width": make_explicit(rng, 31, 200, 21, 30),
        "a full tile (f + 1 = 16)": make_explicit(rng, 20, 100, 15, 20),
        "long rows": make_explicit(rng, 6, 3000, 24, 1500),
    }
    for name, problem in cases.items():
        assert explicit_conditions(problem).max() < 1e3, name
    return cases


EXPLICIT_CASES = ["typical", "duplicates", "more factors than items", "one factor", "odd width",
                  "a full tile (f + 1 = 16)", "long rows"]


def explicit_as(problem, dtype, index_dtype):
    indptr, indices, ratings, other, other_bias = problem
    return (indptr.astype(index_dtype), indices.astype(index_dtype), ratings.astype(dtype), other.astype(dtype),
            other_bias.astype(dtype))


@pytest.mark.parametrize("case", EXPLICIT_CASES)
def test_explicit_reference_solves_the_penalised_least_squares_problem(explicit_problems, case):
    problem = explicit_problems[case]
    assert_close_explicit(explicit_step(problem, "reference"), explicit_oracle(problem), 1e-9)


def test_explicit_hand_computed_one_factor_case():
    # Y = (1, 2)ᵀ, c = (0.5, −0.5), μ = 3, λ_f = 0.5, λ_b = 0.25.
    # Row 0: items 0 (r = 4) and 1 (r = 2), n = 2: targets 0.5 and −0.5, rows (1, 1) and (2, 1):
    #   A = [[1 + 4 + 1, 1 + 2], [3, 2 + 0.5]] = [[6, 3], [3, 2.5]], b = (0.5 − 1, 0.5 − 0.5) = (−0.5, 0),
    #   det = 6, so z = A⁻¹ b = [[2.5, −3], [−3, 6]] b / 6 = (−1.25, 1.5) / 6 = (−5/24, 1/4).
    # Row 1: empty. Row 2: item 1 twice (r = 5, 4), n = 2: targets 2.5, 1.5, rows (2, 1) twice:
    #   A = [[8 + 1, 4], [4, 2 + 0.5]] = [[9, 4], [4, 2.5]], b = (8, 4); det = 6.5, z = (4, 4) / 6.5.
    indptr = np.array([0, 2, 2, 4])
    indices = np.array([0, 1, 1, 1])
    ratings = np.array([4.0, 2.0, 5.0, 4.0])
    y, c = np.array([[1.0], [2.0]]), np.array([0.5, -0.5])
    for backend in BACKENDS + ["cython-blas"]:
        for dtype in FLOATS:
            for index_dtype in INDEX:
                problem = (indptr.astype(index_dtype), indices.astype(index_dtype), ratings.astype(dtype),
                           y.astype(dtype), c.astype(dtype))
                x, b = explicit_step(problem, backend, reg_factors=0.5, reg_bias=0.25, global_mean=3.0)
                rtol = 1e-6 if dtype == np.float32 else 1e-14
                np.testing.assert_allclose(x[:, 0], [-5 / 24, 0, 4 / 6.5], rtol=rtol, atol=1e-7, err_msg=backend)
                np.testing.assert_allclose(b, [0.25, 0, 4 / 6.5], rtol=rtol, atol=1e-7, err_msg=backend)


@pytest.mark.parametrize("case", EXPLICIT_CASES)
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_explicit_twins_match_the_reference(explicit_problems, case, backend, dtype, index_dtype):
    expected = explicit_step(explicit_problems[case], "reference")  # float64: the float32 twins' target too
    got = explicit_step(explicit_as(explicit_problems[case], dtype, index_dtype), backend)
    assert got[0].dtype == got[1].dtype == dtype
    assert_close_explicit(got, expected, F32_RTOL if dtype == np.float32 else F64_RTOL)


@pytest.mark.parametrize("backend", BACKENDS + COMPILED[1:])
@pytest.mark.parametrize("dtype", FLOATS)
def test_explicit_empty_and_single_entry_rows(backend, dtype):
    # One entry, item 2 (y = (1, 1), c = 0.2), r = 4.5, μ = 3.5: target 0.8; n = 1, λ = 0.1:
    # A = [[1.1, 1, 1], [1, 1.1, 1], [1, 1, 1.1]], b = 0.8 (1, 1, 1), so z = 0.8 / 3.1 (1, 1, 1).
    y = np.array([[1.0, 0.5], [0.0, 2.0], [1.0, 1.0]], dtype=dtype)
    problem = (np.array([0, 0, 1, 1], dtype=np.int32), np.array([2], dtype=np.int32), np.array([4.5], dtype=dtype),
               y, np.array([0.0, 0.0, 0.2], dtype=dtype))
    x, b = explicit_step(problem, backend, reg_factors=0.1, reg_bias=0.1)
    np.testing.assert_array_equal(x[[0, 2]], 0)
    np.testing.assert_array_equal(b[[0, 2]], 0)
    np.testing.assert_allclose(np.append(x[1], b[1]), np.full(3, 0.8 / 3.1), rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_explicit_no_rows_and_no_items(backend, dtype):
    empty = (np.array([0]), np.array([], dtype=np.int64), np.array([], dtype=dtype), np.ones((4, 3), dtype=dtype),
             np.zeros(4, dtype=dtype))
    x, b = explicit_step(empty, backend)
    assert x.shape == (0, 3) and b.shape == (0,)
    no_items = (np.zeros(4, dtype=np.int64), np.array([], dtype=np.int64), np.array([], dtype=dtype),
                np.zeros((0, 3), dtype=dtype), np.zeros(0, dtype=dtype))
    x, b = explicit_step(no_items, backend)
    np.testing.assert_array_equal(x, 0)
    np.testing.assert_array_equal(b, 0)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
def test_explicit_results_do_not_depend_on_thread_count(rng, backend, dtype):
    problem = make_explicit(rng, 97, 1001, 16, 40, dtype=dtype, index_dtype=np.int32)
    results = [explicit_step(problem, backend, n_threads=n) for n in (1, 2, 3)]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0][0], other[0])
        np.testing.assert_array_equal(results[0][1], other[1])


def explicit_objective(problem, x_rows, b_rows, x_cols, b_cols, reg_factors=REG_F, reg_bias=REG_B):
    """The ALS-WR objective over the stored ratings, in float64, rows and columns penalised by their counts."""
    indptr, indices, ratings = problem[:3]
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    x_rows, x_cols = x_rows.astype(np.float64), x_cols.astype(np.float64)
    residual = ratings - MU - b_rows[rows] - b_cols[indices] - np.einsum("pf,pf->p", x_rows[rows], x_cols[indices])
    n_rows, n_cols = np.diff(indptr), np.bincount(indices, minlength=x_cols.shape[0])
    return (np.sum(residual**2)
            + np.sum(n_rows * (reg_bias * b_rows**2 + reg_factors * np.sum(x_rows**2, axis=1)))
            + np.sum(n_cols * (reg_bias * b_cols**2 + reg_factors * np.sum(x_cols**2, axis=1))))


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_explicit_objective_never_increases_over_alternating_half_steps(rng, backend, dtype):
    indptr, indices, ratings, items, _ = make_explicit(rng, 60, 80, 6, 10, dtype=dtype)
    item_bias = np.zeros(items.shape[0], dtype=dtype)
    users, user_bias = np.zeros((60, 6), dtype=dtype), np.zeros(60, dtype=dtype)
    t_indptr, t_indices, t_ratings = _transpose(indptr, indices, ratings, items.shape[0])
    problem = (indptr, indices, ratings)
    common = dict(global_mean=MU, reg_factors=REG_F, reg_bias=REG_B)
    losses = []
    with twin_variant(backend) as name:
        for _ in range(6):
            als_explicit_half_step(indptr, indices, ratings, items, item_bias, users, user_bias, backend=name, **common)
            losses.append(explicit_objective(problem, users, user_bias, items, item_bias))
            als_explicit_half_step(t_indptr, t_indices, t_ratings, users, user_bias, items, item_bias, backend=name,
                                   **common)
            losses.append(explicit_objective(problem, users, user_bias, items, item_bias))
    slack = 1e-5 if dtype == np.float32 else 1e-12
    assert all(b <= a * (1 + slack) for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.8 * losses[0]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n_rows=st.integers(0, 6), n_other=st.integers(1, 8), f=st.integers(1, 6),
       index_dtype=st.sampled_from(INDEX))
def test_property_every_explicit_twin_equals_the_reference(data, n_rows, n_other, f, index_dtype):
    # Entries of Y in [-2, 2] and λ = 0.5 keep every system ⪰ 0.5 n_u I.
    rows = [data.draw(st.lists(st.integers(0, n_other - 1), max_size=12)) for _ in range(n_rows)]
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=index_dtype)
    ratings = data.draw(hnp.arrays(np.float64, indices.size, elements=st.floats(-5, 5)))
    other = data.draw(hnp.arrays(np.float64, (n_other, f), elements=st.floats(-2, 2)))
    other_bias = data.draw(hnp.arrays(np.float64, n_other, elements=st.floats(-1, 1)))
    problem = (indptr, indices, ratings, other, other_bias)
    expected = explicit_step(problem, "reference", reg_factors=0.5, reg_bias=0.5)
    for backend in COMPILED:
        got = explicit_step(problem, backend, reg_factors=0.5, reg_bias=0.5)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS + ["cython-blas"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_explicit_singular_systems_raise_naming_the_row_and_keep_it(backend, dtype):
    # No penalty: a row with one entry has the singular system ỹỹᵀ (rank 1 in 3 dimensions); a
    # row with three entries whose (y, 1) are independent is fine.
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
    problem = (np.array([0, 3, 4, 7]), np.array([0, 1, 2, 1, 0, 1, 2]),
               np.array([4.0, 3.0, 5.0, 2.0, 1.0, 2.0, 3.0], dtype=dtype), y, np.zeros(3, dtype=dtype))
    indptr, indices, ratings, other, other_bias = problem
    x, b = np.full((3, 2), 9.0, dtype=dtype), np.full(3, 9.0, dtype=dtype)
    with twin_variant(backend) as name, pytest.raises(
        ValueError,
        match=r"als_explicit_half_step: the Cholesky solve failed on 1 of 3 row\(s\) \(first: row 1\): .*not "
              r"positive definite\. Raise 'reg_factors' \(now 0\.0\) and 'reg_bias' \(now 0\.0\)",
    ):
        als_explicit_half_step(indptr, indices, ratings, other, other_bias, x, b, global_mean=0.0,
                               reg_factors=0.0, reg_bias=0.0, backend=name)
    np.testing.assert_array_equal(x[1], 9.0)
    assert b[1] == 9.0
    # Three independent rows and no penalty: the exact interpolation of the three ratings.
    np.testing.assert_allclose(np.r_[x[0], b[0]], np.linalg.solve(np.c_[y, np.ones(3)], ratings[:3]), rtol=1e-4)


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_explicit_mixed_index_dtypes_and_integer_ratings_are_converted(rng, backend):
    indptr, indices, ratings, other, other_bias = make_explicit(rng, 30, 50, 5, 6)
    expected = explicit_step((indptr, indices, ratings, other, other_bias), "reference")
    got = explicit_step((indptr.astype(np.int32), indices, ratings.astype(np.int64), other,
                         other_bias.astype(np.float32)), backend)
    assert_close_explicit(got, expected, F64_RTOL)


def good_explicit_arguments():
    return dict(
        indptr=np.array([0, 1, 3]), indices=np.array([0, 1, 2]), ratings=np.array([2.0, 3.0, 1.5]),
        other_factors=np.ones((3, 2)), other_bias=np.zeros(3), factors=np.zeros((2, 2)), bias=np.zeros(2),
        global_mean=2.0, reg_factors=0.1, reg_bias=0.1,
    )


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(bias=[0.0, 0.0]), TypeError, r"als_explicit_half_step: 'bias' must be a NumPy array"),
        (dict(bias=np.zeros(3)), ValueError, r"'bias' must be a 1-D array with one value per row of 'factors' \(2\); got shape \(3,\)"),
        (dict(bias=np.zeros(2, dtype=np.float32)), TypeError, r"'bias' and 'factors' must have the same dtype"),
        (dict(bias=np.zeros(4)[::2]), ValueError, r"'bias' must be C-contiguous and writable"),
        (dict(factors=np.zeros((2, 2), dtype=np.float32)), TypeError, r"'other_factors' and 'factors' must have the same dtype"),
        (dict(other_bias=np.zeros(2)), ValueError, r"'other_bias' must be a 1-D array with one value per row of 'other_factors' \(3\)"),
        (dict(other_bias=np.array([0.0, np.nan, 0.0])), ValueError, r"'other_bias' must be finite; got nan at position 1"),
        (dict(ratings=np.array([2.0, 3.0])), ValueError, r"'ratings' must be a 1-D array with one value per stored entry"),
        (dict(ratings=np.array([2.0, np.inf, 1.0])), ValueError, r"'ratings' must be finite; got inf at position 1"),
        (dict(global_mean=np.nan), ValueError, r"'global_mean' must be a finite number; got nan"),
        (dict(global_mean="3"), TypeError, r"'global_mean' must be a finite number; got '3'"),
        (dict(reg_factors=-1.0), ValueError, r"'reg_factors' must be a finite number >= 0; got -1\.0"),
        (dict(reg_bias=None), TypeError, r"'reg_bias' must be a finite number >= 0; got None"),
        (dict(indices=np.array([0, 1, 3])), ValueError, r"'indices' must lie in \[0, 3\)"),
        (dict(n_threads=0), ValueError, r"als_explicit_half_step: 'n_threads' must be an int >= 1 or None; got 0"),
    ],
)
def test_bad_arguments_to_als_explicit_half_step_name_the_argument(change, error, message):
    with pytest.raises(error, match=message):
        als_explicit_half_step(**{**good_explicit_arguments(), **change})


def test_explicit_outputs_must_not_share_memory_with_inputs():
    arguments = good_explicit_arguments()
    buffer = np.zeros(6)
    with pytest.raises(ValueError, match=r"'factors' and 'bias' must not share memory"):
        als_explicit_half_step(**{**arguments, "factors": buffer[:4].reshape(2, 2), "bias": buffer[3:5]})
    square = np.ones((3, 2))
    shared = dict(indptr=[0, 1, 2, 3], factors=square, bias=np.zeros(3), other_factors=square)
    with pytest.raises(ValueError, match=r"'factors' and 'other_factors' must not share memory"):
        als_explicit_half_step(**{**arguments, **shared})
    bias = np.zeros(3)
    with pytest.raises(ValueError, match=r"'bias' and 'other_bias' must not share memory"):
        als_explicit_half_step(**{**arguments, "indptr": [0, 1, 2, 3], "factors": np.zeros((3, 2)), "bias": bias,
                                  "other_bias": bias})
