"""Property tests over random small CSRs, one section per kernel (issue 11, list 2).

Each property holds for every twin: equal to the reference; top-k equal to a brute-force sort
with the same tie rule; the ALS half-step solves each row's normal equations; metrics in range;
permuting the users (rows) permutes the outputs. A new kernel adds its section here, using
``csr_lists``. Example counts stay modest (the suite must stay fast); scripts or a longer
``--hypothesis-profile`` can raise them.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastcf.kernels import (
    als_half_step, factor_ranking_metrics, list_ranking_metrics, select_topk, sgd_epoch, sgd_schedule,
    similarity_topk,
)
from fastcf.kernels.metrics import RANKING_COLUMNS
from fastcf.kernels.similarity import MEASURES

BACKENDS = ["reference", "numba", "cython"]
EXAMPLES = settings(max_examples=25, deadline=None)


@st.composite
def csr_lists(draw, n_rows, n_cols, max_per_row=6, unique=False):
    """Row lists of column indices (any order; duplicates unless ``unique``); rows may be empty."""
    rows = []
    for _ in range(n_rows):
        if unique:
            rows.append(draw(st.lists(st.integers(0, n_cols - 1), max_size=min(max_per_row, n_cols), unique=True)))
        else:
            rows.append(draw(st.lists(st.integers(0, n_cols - 1), max_size=max_per_row)))
    return rows


def as_csr(rows, dtype=np.int64):
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])].astype(dtype)
    return indptr, np.asarray([j for r in rows for j in r], dtype=dtype)


def assert_permuted(got, base, perm):
    """Every output array of ``got`` is the same array of ``base`` with its rows taken in ``perm``."""
    for got_part, base_part in zip(got, base):
        np.testing.assert_array_equal(got_part, base_part[perm])


shapes = st.tuples(st.integers(1, 7), st.integers(1, 12))
index_dtypes = st.sampled_from([np.int32, np.int64])
float_dtypes = st.sampled_from([np.float32, np.float64])


# --- top-k ----------------------------------------------------------------------------------

def brute_force_topk(scores, k, rows):
    """Sort admissible items by (-score, item): the documented tie rule, via np.lexsort."""
    n_rows, n_items = scores.shape
    items = np.full((n_rows, k), -1, dtype=np.int64)
    top = np.full((n_rows, k), -np.inf, dtype=scores.dtype)
    for r in range(n_rows):
        admissible = np.setdiff1d(np.arange(n_items), rows[r])
        order = admissible[np.lexsort((admissible, -scores[r, admissible]))][:k]
        items[r, :order.size], top[r, :order.size] = order, scores[r, order]
    return items, top


@st.composite
def topk_problems(draw):
    n_rows, n_items = draw(shapes)
    scores = np.asarray(draw(st.lists(st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, np.inf]),
                                      min_size=n_rows * n_items, max_size=n_rows * n_items)))
    return scores.reshape(n_rows, n_items), draw(st.integers(1, n_items + 3)), draw(csr_lists(n_rows, n_items))


@EXAMPLES
@given(problem=topk_problems(), dtype=float_dtypes, index=index_dtypes)
def test_topk_equals_a_brute_force_sort_with_the_same_tie_rule(problem, dtype, index):
    scores, k, rows = problem
    scores = scores.astype(dtype)
    expected = brute_force_topk(scores, k, rows)
    indptr, indices = as_csr(rows, index)
    for backend in BACKENDS:
        got = select_topk(scores, k, exclude_indptr=indptr, exclude_indices=indices, backend=backend, n_threads=2)
        np.testing.assert_array_equal(got[0], expected[0], err_msg=backend)
        np.testing.assert_array_equal(got[1], expected[1], err_msg=backend)


@EXAMPLES
@given(problem=topk_problems(), seed=st.integers(0, 2**16))
def test_topk_permuting_rows_permutes_the_output(problem, seed):
    scores, k, rows = problem
    perm = np.random.default_rng(seed).permutation(scores.shape[0])
    for backend in BACKENDS:
        base = select_topk(scores, k, exclude_indptr=as_csr(rows)[0], exclude_indices=as_csr(rows)[1], backend=backend)
        shuffled_rows = [rows[p] for p in perm]
        indptr, indices = as_csr(shuffled_rows)
        got = select_topk(scores[perm], k, exclude_indptr=indptr, exclude_indices=indices, backend=backend)
        assert_permuted(got, base, perm)


# --- ALS half-step --------------------------------------------------------------------------

@st.composite
def als_problems(draw):
    n_rows, n_other = draw(shapes)
    f = draw(st.integers(1, 5))
    rows = draw(csr_lists(n_rows, n_other))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    confidence = 1.0 + rng.random(sum(map(len, rows))) * 5
    return rows, confidence, rng.standard_normal((n_other, f)), draw(st.sampled_from([0.01, 0.1, 1.0]))


@EXAMPLES
@given(problem=als_problems(), index=index_dtypes)
def test_als_cholesky_half_step_solves_each_rows_normal_equations(problem, index):
    rows, confidence, Y, regularization = problem
    indptr, indices = as_csr(rows, index)
    f = Y.shape[1]
    for backend in BACKENDS:
        X = np.full((len(rows), f), np.nan)  # not read by the exact solver
        als_half_step(indptr, indices, confidence, Y, X, regularization=regularization, backend=backend, n_threads=2)
        for u in range(len(rows)):
            c, Yu = confidence[indptr[u]:indptr[u + 1]], Y[indices[indptr[u]:indptr[u + 1]]]
            A = Y.T @ Y + (Yu * (c - 1)[:, None]).T @ Yu + regularization * np.eye(f)
            b = Yu.T @ c
            np.testing.assert_allclose(A @ X[u], b, rtol=1e-8, atol=1e-8 * max(1.0, np.abs(b).max(initial=0)),
                                       err_msg=f"{backend}, row {u}")


@EXAMPLES
@given(problem=als_problems(), seed=st.integers(0, 2**16), cg_steps=st.sampled_from([0, 2]))
def test_als_permuting_rows_permutes_the_factors(problem, seed, cg_steps):
    rows, confidence, Y, regularization = problem
    perm = np.random.default_rng(seed).permutation(len(rows))
    start = np.random.default_rng(seed + 1).standard_normal((len(rows), Y.shape[1]))
    per_row = np.split(confidence, np.cumsum([len(r) for r in rows])[:-1]) if rows else []
    for backend in BACKENDS:
        X = start.copy()
        als_half_step(*as_csr(rows), confidence, Y, X, regularization=regularization, cg_steps=cg_steps, backend=backend)
        Xp = start[perm].copy()
        shuffled = [rows[p] for p in perm]
        conf_p = np.concatenate([per_row[p] for p in perm]) if rows else confidence
        als_half_step(*as_csr(shuffled), conf_p, Y, Xp, regularization=regularization, cg_steps=cg_steps, backend=backend)
        np.testing.assert_array_equal(Xp, X[perm], err_msg=backend)


# --- metrics --------------------------------------------------------------------------------

@st.composite
def metric_problems(draw):
    n_users, n_items = draw(shapes)
    f = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    U = rng.integers(-2, 3, (n_users, f)).astype(np.float64)  # integers: exact scores, many ties
    V = rng.integers(-2, 3, (n_items, f)).astype(np.float64)
    return U, V, draw(csr_lists(n_users, n_items)), draw(csr_lists(n_users, n_items, unique=True)), \
        draw(st.integers(1, n_items + 2))


RATIO_COLUMNS = [c for c in RANKING_COLUMNS if c != "hits"]


@EXAMPLES
@given(problem=metric_problems(), index=index_dtypes)
def test_metrics_are_in_range_and_every_twin_equals_the_reference(problem, index):
    U, V, train, test, k = problem
    users = np.arange(U.shape[0])
    args = (U, V, users, *as_csr(train, index), *as_csr(test, index), k)
    expected = factor_ranking_metrics(*args, auc=True, graded=True, backend="reference")
    values = expected[1]
    defined = ~np.isnan(values)
    hits = values[:, RANKING_COLUMNS.index("hits")]
    assert np.all((hits[defined[:, 0]] >= 0) & (hits[defined[:, 0]] <= k))
    ratios = values[:, [RANKING_COLUMNS.index(c) for c in RATIO_COLUMNS]]
    assert np.all((ratios[~np.isnan(ratios)] >= 0) & (ratios[~np.isnan(ratios)] <= 1 + 1e-12))
    # Users without test items are NaN in every column; the others are defined (but auc).
    has_test = np.array([len(t) > 0 for t in test])
    assert np.isnan(values[~has_test]).all() and not np.isnan(values[has_test][:, :RANKING_COLUMNS.index("auc")]).any()
    lists = list_ranking_metrics(expected[0], users, *as_csr(test, index), V.shape[0], graded=True)
    for backend in ("numba", "cython"):
        got = factor_ranking_metrics(*args, auc=True, graded=True, backend=backend, n_threads=2)
        np.testing.assert_array_equal(got[0], expected[0], err_msg=backend)
        np.testing.assert_array_equal(got[1], expected[1], err_msg=backend)
    no_auc = [c for c in RANKING_COLUMNS if c != "auc"]
    columns = [RANKING_COLUMNS.index(c) for c in no_auc]
    np.testing.assert_allclose(lists[:, columns], values[:, columns], rtol=1e-12, atol=1e-12)


@EXAMPLES
@given(problem=metric_problems(), seed=st.integers(0, 2**16))
def test_metrics_permuting_users_permutes_the_rows(problem, seed):
    U, V, train, test, k = problem
    perm = np.random.default_rng(seed).permutation(U.shape[0])
    args = (*as_csr(train), *as_csr(test), k)
    for backend in BACKENDS:
        base = factor_ranking_metrics(U, V, np.arange(U.shape[0]), *args, auc=True, backend=backend)
        got = factor_ranking_metrics(U, V, perm, *args, auc=True, backend=backend)  # users in another order
        assert_permuted(got, base, perm)


# --- SGD ------------------------------------------------------------------------------------
# (Permuting users is no property of SGD: the visiting order is part of its answer.)

@st.composite
def sgd_problems(draw):
    n_users, n_items = draw(shapes)
    nnz = draw(st.integers(0, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    users, items = rng.integers(0, n_users, nnz), rng.integers(0, n_items, nnz)
    ratings = rng.integers(1, 6, nnz).astype(np.float64)
    return users, items, ratings, n_users, n_items, draw(st.integers(1, 4)), draw(st.integers(1, 4))


@EXAMPLES
@given(problem=sgd_problems(), index=index_dtypes)
def test_sgd_every_twin_equals_the_reference_at_any_thread_count(problem, index):
    users, items, ratings, n_users, n_items, n_blocks, f = problem
    block_ptr, order = sgd_schedule(users, items, n_users, n_items, n_blocks, seed=1)
    rng = np.random.default_rng(0)
    start = dict(user_factors=rng.normal(0, 0.1, (n_users, f)), item_factors=rng.normal(0, 0.1, (n_items, f)),
                 user_bias=np.zeros(n_users), item_bias=np.zeros(n_items))
    results = {}
    for backend, threads in (("reference", 1), ("numba", 1), ("numba", 2), ("cython", 1), ("cython", 2)):
        state = {k: v.copy() for k, v in start.items()}
        sse = sgd_epoch(block_ptr, users[order].astype(index), items[order].astype(index), ratings[order], **state,
                        global_mean=3.0, learning_rate=0.05, reg_factors=0.02, reg_bias=0.02, n_threads=threads,
                        backend=backend)
        results[backend, threads] = (sse, state)
    expected_sse, expected = results["reference", 1]
    for (backend, threads), (sse, state) in results.items():
        assert sse == pytest.approx(expected_sse, rel=1e-10, abs=1e-12)
        for name in state:
            np.testing.assert_allclose(state[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=backend)
    for backend in ("numba", "cython"):  # the thread count changes nothing, bit for bit
        for name in start:
            np.testing.assert_array_equal(results[backend, 1][1][name], results[backend, 2][1][name])


# --- similarity top-k -----------------------------------------------------------------------

@st.composite
def similarity_problems(draw):
    """A random small CSR (duplicates, unsorted rows, empty rows, stored zeros, negative and
    tied values), a k up to beyond the row count, and a measure with its options."""
    n_rows, n_cols = draw(shapes)
    rows = draw(csr_lists(n_rows, n_cols))
    nnz = sum(len(r) for r in rows)
    values = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0]), min_size=nnz, max_size=nnz))
    options = draw(st.fixed_dictionaries({
        "measure": st.sampled_from(sorted(MEASURES)), "shrinkage": st.sampled_from([0.0, 2.0]),
        "min_support": st.integers(1, 2), "exclude_self": st.booleans()}))
    return rows, np.asarray(values), n_cols, draw(st.integers(1, n_rows + 2)), options


@EXAMPLES
@given(problem=similarity_problems(), dtype=float_dtypes, index=index_dtypes)
def test_similarity_every_twin_equals_the_reference(problem, dtype, index):
    rows, values, n_cols, k, options = problem
    indptr, indices = as_csr(rows, index)
    expected = similarity_topk(indptr, indices, values.astype(dtype), n_cols, k, backend="reference", **options)
    for backend in ("numba", "cython"):
        got = similarity_topk(indptr, indices, values.astype(dtype), n_cols, k, n_threads=2, backend=backend,
                              **options)
        np.testing.assert_array_equal(got[0], expected[0], err_msg=backend)
        np.testing.assert_array_equal(got[1], expected[1], err_msg=backend)
        assert got[2].dtype == expected[2].dtype == dtype
        np.testing.assert_allclose(got[2], expected[2], rtol=1e-5 if dtype == np.float32 else 1e-12, err_msg=backend)


@EXAMPLES
@given(problem=similarity_problems(), backend=st.sampled_from(BACKENDS))
def test_similarity_rows_are_the_sorted_top_k_of_all_positive_neighbours(problem, backend):
    """At most k per row, all > 0, no row its own neighbour (with exclude_self), sorted by
    similarity descending then row ascending, and the first k of the list with no k limit."""
    rows, values, n_cols, k, options = problem
    indptr, indices = as_csr(rows)
    n_rows = len(rows)
    top = similarity_topk(indptr, indices, values, n_cols, k, backend=backend, **options)
    every = similarity_topk(indptr, indices, values, n_cols, n_rows + 1, backend=backend, **options)
    for a in range(n_rows):
        neighbours, sims = (part[top[0][a]:top[0][a + 1]] for part in top[1:])
        all_neighbours, all_sims = (part[every[0][a]:every[0][a + 1]] for part in every[1:])
        assert neighbours.size <= k and (sims > 0).all()
        if options["exclude_self"]:
            assert a not in all_neighbours
        order = np.lexsort((all_neighbours, -all_sims))
        np.testing.assert_array_equal(order, np.arange(all_neighbours.size))
        np.testing.assert_array_equal(neighbours, all_neighbours[:k])
        np.testing.assert_array_equal(sims, all_sims[:k])
