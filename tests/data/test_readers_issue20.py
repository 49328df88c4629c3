"""Issue 20: readers never shift, merge or silently convert data; each example of the issue."""

import numpy as np
import pandas as pd
import pytest

from fastcf.data import from_arrays, read_ratings
from fastcf.data.movielens import read_movielens_items
from fastcf.exceptions import DataError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name, text, kwargs", [
    ("r.csv", "user,item,rating\n196,242,3,881250949\n186,302,3,891717742\n", {}),
    ("r.tsv", "user\titem\trating\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n", {}),
    ("r.csv", "196,242,3,881250949\n186,302,3,891717742\n", {"names": ["user", "item", "rating"]}),
])
def test_an_extra_field_is_a_bad_line_never_a_shift(tmp_path, name, text, kwargs):
    path = write(tmp_path, name, text)
    first = 1 if "names" in kwargs else 2
    with pytest.raises(DataError, match=rf"{name}:{first}: malformed line: expected 3 fields.*saw 4"):
        read_ratings(path, **kwargs)
    mixed = write(tmp_path, "m" + name, text + ("1,2,3\n" if name.endswith("csv") else "1\t2\t3\n"))
    data = read_ratings(mixed, on_bad_row="skip", **kwargs)
    assert data.report.dropped == {"malformed line": 2}
    assert data.to_frame()[["user", "item", "rating"]].values.tolist() == [[1, 2, 3.0]]


def test_big_integer_ids_stay_distinct_with_an_empty_id(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n9007199254740993,1,1\n9007199254740992,1,2\n,1,3\n")
    data = read_ratings(path, on_bad_row="skip")
    assert sorted(data.users.raw_ids.tolist()) == [9007199254740992, 9007199254740993]
    assert data.users.raw_ids.dtype == np.int64 and data.report.dropped == {"missing user id": 1}


def test_int64_extremes_are_exact(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n9223372036854775807,-9223372036854775808,1\n")
    data = read_ratings(path)
    assert data.users.to_raw(0) == 2**63 - 1 and data.items.to_raw(0) == -(2**63)


def test_from_arrays_keeps_spaces_in_ids():
    data = from_arrays(["a", "a ", " a"], [1, 1, 1], [1.0, 2.0, 3.0])
    assert data.n_users == 3 and data.nnz == 3 and data.report.rows_dropped == 0
    assert sorted(data.users.raw_ids.tolist()) == [" a", "a", "a "]


def test_string_ids_in_a_file_keep_their_spaces(tmp_path):
    data = read_ratings(write(tmp_path, "r.csv", "user,item,rating\nann,x,1\nann ,x,2\n ann,x,3\n"))
    assert sorted(data.users.raw_ids.tolist()) == [" ann", "ann", "ann "]


@pytest.mark.parametrize("header", ["user,item,rating,rating", "user,user,item,rating"])
def test_duplicate_header_names_are_refused(tmp_path, header):
    path = write(tmp_path, "r.csv", header + "\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"r.csv:1: the column name '(rating|user)' appears more than once"):
        read_ratings(path)


def test_duplicate_names_given_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"appears more than once"):
        read_ratings(write(tmp_path, "r.csv", "1,2,3\n"), names=["user", "item", "item"], rating_col=None)


def test_dat_with_single_colons_is_malformed(tmp_path):
    path = write(tmp_path, "r.dat", "1::9::2\n1:9:2:9:3\n")
    names = ["user", "item", "rating"]
    with pytest.raises(DataError, match=r"r.dat:2: malformed line: fields must be separated by '::'"):
        read_ratings(path, names=names)
    data = read_ratings(path, names=names, on_bad_row="skip")
    assert data.nnz == 1 and data.report.dropped == {"malformed line": 1}


@pytest.mark.parametrize("stamp, reason", [
    ("99999999999999999999", "timestamp out of range"),
    ("1e300", "timestamp out of range"),
    ("9999-01-01", "timestamp out of range"),
    ("881250949.5", "fractional timestamp"),
    ("soon", "unparsable timestamp"),
])
def test_bad_timestamps_are_bad_rows(tmp_path, stamp, reason):
    path = write(tmp_path, "r.csv", f"user,item,rating,t\n1,2,3,100\n1,3,3,{stamp}\n")
    with pytest.raises(DataError, match=r"r.csv:3: 't' must be"):
        read_ratings(path, timestamp_col="t")
    data = read_ratings(path, timestamp_col="t", on_bad_row="skip")
    assert data.report.dropped == {reason: 1}


def test_fractional_timestamps_are_refused_not_truncated(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating,t\n1,2,5,100.7\n1,2,1,100.2\n")
    with pytest.raises(DataError, match=r"r.csv:2: 't' must be a whole number of seconds; got '100.7'"):
        read_ratings(path, timestamp_col="t")
    frame = pd.DataFrame({"user": [1, 2], "item": [2, 2], "rating": [1.0, 1.0], "t": [1.5, 2.0]})
    assert read_ratings(frame, timestamp_col="t").report.dropped == {"fractional timestamp": 1}


def test_dates_are_read_as_seconds(tmp_path):
    data = read_ratings(write(tmp_path, "r.csv", "user,item,rating,t\n1,2,5,1970-01-02\n"), timestamp_col="t")
    assert data.timestamps.tolist() == [86400]


def test_one_non_numeric_id_is_a_bad_row_not_a_conversion(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,1,3\n2,abc,3\n3,2,3\n")
    with pytest.raises(DataError, match=r"r.csv:3: 'item' must be an integer, as most ids of the column are; got 'abc'"):
        read_ratings(path)
    data = read_ratings(path, on_bad_row="skip")
    assert data.items.raw_ids.tolist() == [1, 2] and data.report.dropped == {"item id not an integer": 1}


def test_parquet_garbage_empty_and_duplicate_columns(tmp_path):
    pytest.importorskip("pyarrow")
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"g.parquet: not a readable Parquet file"):
        read_ratings(garbage)
    empty = tmp_path / "e.parquet"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"e.parquet: not a readable Parquet file"):
        read_ratings(empty)
    frame = pd.DataFrame([[1, 2, 3.0, 4.0]], columns=["user", "item", "rating", "rating"])
    with pytest.raises(DataError, match=r"DataFrame: the column name 'rating' appears more than once"):
        read_ratings(frame)


def test_nullable_integer_ids_with_a_missing_value(tmp_path):
    frame = pd.DataFrame({"user": pd.array([1, None, 3], dtype="Int64"), "item": [1, 2, 3], "rating": [1.0, 2, 3]})
    data = read_ratings(frame)
    assert data.users.raw_ids.tolist() == [1, 3] and data.report.dropped == {"missing user id": 1}
    with pytest.raises(DataError, match=r"DataFrame row 1: 'user' must be a user id; got an empty value"):
        read_ratings(frame, on_bad_row="error")
    pytest.importorskip("pyarrow")
    path = tmp_path / "n.parquet"
    frame.to_parquet(path)
    assert read_ratings(path, on_bad_row="skip").users.raw_ids.tolist() == [1, 3]


def test_list_valued_ids_are_refused(tmp_path):
    frame = pd.DataFrame({"user": [np.array([1, 2]), np.array([3])], "item": [1, 2], "rating": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"DataFrame: column 'user' must hold one id per row; row 0 holds ndarray"):
        read_ratings(frame)
    pytest.importorskip("pyarrow")
    path = tmp_path / "l.parquet"
    pd.DataFrame({"user": [[1, 2], [3]], "item": [1, 2], "rating": [1.0, 2.0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"l.parquet: column 'user' must hold one id per row"):
        read_ratings(path)


def test_u_item_with_a_repeated_id_is_refused(tmp_path):
    line = "1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 19)
    (tmp_path / "u.item").write_text(line + "\n" + line.replace("Toy", "Boy") + "\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"u.item:2: item id 1 repeats line 1"):
        read_movielens_items(tmp_path)


def test_a_huge_header_fails_fast_and_short(tmp_path):
    path = write(tmp_path, "r.csv", ",".join(f"c{k}" for k in range(3_000)) + "\n" + "1," * 2_999 + "1\n")
    with pytest.raises(DataError) as caught:
        read_ratings(path)
    assert "more than 1,024 columns" in str(caught.value) and len(str(caught.value)) < 300
    long_line = write(tmp_path, "long.csv", "x" * 200_000)
    with pytest.raises(DataError, match=r"long.csv:1: the header line is longer than 65,536 bytes"):
        read_ratings(long_line)


def test_quoted_fields_keep_separators_and_line_numbers(tmp_path):
    path = write(tmp_path, "r.csv", 'user,item,rating\n"a,b",x,1\n"multi\nline",y,2\n"c",z\n')
    with pytest.raises(DataError, match=r"r.csv:5: malformed line: expected 3 fields"):
        read_ratings(path)
    data = read_ratings(path, on_bad_row="skip")
    assert sorted(data.users.raw_ids.tolist()) == ["a,b", "multi\nline"]


def test_an_id_of_thousands_of_digits_is_beyond_int64_not_a_crash(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,2,3\n" + "9" * 5000 + ",2,3\n")
    with pytest.raises(DataError, match=r"r.csv:3: 'user' must be an id within the int64 range; got '9999"):
        read_ratings(path)
    assert read_ratings(path, on_bad_row="skip").report.dropped == {"user id beyond int64": 1}


def test_lone_carriage_returns_end_lines(tmp_path):
    data = read_ratings(write(tmp_path, "r.csv", "user,item,rating\r1,2,3\r4,5,6\r"))
    assert data.to_frame()[["user", "item"]].values.tolist() == [[1, 2], [4, 5]]


def test_datetime_columns_are_held_to_the_timestamp_range():
    import datetime

    frame = pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [1.0, 2.0],
                          "t": [datetime.datetime(2020, 1, 1), datetime.datetime(3000, 1, 1)]})
    data = read_ratings(frame, timestamp_col="t")
    assert data.timestamps.tolist() == [1577836800] and data.report.dropped == {"timestamp out of range": 1}


def test_metadata_files_with_missing_fields_or_bad_ids_are_data_errors(tmp_path):
    from fastcf.data.movielens import read_movielens_users

    (tmp_path / "u.item").write_text("1|a|b\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"u.item:1: expected 24 '\|'-separated fields; got 3"):
        read_movielens_items(tmp_path)
    (tmp_path / "u.user").write_text("1|20|M|other|12345\n1|30|F|other|12345\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"u.user:2: user id 1 repeats line 1"):
        read_movielens_users(tmp_path)
    (tmp_path / "u.item").unlink()
    (tmp_path / "movies.dat").write_text("x::Title (1999)::Drama\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"a MovieLens metadata file is malformed \(invalid literal"):
        read_movielens_items(tmp_path)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_quoted_files_with_any_line_ending_keep_line_numbers(tmp_path, newline):
    text = newline.join(['user,item,rating', '"a",x,1', '"b",y', '"c",z,3']) + newline
    with pytest.raises(DataError, match=r"r.csv:3: malformed line"):
        read_ratings(write(tmp_path, "r.csv", text))
    assert read_ratings(write(tmp_path, "r.csv", text), on_bad_row="skip").nnz == 2


def test_a_header_with_a_quote_and_a_carriage_return_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"r.csv"):
        read_ratings(write(tmp_path, "r.csv", 'user,item,rating\r"3"'))


@pytest.mark.parametrize("n_columns", [30_000, 1_000_000])
def test_the_issue_s_huge_headers_fail_at_once(tmp_path, n_columns):
    path = write(tmp_path, "wide.csv", ",".join(f"c{k}" for k in range(n_columns)) + "\n1,2\n")
    with pytest.raises(DataError) as caught:
        read_ratings(path)
    assert str(caught.value).startswith("wide.csv:1: the header line is longer than 65,536 bytes")
    assert len(str(caught.value)) < 200
