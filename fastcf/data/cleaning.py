"""Cleaning ratings: every dropped or changed row is counted, by reason, and can be listed.

Checks, in the order a row is judged (a row is reported under its first failing check):

==========================  =============================================================
reason                      the row
==========================  =============================================================
missing user id             has no user id (empty, only spaces, NaN, None)
missing item id             has no item id
user id not an integer      (files) is not an integer in a column whose ids mostly are
item id not an integer      likewise for the item
user id beyond int64        has an integer id that does not fit int64
item id beyond int64        likewise for the item
missing rating              has no rating
unparsable rating           has a rating that is not a number ("five")
non-finite rating           has an infinite rating
rating outside scale        has a rating outside the declared ``rating_scale``
unparsable timestamp        has a timestamp that is neither a number nor a date
timestamp out of range      is more than TIMESTAMP_LIMIT seconds (about 292 years) from 1970
fractional timestamp        has a timestamp with a fraction of a second (refused, not rounded)
zero rating                 has rating 0 and ``zeros="drop"`` was asked for
duplicate (user, item)      repeats a (user, item) pair and was merged away by the policy
==========================  =============================================================

``on_bad_row="error"`` raises :class:`~fastcf.exceptions.DataError` at the first bad row
(naming file, line, column and value); ``"skip"`` drops bad rows and reports them. Zero
ratings and duplicates follow their own policies (``zeros``, ``duplicates``), not
``on_bad_row``.

Ids keep their exact value and type. In a file, a column in which more than half of the
ids are integer literals (``[+-]?[0-9]+``, spaces around allowed) is an integer column: its ids become int64
(parsed exactly, never through float), any other value there is a bad row; otherwise every
id is kept as the text written, spaces included. Ids given in memory (DataFrame, arrays)
are kept as given: ``"7"`` and ``7`` are different ids, ``"a "`` and ``"a"`` too. A cell
holding a list or an array is refused (DataError naming the column and row).

Timestamps are whole Unix seconds (int64) within +-TIMESTAMP_LIMIT of 1970, or dates; a
fractional timestamp is refused rather than truncated, so ``duplicates="last"`` always
compares the times as written.

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
    "user id not an integer",
    "item id not an integer",
    "missing rating",
    "unparsable rating",
    "non-finite rating",
    "rating outside scale",
    "unparsable timestamp",
    "timestamp out of range",
    "fractional timestamp",
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


# Spaces around the digits are allowed, as pandas' own integer parsing allows them.
_INTEGER_LITERAL = r" *[+-]?[0-9]+ *"
# Unix seconds that every NumPy/pandas datetime unit can hold (datetime64[ns]: 1677-09-21
# to 2262-04-11); later steps (temporal splits, reports) convert timestamps to dates.
TIMESTAMP_LIMIT = np.iinfo(np.int64).max // 10**9


def _blank(column: pd.Series) -> np.ndarray:
    """Missing values: NaN/None/NA, or text that is empty or only spaces."""
    missing = np.asarray(column.isna(), dtype=bool).copy()
    if column.dtype.kind in "OSUT" or isinstance(column.dtype, pd.StringDtype):
        text = column.astype("string")
        missing |= (text.str.strip() == "").fillna(True).to_numpy(dtype=bool)
    return missing


def _integer_text(text: pd.Series, present: np.ndarray):
    """(int64 values, literal mask, beyond-int64 mask) of text holding integer literals."""
    literal = text.str.fullmatch(_INTEGER_LITERAL).fillna(False).to_numpy(dtype=bool) & present
    values = np.zeros(len(text), dtype=np.int64)
    beyond = np.zeros(len(text), dtype=bool)
    length = text.str.strip().str.len().fillna(0).to_numpy()
    beyond[literal & (length > 40)] = True  # int64 has 19 digits; spaces aside, this cannot fit
    for k in np.flatnonzero(literal & (length >= 19) & (length <= 40)):  # rare: only these can overflow
        beyond[k] = not (-_INT64_MAX - 1 <= int(text.iloc[k]) <= _INT64_MAX)
    fits = literal & ~beyond
    if fits.any():
        values[fits] = text[fits].to_numpy(dtype=str).astype(np.int64)  # exact: never through float
    return values, literal, beyond


def _check_scalars(column: pd.Series, source: str, name: str) -> None:
    """Ids must be scalars: a list or array in a cell is refused, naming the row."""
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind not in ("mixed", "unknown-array", "mixed-integer"):
        return
    for position, value in enumerate(column.to_numpy(dtype=object)):
        if not isinstance(value, (str, bytes)) and (pd.api.types.is_list_like(value) or not _hashable(value)):
            raise DataError(
                f"{source}: column {name!r} must hold one id per row; row {position} holds "
                f"{type(value).__name__} {_preview(value)}."
            )


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _preview(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _parse_ids(column: pd.Series, from_text: bool, source: str = "", name: str = ""):
    """(ids, missing, beyond int64, not an integer) of one id column; see the module doc."""
    n = len(column)
    none = np.zeros(n, dtype=bool)
    missing = _blank(column)
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return column.to_numpy(dtype=object), missing, none, none
    if pd.api.types.is_integer_dtype(dtype):
        if dtype.kind == "u":
            wide = column.to_numpy(dtype=np.uint64, na_value=0)
            beyond = wide > _INT64_MAX
            return np.where(beyond, 0, wide).astype(np.int64), missing, beyond, none
        return column.to_numpy(dtype=np.int64, na_value=0), missing, none, none
    if pd.api.types.is_float_dtype(dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~missing
        whole = np.all(values[present] == np.round(values[present])) and (np.abs(values[present]) <= 2**53).all()
        if whole:  # a float column of whole numbers is an integer column with gaps (pandas' doing)
            ids = np.zeros(n, dtype=np.int64)
            ids[present] = values[present].astype(np.int64)
            return ids, missing, none, none
        return values, missing, none, none
    _check_scalars(column, source, name)
    if not from_text:
        return column.to_numpy(dtype=object), missing, none, none
    text = column.astype("string")
    present = ~missing
    values, literal, beyond = _integer_text(text, present)
    if 2 * int(literal.sum()) > int(present.sum()):
        # Mostly integers: an integer column, in which any other value is a bad row.
        return values, missing, beyond, present & ~literal
    return column.to_numpy(dtype=object), missing, none, none


def _parse_timestamps(column: pd.Series):
    """(Unix seconds as int64, unparsable, out of range, fractional) of a timestamp column.

    Numbers are Unix seconds and must be whole and within +-TIMESTAMP_LIMIT; text is a
    number or a date (any format pandas recognises; time zones converted to UTC).
    """
    n = len(column)
    stamps = np.zeros(n, dtype=np.int64)
    missing = _blank(column)
    out = np.zeros(n, dtype=bool)
    fractional = np.zeros(n, dtype=bool)
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        dtype = column.dtype
    if dtype.kind == "M":
        present = ~missing
        stamps[present] = column[present].to_numpy().astype("datetime64[s]").astype(np.int64)
        out = np.abs(stamps) > TIMESTAMP_LIMIT  # datetime64[s] and [us] reach far beyond 2262
    elif pd.api.types.is_integer_dtype(dtype):
        wide = column.to_numpy(dtype=np.float64 if dtype.kind == "u" else np.int64, na_value=0)
        out = np.abs(wide) > TIMESTAMP_LIMIT
        stamps = np.where(out, 0, wide).astype(np.int64)
    elif pd.api.types.is_float_dtype(dtype):
        _seconds_from_floats(column.to_numpy(dtype=np.float64, na_value=np.nan), ~missing, stamps, out, fractional)
    else:
        text = column.astype("string")
        present = ~missing
        values, literal, beyond = _integer_text(text, present)
        out = beyond | (literal & (np.abs(values) > TIMESTAMP_LIMIT))
        stamps = np.where(literal & ~out, values, 0)
        rest = present & ~literal
        if rest.any():
            numbers = pd.to_numeric(text[rest], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            is_number = ~np.isnan(numbers)
            index = np.flatnonzero(rest)
            _seconds_from_floats(numbers, is_number, stamps, out, fractional, index)
            dates_at = index[~is_number]
            if dates_at.size:
                seconds, parsed = _seconds_from_dates(text.iloc[dates_at])
                stamps[dates_at[parsed]] = seconds
                out[dates_at[parsed]] = np.abs(seconds) > TIMESTAMP_LIMIT
                missing[dates_at[~parsed]] = True
    return stamps, missing, out & ~missing, fractional & ~missing


def _seconds_from_floats(numbers, present, stamps, out, fractional, index=None):
    """Whole, in-range floats become seconds in ``stamps`` (at ``index`` if given)."""
    at = np.arange(numbers.size) if index is None else index
    with np.errstate(invalid="ignore"):
        too_far = present & ~(np.abs(numbers) <= TIMESTAMP_LIMIT)
        part = present & ~too_far & (numbers != np.floor(numbers))
    good = present & ~too_far & ~part
    out[at[too_far]] = True
    fractional[at[part]] = True
    stamps[at[good]] = numbers[good].astype(np.int64)


def _seconds_from_dates(text: pd.Series):
    """(seconds since 1970 of the dates that parse, mask of those that do)."""
    try:
        dates = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        parsed = np.zeros(len(text), dtype=bool)
        return np.zeros(0, dtype=np.int64), parsed
    parsed = dates.notna().to_numpy()
    if not parsed.any():
        return np.zeros(0, dtype=np.int64), parsed
    # Through NumPy's datetime64[s]: unit-agnostic, and no nanosecond step that would
    # overflow for dates after 2262 (those are then refused by the range check).
    naive = dates[parsed].dt.tz_localize(None).to_numpy()
    return naive.astype("datetime64[s]").astype(np.int64), parsed


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
    from_text: bool = False,
) -> CleanRatings:
    """Validate the columns of ``frame``; drop or raise on bad rows as asked (see module doc).

    ``where`` gives each row's location for messages ("ratings.csv:17", "DataFrame row 16").
    ``malformed`` lists lines the parser already skipped, as (where, text), to be reported.
    ``from_text``: the columns hold the text of a file, so integer literals are integer ids;
    values given in memory are kept as given.
    """
    report = CleaningReport(source=source, rows_read=len(frame) + len(malformed))
    if malformed:
        report._drop(
            "malformed line",
            pd.DataFrame({"where": [w for w, _ in malformed], "detail": [t for _, t in malformed]}),
        )
    n = len(frame)
    users, user_missing, user_beyond, user_text = _parse_ids(frame[user_col], from_text, source, user_col)
    items, item_missing, item_beyond, item_text = _parse_ids(frame[item_col], from_text, source, item_col)

    if rating_col is None:
        ratings = np.ones(n, dtype=np.float64)
        rating_missing = rating_bad = rating_inf = rating_out = np.zeros(n, dtype=bool)
    else:
        raw = frame[rating_col]
        rating_missing = _blank(raw)
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
        timestamps, stamp_bad, stamp_out, stamp_part = _parse_timestamps(frame[timestamp_col])
    else:
        timestamps = None
        stamp_bad = stamp_out = stamp_part = np.zeros(n, dtype=bool)

    checks = [
        ("missing user id", user_missing, user_col, "a user id"),
        ("missing item id", item_missing, item_col, "an item id"),
        ("user id not an integer", user_text, user_col, "an integer, as most ids of the column are"),
        ("item id not an integer", item_text, item_col, "an integer, as most ids of the column are"),
        ("user id beyond int64", user_beyond, user_col, "an id within the int64 range"),
        ("item id beyond int64", item_beyond, item_col, "an id within the int64 range"),
        ("missing rating", rating_missing, rating_col, "a number"),
        ("unparsable rating", rating_bad, rating_col, "a number"),
        ("non-finite rating", rating_inf, rating_col, "a finite number"),
        ("rating outside scale", rating_out, rating_col,
         f"a number in [{rating_scale[0]}, {rating_scale[1]}]" if rating_scale else ""),
        ("unparsable timestamp", stamp_bad, timestamp_col, "a Unix time or a date"),
        ("timestamp out of range", stamp_out, timestamp_col,
         f"a time within +-{TIMESTAMP_LIMIT} s of 1970 (1677-09-21 to 2262-04-11)"),
        ("fractional timestamp", stamp_part, timestamp_col, "a whole number of seconds"),
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
        shown = "an empty value" if _blank(frame[column].iloc[[position]])[0] else _preview(_plain(value))
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
