"""Side features as sparse matrices: item genres (and decades), user age group, gender, occupation.

Built from the ``item_info`` / ``user_info`` tables that :func:`fastcf.data.read_movielens`
(u.item / u.user of 100K, movies.dat / users.dat of 1M and later) and
:func:`fastcf.data.synthetic` attach to Interactions. Each returns a CSR with one row per
user or item of the Interactions (in dense-index order) and one column per feature value,
weights 1, and the feature names ("genre=Drama", "age=25-34", "gender=F", "occupation=writer",
"decade=1990s"). A user or item without metadata keeps its row, empty (it is never dropped:
the row count always equals the number of IDs asked for).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf._lazy import lazy_module
from fastcf.data.interactions import Interactions

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["AGE_BUCKETS", "item_features", "user_features"]

#: MovieLens 1M's age groups (lower bounds) and their names; 100K's exact ages fall into them.
AGE_BUCKETS = ((1, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-49"), (50, "50-55"), (56, "56+"))

_USER_COLUMNS = ("age", "gender", "occupation")
_ITEM_COLUMNS = ("genres",)


def user_features(data: Interactions, *, columns: Sequence[str] = _USER_COLUMNS,
                  users=None) -> Tuple[sp.csr_matrix, np.ndarray]:
    """One-hot demographics of users: a CSR (n_users x n_features) and the feature names.

    Parameters
    ----------
    data : Interactions with ``user_info`` (age, gender, occupation, ... indexed by raw user ID)
    columns : names of ``user_info`` columns to encode. ``age`` is bucketed into
        :data:`AGE_BUCKETS`; every other column is categorical (one feature per value).
    users : raw user IDs, optional
        Rows to build (default: ``data.users`` in dense-index order); IDs absent from
        ``user_info`` (users held out, new users) get their row from the table all the same
        when it has them, else an empty row.

    Returns
    -------
    features : scipy.sparse.csr_matrix of shape (n_rows, n_features), float32
    names : ndarray of str, shape (n_features,)
    """
    info = _info(data, "user_info", "user_features")
    _check_columns(info, columns, "user_info", "user_features")
    raw = data.users.raw_ids if users is None else np.asarray(users)
    values = []
    for column in columns:
        series = info[column]
        if column == "age":
            series = series.map(_age_bucket)
        values.append((column, series))
    return _one_hot(info.index, raw, values)


def item_features(data: Interactions, *, columns: Sequence[str] = _ITEM_COLUMNS,
                  items=None) -> Tuple[sp.csr_matrix, np.ndarray]:
    """One-hot genres (and other columns) of items: a CSR (n_items x n_features) and the names.

    Parameters
    ----------
    data : Interactions with ``item_info`` (genres as tuples of names, year, ...)
    columns : ``genres`` (several features per item, named "genre=<name>"), ``year``
        (bucketed by decade, "decade=1990s") or any categorical column.
    items : raw item IDs, optional (default ``data.items``); as for :func:`user_features`.

    Returns
    -------
    features : scipy.sparse.csr_matrix of shape (n_rows, n_features), float32
    names : ndarray of str, shape (n_features,)
    """
    info = _info(data, "item_info", "item_features")
    _check_columns(info, columns, "item_info", "item_features")
    raw = data.items.raw_ids if items is None else np.asarray(items)
    values = []
    for column in columns:
        series = info[column]
        if column == "genres":
            values.append(("genre", series.map(lambda g: tuple(g) if isinstance(g, (tuple, list)) else ())))
        elif column == "year":
            values.append(("decade", series.map(lambda y: f"{int(y) // 10 * 10}s" if pd.notna(y) else None)))
        else:
            values.append((column, series))
    return _one_hot(info.index, raw, values)


def _info(data, attribute: str, owner: str) -> pd.DataFrame:
    if not isinstance(data, Interactions):
        raise TypeError(f"{owner}: 'data' must be fastcf Interactions; got {type(data).__name__}.")
    info = getattr(data, attribute)
    if info is None:
        raise ValueError(f"{owner}: the Interactions carry no {attribute} (read them with read_movielens, "
                         f"metadata=True, or generate them with synthetic()).")
    return info


def _check_columns(info, columns, attribute: str, owner: str) -> None:
    if isinstance(columns, str) or not len(columns):
        raise ValueError(f"{owner}: 'columns' must be a non-empty sequence of column names; got {columns!r}.")
    missing = [c for c in columns if c not in info.columns]
    if missing:
        raise ValueError(f"{owner}: {attribute} has no column {missing[0]!r}; its columns are {list(info.columns)}.")


def _age_bucket(age) -> Optional[str]:
    if pd.isna(age):
        return None
    name = AGE_BUCKETS[0][1]
    for low, label in AGE_BUCKETS:
        if age >= low:
            name = label
    return name


def _one_hot(index: pd.Index, raw_ids: np.ndarray, columns) -> Tuple[sp.csr_matrix, np.ndarray]:
    """Rows for ``raw_ids`` (looked up in ``index``), one column per (prefix, value) seen in the table."""
    position = index.get_indexer(raw_ids)
    names, row_parts, col_parts = [], [], []
    for prefix, series in columns:
        cells = series.to_numpy(dtype=object)
        multi = any(isinstance(c, tuple) for c in cells)
        flat = [v for c in cells for v in (c if multi else (c,)) if v is not None and not (not multi and pd.isna(v))]
        vocabulary = sorted(set(map(str, flat)))
        code = {v: len(names) + k for k, v in enumerate(vocabulary)}
        names.extend(f"{prefix}={v}" for v in vocabulary)
        for row, at in enumerate(position):
            if at < 0:
                continue
            cell = cells[at]
            for value in (cell if multi else (cell,)):
                if value is None or (not multi and pd.isna(value)):
                    continue
                row_parts.append(row)
                col_parts.append(code[str(value)])
    matrix = sp.csr_matrix((np.ones(len(row_parts), dtype=np.float32), (row_parts, col_parts)),
                           shape=(len(raw_ids), len(names)))
    matrix.sum_duplicates()
    return matrix, np.asarray(names, dtype=str)
