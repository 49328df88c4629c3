"""Cleaning policies against small hand-computed examples; nothing dropped without a count."""

import numpy as np
import pandas as pd
import pytest

from fastcf.data import from_arrays, read_ratings
from fastcf.exceptions import DataError

# user 1 rated item 10 three times (times 5, 9, 7), item 11 once; user 2 rated item 10 once.
FRAME = pd.DataFrame({
    "user": [1, 1, 1, 1, 2],
    "item": [10, 10, 10, 11, 10],
    "rating": [1.0, 3.0, 5.0, 4.0, 2.0],
    "timestamp": [5, 9, 7, 1, 3],
})


@pytest.mark.parametrize(
    "policy, value, stamp",
    [
        ("last", 3.0, 9),    # the latest by time (row 2), not the last in the file
        ("first", 1.0, 5),
        ("mean", 3.0, 9),
        ("sum", 9.0, 9),
        ("max", 5.0, 9),
    ],
)
def test_duplicate_policies(policy, value, stamp):
    data = read_ratings(FRAME, timestamp_col="timestamp", duplicates=policy)
    assert data.nnz == 3
    assert data.matrix[0, 0] == value
    assert data.timestamps[0] == stamp
    assert data.report.dropped == {"duplicate (user, item)": 2}
    assert data.report.rows_kept == 3 and data.report.rows_read == 5
    dropped = data.report.rows("duplicate (user, item)")
    assert set(dropped["user"]) == {1} and set(dropped["item"]) == {10}


def test_last_without_timestamps_is_the_last_row_read():
    data = read_ratings(FRAME.drop(columns="timestamp"), duplicates="last")
    assert data.matrix[0, 0] == 5.0
    data = read_ratings(FRAME.drop(columns="timestamp"), duplicates="first")
    assert data.matrix[0, 0] == 1.0


def test_last_with_tied_times_falls_back_to_file_order():
    frame = FRAME.assign(timestamp=[9, 9, 9, 1, 3])
    assert read_ratings(frame, timestamp_col="timestamp", duplicates="last").matrix[0, 0] == 5.0
    assert read_ratings(frame, timestamp_col="timestamp", duplicates="first").matrix[0, 0] == 1.0


def test_duplicates_error_names_both_rows():
    with pytest.raises(DataError, match=r"DataFrame row 0 and DataFrame row 1: duplicate \(user, item\) pair \(1, 10\)"):
        read_ratings(FRAME, duplicates="error")


def test_rating_scale_and_non_finite_values():
    frame = pd.DataFrame({"user": [1, 2, 3, 4, 5], "item": [1, 1, 1, 1, 1],
                          "rating": [0.5, 5.5, np.inf, np.nan, 3.0]})
    with pytest.raises(DataError, match=r"DataFrame row 0: 'rating' must be a number in \[1.0, 5.0\]; got 0.5"):
        read_ratings(frame, rating_scale=(1, 5), on_bad_row="error")
    data = read_ratings(frame, rating_scale=(1, 5))
    assert data.report.dropped == {"missing rating": 1, "non-finite rating": 1, "rating outside scale": 2}
    assert data.nnz == 1 and data.users.raw_ids.tolist() == [5]


def test_zeros_kept_by_default_with_a_note_or_dropped_and_counted():
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1], "rating": [0.0, 1.0, 0.0]})
    kept = read_ratings(frame)
    assert kept.nnz == 3 and kept.matrix.has_canonical_format
    assert kept.matrix.data.tolist() == [0.0, 1.0, 0.0]  # explicit zeros are stored entries
    assert any("2 zero ratings kept" in note for note in kept.report.notes)
    dropped = read_ratings(frame, zeros="drop")
    assert dropped.nnz == 1 and dropped.report.dropped == {"zero rating": 2}
    assert dropped.n_users == 1  # user 2 had only a zero: no longer a user


def test_missing_ids_in_a_dataframe():
    frame = pd.DataFrame({"user": [1, None, 3], "item": ["a", "b", " "], "rating": [1, 2, 3]})
    data = read_ratings(frame)
    assert data.report.dropped == {"missing user id": 1, "missing item id": 1}
    assert data.nnz == 1


def test_timestamps_as_dates_and_unparsable():
    frame = pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 1], "rating": [1, 2, 3],
                          "when": ["1970-01-02", "not a date", "1970-01-01T00:01:00"]})
    data = read_ratings(frame, timestamp_col="when")
    np.testing.assert_array_equal(data.timestamps, [86400, 60])
    assert data.report.dropped == {"unparsable timestamp": 1}


def test_report_lists_every_dropped_row_and_prints_a_summary():
    frame = pd.DataFrame({"user": [1, 1, 2, None], "item": [1, 1, 1, 1], "rating": [1, 2, "x", 4]})
    data = read_ratings(frame)
    rows = data.report.rows()
    assert len(rows) == data.report.rows_dropped == 3
    text = str(data.report)
    assert "4 rows read, 1 kept, 3 dropped" in text and "unparsable rating" in text
    with pytest.raises(ValueError, match="unknown reason"):
        data.report.rows("bad vibes")


def test_from_arrays_reports_positions():
    data = from_arrays([1, 2], [1, 1], [1.0, np.nan])
    assert data.report.rows().loc[0, "where"] == "from_arrays position 1"
