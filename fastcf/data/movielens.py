"""MovieLens: ratings, movie metadata (title, year, genres) and user demographics.

Layouts recognised by :func:`read_movielens` from the files in a folder:

============  ==============  ==========================================  ======  ============
variant       ratings         items / users                               scale   encoding
============  ==============  ==========================================  ======  ============
100k          ``u.data``      ``u.item`` (19 genre flags), ``u.user``     1..5    latin-1
1m            ``ratings.dat`` ``movies.dat``, ``users.dat``               1..5    latin-1
10m           ``ratings.dat`` ``movies.dat`` (no users.dat)               0.5..5  utf-8
latest        ``ratings.csv`` ``movies.csv`` (20M, 25M, 32M, latest)      0.5..5  utf-8
============  ==============  ==========================================  ======  ============
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from fastcf._lazy import lazy_module
from fastcf.data.interactions import Interactions
from fastcf.data.readers import read_ratings
from fastcf.exceptions import DataError

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = [
    "GENRES_100K",
    "OCCUPATIONS_1M",
    "detect_movielens",
    "read_movielens",
    "read_movielens_folds",
    "read_movielens_items",
    "read_movielens_users",
]

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
# Occupation codes of users.dat, as the MovieLens 1M README lists them.
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
_RATING_NAMES = ["user", "item", "rating", "timestamp"]
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def detect_movielens(path) -> str:
    """Which MovieLens layout the folder holds: "100k", "1m", "10m" or "latest"."""
    folder = Path(os.fspath(path))
    if not folder.is_dir():
        raise FileNotFoundError(f"MovieLens folder '{folder}' does not exist (or is not a folder).")
    if (folder / "u.data").exists():
        return "100k"
    if (folder / "ratings.dat").exists():
        return "1m" if (folder / "users.dat").exists() else "10m"
    if (folder / "ratings.csv").exists():
        return "latest"
    present = sorted(p.name for p in folder.iterdir())[:12]
    raise DataError(
        f"{folder}: no MovieLens ratings file (u.data, ratings.dat or ratings.csv); the folder holds {present}."
    )


def read_movielens(
    path,
    *,
    duplicates: str = "last",
    on_bad_row: str = "error",
    zeros: str = "keep",
    dtype=np.float32,
    metadata: bool = True,
) -> Interactions:
    """Ratings of a MovieLens folder (any layout above) with titles, genres and demographics.

    ``item_info`` holds title, year and genres (a tuple of names) per movie id; ``user_info``
    holds age, gender, occupation and zip code where the release has them.
    """
    folder = Path(os.fspath(path))
    variant = detect_movielens(folder)
    common = dict(duplicates=duplicates, on_bad_row=on_bad_row, zeros=zeros, dtype=dtype)
    if variant == "100k":
        data = read_ratings(folder / "u.data", names=_RATING_NAMES, sep="\t", timestamp_col="timestamp",
                            rating_scale=(1, 5), **common)
    elif variant in ("1m", "10m"):
        scale = (1, 5) if variant == "1m" else (0.5, 5)
        data = read_ratings(folder / "ratings.dat", names=_RATING_NAMES, sep="::", timestamp_col="timestamp",
                            rating_scale=scale, encoding="latin-1", **common)
    else:
        data = read_ratings(folder / "ratings.csv", user_col="userId", item_col="movieId",
                            timestamp_col="timestamp", rating_scale=(0.5, 5), **common)
    if metadata:
        data.item_info = read_movielens_items(folder)
        try:
            data.user_info = read_movielens_users(folder)
        except FileNotFoundError:  # 10M and later releases carry no demographics
            data.user_info = None
    return data


def _metadata_errors(read):
    """A metadata file that pandas or int() cannot read is a DataError naming the folder and what failed."""

    @functools.wraps(read)
    def reader(path):
        try:
            return read(path)
        except (DataError, FileNotFoundError):
            raise
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # pandas' ParserError is a ValueError
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{Path(os.fspath(path))}: a MovieLens metadata file is malformed ({detail[:200]}).") from None

    return reader


@_metadata_errors
def read_movielens_items(path) -> pd.DataFrame:
    """Movies of a MovieLens folder: DataFrame indexed by movie id with title, year, genres."""
    folder = Path(os.fspath(path))
    if (folder / "u.item").exists():
        flags = [f"g{k}" for k in range(len(GENRES_100K))]
        _check_pipe_fields(folder / "u.item", 5 + len(flags))
        frame = pd.read_csv(
            folder / "u.item", sep="|", header=None, encoding="latin-1",
            names=["item", "title", "release_date", "video_release_date", "imdb_url", *flags],
        )
        genre_flags = frame[flags].to_numpy(dtype=bool)
        genres = [tuple(np.asarray(GENRES_100K)[row].tolist()) for row in genre_flags]
        items = pd.DataFrame({
            # Plain arrays: Series would be aligned on their 0-based index, not placed by row.
            "title": frame["title"].astype(str).to_numpy(),
            "year": _years(frame["title"].astype(str), frame["release_date"]),
            "genres": genres,
            "release_date": frame["release_date"].to_numpy(),
            "imdb_url": frame["imdb_url"].to_numpy(),
        }, index=pd.Index(frame["item"].to_numpy(), name="item"))
        _refuse_repeated_ids(folder / "u.item", items.index, "item")
        return items
    if (folder / "movies.dat").exists():
        rows = _split_double_colon(folder / "movies.dat", 3)
        ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
        titles = pd.Series([r[1] for r in rows])
        genres = [tuple(g for g in r[2].split("|") if g and g != "(no genres listed)") for r in rows]
    elif (folder / "movies.csv").exists():
        frame = pd.read_csv(folder / "movies.csv", encoding="utf-8-sig")
        ids = frame["movieId"].to_numpy(dtype=np.int64)
        titles = frame["title"].astype(str)
        genres = [tuple(g for g in str(s).split("|") if g and g != "(no genres listed)") for s in frame["genres"]]
    else:
        raise FileNotFoundError(f"{folder}: no movie file (u.item, movies.dat or movies.csv).")
    _refuse_repeated_ids(folder / ("movies.dat" if (folder / "movies.dat").exists() else "movies.csv"), ids, "item")
    return pd.DataFrame(
        {"title": titles.to_numpy(), "year": _years(titles, None), "genres": genres},
        index=pd.Index(ids, name="item"),
    )


@_metadata_errors
def read_movielens_users(path) -> pd.DataFrame:
    """Users of a MovieLens folder: DataFrame indexed by user id with age, gender, occupation, zip.

    In 1M, ``age`` is the release's age-group code (1: under 18, 18: 18-24, 25, 35, 45, 50,
    56: 56+) and ``occupation`` is decoded to its name. Raises FileNotFoundError for releases
    without demographics (10M and later).
    """
    folder = Path(os.fspath(path))
    if (folder / "u.user").exists():
        _check_pipe_fields(folder / "u.user", 5)
        frame = pd.read_csv(folder / "u.user", sep="|", header=None, encoding="latin-1",
                            names=["user", "age", "gender", "occupation", "zip"], dtype={"zip": str})
        _refuse_repeated_ids(folder / "u.user", frame["user"], "user")
        return frame.set_index("user")
    if (folder / "users.dat").exists():
        rows = _split_double_colon(folder / "users.dat", 5)
        _refuse_repeated_ids(folder / "users.dat", [r[0] for r in rows], "user")
        codes = np.array([int(r[3]) for r in rows])
        if codes.min() < 0 or codes.max() >= len(OCCUPATIONS_1M):
            raise DataError(f"{folder / 'users.dat'}: occupation codes must lie in [0, {len(OCCUPATIONS_1M)}).")
        return pd.DataFrame(
            {
                "age": np.array([int(r[2]) for r in rows]),
                "gender": [r[1] for r in rows],
                "occupation": np.asarray(OCCUPATIONS_1M)[codes],
                "zip": [r[4] for r in rows],
            },
            index=pd.Index(np.array([int(r[0]) for r in rows], dtype=np.int64), name="user"),
        )
    raise FileNotFoundError(f"{folder}: no user file (u.user or users.dat); this release has no demographics.")


def read_movielens_folds(path, which: str = "u", *, cold: str = "drop") -> List[Tuple[Interactions, Interactions]]:
    """The canned MovieLens 100K splits: ``which="u"`` gives u1..u5, ``"a"`` ua, ``"b"`` ub.

    Each fold is (train, test) from its .base and .test files, indexed with the ID maps of
    the whole ``u.data`` so that every fold has the same shape. ``cold`` is as in
    :func:`fastcf.data.splits.align_test`.
    """
    from fastcf.data.splits import align_test

    folder = Path(os.fspath(path))
    if detect_movielens(folder) != "100k":
        raise DataError(f"{folder}: canned folds exist only for MovieLens 100K.")
    names = {"u": [f"u{k}" for k in range(1, 6)], "a": ["ua"], "b": ["ub"]}
    if which not in names:
        raise ValueError(f"read_movielens_folds: 'which' must be 'u', 'a' or 'b'; got {which!r}.")
    full = read_movielens(folder, metadata=False)
    folds = []
    for name in names[which]:
        parts = [
            read_ratings(folder / f"{name}.{part}", names=_RATING_NAMES, sep="\t", timestamp_col="timestamp",
                         rating_scale=(1, 5)).reindex(full.users, full.items)
            for part in ("base", "test")
        ]
        folds.append(align_test(parts[0], parts[1], cold=cold))
    return folds


def _check_pipe_fields(path: Path, n_fields: int) -> None:
    """Every line of a '|'-separated 100K metadata file has its ``n_fields`` fields (pandas would
    pad a short line with NaN, and a NaN genre flag reads as True)."""
    with open(path, encoding="latin-1", newline=None) as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if line and line.count("|") != n_fields - 1:
                raise DataError(f"{path.name}:{number}: expected {n_fields} '|'-separated fields; "
                                f"got {line.count('|') + 1}.")


def _refuse_repeated_ids(path: Path, ids, what: str) -> None:
    """Metadata keyed by id must hold each id once: two titles for one movie cannot both be right.

    Line numbers assume one record per line (true of every MovieLens metadata file).
    """
    ids = pd.Index(np.asarray(ids))
    repeated = ids.duplicated()
    if repeated.any():
        second = int(np.flatnonzero(repeated)[0])
        first = int(np.flatnonzero(ids == ids[second])[0])
        value = ids[second].item() if hasattr(ids[second], "item") else ids[second]
        raise DataError(
            f"{path.name}:{second + 1 + (path.suffix == '.csv')}: {what} id {value!r} repeats line "
            f"{first + 1 + (path.suffix == '.csv')}; each {what} must appear once in its metadata file."
        )


def _split_double_colon(path: Path, n_fields: int) -> List[List[str]]:
    """Lines of a latin-1 '::' file (titles contain ':' so a 1-char split would not do)."""
    rows = []
    with open(path, encoding="latin-1", newline=None) as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("::")
            if len(fields) != n_fields:
                raise DataError(f"{path.name}:{number}: expected {n_fields} '::'-separated fields; got {len(fields)}.")
            rows.append(fields)
    return rows


def _years(titles: pd.Series, release_dates: Optional[pd.Series]) -> pd.Series:
    """Year from "Title (1995)", else from the release date; missing as <NA>."""
    years = titles.str.extract(_YEAR, expand=False)
    if release_dates is not None:
        fallback = pd.to_datetime(release_dates, format="%d-%b-%Y", errors="coerce").dt.year
        years = years.fillna(fallback.astype("string"))
    return pd.to_numeric(years, errors="coerce").astype("Int64").array
