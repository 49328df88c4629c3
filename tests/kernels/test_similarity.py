"""similarity_topk: the reference against brute force from each measure's definition, every twin
against the reference on random and adversarial inputs, and the argument checks."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.kernels import similarity_topk
from fastcf.kernels.similarity import MEASURES, _layout

BACKENDS = ["reference", "numba", "cython"]
COMPILED = ["numba", "cython"]
FLOATS = [np.float32, np.float64]
INDEX = [np.int32, np.int64]
ALL_MEASURES = sorted(MEASURES)


def run(matrix, k, backend="reference", dtype=None, index_dtype=None, **kwargs):
    matrix = sp.csr_matrix(matrix)
    data = matrix.data if dtype is None else matrix.data.astype(dtype)
    indptr, indices = matrix.indptr, matrix.indices
    if index_dtype is not None:
        indptr, indices = indptr.astype(index_dtype), indices.astype(index_dtype)
    return similarity_topk(indptr, indices, data, matrix.shape[1], k, backend=backend, **kwargs)


def as_rows(result):
    indptr, indices, values = result
    return [(indices[indptr[r]:indptr[r + 1]], values[indptr[r]:indptr[r + 1]]) for r in range(len(indptr) - 1)]


# --- brute force, pair by pair, straight from the definitions in the public docstring --------

def oracle(dense, present, measure, shrinkage=0.0, min_support=1, alpha=0.5, **_):
    """Dense similarity of every pair (a, b) from the definitions; ``present`` marks stored entries."""
    n_rows, n_columns = dense.shape
    values = dense.astype(np.float64).copy()
    if measure == "adjusted_cosine":
        for u in range(n_columns):
            rated = present[:, u]
            if rated.any():
                values[rated, u] -= values[rated, u].mean()
    if measure in ("bm25", "tfidf"):
        values = weighted(values, present, measure)
    sim = np.zeros((n_rows, n_rows))
    for a in range(n_rows):
        for b in range(n_rows):
            common = present[a] & present[b]
            n = int(common.sum())
            x, y = values[a, common], values[b, common]
            if measure in ("cosine", "bm25", "tfidf", "asymmetric_cosine"):
                na, nb = np.sum(values[a] ** 2), np.sum(values[b] ** 2)
                e = alpha if measure == "asymmetric_cosine" else 0.5
                s = x @ y / (na ** e * nb ** (1 - e)) if na > 0 and nb > 0 else 0.0
            elif measure in ("adjusted_cosine", "pearson_baseline"):
                d = np.sqrt(np.sum(x ** 2) * np.sum(y ** 2))
                s = x @ y / d if d > 0 else 0.0
            elif measure == "pearson":
                if n == 0:
                    s = 0.0
                else:
                    dx, dy = x - x.mean(), y - y.mean()
                    d = np.sqrt(np.sum(dx ** 2) * np.sum(dy ** 2))
                    s = dx @ dy / d if d > 1e-12 else 0.0
            else:  # jaccard
                union = present[a].sum() + present[b].sum() - n
                s = n / union if n else 0.0
            if n < min_support:
                s = 0.0
            if shrinkage > 0 and n > 0:
                m = n - 1 if measure == "pearson_baseline" else n
                s *= m / (m + shrinkage)
            sim[a, b] = s
    return sim


def weighted(values, present, measure, k1=1.2, b=0.75):
    """TF-IDF / BM25 with rows as documents and columns as terms (fastcf.data.weighting's
    formulas, written out again here)."""
    n_rows = values.shape[0]
    df = present.sum(axis=0)
    idf = np.log(n_rows / np.maximum(df, 1))
    if measure == "tfidf":
        return np.where(present, values * idf[None, :], 0.0)
    lengths = values.sum(axis=1)
    has = present.any(axis=1)
    average = lengths[has].mean() if has.any() and lengths[has].mean() != 0 else 1.0
    norm = 1 - b + b * lengths / average
    out = np.where(present, idf[None, :] * values * (k1 + 1) / (values + k1 * norm[:, None]), 0.0)
    return out


def check_against_oracle(matrix, k, measure, exclude_self=True, **kwargs):
    matrix = sp.csr_matrix(matrix)
    present = matrix.copy()
    present.data = np.ones_like(present.data)
    sim = oracle(matrix.toarray(), present.toarray().astype(bool), measure, **kwargs)
    rows = as_rows(run(matrix, k, measure=measure, exclude_self=exclude_self, **kwargs))
    tolerance = 1e-9
    for a, (neighbours, values) in enumerate(rows):
        np.testing.assert_allclose(values, sim[a, neighbours], rtol=1e-6, atol=1e-12, err_msg=f"row {a}")
        assert (values > 0).all() and (np.diff(values) <= 0).all()
        positive = {b for b in np.flatnonzero(sim[a] > tolerance) if not (exclude_self and b == a)}
        assert set(neighbours) <= positive | {b for b in neighbours if sim[a, b] > 0}
        if len(neighbours) < k:
            assert positive <= set(neighbours), f"row {a} dropped a positive neighbour"
        else:
            missing = positive - set(neighbours)
            assert all(sim[a, b] <= values[-1] + tolerance for b in missing), f"row {a} kept a worse neighbour"


def ratings(rng, n_rows, n_columns, density, integer=True):
    matrix = sp.random(n_rows, n_columns, density=density, format="csr", random_state=rng)
    matrix.data = np.ceil(matrix.data * 5) if integer else matrix.data + 0.1
    return matrix


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_reference_follows_the_definitions(measure):
    rng = np.random.default_rng(3)
    for trial in range(3):
        matrix = ratings(rng, 12, 9, 0.45, integer=trial != 1)
        check_against_oracle(matrix, 4, measure)
        check_against_oracle(matrix, 50, measure, shrinkage=2.5, min_support=2, alpha=0.3, exclude_self=False)
    # Empty rows first, inside and last: the norms of the rows next to them stay whole.
    matrix = ratings(rng, 12, 9, 0.5, integer=False).tolil()
    matrix[[0, 5, 10, 11]] = 0
    check_against_oracle(sp.csr_matrix(matrix), 3, measure, alpha=0.3)


def test_known_answers_on_a_hand_made_matrix():
    matrix = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    rows = as_rows(run(matrix, 5, measure="cosine"))
    np.testing.assert_array_equal(rows[0][0], [1])
    np.testing.assert_allclose(rows[0][1], [0.5])
    np.testing.assert_array_equal(rows[1][0], [2, 0])
    np.testing.assert_allclose(rows[1][1], [np.sqrt(0.5), 0.5])
    np.testing.assert_array_equal(rows[2][0], [1])
    rows = as_rows(run(matrix, 5, measure="jaccard"))
    np.testing.assert_allclose(rows[1][1], [0.5, 1 / 3])
    rows = as_rows(run(matrix, 5, measure="cosine", shrinkage=1.0))  # every pair shares one column
    np.testing.assert_allclose(rows[1][1], [np.sqrt(0.5) / 2, 0.25])
    rows = as_rows(run(matrix, 5, measure="cosine", exclude_self=False))
    np.testing.assert_array_equal(rows[0][0], [0, 1])  # a row's best neighbour is itself
    assert run(matrix, 5, measure="cosine", min_support=2)[0].tolist() == [0, 0, 0, 0]


def test_asymmetric_cosine_is_asymmetric_and_cosine_at_one_half():
    matrix = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    rows = as_rows(run(matrix, 1, measure="asymmetric_cosine", alpha=0.0))
    # alpha = 0: s(a, b) = a.b / |b|^2, so s(0, 1) = 1 and s(1, 0) = 1/4.
    np.testing.assert_allclose([rows[0][1][0], rows[1][1][0]], [1.0, 0.25])
    half = run(matrix, 1, measure="asymmetric_cosine", alpha=0.5)
    np.testing.assert_allclose(half[2], run(matrix, 1, measure="cosine")[2], rtol=1e-12)


# --- every twin equals the reference -------------------------------------------------------

def adversarial_cases():
    rng = np.random.default_rng(11)
    binary = sp.random(30, 25, density=0.3, format="csr", random_state=rng)
    binary.data[:] = 1.0  # many exact ties
    everywhere = ratings(rng, 15, 10, 0.3)
    everywhere = sp.csr_matrix(everywhere.toarray() + np.eye(15, 10)[:, [0]] * 0 + (np.arange(10) == 3) * 2.0)
    empty_rows = ratings(rng, 20, 12, 0.3).tolil()
    empty_rows[[0, 7, 19]] = 0
    with_zeros = ratings(rng, 14, 9, 0.5)
    with_zeros.data[::3] = 0.0  # stored zeros are entries
    return {
        "random floats": (ratings(rng, 40, 30, 0.2, integer=False), 5),
        "integer ratings": (ratings(rng, 33, 21, 0.35), 4),
        "binary ties": (binary, 6),
        "a column in every row": (everywhere, 3),
        "empty rows": (sp.csr_matrix(empty_rows), 4),
        "stored zeros": (with_zeros, 3),
        "k larger than rows": (ratings(rng, 9, 7, 0.5), 50),
        "one row": (sp.csr_matrix(np.array([[1.0, 2.0, 0.0]])), 3),
        "no entries": (sp.csr_matrix((5, 4)), 2),
        "no rows": (sp.csr_matrix((0, 4)), 2),
        "identical rows": (sp.csr_matrix(np.tile([[1.0, 0.0, 2.0, 3.0]], (6, 1))), 3),
    }


CASES = adversarial_cases()
PARAMETERS = [{}, {"shrinkage": 3.0}, {"min_support": 2, "exclude_self": False}, {"alpha": 0.2}]


def assert_same(got, expected):
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[0].dtype == got[1].dtype == expected[0].dtype
    assert got[2].dtype == expected[2].dtype
    rtol = 1e-5 if got[2].dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[2], expected[2], rtol=rtol)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("case", sorted(CASES))
def test_twins_equal_the_reference_on_adversarial_inputs(backend, case):
    matrix, k = CASES[case]
    for i, measure in enumerate(ALL_MEASURES):
        for dtype, index_dtype in ((np.float32, np.int32), (np.float64, np.int64)):
            # Plain, and one of the variants in turn (all of them over the measures).
            for params in (PARAMETERS[0], PARAMETERS[1 + i % 3]):
                kwargs = dict(measure=measure, dtype=dtype, index_dtype=index_dtype, **params)
                expected = run(matrix, k, "reference", **kwargs)
                assert_same(run(matrix, k, backend, n_threads=2, **kwargs), expected)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_output_dtypes(dtype, index_dtype):
    matrix = ratings(np.random.default_rng(0), 10, 8, 0.4)
    for backend in BACKENDS:
        indptr, indices, values = run(matrix, 3, backend, dtype=dtype, index_dtype=index_dtype)
        assert values.dtype == dtype
        assert indptr.dtype == indices.dtype == np.int32  # small output fits int32
        assert indptr.shape == (11,)
        sp.csr_matrix((values, indices, indptr), shape=(10, 10)).check_format(full_check=True)


def test_int64_output_beyond_the_int32_range():
    assert _layout.index_dtype(10, 100) == np.int32
    assert _layout.index_dtype(2**31, 5) == np.int64
    assert _layout.index_dtype(10, 2**31) == np.int64


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("measure", ["cosine", "pearson", "jaccard"])
def test_results_do_not_depend_on_the_thread_count(backend, measure):
    matrix = ratings(np.random.default_rng(5), 97, 101, 0.08, integer=False)
    one = run(matrix, 7, backend, measure=measure, n_threads=1)
    two = run(matrix, 7, backend, measure=measure, n_threads=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", COMPILED)
def test_output_assembled_from_many_chunks(backend, monkeypatch):
    matrix = ratings(np.random.default_rng(8), 50, 40, 0.2)
    expected = run(matrix, 60, "reference", measure="pearson")
    monkeypatch.setattr(_layout, "BUFFER_BYTES", 3 * 50 * 16)  # three rows per chunk
    assert _layout.chunk_rows(50, 50, 8) == 3
    assert_same(run(matrix, 60, backend, measure="pearson"), expected)


@pytest.mark.parametrize("block_rows", [1, 3])
def test_cython_blocks_of_rows_give_the_same_bits(block_rows, monkeypatch):
    cython_twin = pytest.importorskip("fastcf.kernels.similarity._cython")
    matrix = ratings(np.random.default_rng(4), 41, 23, 0.3, integer=False)
    matrix = sp.vstack([matrix, sp.csr_matrix((3, 23)), ratings(np.random.default_rng(5), 6, 23, 0.02)]).tocsr()
    expected = run(matrix, 5, "reference", dtype=np.float32)
    monkeypatch.setattr(cython_twin, "BLOCK_ROWS", block_rows)
    assert_same(run(matrix, 5, "cython", dtype=np.float32), expected)


def long_and_short_rows(seed):
    """Rows whose walk is long (the pairwise path) between rows whose walk is short (row by
    row), exact ties, an empty row and a row sharing nothing."""
    rng = np.random.default_rng(seed)
    dense = ratings(rng, 30, 23, 0.35, integer=True)
    short = ratings(rng, 7, 23, 0.03)
    ties = sp.csr_matrix(np.tile([[1.0, 0.0, 2.0] + [0.0] * 20], (3, 1)))
    lone = sp.csr_matrix((np.ones(1), [22], [0, 1]), shape=(1, 23))
    return sp.vstack([short[:3], dense[:12], sp.csr_matrix((1, 23)), ties, dense[12:], short[3:], lone]).tocsr()


@pytest.mark.parametrize("k", [1, 4, 100])
@pytest.mark.parametrize("dtype, index_dtype", [(np.float32, np.int32), (np.float64, np.int64)])
@pytest.mark.parametrize("params", [{}, {"exclude_self": False}, {"alpha": 0.3, "measure": "asymmetric_cosine"}])
def test_cython_pairwise_path_gives_the_bits_of_row_by_row(k, dtype, index_dtype, params, monkeypatch):
    # The pairwise path computes each pair of long rows once and offers it to both rows'
    # per-thread heaps; it must list exactly what the row-by-row path lists, in any blocking.
    cython_twin = pytest.importorskip("fastcf.kernels.similarity._cython")
    matrix = long_and_short_rows(k)
    kwargs = dict(dtype=dtype, index_dtype=index_dtype, **params)
    expected = run(matrix, k, "reference", **kwargs)
    monkeypatch.setattr(cython_twin, "SYMMETRIC_BYTES", 0)
    row_by_row = run(matrix, k, "cython", n_threads=2, **kwargs)
    assert_same(row_by_row, expected)
    monkeypatch.setattr(cython_twin, "SYMMETRIC_BYTES", 128 << 20)
    for block_rows in (2, 5, 32):
        monkeypatch.setattr(cython_twin, "BLOCK_ROWS", block_rows)
        for n_threads in (1, 2):
            pairwise = run(matrix, k, "cython", n_threads=n_threads, **kwargs)
            for got, want in zip(pairwise, row_by_row):
                np.testing.assert_array_equal(got, want)
                assert got.dtype == want.dtype


@pytest.mark.parametrize("dtype, index_dtype", [(np.float32, np.int32), (np.float32, np.int64),
                                                (np.float64, np.int32), (np.float64, np.int64)])
@pytest.mark.parametrize("block_rows", [3, 8, 32])
def test_cython_vector_updates_give_the_bits_of_row_by_row(dtype, index_dtype, block_rows, monkeypatch):
    # A column shared by DENSE_SHARING or more members of a block is added to all of their
    # sums at once, the other members' lanes with weight 0; sharing 1 sends every column that
    # way, a huge value none. Widths of 3 and 8 members exercise the unrolled and the general
    # loop in both dtypes.
    cython_twin = pytest.importorskip("fastcf.kernels.similarity._cython")
    matrix = sp.vstack([long_and_short_rows(7), ratings(np.random.default_rng(9), 25, 23, 0.6)]).tocsr()
    kwargs = dict(dtype=dtype, index_dtype=index_dtype)
    expected = run(matrix, 6, "reference", **kwargs)
    monkeypatch.setattr(cython_twin, "BLOCK_ROWS", block_rows)
    results = []
    for sharing in (1, 2, 1 << 30):
        monkeypatch.setattr(cython_twin, "DENSE_SHARING", sharing)
        results.append(run(matrix, 6, "cython", n_threads=2, **kwargs))
    assert_same(results[0], expected)
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got, want)


def shuffled_lengths(seed):
    """Rows of many lengths in no order, with exact ties (binary values, repeated rows)."""
    rng = np.random.default_rng(seed)
    parts = [sp.random(1, 40, density=d, format="csr", random_state=rng) for d in rng.uniform(0.02, 0.9, 45)]
    matrix = sp.vstack(parts + [parts[3], parts[3], sp.csr_matrix((1, 40))]).tocsr()
    matrix.data[:] = 1.0
    return matrix[rng.permutation(matrix.shape[0])]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("measure", ["cosine", "asymmetric_cosine", "bm25", "pearson"])
def test_rows_reordered_longest_first_come_back_in_the_callers_order(backend, measure):
    # The dot-product measures run on the rows sorted longest first; the output, and which of
    # tied neighbours make the cut, must be those of the given order: the reference twin run
    # on the given order (identity labels) is the answer.
    from fastcf.kernels import similarity as module
    from fastcf.kernels.similarity import reference

    matrix = shuffled_lengths(2)
    lengths = np.diff(matrix.indptr)
    assert not np.all(lengths[:-1] >= lengths[1:])  # else nothing would be reordered
    rows = module._transform(module._canonical(matrix.data, matrix.indices, matrix.indptr, *matrix.shape),
                             measure, 1.2, 0.75)
    left, right = module._scales(rows, measure, 0.3)
    columns = rows.T.tocsr()
    core = MEASURES[measure]
    for k in (1, 3, 100):
        expected = reference.similarity_topk(
            rows.indptr, rows.indices, rows.data, columns.indptr, columns.indices, columns.data, left, right,
            np.arange(rows.shape[0], dtype=np.int64), k, core, 0.0, 0, 1, True, 1,
        )
        assert_same(run(matrix, k, backend, measure=measure, alpha=0.3, n_threads=2), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsorted_and_duplicate_indices_are_summed(backend):
    indptr = np.array([0, 3, 5, 6])
    indices = np.array([2, 0, 2, 1, 0, 2])
    data = np.array([1.0, 2.0, 3.0, 1.0, 1.0, 5.0])
    canonical = sp.csr_matrix((data, indices, indptr), shape=(3, 3)).toarray()  # scipy sums duplicates
    expected = run(canonical, 2, "reference")
    got = similarity_topk(indptr, indices, data, 3, 2, backend=backend)
    assert_same(got, expected)


def test_cosine_matches_implicit():
    implicit_nn = pytest.importorskip("implicit.nearest_neighbours")
    rng = np.random.default_rng(2)
    user_items = ratings(rng, 60, 40, 0.15, integer=False)
    k = 6
    model = implicit_nn.CosineRecommender(K=k + 1, num_threads=1)  # implicit lists each item itself
    model.fit(user_items, show_progress=False)
    theirs = model.similarity.tocsr()
    items_users = user_items.T.tocsr()
    for a, (neighbours, values) in enumerate(as_rows(run(items_users, k, "cython"))):
        row = theirs.getrow(a)
        others = {j: v for j, v in zip(row.indices, row.data) if j != a and v > 0}
        best = sorted(others, key=lambda j: -others[j])[:k]
        assert set(neighbours) == set(best), a
        np.testing.assert_allclose(values, [others[j] for j in neighbours], rtol=1e-5)


# --- argument checks ------------------------------------------------------------------------

GOOD = dict(indptr=np.array([0, 1, 2]), indices=np.array([0, 1]), data=np.array([1.0, 2.0]), n_columns=2, k=1)


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"k": 0}, ValueError, "'k' must be an int >= 1; got 0"),
        ({"k": 1.5}, TypeError, "'k' must be an int"),
        ({"measure": "manhattan"}, ValueError, "'measure' must be one of"),
        ({"shrinkage": -1.0}, ValueError, "'shrinkage' must be a finite number >= 0; got -1.0"),
        ({"shrinkage": np.nan}, ValueError, "'shrinkage'"),
        ({"alpha": 1.5}, ValueError, "'alpha' must be a finite number in [0, 1]; got 1.5"),
        ({"min_support": 0}, ValueError, "'min_support' must be an int >= 1; got 0"),
        ({"bm25_b": 2.0}, ValueError, "'bm25_b'"),
        ({"exclude_self": "yes"}, TypeError, "'exclude_self' must be a bool"),
        ({"n_columns": -1}, ValueError, "'n_columns' must be an int >= 0"),
        ({"data": np.array([1.0, np.nan])}, ValueError, "'data' must be finite; got nan at position 1"),
        ({"data": np.array([1.0])}, ValueError, "'data' must have one value per stored entry"),
        ({"data": np.array(["a", "b"])}, TypeError, "'data' must hold float32 or float64"),
        ({"indices": np.array([0, 2])}, ValueError, "'indices' must lie in [0, 2); got 2 at position 1 (row 1)"),
        ({"indptr": np.array([0, 2, 1])}, ValueError, "'indptr' must be non-decreasing"),
        ({"indptr": np.array([], dtype=np.int64)}, ValueError, "'indptr' must have n_rows + 1 >= 1 entries"),
    ],
)
def test_bad_arguments_raise_clear_errors(change, error, words):
    arguments = {**GOOD, **change}
    positional = [arguments.pop(name) for name in ("indptr", "indices", "data", "n_columns", "k")]
    with pytest.raises(error, match="similarity_topk: .*" + _escape(words)):
        similarity_topk(*positional, **arguments)


def _escape(text):
    import re

    return re.escape(text)


def test_inputs_are_not_modified():
    matrix = ratings(np.random.default_rng(1), 12, 10, 0.4)
    copies = [a.copy() for a in (matrix.indptr, matrix.indices, matrix.data)]
    for measure in ALL_MEASURES:
        for backend in BACKENDS:
            similarity_topk(matrix.indptr, matrix.indices, matrix.data, 10, 3, measure=measure, backend=backend)
    for original, after in zip(copies, (matrix.indptr, matrix.indices, matrix.data)):
        np.testing.assert_array_equal(original, after)
