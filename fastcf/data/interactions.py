"""The one object models consume: a user x item CSR matrix with the ID maps of both axes."""

from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from fastcf._lazy import lazy_module
from fastcf._validation import check_interaction_parts, check_positive_int
from fastcf.data.cleaning import CleaningReport, CleanRatings, merge_duplicates
from fastcf.data.id_map import IdMap

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["Interactions", "index_dtype_for"]

# Indices are int32 while every count fits, int64 beyond. A module constant so that tests
# can exercise the int64 path on small data.
INT32_LIMIT = np.iinfo(np.int32).max


def index_dtype_for(n_rows: int, n_cols: int, nnz: int) -> np.dtype:
    """int32 when rows, columns and stored entries all fit it, else int64."""
    for name, value in (("n_rows", n_rows), ("n_cols", n_cols), ("nnz", nnz)):
        check_positive_int(value, name, "index_dtype_for", minimum=0)
    return np.dtype(np.int32 if max(n_rows, n_cols, nnz) <= INT32_LIMIT else np.int64)


class Interactions:
    """User-item interactions: CSR ``matrix`` (users x items) plus ``users`` and ``items`` ID maps.

    Parameters
    ----------
    matrix : scipy.sparse CSR of shape (n_users, n_items)
        Values are ratings (or weights); each (user, item) is stored at most once, indices
        sorted within rows. Explicit zeros are kept as entries.
    users, items : IdMap
        Raw IDs of the rows and columns.
    timestamps : ndarray of shape (nnz,), int64, optional
        Unix time of each stored entry, aligned with ``matrix.data``.
    user_info, item_info : pandas.DataFrame, optional
        Metadata indexed by raw ID (titles, genres, demographics).
    report : CleaningReport, optional
        What cleaning dropped or changed on the way here.
    """

    def __init__(
        self,
        matrix,
        users: IdMap,
        items: IdMap,
        *,
        timestamps: Optional[np.ndarray] = None,
        user_info: Optional[pd.DataFrame] = None,
        item_info: Optional[pd.DataFrame] = None,
        report: Optional[CleaningReport] = None,
    ):
        matrix, timestamps = check_interaction_parts(matrix, users, items, timestamps, "Interactions")
        self.matrix = matrix if isinstance(matrix, sp.csr_matrix) else sp.csr_matrix(matrix)
        self.users = users
        self.items = items
        self.timestamps = timestamps
        self.user_info = user_info
        self.item_info = item_info
        self.report = report
        self._item_user = None

    # --- shape ----------------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        return self.matrix.nnz

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def user_item(self) -> sp.csr_matrix:
        """The users x items CSR (the same object as ``matrix``)."""
        return self.matrix

    @property
    def item_user(self) -> sp.csr_matrix:
        """The items x users CSR, built on first use and kept."""
        if self._item_user is None:
            transposed = self.matrix.T.tocsr()
            transposed.sort_indices()
            self._item_user = transposed
        return self._item_user

    def __repr__(self) -> str:
        density = self.nnz / max(1, self.n_users * self.n_items)
        return (
            f"<Interactions: {self.n_users:,} users x {self.n_items:,} items, {self.nnz:,} entries "
            f"({density:.3%} dense), {self.matrix.dtype}, indices {self.matrix.indices.dtype}"
            f"{', timestamps' if self.timestamps is not None else ''}>"
        )

    # --- derived objects --------------------------------------------------------------------

    def replace(self, matrix=None, *, timestamps="keep", users=None, items=None, report="keep") -> "Interactions":
        """A new Interactions with some parts replaced (metadata and ID maps carried over)."""
        return Interactions(
            self.matrix if matrix is None else matrix,
            self.users if users is None else users,
            self.items if items is None else items,
            timestamps=self.timestamps if isinstance(timestamps, str) else timestamps,
            user_info=self.user_info,
            item_info=self.item_info,
            report=self.report if isinstance(report, str) else report,
        )

    def select_entries(self, mask: np.ndarray) -> "Interactions":
        """The stored entries where ``mask`` (shape (nnz,)) is True, same ID maps and shape."""
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(f"Interactions.select_entries: 'mask' must be a boolean array; got dtype {mask.dtype} "
                            "(for positions, build a mask: m = np.zeros(data.nnz, bool); m[positions] = True).")
        if mask.shape != (self.nnz,):
            raise ValueError(f"Interactions.select_entries: 'mask' must have shape ({self.nnz},); got {mask.shape}.")
        matrix = csr_from_sorted_entries(
            entry_rows(self.matrix)[mask], self.matrix.indices[mask], self.matrix.data[mask], self.shape
        )
        return self.replace(matrix, timestamps=None if self.timestamps is None else self.timestamps[mask])

    def reindex(self, users: IdMap, items: IdMap) -> "Interactions":
        """The same entries in the index space of other ID maps, which must hold every ID here."""
        for name, ids in (("users", users), ("items", items)):
            if not isinstance(ids, IdMap):
                raise TypeError(f"Interactions.reindex: '{name}' must be a fastcf IdMap; got {type(ids).__name__}.")
        row_map = users._lookup(self.users.raw_ids, "raise", "Interactions.reindex", "users")
        col_map = items._lookup(self.items.raw_ids, "raise", "Interactions.reindex", "items")
        rows = row_map[entry_rows(self.matrix)]
        cols = col_map[self.matrix.indices]
        keys = rows * np.int64(max(len(items), 1)) + cols
        order = np.argsort(keys, kind="stable")
        matrix = csr_from_sorted_entries(rows[order], cols[order], self.matrix.data[order], (len(users), len(items)))
        return Interactions(
            matrix, users, items,
            timestamps=None if self.timestamps is None else self.timestamps[order],
            user_info=self.user_info, item_info=self.item_info, report=self.report,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per stored entry: raw user id, raw item id, rating (and timestamp)."""
        coo = self.matrix.tocoo()
        frame = pd.DataFrame(
            {"user": self.users.to_raw(coo.row), "item": self.items.to_raw(coo.col), "rating": coo.data}
        )
        if self.timestamps is not None:
            frame["timestamp"] = self.timestamps
        return frame


def csr_from_sorted_keys(keys: np.ndarray, values: np.ndarray, shape) -> sp.csr_matrix:
    """CSR from entries sorted by key = row * n_cols + col (distinct), with fastcf's index dtype."""
    n_rows, n_cols = shape
    rows, cols = np.divmod(keys, np.int64(max(n_cols, 1)))
    return csr_from_sorted_entries(rows, cols, values, shape)


def csr_from_sorted_entries(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> sp.csr_matrix:
    """CSR from distinct entries already in row-major order (rows, then columns ascending)."""
    n_rows, n_cols = shape
    index_dtype = index_dtype_for(n_rows, n_cols, rows.shape[0])
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    matrix = sp.csr_matrix(shape, dtype=values.dtype)
    # Assigned directly: scipy's constructor would pick its own index dtype (int32 when the
    # values fit), and fastcf's choice must hold, including int64 on small data in tests.
    matrix.indptr = indptr.astype(index_dtype, copy=False)
    matrix.indices = np.asarray(cols, dtype=index_dtype)
    matrix.data = np.asarray(values)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def entry_rows(matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR, int64, in storage order."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _strictly_increasing_pairs(rows: np.ndarray, cols: np.ndarray) -> bool:
    """True when (rows, cols) pairs are strictly increasing: sorted, and no pair repeats."""
    row_step = rows[1:] - rows[:-1]
    if (row_step < 0).any():
        return False
    same_row = row_step == 0
    return not (same_row & (cols[1:] <= cols[:-1])).any()


def build_interactions(
    clean: CleanRatings,
    *,
    duplicates: str,
    dtype=np.float32,
    user_info: Optional[pd.DataFrame] = None,
    item_info: Optional[pd.DataFrame] = None,
) -> Interactions:
    """Index the cleaned rows and build the CSR, merging duplicates by ``duplicates``."""
    users, user_codes = IdMap.factorize(clean.users, "user")
    items, item_codes = IdMap.factorize(clean.items, "item")
    n_users, n_items = len(users), len(items)

    # CSR order is by (user, item); file order within a duplicate group must survive (for
    # duplicates="last"), so the sort is stable. Files sorted by user and item need none.
    if user_codes.size < 2 or _strictly_increasing_pairs(user_codes, item_codes):
        rows, cols, ratings, timestamps = user_codes, item_codes, clean.ratings, clean.timestamps
    else:
        keys = user_codes * np.int64(n_items) + item_codes
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        rows, cols = user_codes[order], item_codes[order]
        ratings = clean.ratings[order]
        timestamps = None if clean.timestamps is None else clean.timestamps[order]

        def raw_pairs(positions):
            return users.raw_ids[rows[positions]], items.raw_ids[cols[positions]]

        keep = merge_duplicates(keys, raw_pairs, ratings, timestamps, clean.where[order], duplicates, clean.report)
        if keep.shape[0] != keys.shape[0]:
            rows, cols, ratings = rows[keep], cols[keep], ratings[keep]
            timestamps = None if timestamps is None else timestamps[keep]

    matrix = csr_from_sorted_entries(rows, cols, ratings.astype(dtype, copy=False), (n_users, n_items))
    return Interactions(
        matrix, users, items, timestamps=timestamps, user_info=user_info, item_info=item_info,
        report=clean.report,
    )
