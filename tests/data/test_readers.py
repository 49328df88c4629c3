"""read_ratings and from_arrays: files, DataFrames and arrays to Interactions; bad files named."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastcf.data.interactions as interactions_module
from fastcf.data import from_arrays, read_ratings
from fastcf.exceptions import DataError


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


GOOD = "user,item,rating,timestamp\n1,10,4,100\n1,11,3.5,101\n2,10,5,102\n3,12,1,103\n"


def test_csv_to_interactions(tmp_path):
    data = read_ratings(write(tmp_path, "r.csv", GOOD), timestamp_col="timestamp")
    assert (data.n_users, data.n_items, data.nnz) == (3, 3, 4)
    assert data.matrix.dtype == np.float32 and data.matrix.indices.dtype == np.int32
    np.testing.assert_array_equal(data.matrix.toarray(), [[4, 3.5, 0], [5, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(data.timestamps, [100, 101, 102, 103])
    assert data.report.rows_read == 4 and data.report.rows_kept == 4 and data.report.rows_dropped == 0
    assert data.users.to_index(3) == 2 and data.items.to_raw(2) == 12
    assert data.item_user.shape == (3, 3)
    np.testing.assert_array_equal(data.item_user.toarray(), data.matrix.toarray().T)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_line_endings_and_byte_order_mark(tmp_path, newline, bom):
    data = read_ratings(write(tmp_path, "r.csv", bom + GOOD.replace("\n", newline)))
    assert data.nnz == 4 and data.matrix[0, 1] == 3.5


def test_tsv_without_header_and_dat_with_double_colons(tmp_path):
    tsv = read_ratings(write(tmp_path, "r.tsv", "1\t10\t4\n2\t11\t3\n"), names=["user", "item", "rating"])
    dat = read_ratings(write(tmp_path, "r.dat", "1::10::4::5\n2::11::3::6\n"),
                       names=["user", "item", "rating", "timestamp"], timestamp_col="timestamp")
    np.testing.assert_array_equal(tsv.matrix.toarray(), dat.matrix.toarray())
    np.testing.assert_array_equal(dat.timestamps, [5, 6])


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "r.parquet"
    pd.DataFrame({"u": ["a", "b"], "i": [1, 2], "r": [1.0, 2.0]}).to_parquet(path)
    data = read_ratings(path, user_col="u", item_col="i", rating_col="r")
    np.testing.assert_array_equal(data.users.raw_ids, ["a", "b"])
    assert data.nnz == 2


def test_dataframe_with_string_ids_and_implicit_feedback():
    frame = pd.DataFrame({"who": ["ann", "bob", "ann"], "what": ["x", "y", "y"]})
    data = read_ratings(frame, user_col="who", item_col="what", rating_col=None)
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 1], [0, 1]])


def test_from_arrays_and_float64():
    data = from_arrays([1, 2, 2], [5, 5, 6], [1.0, 2.0, 3.0], dtype=np.float64)
    assert data.matrix.dtype == np.float64
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 0], [2, 3]])
    with pytest.raises(ValueError, match=r"the arrays must have one length"):
        from_arrays([1, 2], [5], [1.0, 2.0])


def test_int64_indices_beyond_the_threshold(monkeypatch):
    monkeypatch.setattr(interactions_module, "INT32_LIMIT", 3)
    data = from_arrays([1, 2, 2, 3], [5, 5, 6, 7], [1.0, 2.0, 3.0, 4.0])
    assert data.matrix.indices.dtype == np.int64 and data.matrix.indptr.dtype == np.int64
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 0, 0], [2, 3, 0], [0, 0, 4]])
    assert data.item_user.shape == (3, 3)


# --- bad files ----------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ratings file '.*nope.csv' does not exist"):
        read_ratings(tmp_path / "nope.csv")


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(DataError, match=r"e.csv: the file is empty"):
        read_ratings(write(tmp_path, "e.csv", ""))
    with pytest.raises(DataError, match=r"h.csv: no rating rows"):
        read_ratings(write(tmp_path, "h.csv", "user,item,rating\n"))


def test_wrong_delimiter_suggests_the_right_one(tmp_path):
    with pytest.raises(DataError, match=r"r.csv:1: found 1 column .* Is the separator '\\t' rather than ','\?"):
        read_ratings(write(tmp_path, "r.csv", "user\titem\trating\n1\t2\t3\n"))


def test_missing_column_is_named(tmp_path):
    with pytest.raises(DataError, match=r"r.csv:1: no column 'rating'; the columns are \['user', 'item', 'score'\]"):
        read_ratings(write(tmp_path, "r.csv", "user,item,score\n1,2,3\n"))


def test_non_numeric_rating_names_file_line_column_and_value(tmp_path):
    path = write(tmp_path, "ratings.csv", GOOD + "4,10,five,104\n")
    with pytest.raises(DataError, match=r"ratings.csv:6: 'rating' must be a number; got 'five'\. Pass on_bad_row=\"skip\""):
        read_ratings(path)
    data = read_ratings(path, on_bad_row="skip")
    assert data.nnz == 4 and data.report.dropped == {"unparsable rating": 1}
    rows = data.report.rows()
    assert rows.loc[0, "where"] == "ratings.csv:6" and rows.loc[0, "rating"] == "five"


def test_ragged_rows_error_or_skip_with_line(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,10,4\n1,11,3,7\n2,10,3\n")
    with pytest.raises(DataError, match=r"r.csv:3: malformed line: expected 3 fields, as the header has; saw 4"):
        read_ratings(path)
    data = read_ratings(path, on_bad_row="skip")
    assert data.nnz == 2 and data.report.dropped == {"malformed line": 1}
    assert data.report.rows().loc[0, "where"] == "r.csv:3"


def test_line_numbers_stay_right_after_a_skipped_line(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,10,4\n1,11,3,7\n2,10,x\n")
    data = read_ratings(path, on_bad_row="skip")
    assert sorted(data.report.rows()["where"]) == ["r.csv:3", "r.csv:4"]


def test_short_rows_are_reported_and_empty_lines_skipped(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,10,4\n\n2,11\n,12,2\n3,12,1\n")
    with pytest.raises(DataError, match=r"r.csv:4: malformed line: expected 3 fields, as the header has; saw 2"):
        read_ratings(path)
    data = read_ratings(path, on_bad_row="skip")
    assert data.nnz == 2
    assert data.report.dropped == {"missing user id": 1, "malformed line": 1}
    assert sorted(data.report.rows()["where"]) == ["r.csv:4", "r.csv:5"]
    assert data.report.rows_read == 4  # the empty line 3 holds no row


def test_ids_beyond_int64(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,10,4\n99999999999999999999,10,3\n")
    with pytest.raises(DataError, match=r"r.csv:3: 'user' must be an id within the int64 range; got '99999999999999999999'"):
        read_ratings(path)
    assert read_ratings(path, on_bad_row="skip").report.dropped == {"user id beyond int64": 1}


def test_non_utf8_file_names_the_encoding(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,Misérables,4\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"r.csv: not readable as utf-8-sig text .* latin-1"):
        read_ratings(path)
    assert read_ratings(path, encoding="latin-1").items.to_raw(0) == "Misérables"


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(DataError, match=r"is a folder, not a ratings file"):
        read_ratings(tmp_path)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(on_bad_row="ignore"), ValueError, r"'on_bad_row' must be one of \('error', 'skip'\); got 'ignore'"),
        (dict(duplicates="median"), ValueError, r"'duplicates' must be one of"),
        (dict(zeros="nan"), ValueError, r"'zeros' must be one of \('keep', 'drop'\)"),
        (dict(dtype=np.int32), ValueError, r"'dtype' must be float32 or float64; got int32"),
        (dict(rating_scale=(5, 1)), ValueError, r"'rating_scale' must be None or \(low, high\), two finite numbers with low <= high; got \(5, 1\)"),
        (dict(rating_scale="1-5"), TypeError, r"'rating_scale' must be None or \(low, high\)"),
        (dict(rating_scale=("1", 5)), TypeError, r"'rating_scale' must be None or \(low, high\)"),
    ],
)
def test_bad_options_are_named(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        read_ratings(write(tmp_path, "r.csv", GOOD), **kwargs)


def test_interactions_refuse_a_non_canonical_matrix():
    from fastcf.data import IdMap, Interactions

    matrix = sp.csr_matrix((np.ones(2), np.array([1, 0]), np.array([0, 2])), shape=(1, 2))
    with pytest.raises(ValueError, match=r"must be canonical: each \(user, item\) stored once, indices sorted"):
        Interactions(matrix, IdMap([1], "user"), IdMap([1, 2], "item"))
    with pytest.raises(ValueError, match=r"must be of shape \(1, 3\), one row per user ID and one column per item ID; got shape \(1, 2\)"):
        Interactions(sp.csr_matrix((1, 2)), IdMap([1], "user"), IdMap([1, 2, 3], "item"))


def test_blank_lines_in_a_clean_file_keep_line_numbers_right(tmp_path):
    # Clean numeric files take the fast parse, which skips blank lines; a message about a
    # later row must still name its true line.
    path = write(tmp_path, "r.csv", "user,item,rating\n1,10,4\n\n\r\n1,11,3\n1,10,5\n")
    with pytest.raises(DataError, match=r"r.csv:2 and r.csv:6: duplicate \(user, item\) pair \(1, 10\)"):
        read_ratings(path, duplicates="error")
    data = read_ratings(path)
    assert data.report.rows().loc[0, "where"] == "r.csv:2"  # the first rating of the pair, replaced
