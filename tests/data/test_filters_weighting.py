"""k-core, binarisation and weightings against small hand-computed examples."""

import numpy as np
import pytest

from fastcf.data import from_arrays
from fastcf.data.filters import binarize, compact, k_core
from fastcf.data.weighting import bm25, confidence, log_confidence, tfidf


def test_k_core_iterates_until_stable():
    # Users a, b, c rate items 1, 2; user d rates items 1 and 3; item 3 has one rating.
    # Removing item 3 (1 < 2) leaves d with one entry (< 2), so d goes, which leaves item 1
    # with 3 entries: the 2-core is {a, b, c} x {1, 2}.
    data = from_arrays(list("aabbccdd"), [1, 2, 1, 2, 1, 2, 1, 3], np.arange(1.0, 9.0))
    core = k_core(data, 2, 2)
    assert core.users.raw_ids.tolist() == ["a", "b", "c"] and core.items.raw_ids.tolist() == [1, 2]
    np.testing.assert_array_equal(core.matrix.toarray(), [[1, 2], [3, 4], [5, 6]])
    assert "after 3 round(s): removed 2 entries, 1 users, 1 items" in core.report.notes[-1]
    assert data.nnz == 8 and "k-core" not in " ".join(data.report.notes)  # input untouched


def test_k_core_that_empties_everything_and_bad_arguments():
    data = from_arrays([1, 2], [1, 2], [1.0, 1.0])
    assert k_core(data, 2, 1).nnz == 0
    with pytest.raises(ValueError, match=r"'min_user_entries' must be an int >= 1; got 0"):
        k_core(data, 0, 1)


def test_compact_drops_empty_users_and_items():
    data = from_arrays([1, 2, 3], [7, 8, 9], [5.0, 1.0, 4.0])
    kept = compact(data.select_entries(np.array([True, False, True])))
    assert kept.users.raw_ids.tolist() == [1, 3] and kept.items.raw_ids.tolist() == [7, 9]
    np.testing.assert_array_equal(kept.matrix.toarray(), [[5, 0], [0, 4]])


def test_binarize():
    data = from_arrays([1, 1, 2], [1, 2, 1], [4.0, 2.0, 5.0])
    result = binarize(data, 4)
    np.testing.assert_array_equal(result.matrix.toarray(), [[1, 0], [1, 0]])
    assert result.shape == data.shape


def test_confidence_and_log_confidence():
    data = from_arrays([1, 1], [1, 2], [1.0, 3.0])
    np.testing.assert_allclose(confidence(data, 2.0).matrix.data, [3.0, 7.0])
    np.testing.assert_allclose(log_confidence(data, 2.0, 0.5).matrix.data, 1 + 2 * np.log([3.0, 7.0]), rtol=1e-6)
    np.testing.assert_array_equal(data.matrix.data, [1.0, 3.0])  # pure: the input is unchanged
    with pytest.raises(ValueError, match=r"'alpha' must be a finite number >= 0; got -1"):
        confidence(data, -1)


def test_tfidf_by_hand():
    # 4 users; item 1 held by all (idf log 1 = 0), item 2 by one (idf log 4).
    data = from_arrays([1, 2, 3, 4, 1], [1, 1, 1, 1, 2], [1.0, 1.0, 1.0, 1.0, 3.0])
    weighted = tfidf(data)
    np.testing.assert_allclose(weighted.matrix.toarray()[0], [0.0, 3 * np.log(4)], rtol=1e-6)


def test_bm25_by_hand():
    # Users: u1 has r=(2, 2) on items (1, 2); u2 has r=1 on item 1. n_users 2.
    data = from_arrays([1, 1, 2], [1, 2, 1], [2.0, 2.0, 1.0], dtype=np.float64)
    k1, b = 1.2, 0.75
    lengths = {1: 4.0, 2: 1.0}
    average = 2.5
    idf = {1: np.log(2 / 2), 2: np.log(2 / 1)}

    def expected(user, item, r):
        norm = 1 - b + b * lengths[user] / average
        return idf[item] * r * (k1 + 1) / (r + k1 * norm)

    np.testing.assert_allclose(
        bm25(data, k1, b).matrix.data, [expected(1, 1, 2.0), expected(1, 2, 2.0), expected(2, 1, 1.0)]
    )
    with pytest.raises(ValueError, match=r"'b' must be a finite number in \[0, 1\]"):
        bm25(data, b=2)
