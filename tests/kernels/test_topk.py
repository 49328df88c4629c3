"""select_topk: the reference against a brute-force oracle, every twin against the reference."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastcf.kernels import select_topk

BACKENDS = ["reference", "numba", "cython"]
COMPILED = ["numba", "cython"]
FLOATS = [np.float32, np.float64]
INDEX = [np.int32, np.int64]


def oracle(scores, k, excluded_lists):
    """Brute force straight from the definition: sort admissible (-score, item) pairs."""
    n_rows = scores.shape[0]
    items = np.full((n_rows, k), -1, dtype=np.int64)
    top = np.full((n_rows, k), -np.inf, dtype=scores.dtype)
    for r in range(n_rows):
        admissible = sorted(
            (-scores[r, j], j) for j in range(scores.shape[1]) if j not in set(excluded_lists[r])
        )[:k]
        for pos, (negative_score, j) in enumerate(admissible):
            items[r, pos] = j
            top[r, pos] = -negative_score
    return items, top


def as_csr(excluded_lists, dtype=np.int64):
    indptr = np.zeros(len(excluded_lists) + 1, dtype=dtype)
    indptr[1:] = np.cumsum([len(row) for row in excluded_lists])
    flat = [j for row in excluded_lists for j in row]
    return indptr, np.asarray(flat, dtype=dtype)


def run(scores, k, excluded_lists=None, backend="reference", index_dtype=np.int64, **kwargs):
    if excluded_lists is None:
        return select_topk(scores, k, backend=backend, **kwargs)
    indptr, indices = as_csr(excluded_lists, index_dtype)
    return select_topk(scores, k, exclude_indptr=indptr, exclude_indices=indices, backend=backend, **kwargs)


def assert_same(got, expected):
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[0].dtype == np.int64
    assert got[1].dtype == expected[1].dtype


def random_exclusions(rng, n_rows, n_items, max_per_row):
    return [
        list(rng.integers(0, n_items, rng.integers(0, max_per_row + 1))) if n_items else []
        for _ in range(n_rows)
    ]


# --- adversarial cases, each checked against the oracle for every twin ----------------------

def adversarial_cases():
    rng = np.random.default_rng(7)
    ties = rng.integers(0, 3, (6, 20)).astype(float)
    cases = {
        "random": (rng.standard_normal((9, 40)), 5, random_exclusions(rng, 9, 40, 6)),
        "ties everywhere": (ties, 7, random_exclusions(rng, 6, 20, 4)),
        "all equal": (np.zeros((3, 12)), 5, [[0, 1], [], [11]]),
        "one item": (np.array([[2.0], [1.0], [3.0]]), 1, [[], [0], []]),
        "k larger than items": (rng.random((4, 6)), 10, [[1], [], [0, 5], [2, 2, 2]]),
        "huge k": (rng.random((2, 3)), 1000, [[], [1]]),
        "every item excluded": (rng.random((3, 4)), 2, [[0, 1, 2, 3], [3, 2, 1, 0, 0], []]),
        "duplicate and unsorted exclusions": (rng.random((2, 10)), 4, [[9, 1, 9, 1, 5], [0, 0]]),
        "infinities": (
            np.array([[-np.inf, 1.0, np.inf, -np.inf, 0.0], [-np.inf] * 5, [np.inf] * 5]),
            4,
            [[2], [0, 4], [1]],
        ),
        "-inf admissible beside excluded": (np.array([[-np.inf, 5.0, -np.inf, -np.inf]]), 3, [[1, 2]]),
        "negative zero ties zero": (np.array([[0.0, -0.0, 0.0, -1.0]]), 3, [[]]),
        "no items": (np.zeros((3, 0)), 2, [[], [], []]),
        "no rows": (np.zeros((0, 5)), 3, []),
        "k equals items": (rng.random((3, 8)), 8, [[], [7], [0]]),
    }
    return cases


CASES = adversarial_cases()


@pytest.mark.parametrize("case", list(CASES))
def test_reference_matches_brute_force(case):
    scores, k, excluded = CASES[case]
    for dtype in FLOATS:
        s = scores.astype(dtype)
        assert_same(run(s, k, excluded, "reference"), oracle(s, k, excluded))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_compiled_twins_match_reference_on_adversarial_inputs(case, backend, dtype, index_dtype):
    scores, k, excluded = CASES[case]
    s = scores.astype(dtype)
    expected = run(s, k, excluded, "reference", index_dtype)
    assert_same(run(s, k, excluded, backend, index_dtype), expected)
    assert_same(run(s, k, excluded, backend, index_dtype, n_threads=1), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_when_fewer_admissible_items_than_k(backend):
    scores = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    items, top = run(scores, 5, [[0], [0, 1, 2]], backend)
    np.testing.assert_array_equal(items, [[2, 1, -1, -1, -1], [-1] * 5])
    np.testing.assert_array_equal(top, [[2.0, 1.0] + [-np.inf] * 3, [-np.inf] * 5])


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_go_to_the_lower_item_index(backend):
    scores = np.array([[1.0, 5.0, 5.0, 1.0, 5.0, 1.0]])
    items, _ = run(scores, 5, None, backend)
    np.testing.assert_array_equal(items, [[1, 2, 4, 0, 3]])


# --- random inputs: twins equal the reference, at any thread count -------------------------

@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
@pytest.mark.parametrize("k", [1, 10, 500, 1001, 1500])
def test_results_do_not_depend_on_thread_count(rng, backend, dtype, index_dtype, k):
    # Coarse values give many ties, which is where an unstable selection would show.
    scores = np.round(rng.standard_normal((97, 1001)), 1).astype(dtype)
    excluded = random_exclusions(rng, 97, 1001, 150)
    expected = run(scores, k, excluded, "reference", index_dtype)
    for n_threads in (1, 2, 3):
        assert_same(run(scores, k, excluded, backend, index_dtype, n_threads=n_threads), expected)


@settings(max_examples=60, deadline=None)
@given(
    scores=hnp.arrays(
        dtype=st.sampled_from(FLOATS),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12),
        elements=st.floats(-3, 3, allow_nan=False, width=32) | st.sampled_from([np.inf, -np.inf, 0.0]),
    ),
    k=st.integers(1, 15),
    data=st.data(),
)
def test_property_every_twin_equals_brute_force(scores, k, data):
    n_rows, n_items = scores.shape
    item = st.integers(0, max(n_items - 1, 0))
    excluded = [
        data.draw(st.lists(item, max_size=n_items + 2)) if n_items else [] for _ in range(n_rows)
    ]
    index_dtype = data.draw(st.sampled_from(INDEX))
    expected = oracle(scores, k, excluded)
    for backend in BACKENDS:
        assert_same(run(scores, k, excluded, backend, index_dtype), expected)


# --- input handling -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_are_not_modified_and_read_only_inputs_work(rng, backend):
    scores = rng.random((5, 30))
    indptr, indices = as_csr(random_exclusions(rng, 5, 30, 5), np.int32)
    for array in (scores, indptr, indices):
        array.flags.writeable = False
    before = scores.copy(), indptr.copy(), indices.copy()
    select_topk(scores, 4, exclude_indptr=indptr, exclude_indices=indices, backend=backend)
    for array, copy in zip((scores, indptr, indices), before):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("backend", COMPILED)
def test_non_contiguous_and_integer_inputs_are_accepted(rng, backend):
    base = rng.integers(0, 50, (8, 40))
    for scores in (base, base[:, ::2], np.asfortranarray(base), base.astype(np.float16)):
        expected = run(np.ascontiguousarray(scores, dtype=float), 3, None, "reference")
        items, top = run(scores, 3, None, backend)
        np.testing.assert_array_equal(items, expected[0])
        np.testing.assert_array_equal(top.astype(float), expected[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_index_dtypes_unsigned_and_big_endian_inputs(rng, backend):
    scores = rng.random((3, 9))
    indptr = np.array([0, 2, 2, 3], dtype=np.int32)
    indices = np.array([8, 1, 4], dtype=np.uint64)
    expected = oracle(scores, 9, [[8, 1], [], [4]])
    got = select_topk(scores, 9, exclude_indptr=indptr, exclude_indices=indices, backend=backend)
    assert_same(got, expected)
    swapped = select_topk(
        scores.astype(">f8"), 9, exclude_indptr=indptr.astype(">i4"), exclude_indices=indices.astype(">u8"),
        backend=backend,
    )
    assert_same(swapped, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_raises_naming_the_first_row(backend, dtype):
    scores = np.zeros((6, 5), dtype=dtype)
    scores[4, 1] = np.nan
    scores[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"'scores' holds NaN in 2 row\(s\) \(first: row 2\)"):
        select_topk(scores, 2, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_an_excluded_place_still_raises(backend):
    # A NaN score means the model is broken; hiding it behind an exclusion would hide that.
    scores = np.array([[1.0, np.nan, 2.0]])
    with pytest.raises(ValueError, match=r"first: row 0"):
        select_topk(scores, 1, exclude_indptr=[0, 1], exclude_indices=[1], backend=backend)


@pytest.mark.parametrize(
    "k, error, message",
    [
        (0, ValueError, r"select_topk: 'k' must be an int >= 1; got 0\."),
        (-3, ValueError, r"'k' must be an int >= 1; got -3\."),
        (2.0, TypeError, r"'k' must be an int >= 1; got 2\.0\."),
        (True, TypeError, r"'k' must be an int >= 1; got True\."),
        (2**63, ValueError, r"'k' must be below 2\*\*63"),
        ("3", TypeError, r"'k' must be an int >= 1; got '3'\."),
    ],
)
def test_bad_k(k, error, message):
    with pytest.raises(error, match=message):
        select_topk(np.ones((2, 3)), k)


def test_numpy_integer_k_is_fine():
    items, _ = select_topk(np.array([[1.0, 2.0]]), np.int64(1))
    np.testing.assert_array_equal(items, [[1]])


@pytest.mark.parametrize(
    "scores, error, message",
    [
        (np.ones(5), ValueError, r"'scores' must be a 2-D array \(rows x items\); got 1-D with shape \(5,\)"),
        (np.ones((2, 2, 2)), ValueError, r"got 3-D with shape \(2, 2, 2\)"),
        (np.ones((2, 2), dtype=complex), TypeError, r"'scores' must hold float32 or float64 numbers; got dtype complex128"),
        (np.array([["a", "b"]]), TypeError, r"got dtype <U1"),
    ],
)
def test_bad_scores(scores, error, message):
    with pytest.raises(error, match=message):
        select_topk(scores, 1)


@pytest.mark.parametrize(
    "indptr, indices, message",
    [
        ([0, 1], [0], r"'exclude_indptr' must have n_rows \+ 1 = 3 entries; got 2"),
        ([1, 1, 2], [0, 1], r"'exclude_indptr' must start at 0; got 1"),
        ([0, 2, 1], [0, 1], r"'exclude_indptr' must be non-decreasing; it falls after row 1 \(2 -> 1\)"),
        ([0, 1, 3], [0, 1], r"'exclude_indptr'\[-1\] must equal len\('exclude_indices'\) = 2; got 3"),
        ([0, 1, 2], [0, 4], r"'exclude_indices' must lie in \[0, 4\); got 4 at position 1 \(row 1\)"),
        ([0, 1, 2], [-1, 0], r"'exclude_indices' must lie in \[0, 4\); got -1 at position 0 \(row 0\)"),
        ([[0, 1, 2]], [0, 1], r"'exclude_indptr' must be a 1-D integer array; got shape \(1, 3\)"),
        ([0.0, 1.0, 2.0], [0, 1], r"'exclude_indptr' must be an integer array; got dtype float64"),
        ([0, 1, 2], np.array([2**63, 0], dtype=np.uint64), r"must be indices within the int64 range; got 9223372036854775808"),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_exclusion_csr_is_refused_before_any_kernel_runs(indptr, indices, message, backend):
    with pytest.raises((ValueError, TypeError), match=message):
        select_topk(np.ones((2, 4)), 1, exclude_indptr=indptr, exclude_indices=indices, backend=backend)


def test_exclusions_come_as_a_pair():
    with pytest.raises(ValueError, match=r"only 'exclude_indptr' was given"):
        select_topk(np.ones((2, 4)), 1, exclude_indptr=[0, 0, 0])
    with pytest.raises(ValueError, match=r"only 'exclude_indices' was given"):
        select_topk(np.ones((2, 4)), 1, exclude_indices=[])


@pytest.mark.parametrize("n_threads, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_bad_n_threads(n_threads, error):
    with pytest.raises(error, match=r"select_topk: 'n_threads' must be an int >= 1 or None"):
        select_topk(np.ones((2, 4)), 1, n_threads=n_threads)


@pytest.mark.parametrize("backend", COMPILED)
def test_more_threads_than_cores_is_fine(rng, backend):
    scores = rng.random((50, 60))
    expected = select_topk(scores, 5, backend="reference")
    assert_same(select_topk(scores, 5, backend=backend, n_threads=64), expected)


@pytest.mark.parametrize("backend", COMPILED)
def test_concurrent_calls_from_python_threads(rng, backend):
    # Numba's default workqueue layer aborts the process here; fastcf picks a thread-safe one.
    scores = rng.random((300, 2000)).astype(np.float32)
    expected = select_topk(scores, 10, backend="reference")
    failures = []

    def work():
        try:
            for _ in range(5):
                assert_same(select_topk(scores, 10, backend=backend, n_threads=2), expected)
        except Exception as exc:  # collected and re-raised in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


# --- select_topk_dot: the fused product and selection -------------------------------------

from fastcf.kernels import select_topk_dot  # noqa: E402


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
# (300, 1300, 4) crosses the Cython twin's blocks of 128 queries and tiles of 512 (float32) or
# 256 (float64) items, with ties across tile boundaries.
@pytest.mark.parametrize("shape", [(1, 1, 1), (33, 50, 4), (97, 1001, 8), (70, 3, 5), (5, 0, 3), (0, 10, 3), (4, 6, 0),
                                   (300, 1300, 4)])
@pytest.mark.parametrize("k", [1, 7, 60])
def test_dot_equals_selecting_from_the_product(backend, dtype, index_dtype, shape, k):
    # Small integer factors make every product exact in floating point (and full of ties), so
    # twins that sum in another order must still agree exactly with the reference.
    n_rows, n_items, f = shape
    rng = np.random.default_rng(n_rows * 1000 + n_items + f)
    queries = rng.integers(-3, 4, (n_rows, f)).astype(dtype)
    items = rng.integers(-3, 4, (n_items, f)).astype(dtype)
    excluded = random_exclusions(rng, n_rows, n_items, 5)
    indptr, indices = as_csr(excluded, index_dtype)
    expected = select_topk(queries @ items.T, k, exclude_indptr=indptr, exclude_indices=indices, backend="reference")
    for n_threads in (1, 2):
        got = select_topk_dot(queries, items, k, exclude_indptr=indptr, exclude_indices=indices,
                              backend=backend, n_threads=n_threads)
        assert_same(got, expected)


@pytest.mark.parametrize("backend", COMPILED)
def test_dot_with_real_valued_factors_matches_to_rounding(rng, backend):
    queries = rng.standard_normal((200, 32)).astype(np.float32)
    items = rng.standard_normal((300, 32)).astype(np.float32)
    expected = select_topk(queries @ items.T, 10, backend="reference")
    items_got, scores_got = select_topk_dot(queries, items, 10, backend=backend)
    np.testing.assert_allclose(scores_got, expected[1], rtol=1e-5, atol=1e-5)
    assert np.mean(items_got == expected[0]) > 0.99  # only near-ties may swap


@pytest.mark.parametrize("backend", BACKENDS)
def test_dot_nan_factor_names_the_row(backend):
    queries = np.ones((40, 3))
    queries[35, 1] = np.nan
    with pytest.raises(ValueError, match=r"select_topk_dot: 'queries' must be finite; got nan at row 35, column 1"):
        select_topk_dot(queries, np.ones((4, 3)), 2, backend=backend)


def test_dot_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"'queries' and 'items' must have one dtype; got float32 and float64"):
        select_topk_dot(np.ones((2, 3), np.float32), np.ones((4, 3)), 1)
    with pytest.raises(ValueError, match=r"same number of columns \(factors\); got shapes \(2, 3\) and \(4, 2\)"):
        select_topk_dot(np.ones((2, 3)), np.ones((4, 2)), 1)
    with pytest.raises(ValueError, match=r"'exclude_indices' must lie in \[0, 4\)"):
        select_topk_dot(np.ones((2, 3)), np.ones((4, 3)), 1, exclude_indptr=[0, 1, 1], exclude_indices=[4])


def test_dot_scalar_and_simd_scans_agree(rng):
    from fastcf.kernels.topk import _cython

    queries = rng.integers(-3, 4, (150, 6)).astype(np.float32)
    items = rng.integers(-3, 4, (1500, 6)).astype(np.float32)
    indptr, indices = as_csr(random_exclusions(rng, 150, 1500, 40))
    was = _cython._use_simd()
    try:
        _cython._use_simd(False)
        scalar = select_topk_dot(queries, items, 25, exclude_indptr=indptr, exclude_indices=indices, backend="cython")
        _cython._use_simd(True)
        simd = select_topk_dot(queries, items, 25, exclude_indptr=indptr, exclude_indices=indices, backend="cython")
    finally:
        _cython._use_simd(was)
    assert_same(simd, scalar)
    assert_same(scalar, select_topk(queries @ items.T, 25, exclude_indptr=indptr, exclude_indices=indices))


@pytest.mark.parametrize("backend", BACKENDS)
def test_dot_overflowing_products_rank_as_infinities(backend):
    # Finite factors whose products overflow: -inf still fills a heap that is not full, +inf wins.
    queries = np.array([[1e30], [-1e30]], dtype=np.float32)
    items = np.array([[-1e30], [1.0], [1e30], [2.0]], dtype=np.float32)
    with np.errstate(over="ignore"):
        expected = select_topk(queries @ items.T, 4, exclude_indptr=[0, 1, 1], exclude_indices=[3])
    got = select_topk_dot(queries, items, 4, exclude_indptr=[0, 1, 1], exclude_indices=[3], backend=backend)
    assert_same(got, expected)
    assert got[0][0].tolist() == [2, 1, 0, -1] and got[0][1].tolist() == [0, 1, 3, 2]


@pytest.mark.parametrize("backend", COMPILED)
def test_dot_unsorted_exclusions_with_duplicates_across_tiles(rng, backend):
    # Integer factors: exact products, so the twins' sums in any order give the reference's bits.
    queries = rng.integers(-50, 51, (3, 8)).astype(np.float32)
    items = rng.integers(-50, 51, (2000, 8)).astype(np.float32)
    top = np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :30]
    excluded = [list(row[::-1]) + list(row[:5]) for row in top]  # the best items, reversed, some twice
    indptr, indices = as_csr(excluded)
    got = select_topk_dot(queries, items, 10, exclude_indptr=indptr, exclude_indices=indices, backend=backend)
    expected = select_topk(queries @ items.T, 10, exclude_indptr=indptr, exclude_indices=indices)
    assert_same(got, expected)
    assert not any(np.isin(got[0][r], top[r]).any() for r in range(3))


def test_single_query_calls_leave_the_blas_pools_alone(monkeypatch):
    # A handful of queries is scored without BLAS, so the call skips the pools' limit and
    # restore (which cost more than the call); larger calls still hold BLAS at one thread.
    from fastcf.kernels import _threads
    from fastcf.kernels.topk import _cython

    entered = []
    real = _threads.single_threaded_blas

    def counting():
        entered.append(1)
        return real()

    monkeypatch.setattr(_threads, "single_threaded_blas", counting)
    items = np.arange(40, dtype=np.float32).reshape(10, 4)
    select_topk_dot(np.ones((_cython.BLAS_FREE_QUERIES, 4), np.float32), items, 3, backend="cython")
    assert entered == []
    select_topk_dot(np.ones((_cython.BLAS_FREE_QUERIES + 1, 4), np.float32), items, 3, backend="cython")
    assert entered == [1]
    select_topk_dot(np.ones((1, 4), np.float32), items, 3, backend="numba")  # its np.dot may call BLAS
    assert entered == [1, 1]
