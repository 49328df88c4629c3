"""Ratings from files (CSV, TSV, Parquet, MovieLens), DataFrames or arrays, to Interactions.

Parsing is pandas' (its C parser for delimited text, its Parquet reader for Parquet);
what this module adds is the bookkeeping: every row's file line, a cleaning report, and
errors that say where and what.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from fastcf._validation import check_choice, check_float_dtype, check_range_pair
from fastcf._lazy import lazy_module
from fastcf.data.cleaning import DUPLICATE_POLICIES, Locations, clean_ratings
from fastcf.data.interactions import Interactions, build_interactions
from fastcf.exceptions import DataError

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["from_arrays", "read_ratings"]

PathLike = Union[str, os.PathLike]
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".dat": "::", ".data": "\t"}


def _check_policies(owner, on_bad_row, duplicates, zeros, dtype):
    check_choice(on_bad_row, "on_bad_row", owner, ("error", "skip"))
    check_choice(duplicates, "duplicates", owner, DUPLICATE_POLICIES)
    check_choice(zeros, "zeros", owner, ("keep", "drop"))
    check_float_dtype(dtype, "dtype", owner)


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
        check_frame_columns(frame, "DataFrame", user_col, item_col, rating_col, timestamp_col)
        where = Locations.consecutive("DataFrame", 0, len(frame), "row")
        malformed: list = []
        name, from_text = "DataFrame", False
    else:
        on_bad_row = on_bad_row or "error"
        _check_policies(owner, on_bad_row, duplicates, zeros, dtype)
        path = Path(os.fspath(source))
        typed = {user_col: np.int64, item_col: np.int64}  # ids of most files; else parsed as text
        if rating_col is not None:
            typed[rating_col] = np.dtype(dtype)
        if timestamp_col is not None:
            typed[timestamp_col] = np.int64
        frame, where, malformed = read_table(
            path, sep=sep, names=names, encoding=encoding, on_bad_row=on_bad_row,
            usecols=[c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None], typed=typed,
        )
        name = path.name
        from_text = path.suffix.lower() not in (".parquet", ".pq")
    if len(frame) == 0 and not malformed:
        raise DataError(f"{name}: no rating rows (the source has a header but no data).")
    clean = clean_ratings(
        frame, user_col=user_col, item_col=item_col, rating_col=rating_col, timestamp_col=timestamp_col,
        where=where, source=name, rating_scale=check_range_pair(rating_scale, "rating_scale", owner), on_bad_row=on_bad_row,
        zeros=zeros, malformed=malformed, from_text=from_text,
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
    for name, values in (("users", users), ("items", items)):
        if values is None:
            raise TypeError(f"from_arrays: '{name}' must be an array of raw {name[:-1]} IDs; got None.")
    columns = {"user": users, "item": items}
    if ratings is not None:
        columns["rating"] = ratings
    if timestamps is not None:
        columns["timestamp"] = timestamps
    for name, values in columns.items():
        if np.ndim(values) == 0:
            raise TypeError(f"from_arrays: '{name}s' must be an array, one entry per rating; got {type(values).__name__}.")
        if getattr(np.asarray(values), "dtype", np.dtype(object)).kind == "c":
            raise TypeError(f"from_arrays: '{name}s' must hold real numbers or IDs, not complex numbers.")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"from_arrays: the arrays must have one length; got {lengths}.")
    arrays = {}
    for name, values in columns.items():
        array = np.asarray(values) if not isinstance(values, (pd.Series, pd.Index)) else values.array
        if np.ndim(array) != 1:
            raise DataError(f"from_arrays: {name!r} must be 1-D, one id or value per rating; got shape "
                            f"{np.shape(array)}.")
        arrays[name] = array
    frame = pd.DataFrame(arrays)
    _check_policies("from_arrays", on_bad_row, duplicates, zeros, dtype)
    clean = clean_ratings(
        frame, user_col="user", item_col="item", rating_col="rating" if ratings is not None else None,
        timestamp_col="timestamp" if timestamps is not None else None,
        where=Locations.consecutive("from_arrays", 0, len(frame), "position"),
        source="arrays", rating_scale=check_range_pair(rating_scale, "rating_scale", "from_arrays"), on_bad_row=on_bad_row,
        zeros=zeros,
    )
    return build_interactions(clean, duplicates=duplicates, dtype=dtype)


def read_table(
    path: Path,
    *,
    sep: Optional[str],
    names: Optional[Sequence[str]],
    encoding: str,
    on_bad_row: str,
    usecols: Sequence[str],
    typed: Optional[dict] = None,
) -> Tuple[pd.DataFrame, Locations, list]:
    """Parse a ratings file; returns (frame, where of each row, malformed lines skipped).

    Every data line is split at known positions: the header (or ``names``) fixes the number
    of fields, and a line with any other count is a malformed line, never re-aligned. Values
    come back as the text written (``typed`` only lets a clean numeric file take a compact
    parse; any doubt and the text parse decides).
    """
    if not path.exists():
        raise FileNotFoundError(f"ratings file '{path}' does not exist.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a ratings file (for MovieLens folders use read_movielens).")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path, usecols)
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty.")
    raw = _utf8_bytes(path, encoding)
    if sep is None:
        sep = _SEPARATORS.get(suffix) or _sniff_separator(raw)
    if len(sep) != 1 and sep != "::":
        raise ValueError(f"read_ratings: 'sep' must be one character or '::'; got {sep!r}.")
    quoted = sep != "::" and raw.find(b'"') >= 0
    if not quoted and raw.find(b"\r") >= 0:
        # CRLF and lone CR both end a line, for the counts below as for any reader. (Quoted
        # text keeps its bytes: a CR may be part of a quoted value; the csv module splits it.)
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if names is None:
        header, body_start = _header_line(path.name, raw)
        columns = _split_header(path.name, header, sep)
        first_line = 2
    else:
        columns = [str(n) for n in names]
        body_start, first_line = 0, 1
    _check_columns(path.name, columns, usecols, header_line=names is None, sep=sep)

    body = np.frombuffer(raw, dtype=np.uint8)[body_start:]
    if quoted:
        frame, line_numbers, bad = _parse_quoted(path.name, raw[body_start:].decode("utf-8"), sep, columns, first_line)
    else:
        frame, line_numbers, bad = _parse_plain(body, sep, columns, usecols, first_line, typed)
    malformed = [(f"{path.name}:{line}", detail) for line, detail in bad]
    if bad and on_bad_row == "error":
        line, detail = bad[0]
        raise DataError(
            f"{path.name}:{line}: malformed line: {detail}. {SKIP_HINT} to drop such lines; "
            f"they are listed in the cleaning report."
        )
    frame = frame[list(usecols)]
    where = Locations(path.name, "line", 0, 0, offsets=line_numbers)
    return frame, where, malformed


SKIP_HINT = 'Pass on_bad_row="skip"'  # the command line shows it as its own option, see fastcf.cli
MAX_HEADER_BYTES = 65_536
MAX_COLUMNS = 1_024


def _utf8_bytes(path: Path, encoding: str) -> bytes:
    """The file's bytes as UTF-8 without a byte-order mark (so field counting can work on bytes)."""
    raw = path.read_bytes()
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"read_ratings: 'encoding' must be a codec Python knows; got {encoding!r}.") from None
    try:
        if codec in ("utf-8", "utf-8-sig"):
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            raw.decode("utf-8")  # validates; pandas would fail later with a worse message
            return raw
        return raw.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name}: not readable as {encoding} text at byte {exc.start}; pass encoding=... "
            f"(MovieLens .item/.dat files are latin-1)."
        ) from None


def _header_line(source: str, raw: bytes) -> Tuple[str, int]:
    """(header text, offset of the first data byte); a header is capped before anything is split."""
    ends = [e for e in (raw.find(b"\n", 0, MAX_HEADER_BYTES + 1), raw.find(b"\r", 0, MAX_HEADER_BYTES + 1)) if e >= 0]
    if not ends:
        if len(raw) > MAX_HEADER_BYTES:
            raise DataError(f"{source}:1: the header line is longer than {MAX_HEADER_BYTES:,} bytes; "
                            f"a ratings file has a few short column names.")
        return raw.decode("utf-8"), len(raw)
    end = min(ends)  # LF, CRLF or a lone CR ends the header (quoted files keep their CRs)
    after = end + 2 if raw[end:end + 2] == b"\r\n" else end + 1
    return raw[:end].decode("utf-8"), after


def _split_header(source: str, header: str, sep: str) -> list:
    if header.count(sep) >= MAX_COLUMNS:
        raise DataError(f"{source}:1: the header has more than {MAX_COLUMNS:,} columns; "
                        f"a ratings file has a few.")
    try:
        fields = next(csv.reader([header], delimiter=sep)) if sep != "::" and '"' in header else header.split(sep)
    except csv.Error as exc:
        raise DataError(f"{source}:1: the header line is malformed ({exc}).") from None
    # Column names (not values) are trimmed: "user, item" is a common way to write a header.
    return [f.strip() for f in fields]


def _check_columns(source: str, columns: list, usecols, *, header_line: bool, sep: str) -> None:
    if len(columns) > MAX_COLUMNS:
        raise DataError(f"{source}: more than {MAX_COLUMNS:,} column names; a ratings file has a few.")
    seen, repeated = set(), []
    for name in columns:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        where = f"{source}:1" if header_line else f"{source} (names=...)"
        raise DataError(f"{where}: the column name {repeated[0]!r} appears more than once in {_short(columns)}; "
                        f"each column needs its own name.")
    missing = [c for c in usecols if c not in seen]
    if not missing:
        return
    if header_line:
        if len(columns) == 1 and len(usecols) > 1:
            other = [s for s in (",", "\t", ";", "|", "::") if s != sep and s in columns[0]]
            hint = f" Is the separator {other[0]!r} rather than {sep!r}?" if other else ""
            raise DataError(
                f"{source}:1: found 1 column ({_short(columns[0])!r}) with separator {sep!r}; "
                f"expected the columns {list(usecols)}.{hint}"
            )
        raise DataError(f"{source}:1: no column {missing[0]!r}; the columns are {_short(columns)}.")
    raise DataError(f"{source}: no column {missing[0]!r} among the names given, {_short(columns)}.")


def _short(value, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _line_table(body: np.ndarray):
    """(start, end) byte offsets of every line of ``body`` (end excludes the newline)."""
    newlines = np.flatnonzero(body == 10)
    ends = newlines if (body.size == 0 or body[-1] == 10) else np.append(newlines, body.size)
    starts = np.concatenate([[0], newlines + 1])[: ends.size]
    return starts, ends


def _parse_plain(body, sep, columns, usecols, first_line, typed):
    """Unquoted text: fields counted per line on the bytes, then only lines with the header's
    count go to pandas' C parser, so no line can shift a column."""
    starts, ends = _line_table(body)
    numbers = np.arange(starts.size, dtype=np.int64) + first_line
    if sep == "::":
        # Split on ':' (pandas' C parser takes one character); a well-formed line then has
        # empty fields between the pairs, checked below.
        split_byte, width = ord(":"), 2 * len(columns) - 1
    else:
        split_byte, width = sep.encode("utf-8")[0], len(columns)
    positions = np.flatnonzero(body == split_byte)
    counts = np.searchsorted(positions, ends) - np.searchsorted(positions, starts) + 1
    empty = ends == starts
    good = (counts == width) & ~empty
    bad = [(int(numbers[k]), _count_detail(body[starts[k]:ends[k]], int(counts[k]), len(columns), sep))
           for k in np.flatnonzero(~good & ~empty)]
    if good.all():
        text = body.tobytes()
    else:
        lengths = ends - starts + 1
        keep_byte = np.repeat(good, lengths)[: body.size]
        text = body[keep_byte].tobytes()
    numbers = numbers[good]
    names = [f"_gap{k}" if sep == "::" and k % 2 else columns[k // 2 if sep == "::" else k] for k in range(width)]
    read = [names[k] for k in range(width) if names[k] in usecols or names[k].startswith("_gap")]
    options = dict(sep=chr(split_byte), header=None, names=names, usecols=read, index_col=False,
                   quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False, skip_blank_lines=False,
                   engine="c", encoding="utf-8", on_bad_lines="error")
    if numbers.size == 0:
        frame = pd.DataFrame({name: np.array([], dtype=object) for name in read})
    else:
        frame = None
        if typed:
            # A clean numeric file: pandas' own inference gives int64 only when every value
            # is an integer literal (exact, never through float); any other outcome, and the
            # text parse below judges each value.
            frame = pd.read_csv(io.BytesIO(text), low_memory=False, **options)
            if not all(frame[c].dtype.kind in ("if" if np.dtype(t).kind == "f" else "i") for c, t in typed.items()
                       if c in frame.columns):
                frame = None
        if frame is None:
            frame = pd.read_csv(io.BytesIO(text), dtype=object, **options)
        if len(frame) != numbers.size:  # cannot happen with the counts above; never misalign silently
            raise DataError(f"internal: {numbers.size} lines but {len(frame)} rows parsed; please report.")
    if sep == "::":
        gaps = [c for c in frame.columns if c.startswith("_gap")]
        single = np.zeros(len(frame), dtype=bool)
        for gap in gaps:
            single |= frame[gap].to_numpy(dtype=object) != ""
        if single.any():
            for k in np.flatnonzero(single):
                bad.append((int(numbers[k]), "fields must be separated by '::'; found a single ':'"))
            bad.sort()
            frame, numbers = frame[~single].reset_index(drop=True), numbers[~single]
        frame = frame.drop(columns=gaps)
    return frame, numbers, bad


def _count_detail(line: np.ndarray, count: int, expected: int, sep: str) -> str:
    if sep == "::":
        if re.search(rb"(?<!:):(?!:)", line.tobytes()):
            return "fields must be separated by '::'; found a single ':'"
        count = (count + 1) // 2
    return f"expected {expected} fields, as the header has; saw {count}"


def _parse_quoted(source: str, text: str, sep: str, columns: list, first_line: int):
    """Text with quote characters: the csv module splits records (quoted separators and line
    breaks stay inside their field); a record with another field count is malformed."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, doublequote=True, strict=True)
    rows, numbers, bad = [], [], []
    start = 1
    try:
        for record in reader:
            line = first_line + start - 1
            start = reader.line_num + 1
            if not record:
                continue
            if len(record) != len(columns):
                bad.append((line, f"expected {len(columns)} fields, as the header has; saw {len(record)}"))
                continue
            rows.append(record)
            numbers.append(line)
    except csv.Error as exc:
        raise DataError(f"{source}:{first_line + reader.line_num - 1}: malformed quoting: {exc}.") from None
    frame = pd.DataFrame(rows if rows else None, columns=columns, dtype=object)
    return frame, np.asarray(numbers, dtype=np.int64), bad


def _read_parquet(path: Path, usecols):
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise ImportError(f"read_ratings: reading {path.name} needs pyarrow ({exc}).") from None
    except Exception as exc:  # pyarrow's ArrowInvalid and friends: not a Parquet file we can read
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path.name}: not a readable Parquet file ({_short(detail)}).") from None
    check_frame_columns(frame, path.name, *usecols)
    return frame[list(usecols)], Locations.consecutive(path.name, 0, len(frame), "row"), []


def check_frame_columns(frame, source, *columns):
    """The columns needed exist, once each."""
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
    if repeated:
        raise DataError(f"{source}: the column name {repeated[0]!r} appears more than once; "
                        f"each column needs its own name.")
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise DataError(f"{source}: no column {missing[0]!r}; the columns are {_short(names)}.")


def _sniff_separator(raw: bytes) -> str:
    head = raw[: raw.find(b"\n", 0, MAX_HEADER_BYTES) if b"\n" in raw[:MAX_HEADER_BYTES] else MAX_HEADER_BYTES]
    for candidate in (b"::", b"\t", b",", b";", b"|"):
        if candidate in head:
            return candidate.decode()
    return ","
