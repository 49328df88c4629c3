"""Cleaning ratings: every dropped or changed row is counted, by reason, and can be listed.

Checks, in the order a row is judged (a row is reported under its first failing check):

==========================  =============================================================
reason                      the row
==========================  =============================================================
missing user id             has no user id (empty, NaN, None)
missing item id             has no item id
user id beyond int64        has an integer id that does not fit int64
item id beyond int64        likewise for the item
missing rating              has no rating
unparsable rating           has a rating that is not a number ("five")
non-finite rating           has an infinite rating
rating outside scale        has a rating outside the declared ``rating_scale``
unparsable timestamp        has a timestamp that is neither a number nor a date
zero rating                 has rating 0 and ``zeros="drop"`` was asked for
duplicate (user, item)      repeats a (user, item) pair and was merged away by the policy
==========================  =============================================================

``on_bad_row="error"`` raises :class:`~fastcf.exceptions.DataError` at the first bad row
(naming file, line, column and value); ``"skip"`` drops bad rows and reports them. Zero
ratings and duplicates follow their own policies (``zeros``, ``duplicates``), not
``on_bad_row``.

Duplicate policies (``duplicates=``), applied per (user, item) pair:

- ``"last"`` (default): keep the latest row by timestamp; rows without timestamps, or tied
  in time, fall back to file order, so the last row read wins.
- ``"first"``: keep the earliest, by the same rule.
- ``"mean"``, ``"sum"``, ``"max"``: one entry whose rating is that aggregate; its timestamp
  is the latest of the group.
- ``"error"``: raise, naming the two rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastcf._lazy import lazy_module
from fastcf.exceptions import DataError

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["CleaningReport", "DUPLICATE_POLICIES", "REASONS"]

REASONS = (
    "missing user id",
    "missing item id",
    "user id beyond int64",
    "item id beyond int64",
    "missing rating",
    "unparsable rating",
    "non-finite rating",
    "rating outside scale",
    "unparsable timestamp",
    "zero rating",
    "duplicate (user, item)",
    "malformed line",
    "user absent from train",
    "item absent from train",
)
DUPLICATE_POLICIES = ("last", "first", "mean", "sum", "max", "error")
_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class CleaningReport:
    """What cleaning did to the rows of one source.

    Attributes
    ----------
    source : str
        File name, or "DataFrame" / "arrays".
    rows_read : int
        Data rows in the source (malformed lines included).
    rows_kept : int
        Rows that became entries of the interaction matrix.
    dropped : dict
        Count of rows dropped, by reason (see the module docstring); only reasons that occurred.
    notes : list of str
        Things done that dropped nothing, e.g. explicit zero ratings kept.
    """

    source: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    _rows: List[pd.DataFrame] = field(default_factory=list, repr=False)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def rows(self, reason: Optional[str] = None) -> pd.DataFrame:
        """The dropped rows: where (file line or row position), why, the values as read, and a
        detail where the reason needs one (what the parser said of a malformed line)."""
        columns = ["where", "reason", "user", "item", "rating", "timestamp", "detail"]
        frames = [f for f in self._rows if len(f)]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        table = table.reindex(columns=columns)
        if reason is not None:
            if reason not in REASONS:
                raise ValueError(f"CleaningReport.rows: unknown reason {reason!r}; reasons are {REASONS}.")
            table = table[table["reason"] == reason].reset_index(drop=True)
        return table

    def _drop(self, reason: str, rows: pd.DataFrame) -> None:
        if len(rows):
            self.dropped[reason] = self.dropped.get(reason, 0) + len(rows)
            self._rows.append(rows.assign(reason=reason))

    def __str__(self) -> str:
        lines = [f"Cleaning report for {self.source}: {self.rows_read:,} rows read, {self.rows_kept:,} kept, "
                 f"{self.rows_dropped:,} dropped."]
        for reason in REASONS:
            if reason in self.dropped:
                lines.append(f"  dropped {self.dropped[reason]:>10,}  {reason}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


class Locations:
    """Where each row came from ("ratings.csv:17", "DataFrame row 16"), formatted when shown.

    Millions of rows would cost seconds and gigabytes as strings. A Locations holds row
    offsets from a first number (no array at all for consecutive rows), and, for files,
    a way to learn which lines the parser skipped, asked only when a location is shown.
    """

    _FORMATS = {"line": "{source}:{n}", "row": "{source} row {n}", "position": "{source} position {n}"}

    def __init__(self, source: str, kind: str, start: int, count: int, offsets=None, skipped_lines=None):
        self.source, self.kind, self._start, self._count = source, kind, int(start), int(count)
        self._offsets = None if offsets is None else np.asarray(offsets, dtype=np.int64)
        self._skipped_lines = skipped_lines  # callable -> sorted line numbers, or None
        self._skipped_cache = None

    @classmethod
    def consecutive(cls, source: str, start: int, count: int, kind: str, skipped_lines=None) -> "Locations":
        """Rows numbered ``start``, ``start + 1``, ...; with ``skipped_lines``, the lines left
        once those (empty or malformed lines) are taken out."""
        return cls(source, kind, start, count, None, skipped_lines)

    def __len__(self) -> int:
        return self._count if self._offsets is None else self._offsets.shape[0]

    def __getitem__(self, index):
        offsets = (np.arange(self._count, dtype=np.int64) if self._offsets is None else self._offsets)[index]
        if np.ndim(offsets) == 0:
            number = int(self._numbers(np.array([offsets]))[0])
            return self._FORMATS[self.kind].format(source=self.source, n=number)
        subset = Locations(self.source, self.kind, self._start, 0, offsets, self._skipped_lines)
        subset._skipped_cache = self._skipped_cache
        return subset

    def _numbers(self, offsets: np.ndarray) -> np.ndarray:
        numbers = self._start + offsets
        if self._skipped_lines is not None:
            if self._skipped_cache is None:
                self._skipped_cache = np.asarray(self._skipped_lines(), dtype=np.int64)
            skipped = self._skipped_cache
            if skipped.size:
                # The r-th remaining line is r + start + (skipped lines before it).
                gaps = skipped - self._start - np.arange(skipped.size)
                numbers = numbers + np.searchsorted(gaps, offsets, side="right")
        return numbers

    def __array__(self, dtype=None, copy=None):
        offsets = np.arange(self._count, dtype=np.int64) if self._offsets is None else self._offsets
        return np.array([self._FORMATS[self.kind].format(source=self.source, n=int(n))
                         for n in self._numbers(offsets)], dtype=object)


@dataclass
class CleanRatings:
    """Validated columns of the kept rows, in source order, ready to index."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: Optional[np.ndarray]
    where: Locations  # of each kept row, for later messages (duplicates)
    report: CleaningReport


def _is_missing(column: pd.Series) -> np.ndarray:
    if column.dtype.kind in "iub":  # integer columns cannot hold a missing value
        return np.zeros(len(column), dtype=bool)
    missing = column.isna().to_numpy().copy()
    if column.dtype.kind in "OSUT" or isinstance(column.dtype, pd.StringDtype):
        text = column.astype("string")
        missing |= (text.str.strip() == "").fillna(True).to_numpy()
    return missing


def _parse_ids(column: pd.Series) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, beyond_int64): integer ids as int64 when every present one fits, else as given."""
    beyond = np.zeros(len(column), dtype=bool)
    if column.dtype.kind == "u":
        beyond = (column.to_numpy() > _INT64_MAX)
        if not beyond.any():
            return column.to_numpy().astype(np.int64), beyond
        return column.to_numpy().astype(object), beyond
    if column.dtype.kind in "iu":
        return column.to_numpy(), beyond  # int32 or int64 as parsed: both index fine
    if column.dtype.kind == "f":
        values = column.to_numpy()
        present = ~np.isnan(values)
        if np.all(values[present] == np.round(values[present])) and (np.abs(values[present]) <= 2**53).all():
            ids = np.zeros(len(values), dtype=np.int64)
            ids[present] = values[present].astype(np.int64)
            return ids, beyond
        return values, beyond
    # Text: integer literals become int64 when they all fit; one that does not is an error,
    # because silently keeping ids as text would make 7 and "7" different users.
    text = column.astype("string").str.strip()
    is_integer = text.str.fullmatch(r"[+-]?\d+").fillna(False).to_numpy()
    present = ~_is_missing(column)
    if present.any() and is_integer[present].all():
        as_int = pd.to_numeric(text.where(present, "0"), errors="coerce")
        beyond = present & ~np.isfinite(as_int.to_numpy(dtype=float, na_value=np.nan))
        beyond |= present & (np.abs(as_int.astype(float).to_numpy()) > _INT64_MAX)
        if not beyond.any():
            return np.array([int(v) for v in text.where(present, "0")], dtype=np.int64), beyond
        return text.to_numpy(dtype=object), beyond
    return text.to_numpy(dtype=object), beyond


def _parse_timestamps(column: pd.Series) -> Tuple[np.ndarray, np.ndarray]:
    """(Unix seconds as int64, unparsable mask). Dates and datetimes are converted."""
    if column.dtype.kind in "iu":
        return column.to_numpy().astype(np.int64, copy=False), np.zeros(len(column), dtype=bool)
    if column.dtype.kind == "M":
        values = column.to_numpy()
        bad = pd.isna(values)
        return (values.astype("datetime64[s]").astype(np.int64)), bad
    numeric = pd.to_numeric(column, errors="coerce")
    bad = numeric.isna().to_numpy() | ~np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
    stamps = np.where(bad, 0, numeric.to_numpy(dtype=float, na_value=0)).astype(np.int64)
    if bad.any() and column.dtype.kind not in "f":
        dates = pd.to_datetime(column[bad], errors="coerce", utc=True, format="mixed")
        parsed = dates.notna().to_numpy()
        # Unit-agnostic (pandas may parse to s, ms, us or ns): count whole seconds since 1970.
        epoch = pd.Timestamp(0, tz="UTC")
        seconds = (dates[parsed] - epoch) // pd.Timedelta(seconds=1) if parsed.any() else []
        index = np.flatnonzero(bad)
        stamps[index[parsed]] = np.asarray(seconds, dtype=np.int64)
        bad[index[parsed]] = False
    return stamps, bad


def clean_ratings(
    frame: pd.DataFrame,
    *,
    user_col: str,
    item_col: str,
    rating_col: Optional[str],
    timestamp_col: Optional[str],
    where: Locations,
    source: str,
    rating_scale: Optional[Tuple[float, float]],
    on_bad_row: str,
    zeros: str,
    malformed: Sequence[Tuple[str, str]] = (),
) -> CleanRatings:
    """Validate the columns of ``frame``; drop or raise on bad rows as asked (see module doc).

    ``where`` gives each row's location for messages ("ratings.csv:17", "DataFrame row 16").
    ``malformed`` lists lines the parser already skipped, as (where, text), to be reported.
    """
    report = CleaningReport(source=source, rows_read=len(frame) + len(malformed))
    if malformed:
        report._drop(
            "malformed line",
            pd.DataFrame({"where": [w for w, _ in malformed], "detail": [t for _, t in malformed]}),
        )
    n = len(frame)
    users, user_beyond = _parse_ids(frame[user_col])
    items, item_beyond = _parse_ids(frame[item_col])

    if rating_col is None:
        ratings = np.ones(n, dtype=np.float64)
        rating_missing = rating_bad = rating_inf = rating_out = np.zeros(n, dtype=bool)
    else:
        raw = frame[rating_col]
        rating_missing = _is_missing(raw)
        numeric = raw if raw.dtype.kind in "fiub" else pd.to_numeric(raw, errors="coerce")
        # float32 stays float32 (the matrix dtype), anything else becomes float64.
        as_float = np.float32 if numeric.dtype == np.float32 else np.float64
        ratings = numeric.to_numpy(dtype=as_float, na_value=np.nan)
        rating_bad = np.isnan(ratings) & ~rating_missing
        rating_inf = np.isinf(ratings)
        rating_out = np.zeros(n, dtype=bool)
        if rating_scale is not None:
            low, high = rating_scale
            with np.errstate(invalid="ignore"):
                rating_out = np.isfinite(ratings) & ((ratings < low) | (ratings > high))

    if timestamp_col is not None:
        timestamps, stamp_bad = _parse_timestamps(frame[timestamp_col])  # missing ones count as bad
    else:
        timestamps, stamp_bad = None, np.zeros(n, dtype=bool)

    checks = [
        ("missing user id", _is_missing(frame[user_col]), user_col, "a user id"),
        ("missing item id", _is_missing(frame[item_col]), item_col, "an item id"),
        ("user id beyond int64", user_beyond, user_col, "an id within the int64 range"),
        ("item id beyond int64", item_beyond, item_col, "an id within the int64 range"),
        ("missing rating", rating_missing, rating_col, "a number"),
        ("unparsable rating", rating_bad, rating_col, "a number"),
        ("non-finite rating", rating_inf, rating_col, "a finite number"),
        ("rating outside scale", rating_out, rating_col,
         f"a number in [{rating_scale[0]}, {rating_scale[1]}]" if rating_scale else ""),
        ("unparsable timestamp", stamp_bad, timestamp_col, "a Unix time or a date"),
    ]
    bad = np.zeros(n, dtype=bool)
    first_bad = None  # (position, column, expectation)
    for reason, mask, column, expected in checks:
        fresh = mask & ~bad
        if not fresh.any():
            continue
        position = int(np.flatnonzero(fresh)[0])
        if first_bad is None or position < first_bad[0]:
            first_bad = (position, column, expected)
        report._drop(reason, _rows_as_read(frame, fresh, where, user_col, item_col, rating_col, timestamp_col))
        bad |= fresh

    # (Malformed lines never reach here with on_bad_row="error": the reader raises on them.)
    if on_bad_row == "error" and first_bad is not None:
        position, column, expected = first_bad
        value = frame[column].iloc[position]
        shown = "an empty value" if _is_missing(frame[column].iloc[[position]])[0] else repr(_plain(value))
        raise DataError(
            f"{where[position]}: '{column}' must be {expected}; got {shown}. Pass on_bad_row=\"skip\" "
            f"to drop such rows; they are listed in the cleaning report."
        )

    keep = ~bad
    if zeros == "drop":
        zero = keep & (ratings == 0)
        report._drop("zero rating", _rows_as_read(frame, zero, where, user_col, item_col, rating_col, timestamp_col))
        keep &= ~zero
    elif rating_col is not None:
        n_zero = int(np.count_nonzero(keep & (ratings == 0)))
        if n_zero:
            report.notes.append(f"{n_zero:,} zero ratings kept as stored entries (zeros='keep')")

    if not keep.all():
        users, items, ratings, where = users[keep], items[keep], ratings[keep], where[keep]
        timestamps = timestamps[keep] if timestamps is not None else None
    report.rows_kept = int(keep.sum())
    return CleanRatings(users, items, ratings, timestamps, where, report)


def _plain(value):
    """A NumPy scalar as the Python value it holds, for readable messages."""
    return value.item() if hasattr(value, "item") else value


def _rows_as_read(frame, mask, where, user_col, item_col, rating_col, timestamp_col) -> pd.DataFrame:
    index = np.flatnonzero(mask)
    rows = pd.DataFrame({"where": np.asarray(where[index])})
    for name, column in (("user", user_col), ("item", item_col), ("rating", rating_col), ("timestamp", timestamp_col)):
        if column is not None:
            rows[name] = frame[column].iloc[index].to_numpy()
    return rows


def merge_duplicates(
    keys: np.ndarray,
    raw_pairs,
    ratings: np.ndarray,
    timestamps: Optional[np.ndarray],
    where: Locations,
    policy: str,
    report: CleaningReport,
) -> np.ndarray:
    """Apply the duplicate policy to rows sorted by ``keys`` (stable, so file order within a key).

    ``raw_pairs(positions)`` gives the raw (users, items) of sorted rows, for the report and messages.
    Returns the positions (into the sorted rows) to keep; for aggregating policies
    ``ratings`` and ``timestamps`` are updated in place at those positions.
    """
    n = keys.shape[0]
    starts_group = np.ones(n, dtype=bool)
    starts_group[1:] = keys[1:] != keys[:-1]
    if starts_group.all():
        return np.arange(n)
    group_starts = np.flatnonzero(starts_group)
    if policy == "error":
        second = int(np.flatnonzero(~starts_group)[0])
        users, items = raw_pairs(np.array([second]))
        raise DataError(
            f"{where[second - 1]} and {where[second]}: duplicate (user, item) pair "
            f"({_plain(users[0])!r}, {_plain(items[0])!r}). "
            f"Choose a policy: duplicates='last', 'first', 'mean', 'sum' or 'max'."
        )
    group_of_row = np.cumsum(starts_group) - 1
    if policy in ("last", "first"):
        # Rank rows within their group by (timestamp, file order); keep the best of each group.
        if timestamps is None:
            order_in_time = np.arange(n)
        else:
            order_in_time = np.lexsort((np.arange(n), timestamps, group_of_row))
        group_ends = np.append(group_starts[1:], n) - 1
        keep = order_in_time[group_ends] if policy == "last" else order_in_time[group_starts]
    else:
        reducer = {"mean": np.add, "sum": np.add, "max": np.maximum}[policy]
        merged = reducer.reduceat(ratings, group_starts)
        if policy == "mean":
            merged = merged / np.diff(np.append(group_starts, n))
        keep = group_starts
        ratings[keep] = merged
        if timestamps is not None:
            timestamps[keep] = np.maximum.reduceat(timestamps, group_starts)
    dropped = np.ones(n, dtype=bool)
    dropped[keep] = False
    index = np.flatnonzero(dropped)
    users, items = raw_pairs(index)
    report._drop(
        "duplicate (user, item)",
        pd.DataFrame({"where": np.asarray(where[index]), "user": users, "item": items, "rating": ratings[index]}),
    )
    report.notes.append(f"duplicate (user, item) pairs merged by policy '{policy}'")
    report.rows_kept -= index.size
    return np.sort(keep)
