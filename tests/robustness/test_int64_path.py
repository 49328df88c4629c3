"""The int64 index path, exercised on small data by lowering the one threshold that picks it.

``fastcf.data.interactions.INT32_LIMIT`` is the only place that decides between int32 and
int64 indices (``index_dtype_for``); beyond it every count needs int64. Lowered to 3, a
small dataset takes the path a dataset with more than 2**31 - 1 entries would.
"""

import numpy as np

import fastcf.data.interactions as interactions_module
from fastcf.data import from_arrays


def _data(ratings_matrix):
    coo = ratings_matrix.tocoo()
    return from_arrays(coo.row, coo.col, coo.data)


def test_the_threshold_is_the_one_place_that_picks_int64(monkeypatch):
    assert interactions_module.index_dtype_for(10, 10, 10) == np.int32
    monkeypatch.setattr(interactions_module, "INT32_LIMIT", 3)
    assert interactions_module.index_dtype_for(3, 3, 3) == np.int32
    assert interactions_module.index_dtype_for(3, 4, 3) == np.int64
    assert interactions_module.index_dtype_for(3, 3, 4) == np.int64


def test_every_model_on_int64_indices_equals_int32(make_model, ratings_matrix, monkeypatch, kernel_spy):
    small = _data(ratings_matrix)
    assert small.matrix.indices.dtype == np.int32
    expected = make_model().fit(small)
    monkeypatch.setattr(interactions_module, "INT32_LIMIT", 3)
    wide = _data(ratings_matrix)
    assert wide.matrix.indices.dtype == np.int64 and wide.matrix.indptr.dtype == np.int64
    kernel_spy.calls.clear()
    got = make_model().fit(wide)
    users = np.arange(10)
    np.testing.assert_array_equal(got.recommend(users, 5)[0], expected.recommend(users, 5)[0])
    np.testing.assert_array_equal(got.recommend(users, 5)[1], expected.recommend(users, 5)[1])
    # The kernels were handed int64 indices (not silently narrowed on the way).
    assert any("int64" in dtypes for _, _, dtypes, _ in kernel_spy.calls), kernel_spy.calls[:3]
