"""Ranking-metrics kernel: the reference against a brute-force oracle, every twin against the reference.

The twins are compared *exactly*: they compute factor scores with the same rounding (products
and sums in factor order, no fused multiply-add), select with the same tie rule and add the
metrics in the same order with the same discount tables.
"""

import math

import numpy as np
import pytest

from fastcf.kernels import factor_ranking_metrics, list_ranking_metrics, score_ranking_metrics
from fastcf.kernels import _backend
from fastcf.kernels.metrics import RANKING_COLUMNS
from fastcf.kernels.metrics.reference import factor_scores

BACKENDS = ["reference", "numba", "cython"]
COMPILED = ["numba", "cython"]
FLOATS = [np.float32, np.float64]
INDEX = [np.int32, np.int64]
COL = {name: i for i, name in enumerate(RANKING_COLUMNS)}


# --- an oracle straight from the definitions ----------------------------------------------

def oracle_user(scores, k, train, test, gains, n_items, graded=True, auc=True):
    row = dict.fromkeys(RANKING_COLUMNS, math.nan)
    excluded = set(int(i) for i in train)
    ranked = sorted((-float(scores[i]), i) for i in range(n_items) if i not in excluded)[:k]
    top = [i for _, i in ranked] + [-1] * (k - len(ranked))
    if len(test) == 0:
        return top, row
    gain = {int(i): float(g) for i, g in zip(test, gains)}
    flags = [i >= 0 and i in gain for i in top]
    h = sum(flags)
    m = min(k, len(test))
    discount = [1 / math.log2(r + 2) for r in range(k)]
    row["hits"] = h
    row["precision"] = h / k
    row["precision_implicit"] = h / m
    row["recall"] = h / len(test)
    p, r = h / k, h / len(test)
    row["f1"] = 2 * p * r / (p + r) if h else 0.0
    row["map"] = sum(sum(flags[:q + 1]) / (q + 1) for q in range(k) if flags[q]) / m
    row["ndcg"] = sum(discount[q] for q in range(k) if flags[q]) / sum(discount[:m])
    if graded:
        best = sorted(gain.values(), reverse=True)[:m]
        ideal = sum(g * discount[q] for q, g in enumerate(best))
        dcg = sum(gain[top[q]] * discount[q] for q in range(k) if flags[q])
        row["ndcg_graded"] = dcg / ideal if ideal > 0 else 0.0
    first = next((q for q in range(k) if flags[q]), None)
    row["mrr"] = 1 / (first + 1) if first is not None else 0.0
    row["hit_rate"] = float(h > 0)
    if auc:
        positives = [i for i in gain if i not in excluded]
        negatives = [i for i in range(n_items) if i not in excluded and i not in gain]
        if positives and negatives:
            wins = sum(1.0 if scores[p] > scores[n] else 0.5 if scores[p] == scores[n] else 0.0
                       for p in positives for n in negatives)
            row["auc"] = wins / (len(positives) * len(negatives))
    n_neg = n_items - len(test)
    if n_neg > 0:
        hit = miss = 0
        area = 0.0
        for q in range(k):  # implicit's loop, in spirit; but a pad (-1) is no miss
            if flags[q]:
                hit += 1
            elif top[q] >= 0:
                miss += 1
                area += hit
        area += ((hit + len(test)) / 2.0) * (n_neg - miss)
        row["auc_implicit"] = area / (len(test) * n_neg)
    return top, row


def oracle(scores, k, train_lists, test_lists, gain_lists, graded=True, auc=True):
    tops, rows = [], []
    for u in range(scores.shape[0]):
        top, row = oracle_user(scores[u], k, train_lists[u], test_lists[u], gain_lists[u], scores.shape[1], graded, auc)
        tops.append(top)
        rows.append([row[c] for c in RANKING_COLUMNS])
    return (np.array(tops, dtype=np.int64).reshape(len(tops), k),
            np.array(rows, dtype=float).reshape(len(rows), len(RANKING_COLUMNS)))


def as_csr(lists, dtype=np.int64):
    indptr = np.zeros(len(lists) + 1, dtype=dtype)
    indptr[1:] = np.cumsum([len(row) for row in lists])
    return indptr, np.asarray([j for row in lists for j in row], dtype=dtype)


def random_lists(rng, n_users, n_items, max_len, unique=True):
    lists = []
    for _ in range(n_users):
        size = int(rng.integers(0, max_len + 1)) if n_items else 0
        if unique:
            lists.append(sorted(rng.choice(n_items, size=min(size, n_items), replace=False).tolist()))
        else:
            lists.append(rng.integers(0, n_items, size).tolist())
    return lists


class Problem:
    """Factors, train (exclusions) and test rows (with gains) of a small evaluation."""

    def __init__(self, U, V, train, test, gains):
        self.U, self.V, self.train, self.test, self.gains = U, V, train, test, gains

    def args(self, index_dtype=np.int64):
        train_indptr, train_indices = as_csr(self.train, index_dtype)
        test_indptr, test_indices = as_csr(self.test, index_dtype)
        gains = np.asarray([g for row in self.gains for g in row], dtype=float)
        return train_indptr, train_indices, test_indptr, test_indices, gains

    def with_dtype(self, dtype):
        return Problem(self.U.astype(dtype), self.V.astype(dtype), self.train, self.test, self.gains)


def make_problem(seed, n_users, n_items, f, *, integer=True, max_train=10, max_test=6, duplicates=False):
    rng = np.random.default_rng(seed)
    if integer:  # exact scores, full of ties
        U = rng.integers(-2, 3, (n_users, f)).astype(float)
        V = rng.integers(-2, 3, (n_items, f)).astype(float)
    else:
        U, V = rng.standard_normal((n_users, f)), rng.standard_normal((n_items, f))
    train = random_lists(rng, n_users, n_items, max_train, unique=not duplicates)
    test = random_lists(rng, n_users, n_items, max_test)
    gains = [rng.integers(0, 6, len(row)).astype(float).tolist() for row in test]
    return Problem(U, V, train, test, gains)


def adversarial_problems():
    rng = np.random.default_rng(11)
    cases = {
        "random ties": make_problem(1, 23, 40, 3),
        "real-valued": make_problem(2, 17, 50, 4, integer=False),
        "duplicate and unsorted train rows": make_problem(3, 9, 12, 2, duplicates=True, max_train=20),
        "k larger than the catalogue": make_problem(4, 6, 5, 2, max_train=3, max_test=3),
    }
    # Every item in train for user 0 (its test item can never be hit); empty test rows; a user
    # whose test items are all its train items; the whole catalogue in test for user 3.
    n_items = 8
    U = rng.integers(-1, 2, (5, 2)).astype(float)
    V = rng.integers(-1, 2, (n_items, 2)).astype(float)
    cases["empty rows, every item in train, every item in test"] = Problem(
        U, V,
        train=[list(range(n_items)), [], [1, 2], [], [0]],
        test=[[3], [], [1, 2], list(range(n_items)), [5, 7]],
        gains=[[1.0], [], [2.0, 0.0], [1.0] * n_items, [0.0, 0.0]],
    )
    cases["one item"] = Problem(np.ones((3, 1)), np.ones((1, 1)), [[], [0], []], [[0], [0], []], [[2.0], [1.0], []])
    cases["all scores equal"] = Problem(np.zeros((4, 3)), np.zeros((9, 3)), [[0], [], [8], [1, 2]],
                                        [[1, 5], [8], [0, 3, 4], []], [[1.0, 2.0], [3.0], [1.0, 1.0, 5.0], []])
    return cases


CASES = adversarial_problems()
KS = {"k larger than the catalogue": [7, 1000]}


def run_factor(problem, k, backend, index_dtype=np.int64, **kwargs):
    tr_p, tr_i, te_p, te_i, gains = problem.args(index_dtype)
    users = np.arange(problem.U.shape[0], dtype=index_dtype)
    return factor_ranking_metrics(problem.U, problem.V, users, tr_p, tr_i, te_p, te_i, k, test_gains=gains,
                                  auc=True, graded=True, backend=backend, **kwargs)


def assert_same(got, expected):
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[0].dtype == np.int64
    np.testing.assert_array_equal(got[1], expected[1])  # NaN == NaN here


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", FLOATS)
def test_reference_matches_the_oracle(case, dtype):
    problem = CASES[case].with_dtype(dtype)
    scores = factor_scores(problem.U, problem.V)
    for k in KS.get(case, [1, 3, 10]):
        top, values = run_factor(problem, k, "reference")
        expected_top, expected_values = oracle(scores, k, problem.train, problem.test, problem.gains)
        np.testing.assert_array_equal(top, expected_top)
        np.testing.assert_allclose(values, expected_values, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_twins_equal_the_reference_exactly(case, backend, dtype, index_dtype):
    problem = CASES[case].with_dtype(dtype)
    for k in KS.get(case, [1, 3, 10]):
        expected = run_factor(problem, k, "reference", index_dtype)
        for n_threads, block_size in ((1, 64), (2, 1), (3, 4)):
            got = run_factor(problem, k, backend, index_dtype, n_threads=n_threads, block_size=block_size)
            assert_same(got, expected)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_score_and_list_entry_points_agree_with_the_factor_one(case, backend, index_dtype):
    problem = CASES[case]
    k = 3
    tr_p, tr_i, te_p, te_i, gains = problem.args(index_dtype)
    users = np.arange(problem.U.shape[0], dtype=index_dtype)
    expected_top, expected = run_factor(problem, k, "reference", index_dtype)
    scores = factor_scores(problem.U, problem.V)
    top, values = score_ranking_metrics(scores, users, tr_p, tr_i, te_p, te_i, k, test_gains=gains, auc=True,
                                        graded=True, backend=backend)
    assert_same((top, values), (expected_top, expected))
    from_lists = list_ranking_metrics(expected_top, users, te_p, te_i, problem.V.shape[0], test_gains=gains,
                                      graded=True, backend=backend)
    expected_lists = expected.copy()
    expected_lists[:, COL["auc"]] = np.nan  # lists carry no scores
    np.testing.assert_array_equal(from_lists, expected_lists)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX)
def test_results_do_not_depend_on_threads_or_block_size(backend, dtype, index_dtype):
    # Odd sizes; real-valued factors (the no-FMA score definition makes even these exact).
    problem = make_problem(5, 97, 1001, 13, integer=False, max_train=150, max_test=40).with_dtype(dtype)
    expected = run_factor(problem, 10, "reference", index_dtype)
    for n_threads in (1, 2, 3):
        for block_size in (1, 7, 64, 1000):
            assert_same(run_factor(problem, 10, backend, index_dtype, n_threads=n_threads, block_size=block_size),
                        expected)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("f", [1, 8, 64, 200])
def test_cython_simd_and_plain_loops_give_the_same_bits(dtype, f):
    cython = _backend.load_twin("metrics", "cython")[0]
    problem = make_problem(6, 41, 333, f, integer=False, max_train=30, max_test=300).with_dtype(dtype)
    expected = run_factor(problem, 20, "reference")
    try:
        for wanted in (False, True):
            cython._use_simd(wanted)
            assert_same(run_factor(problem, 20, "cython"), expected)
    finally:
        cython._use_simd(True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_positives_take_the_search_path_of_the_auc(backend):
    # Over 256 admissible positives the Cython twin counts by binary search instead of SIMD.
    rng = np.random.default_rng(8)
    n_items = 900
    U = np.round(rng.standard_normal((3, 4)), 1)
    V = np.round(rng.standard_normal((n_items, 4)), 1)  # coarse: many tied scores
    test = [sorted(rng.choice(n_items, 400, replace=False).tolist()) for _ in range(3)]
    problem = Problem(U, V, [[0, 1], [], [5]], test, [[1.0] * 400] * 3)
    expected_top, expected = oracle(factor_scores(U, V), 10, problem.train, problem.test, problem.gains)
    top, values = run_factor(problem, 10, backend)
    np.testing.assert_array_equal(top, expected_top)
    np.testing.assert_allclose(values, expected, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_golden_user(backend):
    # n_items = 6, k = 3, score of item i for the one user = scores[i] (V = identity).
    scores = np.array([[9.0, 5.0, 8.0, 1.0, 7.0, 3.0]])
    top, values = factor_ranking_metrics(
        scores, np.eye(6), [0], [0, 1], [0], [0, 2], [2, 4], 3, test_gains=[3.0, 1.0], auc=True, graded=True,
        backend=backend,
    )
    np.testing.assert_array_equal(top, [[2, 4, 1]])  # item 0 is excluded
    got = dict(zip(RANKING_COLUMNS, values[0]))
    assert got["hits"] == 2 and got["precision"] == pytest.approx(2 / 3) and got["recall"] == 1.0
    assert got["map"] == 1.0 and got["ndcg"] == 1.0 and got["ndcg_graded"] == 1.0 and got["auc"] == 1.0
    assert got["f1"] == pytest.approx(0.8) and got["auc_implicit"] == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_scores_raise_naming_the_first_user(backend, dtype):
    # Finite factors whose products overflow: inf + (-inf) = NaN.
    big = 1e30 if dtype == np.float32 else 1e300
    U = np.array([[1.0, 1.0], [big, big], [1.0, 1.0], [big, big]], dtype=dtype)
    V = np.array([[1.0, 0.0], [big, -big], [0.0, 1.0]], dtype=dtype)
    empty = np.zeros(5, dtype=np.int64)
    with pytest.raises(ValueError, match=r"factor_ranking_metrics: the scores of 2 user\(s\) hold NaN \(first: user 1\)"):
        factor_ranking_metrics(U, V, [0, 1, 2, 3], empty, [], empty, [], 2, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_score_nan_in_an_excluded_place_still_raises(backend):
    scores = np.array([[1.0, np.nan, 2.0]])
    with pytest.raises(ValueError, match=r"score_ranking_metrics: .*first: user 4"):
        score_ranking_metrics(scores, [4], [0, 0, 0, 0, 0, 1], [1], np.zeros(6, int), [], 1, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_users_and_no_items(backend):
    empty = np.zeros(4, dtype=np.int64)
    top, values = factor_ranking_metrics(np.ones((3, 2)), np.ones((0, 2)), [0, 2], empty, [], empty, [], 5,
                                         backend=backend)
    np.testing.assert_array_equal(top, -np.ones((2, 5)))
    assert np.isnan(values).all()
    top, values = factor_ranking_metrics(np.ones((3, 2)), np.ones((4, 2)), [], empty, [], empty, [], 5, backend=backend)
    assert top.shape == (0, 5) and values.shape == (0, len(RANKING_COLUMNS))


def test_inputs_are_not_modified_and_read_only_inputs_work():
    problem = make_problem(9, 12, 30, 4)
    arrays = [problem.U, problem.V, *problem.args()]
    for array in arrays:
        array.flags.writeable = False
    copies = [a.copy() for a in arrays]
    U, V, tr_p, tr_i, te_p, te_i, gains = arrays
    for backend in BACKENDS:
        factor_ranking_metrics(U, V, np.arange(12), tr_p, tr_i, te_p, te_i, 4, test_gains=gains, auc=True,
                               graded=True, backend=backend)
    for array, copy in zip(arrays, copies):
        np.testing.assert_array_equal(array, copy)


# --- input handling -------------------------------------------------------------------------

def _args(**overrides):
    args = dict(user_factors=np.ones((3, 2)), item_factors=np.ones((4, 2)), users=[0, 1],
                train_indptr=[0, 1, 1, 1], train_indices=[2], test_indptr=[0, 1, 2, 2], test_indices=[0, 3], k=2)
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (dict(item_factors=np.ones((4, 2), np.float32)), TypeError, r"must have one dtype; got float64 and float32"),
        (dict(item_factors=np.ones((4, 3))), ValueError, r"same number of columns \(factors\); got shapes \(3, 2\) and \(4, 3\)"),
        (dict(user_factors=np.ones((3, 0)), item_factors=np.ones((4, 0))), ValueError, r"at least one column"),
        (dict(item_factors=np.array([[1.0, 1], [1, np.inf], [1, 1], [1, 1]])), ValueError,
         r"'item_factors' must be finite; got inf at row 1, column 1"),
        (dict(users=[0, 3]), ValueError, r"'users' must lie in \[0, 3\)"),
        (dict(users=[0.5]), TypeError, r"'users' must be an integer array"),
        (dict(test_indices=[0, 4]), ValueError, r"'test_indices' must lie in \[0, 4\); got 4 at position 1 \(row 1\)"),
        (dict(test_indptr=[0, 2, 2, 2], test_indices=[3, 3]), ValueError, r"lists item 3 twice in row 0"),
        (dict(train_indptr=[0, 1, 1]), ValueError, r"'train_indptr' must have n_rows \+ 1 = 4 entries"),
        (dict(k=0), ValueError, r"'k' must be an int >= 1; got 0"),
        (dict(block_size=0), ValueError, r"'block_size' must be an int >= 1"),
        (dict(test_gains=[1.0], graded=True), ValueError, r"'test_gains' must have one value per test entry"),
        (dict(test_gains=[1.0, -2.0], graded=True), ValueError,
         r"'test_gains' must be finite and >= 0 .*got -2.0 at position 1"),
        (dict(backend="fortran"), ValueError, r"'backend' must be one of"),
    ],
)
def test_bad_arguments_are_named_before_any_kernel_runs(overrides, error, message):
    with pytest.raises(error, match=message):
        factor_ranking_metrics(**_args(**overrides))


def test_gains_are_read_only_for_graded_ndcg():
    # Without graded=True the gains are not used, so values graded NDCG would refuse are fine.
    values = factor_ranking_metrics(**_args(test_gains=[1.0, -2.0]))[1]
    assert np.isnan(values[:, COL["ndcg_graded"]]).all()


def test_unsorted_test_rows_without_duplicates_are_fine():
    args = _args(test_indptr=[0, 2, 2, 2], test_indices=[3, 0])
    for backend in BACKENDS:
        factor_ranking_metrics(**args, backend=backend)


def test_list_entry_point_checks_the_lists():
    with pytest.raises(ValueError, match=r"lists item 2 twice in row 1"):
        list_ranking_metrics([[0, 1], [2, 2]], [0, 1], [0, 1, 2], [0, 1], 4)
    with pytest.raises(ValueError, match=r"items in \[0, 4\) or -1 \(padding\); got 4 at row 0, rank 1"):
        list_ranking_metrics([[0, 4]], [0], [0, 1], [0], 4)
    with pytest.raises(ValueError, match=r"users x k\) with k >= 1"):
        list_ranking_metrics(np.zeros((2, 0), int), [0, 1], [0, 1, 2], [0, 1], 4)
    values = list_ranking_metrics([[-1, -1], [1, -1]], [0, 1], [0, 1, 2], [0, 1], 4)
    assert values[0, COL["precision"]] == 0 and values[1, COL["precision"]] == 0.5


def test_score_entry_point_needs_one_user_per_row():
    with pytest.raises(ValueError, match=r"'users' must name the user of every score row \(2\); got 1"):
        score_ranking_metrics(np.ones((2, 3)), [0], [0, 0], [], [0, 0], [], 1)
    with pytest.raises(ValueError, match=r"train and test CSRs must have one row per user, as many each"):
        score_ranking_metrics(np.ones((1, 3)), [0], [0, 0], [], [0, 0, 0], [], 1)


# --- properties -----------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(
    n_users=st.integers(0, 6),
    n_items=st.integers(1, 9),
    f=st.integers(1, 3),
    k=st.integers(1, 12),
    dtype=st.sampled_from(FLOATS),
    index_dtype=st.sampled_from(INDEX),
    data=st.data(),
)
def test_property_every_twin_equals_the_oracle(n_users, n_items, f, k, dtype, index_dtype, data):
    small = st.integers(-2, 2)
    U = np.array(data.draw(st.lists(st.lists(small, min_size=f, max_size=f), min_size=n_users, max_size=n_users)),
                 dtype=dtype).reshape(n_users, f)
    V = np.array(data.draw(st.lists(st.lists(small, min_size=f, max_size=f), min_size=n_items, max_size=n_items)),
                 dtype=dtype).reshape(n_items, f)
    item = st.integers(0, n_items - 1)
    train = [data.draw(st.lists(item, max_size=n_items + 2)) for _ in range(n_users)]
    test = [sorted(data.draw(st.sets(item))) for _ in range(n_users)]
    gains = [[float(data.draw(st.integers(0, 4))) for _ in row] for row in test]
    problem = Problem(U, V, train, test, gains)
    expected_top, expected = oracle(factor_scores(U, V), k, train, test, gains)
    for backend in BACKENDS:
        top, values = run_factor(problem, k, backend, index_dtype, n_threads=2, block_size=2)
        np.testing.assert_array_equal(top, expected_top)
        np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_users_of_another_index_dtype_than_the_csrs():
    problem = make_problem(12, 30, 50, 4, integer=False)
    tr_p, tr_i, te_p, te_i, gains = problem.args(np.int32)
    expected = run_factor(problem, 5, "reference", np.int32)
    for backend in BACKENDS:
        for users in (np.arange(30, dtype=np.int64), np.arange(30, dtype=np.uint16)):
            got = factor_ranking_metrics(problem.U, problem.V, users, tr_p, tr_i, te_p, te_i, 5, test_gains=gains,
                                         auc=True, graded=True, backend=backend)
            assert_same(got, expected)


@pytest.mark.parametrize(
    "indptr, indices, duplicated",
    [
        ([0, 3, 5], [0, 1, 2, 0, 1], False),
        ([0, 3, 5], [0, 1, 1, 0, 1], True),
        ([0, 3, 5], [2, 1, 0, 1, 0], False),  # unsorted rows without repeats
        ([0, 2, 4, 6], [0, 5, 5, 6, 1, 1], True),  # repeats right at chunk edges
        ([0, 0, 4], [3, 2, 1, 3], True),
        ([0, 1, 2, 3, 4], [0, 0, 0, 0], False),  # the same item in consecutive rows
    ],
)
def test_duplicate_check_across_chunks(monkeypatch, indptr, indices, duplicated):
    import fastcf.kernels.metrics as metrics

    monkeypatch.setattr(metrics, "_CHECK_CHUNK", 3)
    args = _args(test_indptr=indptr + [indptr[-1]] * (4 - len(indptr)), test_indices=indices,
                 user_factors=np.ones((3, 2)), item_factors=np.ones((7, 2)))
    if len(indptr) > 4:
        args.update(user_factors=np.ones((len(indptr) - 1, 2)), train_indptr=np.zeros(len(indptr), int), train_indices=[])
    if duplicated:
        with pytest.raises(ValueError, match=r"lists item \d twice in row \d"):
            factor_ranking_metrics(**args)
    else:
        factor_ranking_metrics(**args)
