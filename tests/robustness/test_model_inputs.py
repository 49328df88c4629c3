"""Every model's fit / recommend / predict / similar_* against bad and unusual input (issue 11, list 1).

Each test runs over every model in ``MODELS`` (conftest.py). An input is either refused with
a TypeError, ValueError, KeyError or IndexError naming the argument and the value, or gives
the documented result; the caller's arrays are never modified.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fastcf.data import from_arrays
from fastcf.models.baseline import RatingPredictor


def _arrays(matrix):
    return [np.array(a, copy=True) for a in (matrix.data, matrix.indices, matrix.indptr)] if matrix.format in (
        "csr", "csc") else []


def _fit_and_serve(make_model, data, users=(0, 1)):
    model = make_model().fit(data)
    ids, scores = model.recommend(np.asarray(users), 3)
    return model, ids, scores


def _raw_csr(matrix, data=None, indices=None, indptr=None):
    """A csr_matrix holding exactly the given arrays, as a caller could build one (no checks)."""
    out = sp.csr_matrix(matrix.shape, dtype=(matrix.data if data is None else data).dtype)
    out.data = matrix.data.copy() if data is None else data
    out.indices = matrix.indices.copy() if indices is None else indices
    out.indptr = matrix.indptr.copy() if indptr is None else indptr
    return out


MALFORMED = {
    "index beyond the last item": (lambda m: _raw_csr(m, indices=np.r_[m.indices[:-1], m.shape[1]].astype(m.indices.dtype)),
                                   "'data.indices' must lie in"),
    "negative index": (lambda m: _raw_csr(m, indices=np.r_[-1, m.indices[1:]].astype(m.indices.dtype)),
                       "'data.indices' must lie in"),
    "falling indptr": (lambda m: _raw_csr(m, indptr=np.r_[0, m.indptr[2], m.indptr[1], m.indptr[3:]].astype(m.indptr.dtype)),
                       "'data.indptr' must be non-decreasing"),
    "indptr ending past the data": (lambda m: _raw_csr(m, indptr=np.r_[m.indptr[:-1], m.indptr[-1] + 1].astype(m.indptr.dtype)),
                            "'data.indptr'[-1] must equal"),
    "indptr too short": (lambda m: _raw_csr(m, indptr=m.indptr[:-1].copy()), "'data.indptr' must have"),
    "data too short": (lambda m: _raw_csr(m, data=m.data[:-1].copy()), "'data.data' must hold one value"),
    "COO row out of range": (lambda m: _coo_out_of_range(m), "'data.row' must lie in"),
    "CSC index beyond the last user": (lambda m: _csc_out_of_range(m), "'data.indices' must lie in"),
}


def _coo_out_of_range(m):
    coo = m.tocoo()
    out = sp.coo_matrix(coo.shape, dtype=coo.dtype)
    out.row, out.col, out.data = np.r_[coo.row[:-1], m.shape[0]].astype(coo.row.dtype), coo.col.copy(), coo.data.copy()
    return out


def _csc_out_of_range(m):
    csc = m.tocsc()
    out = sp.csc_matrix(csc.shape, dtype=csc.dtype)
    out.data, out.indptr = csc.data.copy(), csc.indptr.copy()
    out.indices = np.r_[csc.indices[:-1], m.shape[0] + 5].astype(csc.indices.dtype)
    return out


@pytest.mark.parametrize("defect", list(MALFORMED))
def test_a_malformed_matrix_is_refused_before_any_kernel(make_model, ratings_matrix, defect):
    build, message = MALFORMED[defect]
    broken = build(ratings_matrix)
    before = _arrays(broken)
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        make_model().fit(broken)
    for array, copy in zip(_arrays(broken), before):
        assert np.array_equal(array, copy)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_naming_the_user(make_model, ratings_matrix, value):
    bad = ratings_matrix.copy()
    bad.data[5] = value
    row = int(np.searchsorted(bad.indptr, 5, side="right") - 1)
    with pytest.raises(ValueError, match=rf"'data' must be finite; got {value} at user index {row}, column "):
        make_model().fit(bad)


@pytest.mark.parametrize("dtype", [np.complex128, object])
def test_values_that_are_not_real_numbers_are_refused(make_model, ratings_matrix, dtype):
    bad = sp.csr_matrix((ratings_matrix.data.astype(dtype), ratings_matrix.indices, ratings_matrix.indptr),
                        shape=ratings_matrix.shape)
    with pytest.raises(TypeError, match=rf"'data' must be real numbers .*got dtype {np.dtype(dtype)}"):
        make_model().fit(bad)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
def test_no_users_or_no_items_is_refused(make_model, shape):
    with pytest.raises(ValueError, match=r"'data' has shape .* it needs users and items"):
        make_model().fit(sp.csr_matrix(shape))


def test_no_interactions_is_refused(make_model):
    with pytest.raises(ValueError, match=r"'data' of shape \(4, 3\) holds no interactions \(nnz = 0\)"):
        make_model().fit(sp.csr_matrix((4, 3)))


@pytest.mark.parametrize("data", [np.ones((3, 3)), pd.DataFrame({"user": [0], "item": [1]}), [[1, 0]], None])
def test_data_that_is_not_sparse_or_interactions_is_refused_by_name(make_model, data):
    with pytest.raises(TypeError, match=r"'data' must be fastcf Interactions or a users x items scipy sparse"):
        make_model().fit(data)


def test_one_interaction_fits_and_serves_finite_scores(make_model):
    one = sp.csr_matrix(([4.0], ([2], [1])), shape=(4, 3))
    model, ids, scores = _fit_and_serve(make_model, one, users=(0, 2, 3))
    assert ids.shape == (3, 3)
    assert np.isfinite(scores[[0, 2]]).all() and 1 not in ids[1]  # user 2's one item is excluded


def test_empty_last_user_and_last_item_are_served(make_model, limitation, ratings_matrix):
    last_user, last_item = ratings_matrix.shape[0] - 1, ratings_matrix.shape[1] - 1
    model, ids, scores = _fit_and_serve(make_model, ratings_matrix, users=(0, last_user))
    assert np.isfinite(scores).all()
    similar, similarity = model.similar_items(last_item, 3)
    if limitation("similar_items_of_unseen"):
        assert (similar == -1).all() and np.isneginf(similarity).all()
    else:
        assert last_item not in similar and np.isfinite(similarity).all()
    if hasattr(model, "predict"):
        assert np.isfinite(model.predict([last_user], [last_item])).all()


def _variants(m):
    big = sp.csr_matrix(m.shape, dtype=np.float64)  # scipy refuses the dtype here, not the arrays
    big.data, big.indices, big.indptr = m.data.astype(">f8"), m.indices.astype(">i4"), m.indptr.astype(">i8")
    frozen = m.copy()
    for array in (frozen.data, frozen.indices, frozen.indptr):
        array.flags.writeable = False
    return {
        "int64 indices": _raw_csr(m, indices=m.indices.astype(np.int64), indptr=m.indptr.astype(np.int64)),
        "mixed index dtypes": _raw_csr(m, indices=m.indices.astype(np.int64), indptr=m.indptr.astype(np.int32)),
        "big-endian arrays": big,
        "read-only arrays": frozen,
        "float32 values": m.astype(np.float32).astype(np.float64),
        "integer values": m.astype(np.int64),
        "COO": m.tocoo(), "CSC": m.tocsc(), "LIL": m.tolil(), "DOK": m.todok(),
        "csr_array": sp.csr_array(m),
    }


VARIANTS = list(_variants(sp.csr_matrix(np.eye(2))))


@pytest.mark.parametrize("variant", VARIANTS)
def test_other_formats_dtypes_and_layouts_give_the_same_model(make_model, ratings_matrix, variant):
    reference, ref_ids, ref_scores = _fit_and_serve(make_model, ratings_matrix, users=np.arange(10))
    data = _variants(ratings_matrix)[variant]
    before = _arrays(data)
    model, ids, scores = _fit_and_serve(make_model, data, users=np.arange(10))
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(scores, ref_scores)
    for array, copy in zip(_arrays(data), before):
        assert np.array_equal(array, copy), f"fit modified the {variant} input"


def test_duplicates_and_unsorted_indices_are_summed_on_a_copy(make_model, ratings_matrix):
    coo = ratings_matrix.tocoo()
    order = np.random.default_rng(0).permutation(coo.nnz)
    halves = coo.data[order] / 2  # every rating stored twice, as halves, rows unsorted
    messy = _raw_csr(ratings_matrix)
    rows = np.r_[coo.row[order], coo.row[order]]
    cols = np.r_[coo.col[order], coo.col[order]]
    by_row = np.argsort(rows, kind="stable")
    messy.indices = cols[by_row].astype(np.int32)
    messy.data = np.r_[halves, halves][by_row]
    messy.indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=coo.shape[0]))].astype(np.int32)
    before = _arrays(messy)
    _, ref_ids, ref_scores = _fit_and_serve(make_model, ratings_matrix, users=np.arange(10))
    _, ids, scores = _fit_and_serve(make_model, messy, users=np.arange(10))
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
    for array, copy in zip(_arrays(messy), before):
        assert np.array_equal(array, copy)


def test_explicit_zeros_are_kept_as_interactions(make_model, ratings_matrix):
    """Documented in Recommender.fit: an explicit zero is a stored entry (e.g. a rating of 0)."""
    user = 3
    target = int(np.setdiff1d(np.arange(ratings_matrix.shape[1]), ratings_matrix[user].indices)[0])
    coo = ratings_matrix.tocoo()
    explicit = sp.csr_matrix((np.r_[coo.data, 0.0], (np.r_[coo.row, user], np.r_[coo.col, target])),
                             shape=ratings_matrix.shape)
    assert explicit.nnz == ratings_matrix.nnz + 1  # stored, not dropped
    model = make_model().fit(explicit)
    assert model.seen_[user].nnz == ratings_matrix[user].nnz + 1
    ids, _ = model.recommend(user, model.n_items)
    assert target not in ids  # a stored entry counts as seen


def test_negative_values_are_refused_by_implicit_models(make_model, ratings_matrix, implicit_only):
    negative = ratings_matrix.copy()
    negative.data[2] = -1.0
    with pytest.raises(ValueError, match=r"'data' must be >= 0 .*got -1.0 \(user index"):
        make_model().fit(negative)


def test_negative_ratings_are_fine_for_explicit_models(make_model, ratings_matrix, is_implicit):
    if is_implicit:
        pytest.skip("implicit feedback: refused (see the test above)")
    shifted = ratings_matrix.copy()
    shifted.data -= 3.0  # ratings in [-2, 2]
    model = make_model().fit(shifted)
    assert np.isfinite(model.predict(np.arange(3), np.arange(3))).all()


def test_bad_hyperparameters_are_refused_naming_them(make_model, model_bad_params, ratings_matrix):
    assert model_bad_params
    for param, value in model_bad_params:
        with pytest.raises((TypeError, ValueError)) as caught:
            make_model(**{param: value}).fit(ratings_matrix)
        assert f"'{param}'" in str(caught.value), (param, value, caught.value)


# --- serving ------------------------------------------------------------------------------

@pytest.fixture
def fitted(make_model, ratings_matrix):
    return make_model().fit(ratings_matrix)


@pytest.fixture
def fitted_on_ids(make_model, ratings_matrix):
    coo = ratings_matrix.tocoo()
    data = from_arrays(coo.row + 100, np.array([f"item{c}" for c in coo.col]), coo.data)
    return make_model().fit(data)


@pytest.mark.parametrize("users, error, message", [
    (-1, IndexError, r"user index -1 is outside \[0, 30\)"),
    (30, IndexError, r"user index 30 is outside \[0, 30\)"),
    (np.array([2**63 + 1], dtype=np.uint64), IndexError, r"user index 9223372036854775809 is outside"),
    (1.0, TypeError, r"users must be integer indices .*got dtype float64"),
    (True, TypeError, r"users must be integer indices .*got dtype bool"),
    (np.array([[0, 1], [2, 3]]), ValueError, r"users must be one ID or a 1-D array of IDs; got shape \(2, 2\)"),
])
def test_bad_user_indices_are_refused(fitted, users, error, message):
    with pytest.raises(error, match=message):
        fitted.recommend(users, 3)


@pytest.mark.parametrize("users", [-1, 99, 100.5, True, "user100"])
def test_unknown_raw_user_ids_are_refused_by_name(fitted_on_ids, users):
    with pytest.raises(KeyError, match=rf"recommend: unknown user id\(s\) \[{users!r}\]"):
        fitted_on_ids.recommend(users, 3)


@pytest.mark.parametrize("k, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError),
                                      ("3", TypeError), (None, TypeError)])
def test_bad_k_is_refused_everywhere(fitted, k, error):
    for call in (lambda: fitted.recommend(0, k), lambda: fitted.similar_items(0, k)):
        with pytest.raises(error, match=rf"'k' must be an int >= 1; got {k!r}"):
            call()


def test_k_above_the_item_count_shrinks_to_it(fitted):
    ids, scores = fitted.recommend(0, 10_000, exclude_seen=False)
    assert ids.shape == scores.shape == (fitted.n_items,)
    assert sorted(ids.tolist()) == list(range(fitted.n_items))


@pytest.mark.parametrize("how", ["exclude every item", "empty candidates", "candidates all seen"])
def test_every_item_filtered_gives_padding(fitted, how):
    seen = fitted.seen_[0].indices
    kwargs = {"exclude every item": dict(exclude_items=np.arange(fitted.n_items)),
              "empty candidates": dict(items=[]),
              "candidates all seen": dict(items=seen)}[how]
    ids, scores = fitted.recommend(np.array([0]), 4, **kwargs)
    assert ids.shape[0] == 1 and (ids == -1).all() and np.isneginf(scores).all()


def test_every_item_filtered_gives_none_padding_with_string_ids(fitted_on_ids):
    ids, scores = fitted_on_ids.recommend(100, 4, items=[])
    assert ids.tolist() == [None] and np.isneginf(scores).all()


@pytest.mark.parametrize("block_bytes, error", [(0, ValueError), (-5, ValueError), ("1MB", TypeError), (1.5, TypeError)])
def test_bad_block_bytes_is_refused(fitted, block_bytes, error):
    with pytest.raises(error, match=r"'block_bytes' must be an int >= 1"):
        fitted.recommend(0, 3, block_bytes=block_bytes)


def test_no_users_gives_an_empty_answer(fitted):
    ids, scores = fitted.recommend(np.array([], dtype=np.int64), 3)
    assert ids.shape == scores.shape == (0, 3)


def test_unknown_items_in_candidates_and_similar_items_are_refused(fitted, fitted_on_ids):
    with pytest.raises(IndexError, match=r"item index 20 is outside \[0, 20\)"):
        fitted.recommend(0, 3, items=[1, 20])
    with pytest.raises(IndexError, match=r"similar_items: item index -1 is outside"):
        fitted.similar_items(-1, 3)
    with pytest.raises(KeyError, match=r"similar_items: unknown item id\(s\) \['nope'\]"):
        fitted_on_ids.similar_items("nope", 3)


def test_similar_users_refuses_unknown_users(fitted, limitation):
    if not hasattr(fitted, "similar_users"):
        pytest.skip(f"{type(fitted).__name__} has no similar_users")
    if limitation("similar_users"):
        with pytest.raises(NotImplementedError, match=r"similar_users: "):
            fitted.similar_users(0, 3)
        return
    with pytest.raises(IndexError, match=r"similar_users: user index 30 is outside"):
        fitted.similar_users(30, 3)


def test_predict_unknown_pairs_fall_back_or_are_refused(fitted):
    if isinstance(fitted, RatingPredictor):  # documented: the baseline answers for unknown IDs
        ratings, fallback = fitted.predict([0, 99], [0, 1], return_fallback=True)
        assert np.isfinite(ratings).all() and fallback[1]
    else:
        with pytest.raises(IndexError, match=r"predict: user index 99 is outside"):
            fitted.predict([0, 99], [0, 1])
    with pytest.raises(ValueError, match=r"'users' and 'items' must have one length; got 2 and 1"):
        fitted.predict([0, 1], [0])
    with pytest.raises(TypeError, match=r"must be integer indices .*got dtype float64"):
        fitted.predict([0.5], [1])
