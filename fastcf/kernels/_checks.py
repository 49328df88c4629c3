"""Validation at the edge of the public kernel API.

Kernels trust their inputs (Numba and ``boundscheck=False`` Cython read out of bounds
silently), so the public wrappers check everything here first: dtypes, shapes, CSR structure
and index ranges. Errors name the function, the argument, what was expected and what came.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

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


def check_flag(value, name: str, owner: str) -> bool:
    """A bool (Python or NumPy); 0, 1, None and strings are refused rather than read as truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: '{name}' must be True or False; got {value!r}.")
    return bool(value)


def check_seed(value, name: str, owner: str) -> Optional[int]:
    """None (fresh entropy) or an int >= 0, as ``np.random.default_rng`` takes it."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: '{name}' must be None or an int >= 0; got {value!r}.")
    return int(value)


def check_float_dtype(value, name: str, owner: str) -> np.dtype:
    """float32 or float64, given as a NumPy dtype, type or name."""
    try:
        dtype = np.dtype(value) if value is not None else None
    except TypeError:
        dtype = None
    # (``np.dtype("float64") == None`` is True in NumPy, so None is tested by identity.)
    if dtype is None or dtype not in FLOAT_DTYPES:
        shown = dtype if dtype is not None else repr(value)  # int32, not <class 'numpy.int32'>
        raise ValueError(f"{owner}: '{name}' must be float32 or float64; got {shown}.")
    return dtype


def as_canonical_csr(matrix, name: str, owner: str, what: str = "user") -> sp.csr_matrix:
    """A users x items scipy sparse matrix, checked, as a canonical CSR; the input is never changed.

    The structure is checked *before* scipy touches it (scipy accepts out-of-range indices
    and a falling indptr, and then crashes or reads out of bounds in its own conversions):
    CSR and CSC arrays as :func:`as_csr_structure` checks them, COO coordinates in range.
    Values must be real (bool, integers or floats; complex, object and strings are refused)
    and finite. Duplicate entries are summed and indices sorted, on a copy; explicit zeros
    stay stored entries. Booleans become float32 (so that duplicates count).
    """
    if not sp.issparse(matrix):
        raise TypeError(f"{owner}: '{name}' must be a scipy sparse matrix; got {type(matrix).__name__}.")
    n_rows, n_cols = matrix.shape
    fmt = matrix.format
    if fmt in ("csr", "csc"):
        major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
        as_csr_structure(matrix.indptr, matrix.indices, major, minor,
                         (f"{name}.indptr", f"{name}.indices"), owner)
        stored = np.shape(matrix.indices)[0]
    elif fmt == "coo":
        coords = (np.asarray(matrix.row), np.asarray(matrix.col))
        stored = coords[0].shape[0]
        for axis, (coord, count) in enumerate(zip(coords, (n_rows, n_cols))):
            label = f"{name}.{'row' if axis == 0 else 'col'}"
            if coord.ndim != 1 or coord.shape[0] != stored:
                raise ValueError(f"{owner}: '{label}' must be 1-D with {stored} entries; got shape {coord.shape}.")
            if coord.size and (coord.min() < 0 or coord.max() >= count):
                bad = int(np.flatnonzero((coord < 0) | (coord >= count))[0])
                raise ValueError(f"{owner}: '{label}' must lie in [0, {count}); got {coord[bad]} at position {bad}.")
    else:  # lil, dok, dia, bsr: built through scipy's own checked setters
        matrix = matrix.tocsr()
        stored = matrix.indices.shape[0]
    data = np.asarray(matrix.data)
    if data.ndim != 1 or data.shape[0] != stored:
        raise ValueError(
            f"{owner}: '{name}.data' must hold one value per stored entry ({stored}); got shape {data.shape}."
        )
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: '{name}' must hold real numbers (bool, int or float); got dtype {data.dtype}.")
    csr = sp.csr_matrix(matrix, dtype=np.float32 if data.dtype.kind == "b" else None)
    arrays = (csr.data, csr.indices, csr.indptr)
    if not all(a.dtype.isnative for a in arrays) or not csr.has_canonical_format:
        # Fixed on new arrays: scipy's conversion may share the caller's, which stay as given.
        csr = sp.csr_matrix(tuple(native_byte_order(a).copy() for a in arrays), shape=csr.shape)
        csr.sum_duplicates()
    if not np.isfinite(csr.data).all():
        bad = int(np.flatnonzero(~np.isfinite(csr.data))[0])
        row = int(np.searchsorted(csr.indptr, bad, side="right") - 1)
        raise ValueError(
            f"{owner}: '{name}' holds a non-finite value {csr.data[bad]} ({what} index {row}) in "
            f"column {csr.indices[bad]}."
        )
    return csr


def native_byte_order(arr: np.ndarray) -> np.ndarray:
    """The array in the machine's byte order (big-endian input, e.g. from a file, is swapped)."""
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


#: Values checked at a time by check_finite_rows (bounds the check's temporary to ~1 MiB).
FINITE_CHUNK = 1 << 20


def check_finite_rows(arr: np.ndarray, name: str, owner: str) -> np.ndarray:
    """Refuse inf and NaN in a 2-D float array, naming the first one's row and column.

    In chunks of rows, so that a large factor matrix needs no full-size boolean temporary.
    """
    rows = max(1, FINITE_CHUNK // max(arr.shape[1], 1))
    for start in range(0, arr.shape[0], rows):
        part = arr[start:start + rows]
        if not np.isfinite(part).all():
            row, col = np.argwhere(~np.isfinite(part))[0]
            raise ValueError(
                f"{owner}: '{name}' must be finite; got {part[row, col]} at row {start + row}, column {col}."
            )
    return arr


def as_float_matrix(x, name: str, owner: str) -> np.ndarray:
    """A C-contiguous 2-D float32 or float64 array (a view of ``x`` when it already is one).

    Integers and booleans become float64 and float16 becomes float32; anything else
    (complex, object, strings) is refused rather than guessed at.
    """
    arr = native_byte_order(np.asarray(x))
    if arr.ndim != 2:
        raise ValueError(
            f"{owner}: '{name}' must be a 2-D array (rows x items); got {arr.ndim}-D with shape {arr.shape}."
        )
    return np.ascontiguousarray(_as_float_dtype(arr, name, owner))


def as_float_vector(x, name: str, owner: str, length: Optional[int] = None, per: str = "entry") -> np.ndarray:
    """A finite, C-contiguous 1-D float32 or float64 array in native byte order (a view of
    ``x`` when it already is one), converted as :func:`as_float_matrix` converts.

    ``length``: the number of values required, one per ``per`` (named in the error).
    """
    arr = native_byte_order(np.asarray(x))
    if arr.ndim != 1:
        raise ValueError(f"{owner}: '{name}' must be a 1-D array; got shape {arr.shape}.")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{owner}: '{name}' must have one value per {per} ({length}); got {arr.shape[0]}.")
    arr = np.ascontiguousarray(_as_float_dtype(arr, name, owner))
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{owner}: '{name}' must be finite; got {arr[bad]} at position {bad}.")
    return arr


def _as_float_dtype(arr: np.ndarray, name: str, owner: str) -> np.ndarray:
    """float32 and float64 as they are, float16 as float32, integers and booleans as float64;
    complex, object and strings refused, not guessed at."""
    if arr.dtype in FLOAT_DTYPES:
        return arr
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(f"{owner}: '{name}' must hold float32 or float64 numbers; got dtype {arr.dtype}.")


def as_index_array(x, name: str, owner: str) -> np.ndarray:
    """A C-contiguous 1-D int32 or int64 array; other integer dtypes are converted if values fit."""
    arr = native_byte_order(np.asarray(x))
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
