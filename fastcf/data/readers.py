"""Ratings from files (CSV, TSV, Parquet, MovieLens), DataFrames or arrays, to Interactions.

Parsing is pandas' (its C parser for delimited text, its Parquet reader for Parquet);
what this module adds is the bookkeeping: every row's file line, a cleaning report, and
errors that say where and what.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from fastcf._lazy import lazy_module
from fastcf.data.cleaning import DUPLICATE_POLICIES, Locations, clean_ratings
from fastcf.data.interactions import Interactions, build_interactions
from fastcf.exceptions import DataError

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["from_arrays", "read_ratings"]

PathLike = Union[str, os.PathLike]
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".dat": "::", ".data": "\t"}


def _check_policies(owner, on_bad_row, duplicates, zeros, dtype):
    if on_bad_row not in ("error", "skip"):
        raise ValueError(f"{owner}: 'on_bad_row' must be 'error' or 'skip'; got {on_bad_row!r}.")
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"{owner}: 'duplicates' must be one of {DUPLICATE_POLICIES}; got {duplicates!r}.")
    if zeros not in ("keep", "drop"):
        raise ValueError(f"{owner}: 'zeros' must be 'keep' or 'drop'; got {zeros!r}.")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"{owner}: 'dtype' must be float32 or float64; got {np.dtype(dtype)}.")


def _check_scale(owner, rating_scale):
    if rating_scale is None:
        return None
    try:
        low, high = (float(v) for v in rating_scale)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: 'rating_scale' must be (low, high) numbers or None; got {rating_scale!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"{owner}: 'rating_scale' must be finite with low <= high; got {rating_scale!r}.")
    return low, high


def read_ratings(
    source,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: Optional[str] = "rating",
    timestamp_col: Optional[str] = None,
    sep: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
    encoding: str = "utf-8-sig",
    rating_scale: Optional[Tuple[float, float]] = None,
    duplicates: str = "last",
    on_bad_row: Optional[str] = None,
    zeros: str = "keep",
    dtype=np.float32,
) -> Interactions:
    """Read ratings from a file or a DataFrame into :class:`Interactions`.

    Parameters
    ----------
    source : path or pandas.DataFrame
        A CSV/TSV file (separator from ``sep`` or the extension: .csv ``,``, .tsv ``\\t``,
        .dat ``::``), a Parquet file (.parquet, .pq), or a DataFrame.
    user_col, item_col : str
        Columns holding the raw user and item IDs (any hashable values).
    rating_col : str or None
        Column of ratings; None for implicit data without values (every entry becomes 1).
    timestamp_col : str or None
        Column of Unix times or dates; needed for ``duplicates="last"`` by time and for
        temporal splits.
    names : sequence of str, optional
        Column names for a file without a header line.
    encoding : str
        Text encoding; the default also accepts (and drops) a UTF-8 byte-order mark.
    rating_scale : (low, high), optional
        Ratings outside it are bad rows.
    duplicates : {"last", "first", "mean", "sum", "max", "error"}
        What to do with repeated (user, item) pairs; see :mod:`fastcf.data.cleaning`.
    on_bad_row : {"error", "skip"}, optional
        Default "error" for files (raise naming file, line, column and value) and "skip" for
        DataFrames; skipped rows are counted and listed in ``result.report``.
    zeros : {"keep", "drop"}
        Rating 0 is kept as a stored entry, or dropped (and reported).
    dtype : float32 or float64
        Dtype of the matrix values.
    """
    owner = "read_ratings"
    if isinstance(source, pd.DataFrame):
        on_bad_row = on_bad_row or "skip"
        _check_policies(owner, on_bad_row, duplicates, zeros, dtype)
        frame = source
        _require_columns(frame, "DataFrame", user_col, item_col, rating_col, timestamp_col)
        where = Locations.consecutive("DataFrame", 0, len(frame), "row")
        malformed: list = []
        name = "DataFrame"
    else:
        on_bad_row = on_bad_row or "error"
        _check_policies(owner, on_bad_row, duplicates, zeros, dtype)
        path = Path(os.fspath(source))
        typed = {user_col: np.int32, item_col: np.int32}  # ids of most files; else parsed as given
        if rating_col is not None:
            typed[rating_col] = np.dtype(dtype)
        if timestamp_col is not None:
            typed[timestamp_col] = np.int64
        frame, where, malformed = read_table(
            path, sep=sep, names=names, encoding=encoding, on_bad_row=on_bad_row,
            usecols=[c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None], typed=typed,
        )
        name = path.name
    if len(frame) == 0 and not malformed:
        raise DataError(f"{name}: no rating rows (the source has a header but no data).")
    clean = clean_ratings(
        frame, user_col=user_col, item_col=item_col, rating_col=rating_col, timestamp_col=timestamp_col,
        where=where, source=name, rating_scale=_check_scale(owner, rating_scale), on_bad_row=on_bad_row,
        zeros=zeros, malformed=malformed,
    )
    if clean.users.shape[0] == 0:
        raise DataError(f"{name}: every row was dropped in cleaning.\n{clean.report}")
    return build_interactions(clean, duplicates=duplicates, dtype=dtype)


def from_arrays(
    users,
    items,
    ratings=None,
    timestamps=None,
    *,
    rating_scale: Optional[Tuple[float, float]] = None,
    duplicates: str = "last",
    on_bad_row: str = "skip",
    zeros: str = "keep",
    dtype=np.float32,
) -> Interactions:
    """:class:`Interactions` from parallel arrays of raw user ids, item ids, ratings, timestamps."""
    columns = {"user": users, "item": items}
    if ratings is not None:
        columns["rating"] = ratings
    if timestamps is not None:
        columns["timestamp"] = timestamps
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"from_arrays: the arrays must have one length; got {lengths}.")
    frame = pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})
    _check_policies("from_arrays", on_bad_row, duplicates, zeros, dtype)
    clean = clean_ratings(
        frame, user_col="user", item_col="item", rating_col="rating" if ratings is not None else None,
        timestamp_col="timestamp" if timestamps is not None else None,
        where=Locations.consecutive("arrays", 0, len(frame), "position"),
        source="arrays", rating_scale=_check_scale("from_arrays", rating_scale), on_bad_row=on_bad_row,
        zeros=zeros,
    )
    return build_interactions(clean, duplicates=duplicates, dtype=dtype)


def _require_columns(frame, source, *columns):
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: no column {missing[0]!r}; the columns are {list(map(str, frame.columns))}."
        )


def read_table(
    path: Path,
    *,
    sep: Optional[str],
    names: Optional[Sequence[str]],
    encoding: str,
    on_bad_row: str,
    usecols: Sequence[str],
    typed: Optional[dict] = None,
) -> Tuple[pd.DataFrame, np.ndarray, list]:
    """Parse a ratings file; returns (frame, where of each row, malformed lines skipped).

    ``typed`` maps column names to the dtypes a clean file would parse to (see read_ratings).
    """
    if not path.exists():
        raise FileNotFoundError(f"ratings file '{path}' does not exist.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a ratings file (for MovieLens folders use read_movielens).")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        _require_columns(frame, path.name, *usecols)
        return frame[list(usecols)], Locations.consecutive(path.name, 0, len(frame), "row"), []
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty.")
    if sep is None:
        sep = _SEPARATORS.get(suffix) or _sniff_separator(path, encoding)
    header = None if names is not None else 0
    first_data_line = 1 if names is not None else 2

    # "::" (MovieLens .dat) would force pandas' slow Python engine; splitting on ":" and
    # keeping every other field is the same for ids and numbers, and stays in the C parser.
    double_colon = sep == "::"
    read_sep = ":" if double_colon else sep
    read_names = None
    if double_colon:
        if names is None:
            raise DataError(f"{path.name}: a '::'-separated file has no header; pass names=[...].")
        read_names = [f"{n}" if k % 2 == 0 else f"_gap{k}" for k, n in enumerate(_interleave(names))]

    # All columns are parsed (no usecols): with usecols, pandas' C parser accepts a line with
    # extra fields silently, and such a line must be reported.
    # Empty lines hold no data and are skipped (pandas' fast path needs that); row locations
    # count them back in only if a message ever needs a line number.
    options = dict(sep=read_sep, header=header, names=read_names or names, encoding=encoding,
                   skip_blank_lines=True, engine="c")
    if typed and on_bad_row == "error":
        # First try the common case, a clean numeric file, parsed straight to compact dtypes
        # (faster, half the memory). Any problem at all, and the untyped parse below, which
        # keeps every value as written, finds it and names its line.
        try:
            frame = pd.read_csv(path, dtype=typed, on_bad_lines="error", **options)
        except Exception:
            frame = None
        if frame is not None:
            frame.columns = [_clean_name(c) for c in frame.columns]
            if all(c in frame.columns for c in usecols):
                where = Locations.consecutive(path.name, first_data_line, len(frame), "line",
                                              skipped_lines=lambda: _empty_lines(path))
                return frame, where, []

    malformed: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                path, on_bad_lines="warn" if on_bad_row == "skip" else "error", **options
            )
        except pd.errors.ParserError as exc:
            line = _line_from_parser_message(str(exc))
            raise DataError(
                f"{path.name}:{line if line else '?'}: malformed line: {_parser_detail(str(exc))}. "
                f"Pass on_bad_row=\"skip\" to drop such lines; they are listed in the cleaning report."
            ) from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path.name}: the file has no columns to read (empty?).") from None
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path.name}: not readable as {encoding} text at byte {exc.start}; pass encoding=... "
                f"(MovieLens .item/.dat files are latin-1)."
            ) from None
    for warning in caught:
        for line in _skipped_lines(str(warning.message)):
            malformed.append(line)
    frame.columns = [_clean_name(c) for c in frame.columns]
    missing = [c for c in usecols if c not in frame.columns]
    if missing:
        header_line = _first_line(path, encoding) if header == 0 else None
        if header_line is not None:
            fields = header_line.split(sep)
            if len(fields) == 1 and len(usecols) > 1:
                other = [s for s in (",", "\t", ";", "|", "::") if s != sep and s in header_line]
                hint = f" Is the separator {other[0]!r} rather than {sep!r}?" if other else ""
                raise DataError(
                    f"{path.name}:1: found 1 column ({header_line!r}) with separator {sep!r}; "
                    f"expected the columns {list(usecols)}.{hint}"
                )
            raise DataError(
                f"{path.name}:1: no column {missing[0]!r}; the columns are {[_clean_name(f) for f in fields]}."
            )
        raise DataError(f"{path.name}: no column {missing[0]!r} among the names given, {list(names or [])}.")

    # Row i of the frame came from the i-th line (1-based) that the parser did not skip.
    bad_lines = np.array(sorted(line for line, _ in malformed), dtype=np.int64)
    where = Locations.consecutive(
        path.name, first_data_line, len(frame), "line",
        skipped_lines=lambda: np.union1d(_empty_lines(path), bad_lines),
    )
    return frame, where, [(f"{path.name}:{line}", text) for line, text in malformed]


def _empty_lines(path: Path) -> np.ndarray:
    """1-based numbers of the empty lines of a file (LF or CRLF endings)."""
    data = np.fromfile(path, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    if newlines.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], newlines[:-1] + 1])  # where each terminated line begins
    length = newlines - starts
    empty = (length == 0) | ((length == 1) & (data[np.maximum(newlines - 1, 0)] == 13))
    return np.flatnonzero(empty) + 1


def _clean_name(column) -> str:
    return str(column).lstrip("\ufeff").strip()


def _first_line(path: Path, encoding: str) -> Optional[str]:
    try:
        with open(path, encoding=encoding, errors="replace", newline=None) as f:
            return f.readline().rstrip("\n")
    except OSError:
        return None


def _interleave(names):
    out = []
    for name in names:
        out.extend([name, None])
    return out[:-1]


def _line_from_parser_message(message: str) -> Optional[int]:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _parser_detail(message: str) -> str:
    match = re.search(r"(Expected \d+ fields in line \d+, saw \d+)", message)
    return match.group(1) if match else message.strip().splitlines()[-1]


def _skipped_lines(message: str):
    """(line, text) of each line pandas reported skipping: 'Skipping line 5: expected 3 fields, saw 4'."""
    for match in re.finditer(r"Skipping line (\d+): ([^\n]*)", message):
        yield int(match.group(1)), match.group(2).strip()


def _sniff_separator(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace") as f:
        head = f.readline()
    for candidate in ("::", "\t", ",", ";", "|"):
        if candidate in head:
            return candidate
    return ","
