"""One fuzz target for the ratings readers, shared by the test suite and scripts/fuzz_readers.py.

``read_ratings`` documents what a file can make it raise: :class:`~fastcf.exceptions.DataError`
(a ValueError naming the file, line and column) for anything wrong with the content. Any
other exception on a file's bytes is a bug.
"""

from __future__ import annotations

import os
import tempfile

from fastcf.data.readers import read_ratings
from fastcf.exceptions import DataError

__all__ = ["DOCUMENTED", "hostile_files", "read_bytes"]

#: The exceptions read_ratings documents for bad file content.
DOCUMENTED = (DataError,)

_SUFFIXES = (".csv", ".tsv", ".dat", ".txt")


def read_bytes(content: bytes, variant: int = 0, folder=None):
    """Write ``content`` to a ratings file and read it with one of a few option sets.

    ``variant`` picks the suffix and the options (header or names, skip or error, implicit
    or rated). Returns the Interactions, or raises one of DOCUMENTED (or a bug).
    """
    suffix = _SUFFIXES[variant % len(_SUFFIXES)]
    options = [
        {},
        {"on_bad_row": "skip"},
        {"names": ["user", "item", "rating"]},
        {"names": ["user", "item", "rating", "timestamp"], "timestamp_col": "timestamp", "on_bad_row": "skip"},
        {"rating_col": None, "on_bad_row": "skip", "duplicates": "sum"},
        {"rating_scale": (1, 5), "zeros": "drop", "on_bad_row": "skip"},
    ][(variant // len(_SUFFIXES)) % 6]
    if suffix == ".dat" and "names" not in options:
        options = dict(options, names=["user", "item", "rating"])
    descriptor, path = tempfile.mkstemp(suffix=suffix, dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(content)
        return read_ratings(path, **options)
    finally:
        os.unlink(path)


def hostile_files():
    """A Hypothesis strategy for the bytes of hostile ratings files (needs hypothesis, a test extra).

    Structure (headers, separators, quotes, ragged rows, CRLF and CR, a BOM, "nan" strings,
    huge and tiny numbers, empty fields) mixed with truncation and random bytes.
    """
    from hypothesis import strategies as st

    fields = st.one_of(
        st.integers(-5, 50).map(str),
        st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "99999999999999999999999", "1e-320", "",
                         " ", "0", "-0", "5.", ".5", "1,5", '"3"', '"a,b"', '"', "''", "None", "NULL", "true",
                         "\u00e9", "\x00", "\\N", "0x1F", "1_000", "\u0661"]),
        st.text(max_size=6),
    )

    @st.composite
    def files(draw):
        sep = draw(st.sampled_from([",", "\t", "::", ";", "|", " "]))
        newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        header = draw(st.sampled_from(["user,item,rating", "user\titem\trating", "user,item",
                                       "user,item,rating,timestamp", "a,b,c", "", None]))
        rows = draw(st.lists(st.lists(fields, min_size=0, max_size=5), max_size=8))
        text = newline.join(([header] if header is not None else []) + [sep.join(r) for r in rows])
        if draw(st.booleans()):
            text += newline
        data = text.encode("utf-8", "surrogatepass")
        if draw(st.booleans()):
            data = b"\xef\xbb\xbf" + data  # UTF-8 byte-order mark
        if draw(st.integers(0, 4)) == 0:
            data = data[: draw(st.integers(0, len(data)))] + draw(st.binary(max_size=12))
        return data

    return files()
