"""Validation at the edge of the public kernel API.

Kernels trust their inputs (Numba and ``boundscheck=False`` Cython read out of bounds
silently), so the public wrappers check everything here first: dtypes, shapes, CSR structure
and index ranges. Errors name the function, the argument, what was expected and what came.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_INDEX_MAX = np.iinfo(np.int64).max


def check_positive_int(value, name: str, owner: str, minimum: int = 1) -> int:
    """An int (Python or NumPy, not bool) in [minimum, 2**63), returned as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: '{name}' must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{owner}: '{name}' must be an int >= {minimum}; got {value!r}.")
    if value > _INDEX_MAX:
        raise ValueError(f"{owner}: '{name}' must be below 2**63; got {value!r}.")
    return int(value)


def _native(arr: np.ndarray) -> np.ndarray:
    """The array in the machine's byte order (big-endian input, e.g. from a file, is swapped)."""
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def as_float_matrix(x, name: str, owner: str) -> np.ndarray:
    """A C-contiguous 2-D float32 or float64 array (a view of ``x`` when it already is one).

    Integers and booleans become float64 and float16 becomes float32; anything else
    (complex, object, strings) is refused rather than guessed at.
    """
    arr = _native(np.asarray(x))
    if arr.ndim != 2:
        raise ValueError(
            f"{owner}: '{name}' must be a 2-D array (rows x items); got {arr.ndim}-D with shape {arr.shape}."
        )
    if arr.dtype not in FLOAT_DTYPES:
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        else:
            raise TypeError(
                f"{owner}: '{name}' must hold float32 or float64 numbers; got dtype {arr.dtype}."
            )
    return np.ascontiguousarray(arr)


def as_index_array(x, name: str, owner: str) -> np.ndarray:
    """A C-contiguous 1-D int32 or int64 array; other integer dtypes are converted if values fit."""
    arr = _native(np.asarray(x))
    if arr.ndim != 1:
        raise ValueError(f"{owner}: '{name}' must be a 1-D integer array; got shape {arr.shape}.")
    if arr.dtype not in INDEX_DTYPES:
        if arr.size == 0 and arr.dtype.kind == "f":  # np.array([]) is float64; accept it as empty
            arr = arr.astype(np.int64)
        elif arr.dtype.kind not in "iu":
            raise TypeError(f"{owner}: '{name}' must be an integer array; got dtype {arr.dtype}.")
        elif arr.size and (arr.max() > np.iinfo(np.int64).max):
            raise ValueError(
                f"{owner}: '{name}' holds {arr.max()}, beyond the int64 range of an index."
            )
        else:
            arr = arr.astype(np.int64)
    return np.ascontiguousarray(arr)


def as_csr_structure(
    indptr, indices, n_rows: int, n_cols: int, names: Tuple[str, str], owner: str
) -> Tuple[np.ndarray, np.ndarray]:
    """Check the (indptr, indices) of a CSR with ``n_rows`` rows and column indices < ``n_cols``.

    Returns both arrays in one common index dtype (int32 if both are, else int64), as the
    kernels' fused index type requires. Duplicate and unsorted indices within a row are allowed.
    """
    indptr_name, indices_name = names
    indptr = as_index_array(indptr, indptr_name, owner)
    indices = as_index_array(indices, indices_name, owner)
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(
            f"{owner}: '{indptr_name}' must have n_rows + 1 = {n_rows + 1} entries; got {indptr.shape[0]}."
        )
    if indptr[0] != 0:
        raise ValueError(f"{owner}: '{indptr_name}' must start at 0; got {indptr[0]}.")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        row = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(
            f"{owner}: '{indptr_name}' must be non-decreasing; it falls after row {row} "
            f"({indptr[row]} -> {indptr[row + 1]})."
        )
    if indptr[-1] != indices.shape[0]:
        raise ValueError(
            f"{owner}: '{indptr_name}'[-1] must equal len('{indices_name}') = {indices.shape[0]}; "
            f"got {indptr[-1]}."
        )
    if indices.size:
        low, high = indices.min(), indices.max()
        if low < 0 or high >= n_cols:
            bad = int(np.flatnonzero((indices < 0) | (indices >= n_cols))[0])
            row = int(np.searchsorted(indptr, bad, side="right") - 1)
            raise ValueError(
                f"{owner}: '{indices_name}' must lie in [0, {n_cols}); got {indices[bad]} at "
                f"position {bad} (row {row})."
            )
    if indptr.dtype != indices.dtype:
        indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
    return indptr, indices


def empty_csr_structure(n_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """The (indptr, indices) of a CSR with ``n_rows`` empty rows."""
    return np.zeros(n_rows + 1, dtype=np.int32), np.zeros(0, dtype=np.int32)


def raise_nan_rows(owner: str, name: str, nan_rows: np.ndarray, hint: Optional[str] = None) -> None:
    """Raise the ValueError every twin gives when a row holds NaN (``nan_rows``: flag per row)."""
    rows = np.flatnonzero(nan_rows)
    if rows.size == 0:
        return
    message = (
        f"{owner}: '{name}' holds NaN in {rows.size} row(s) (first: row {rows[0]}); "
        f"NaN has no rank."
    )
    if hint:
        message += " " + hint
    raise ValueError(message)
