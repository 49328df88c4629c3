"""Raw IDs (any hashable type) <-> dense indices 0..n-1, vectorised with a pandas hash index."""

from __future__ import annotations

from typing import Iterable, Optional, Tuple

import numpy as np

from fastcf._lazy import lazy_module
from fastcf._validation import as_raw_ids, check_choice, native_byte_order
from fastcf.exceptions import IndexOutOfRangeError

pd = lazy_module("pandas")  # imported on first use, see fastcf._lazy

__all__ = ["IdMap"]


def _factorize_small_range(values: np.ndarray):
    """Sorted factorisation of integers spanning a range not much larger than their count:
    a lookup table instead of hashing, several times faster on tens of millions of ids."""
    low, high = int(values.min()), int(values.max())
    if high - low + 1 > 4 * values.size + 1_000_000:
        return None
    # Non-negative ids index the table directly (ids usually start near 0 or 1).
    base = 0 if low >= 0 and high <= 4 * values.size + 1_000_000 else low
    offsets = values - base if base else values
    present = np.zeros(high - base + 1, dtype=bool)
    present[offsets] = True
    n_unique = int(np.count_nonzero(present))
    code_dtype = np.int32 if n_unique <= np.iinfo(np.int32).max else np.int64
    code_of = np.cumsum(present, dtype=code_dtype)
    code_of -= 1
    uniques = (np.flatnonzero(present) + base).astype(values.dtype)
    return uniques, code_of[offsets]


class IdMap:
    """The IDs of one axis (users or items): ``raw_ids[i]`` is the raw ID of dense index i.

    Parameters
    ----------
    raw_ids : array-like of shape (n,)
        Distinct raw IDs, in dense-index order.
    name : str
        What the IDs are ("user", "item"); used in error messages.
    """

    def __init__(self, raw_ids, name: str = "id"):
        raw = as_raw_ids(raw_ids, "raw_ids", "IdMap")
        self.raw_ids = raw
        self.name = name
        self._index = pd.Index(raw, copy=False)
        if not self._index.is_unique:
            duplicated = self._index[self._index.duplicated()][:5].tolist()
            raise ValueError(f"IdMap: {name} ids must be distinct; repeated: {duplicated}.")

    @classmethod
    def factorize(cls, values, name: str = "id") -> Tuple["IdMap", np.ndarray]:
        """Map the raw IDs in ``values`` to dense codes.

        Dense indices follow the sorted order of the raw IDs when they sort (so the mapping
        does not depend on row order in the file), else their order of first appearance.

        Returns
        -------
        id_map : IdMap
        codes : ndarray of shape (len(values),), int32 (or int64 beyond 2**31 distinct ids)
        """
        values = as_raw_ids(values, "values", "IdMap.factorize")
        if values.dtype.kind in "iu" and values.size:
            dense = _factorize_small_range(values)
            if dense is not None:
                uniques, codes = dense
                return cls(uniques, name), codes
        try:
            codes, uniques = pd.factorize(values, sort=True)
        except TypeError:  # mixed types that do not compare, e.g. 3 and "a"
            codes, uniques = pd.factorize(values, sort=False)
        return cls(np.asarray(uniques), name), codes.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.raw_ids.shape[0]

    def __contains__(self, raw_id) -> bool:
        return raw_id in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, IdMap) and len(self) == len(other) and bool(
            np.array_equal(self.raw_ids, other.raw_ids)
        )

    def __repr__(self) -> str:
        preview = ", ".join(map(repr, self.raw_ids[:3].tolist()))
        more = ", ..." if len(self) > 3 else ""
        return f"IdMap({len(self)} {self.name} ids: {preview}{more})"

    def to_index(self, raw_ids, missing: str = "raise") -> np.ndarray:
        """Dense indices of ``raw_ids`` (a scalar gives a 0-d result).

        missing : {"raise", "ignore"}
            "raise": unknown IDs raise KeyError naming them; "ignore": they map to -1.
        """
        check_choice(missing, "missing", "IdMap.to_index", ("raise", "ignore"))
        return self._lookup(raw_ids, missing, "IdMap.to_index", "raw_ids")

    def _lookup(self, raw_ids, missing: str, owner: str, name: Optional[str]) -> np.ndarray:
        """to_index, with the caller (and its argument, unless None) named in the errors."""
        scalar = np.ndim(raw_ids) == 0
        values = np.atleast_1d(np.asarray(raw_ids))
        if values.ndim != 1:
            raise ValueError(f"{owner}: '{name or 'ids'}' must be one ID or a 1-D array of IDs; got shape {values.shape}.")
        if values.dtype.kind in "biuf":
            values = native_byte_order(values)
        if scalar:
            # One ID (a single-user request): the index's hash lookup, without get_indexer's
            # array machinery, which costs a hundred times more for one value.
            indices = np.array([self._single_lookup(values[0])], dtype=np.int64)
        else:
            indices = self._index.get_indexer(values).astype(np.int64, copy=False)
        if missing == "raise" and (indices < 0).any():
            unknown = values[indices < 0]
            raise KeyError(
                f"{owner}: {f'{name!r} holds ' if name else ''}unknown {self.name} id(s) {unknown[:5].tolist()}"
                f"{' and more' if unknown.size > 5 else ''}; {len(self)} {self.name}s are known."
            )
        return indices[0] if scalar else indices

    def _single_lookup(self, value) -> int:
        """The index of one raw ID, or -1; the same answer as get_indexer gives for it."""
        try:
            position = self._index.get_loc(value)
        except (KeyError, TypeError, ValueError):
            return -1
        # get_loc answers a slice or a mask only for repeated IDs, which an IdMap never holds.
        return int(position) if isinstance(position, (int, np.integer)) else int(self._index.get_indexer([value])[0])

    def to_raw(self, indices) -> np.ndarray:
        """Raw IDs of dense ``indices``; an index outside [0, n) raises IndexError naming it."""
        idx = np.asarray(indices)
        if idx.ndim > 1:
            raise ValueError(f"IdMap.to_raw: 'indices' must be one index or a 1-D array; got shape {idx.shape}.")
        if idx.size and idx.dtype.kind not in "iu":
            raise TypeError(f"IdMap.to_raw: 'indices' must be integers; got dtype {idx.dtype}.")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            bad = idx[(idx < 0) | (idx >= len(self))]
            raise IndexOutOfRangeError(
                f"IdMap.to_raw: 'indices' holds {self.name} index {bad.flat[0]}, outside [0, {len(self)}).")
        return self.raw_ids[idx]

    def extend(self, raw_ids: Iterable) -> "IdMap":
        """A new map with the IDs of ``raw_ids`` not yet known appended (existing indices kept)."""
        values = pd.unique(as_raw_ids(raw_ids, "raw_ids", "IdMap.extend"))
        new = values[self._index.get_indexer(values) < 0]
        if len(new) == 0:
            return self
        return IdMap(np.asarray(self._index.append(pd.Index(new))), self.name)
