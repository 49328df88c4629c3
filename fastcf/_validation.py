"""Every check of fastcf's public edge, in one place (the role of scikit-learn's utils/validation.py).

Kernels trust their inputs (Numba and ``boundscheck=False`` Cython read out of bounds
silently, and scipy accepts a broken CSR and then crashes in its own conversions), so every
public function checks its parameters and arrays here first, once; the models then call the
kernels' unchecked cores in their loops.

One rule for what is raised:

- a value of the wrong type (a string for a number, a float for an int, a complex or object
  array): ``TypeError``;
- a parameter of the right type but a wrong value (``k=0``, ``regularization=-1``): ``ValueError``;
- arrays whose content cannot be used (a falling indptr, an index out of range, NaN, a
  negative value where only positives make sense, shapes that disagree):
  :class:`fastcf.exceptions.DataError`, a ``ValueError`` subclass.

One message template: ``Owner: 'argument' must be <expected>; got <given>.``
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf.exceptions import DataError

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_INDEX_MAX = np.iinfo(np.int64).max
_REAL_TYPES = (int, float, np.integer, np.floating)
#: Why implicit-feedback models refuse negative values (check_nonnegative's ``why``).
IMPLICIT_FEEDBACK = "implicit feedback: counts, clicks, weights"


def message(owner: str, name: str, expected: str, given) -> str:
    """The one template: ``Owner: 'name' must be <expected>; got <given>.``"""
    return f"{owner}: '{name}' must be {expected}; got {given}."


def _is_real(value) -> bool:
    return isinstance(value, _REAL_TYPES) and not isinstance(value, (bool, np.bool_))


def check_number(value, name: str, owner: str, low: Optional[float] = 0.0, *, strict: bool = False,
                 high: Optional[float] = None, high_strict: bool = False) -> float:
    """A finite real number in the given range, returned as a Python float.

    ``low``/``high``: bounds, None for none; ``strict``/``high_strict`` make them exclusive.
    Not a real number (a string, None, a bool): TypeError; out of range or not finite: ValueError.
    """
    expected = "a finite number"
    if low is not None and high is not None:
        expected += f" in {'(' if strict else '['}{low:g}, {high:g}{')' if high_strict else ']'}"
    elif low is not None:
        expected += f" {'>' if strict else '>='} {low:g}"
    elif high is not None:
        expected += f" {'<' if high_strict else '<='} {high:g}"
    if not _is_real(value):
        raise TypeError(message(owner, name, expected, repr(value)))
    ok = bool(np.isfinite(value))
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if ok and high is not None:
        ok = value < high if high_strict else value <= high
    if not ok:
        raise ValueError(message(owner, name, expected, repr(value)))
    return float(value)


def check_choice(value, name: str, owner: str, choices) -> str:
    """One of ``choices`` (strings); anything else is a ValueError listing them."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value asked of a set
        ok = False
    if not ok:
        raise ValueError(message(owner, name, f"one of {tuple(choices)}", repr(value)))
    return value


def check_n_threads(value, name: str, owner: str) -> int:
    """A thread count given by a user (an int >= 1), returned as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(message(owner, name, "an int >= 1 or None", repr(value)))
    if value < 1:
        raise ValueError(message(owner, name, "an int >= 1 or None", repr(value)))
    return int(value)


def check_optional_flag(value, name: str, owner: str) -> Optional[bool]:
    """True, False or None (None: follow a fastcf-wide setting)."""
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(message(owner, name, "True, False or None", repr(value)))
    return bool(value)


def check_sgd_schedule(model, owner: str) -> None:
    """The SGD schedule every SGD model shares: factors, epochs, n_blocks, learning rate and its decay."""
    for param in ("factors", "epochs", "n_blocks"):
        check_positive_int(getattr(model, param), param, owner)
    check_number(model.learning_rate, "learning_rate", owner, strict=True)
    check_number(model.learning_rate_decay, "learning_rate_decay", owner, 0.0, strict=True, high=1.0)


def check_positive_int(value, name: str, owner: str, minimum: int = 1, maximum: Optional[int] = None,
                       why: str = "") -> int:
    """An int (Python or NumPy, not bool) in [minimum, maximum] (maximum: below 2**63 unless
    given; ``why`` says what bounds it), returned as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: '{name}' must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{owner}: '{name}' must be an int >= {minimum}; got {value!r}.")
    if value > _INDEX_MAX:
        raise ValueError(f"{owner}: '{name}' must be below 2**63; got {value!r}.")
    if maximum is not None and value > maximum:
        bound = f" ({why})" if why else ""
        raise ValueError(message(owner, name, f"an int in [{minimum}, {maximum}]{bound}", repr(value)))
    return int(value)


def check_count_or_fraction(value, name: str, owner: str, total: int, what: str) -> int:
    """How many of ``total`` things (``what``, plural) a caller asks for: an int in [0, total], or a
    float in (0, 1), the share of ``total`` (rounded to the nearest count); returned as an int."""
    expected = f"an int in [0, {total}] or a fraction in (0, 1) of the {total} {what}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REAL_TYPES):
        raise TypeError(message(owner, name, expected, repr(value)))
    if isinstance(value, (int, np.integer)):
        if not 0 <= value <= total:
            raise ValueError(message(owner, name, expected, repr(value)))
        return int(value)
    if not (np.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(message(owner, name, expected, repr(value)))
    return int(round(float(value) * total))


def check_flag(value, name: str, owner: str) -> bool:
    """A bool (Python or NumPy); 0, 1, None and strings are refused rather than read as truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: '{name}' must be True or False; got {value!r}.")
    return bool(value)


def check_seed(value, name: str, owner: str) -> Optional[int]:
    """None (fresh entropy) or an int >= 0, as ``np.random.default_rng`` takes it."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(message(owner, name, "None or an int >= 0", repr(value)))
    if value < 0:
        raise ValueError(message(owner, name, "None or an int >= 0", repr(value)))
    return int(value)


def check_range_pair(value, name: str, owner: str) -> Optional[Tuple[float, float]]:
    """None, or (low, high): two finite numbers with low <= high, returned as floats."""
    if value is None:
        return None
    expected = "None or (low, high), two finite numbers with low <= high"
    try:
        low, high = value
    except (TypeError, ValueError):
        raise TypeError(message(owner, name, expected, repr(value))) from None
    if not (_is_real(low) and _is_real(high)):
        raise TypeError(message(owner, name, expected, repr(value)))
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(message(owner, name, expected, repr(value)))
    return float(low), float(high)


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
    CSR and CSC arrays as :func:`as_csr_structure` checks them, COO coordinates as integer
    arrays in range (float coordinates are refused, not truncated). Values must be real (bool,
    integers or floats; complex, object and strings are refused) and finite. Duplicate entries
    are summed and indices sorted, on a copy; explicit zeros stay stored entries. Booleans
    and float16 become float32 (so that duplicates count, and sums do not overflow at 65504).
    """
    if not sp.issparse(matrix):
        raise TypeError(message(owner, name, "a scipy sparse matrix", type(matrix).__name__))
    if len(matrix.shape) != 2:
        raise DataError(message(owner, name, "a 2-D sparse matrix (users x items)", f"shape {matrix.shape}"))
    n_rows, n_cols = matrix.shape
    fmt = matrix.format
    if fmt not in ("csr", "csc", "coo"):  # lil, dok, dia, bsr: built through scipy's own checked setters
        matrix, fmt = matrix.tocsr(), "csr"
    data = _stored_values(matrix.data, name, owner)
    if fmt in ("csr", "csc"):
        major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
        indptr, indices = as_csr_structure(matrix.indptr, matrix.indices, major, minor,
                                           (f"{name}.indptr", f"{name}.indices"), owner)
        _check_one_value_per_entry(data, indices.shape[0], name, owner)
        built = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)((data, indices, indptr), shape=(n_rows, n_cols))
        # scipy narrows int64 indices that fit int32; the caller's choice of int64 is kept.
        built.indices, built.indptr = indices, indptr
    else:
        coords = []
        for label, coord, count in (("row", matrix.row, n_rows), ("col", matrix.col, n_cols)):
            coord = as_index_array(coord, f"{name}.{label}", owner)
            check_index_range(coord, count, f"{name}.{label}", owner)
            coords.append(coord)
        if coords[0].shape != coords[1].shape:
            raise DataError(message(owner, f"{name}.col", f"one entry per row coordinate ({coords[0].shape[0]})",
                                    coords[1].shape[0]))
        _check_one_value_per_entry(data, coords[0].shape[0], name, owner)
        built = sp.coo_matrix((data, tuple(coords)), shape=(n_rows, n_cols))
    csr = built.tocsr() if fmt != "csr" else built
    if not csr.has_canonical_format:
        # Fixed on new arrays: the matrix built above may share the caller's, which stay as given.
        csr = sp.csr_matrix((csr.data.copy(), csr.indices.copy(), csr.indptr.copy()), shape=csr.shape)
        csr.sum_duplicates()
    check_finite(csr.data, name, owner, where=lambda position: _entry_place(csr, position, what))
    return csr


def as_interaction_matrix(data, name: str, owner: str, what: str = "user") -> sp.csr_matrix:
    """The CSR of fastcf Interactions (checked by :func:`check_interactions`) or of a scipy
    sparse matrix, checked by :func:`as_canonical_csr`."""
    from fastcf.data.interactions import Interactions

    if isinstance(data, Interactions):
        return check_interactions(data, name, owner).matrix
    if not sp.issparse(data):
        raise TypeError(message(owner, name, "fastcf Interactions or a scipy sparse matrix", type(data).__name__))
    return as_canonical_csr(data, name, owner, what)


def as_feature_matrix(features, name: str, owner: str, dtype, n_rows: Optional[int] = None,
                      n_cols: Optional[int] = None, row: str = "row", column: str = "feature") -> sp.csr_matrix:
    """Side features (rows x features) as a checked CSR of ``dtype``: a scipy sparse matrix,
    checked by :func:`as_canonical_csr`, or a dense 2-D array of real, finite numbers.

    ``n_rows`` / ``n_cols``: the shape required (one row per ``row``, one column per ``column``).
    """
    if sp.issparse(features):
        csr = as_canonical_csr(features, name, owner, what=row)
    elif isinstance(features, np.ndarray):
        dense = check_finite(as_float_matrix(features, name, owner), name, owner)
        csr = sp.csr_matrix(dense)
    else:
        raise TypeError(message(owner, name, "a scipy sparse matrix or a 2-D array", type(features).__name__))
    for axis, wanted, per in ((0, n_rows, row), (1, n_cols, column)):
        if wanted is not None and csr.shape[axis] != wanted:
            kind = "row" if axis == 0 else "column"
            raise DataError(f"{owner}: '{name}' must have one {kind} per {per} ({wanted}); got {csr.shape[axis]}.")
    return csr.astype(dtype, copy=False)


def check_csr_matrix(matrix: sp.csr_matrix, name: str, owner: str) -> sp.csr_matrix:
    """Check a scipy CSR without canonicalising it: structure, real and finite values.

    The matrix is returned as it is (for owners that keep the caller's object), unless its
    arrays need another dtype (uint64 or big-endian indices, float16 or bool values): then
    a CSR over converted copies, since scipy's own methods refuse or misread those."""
    indptr, indices = as_csr_structure(matrix.indptr, matrix.indices, matrix.shape[0], matrix.shape[1],
                                       (f"{name}.indptr", f"{name}.indices"), owner)
    data = _stored_values(matrix.data, name, owner)
    _check_one_value_per_entry(data, indices.shape[0], name, owner)
    check_finite(data, name, owner, where=lambda position: _entry_place(matrix, position, "user"))
    if indptr is matrix.indptr and indices is matrix.indices and data is matrix.data:
        return matrix
    converted = sp.csr_matrix(matrix.shape, dtype=data.dtype)
    converted.data, converted.indices, converted.indptr = data.copy(), indices.copy(), indptr.copy()
    return converted


def _stored_values(data, name: str, owner: str) -> np.ndarray:
    """The stored values of a sparse matrix as real numbers in native byte order."""
    data = native_byte_order(np.asarray(data))
    if data.dtype.kind not in "biuf":
        raise TypeError(message(owner, name, "real numbers (bool, int or float)", f"dtype {data.dtype}"))
    if data.dtype.kind == "b" or data.dtype == np.float16:
        data = data.astype(np.float32)
    return data


def _check_one_value_per_entry(data: np.ndarray, stored: int, name: str, owner: str) -> None:
    if data.ndim != 1 or data.shape[0] != stored:
        raise DataError(f"{owner}: '{name}.data' must hold one value per stored entry ({stored}); "
                        f"got shape {data.shape}.")


def _entry_place(csr: sp.csr_matrix, position: int, what: str) -> str:
    row = int(np.searchsorted(csr.indptr, position, side="right") - 1)
    return f"{what} index {row}, column {csr.indices[position]}"


def check_nonnegative(csr: sp.csr_matrix, name: str, owner: str, why: str, what: str = "user") -> sp.csr_matrix:
    """Refuse a negative stored value of a checked CSR (DataError), naming the first one.

    ``why``: what the values mean to the caller, e.g. "implicit feedback: counts, clicks, weights".
    """
    if csr.nnz and csr.data.min() < 0:
        bad = int(np.argmin(csr.data))
        raise DataError(message(owner, name, f">= 0 ({why})",
                                f"{csr.data[bad]} ({_entry_place(csr, bad, what).replace('column', 'item index')})"))
    return csr


def check_representable(csr: sp.csr_matrix, dtype, name: str, owner: str, what: str = "user") -> sp.csr_matrix:
    """Refuse a stored value that the model's ``dtype`` cannot hold (DataError): 1e39 is inf
    in float32, and would turn every score it touches into inf or NaN."""
    dtype = np.dtype(dtype)
    if csr.nnz and dtype.kind == "f" and csr.data.dtype.itemsize > dtype.itemsize:
        largest = np.finfo(dtype).max
        magnitude = np.abs(csr.data)
        if magnitude.max() > largest:
            bad = int(np.argmax(magnitude))
            raise DataError(message(owner, name, f"within the range of the model's dtype {dtype} (|value| <= {largest:.3g})",
                                    f"{csr.data[bad]} at {_entry_place(csr, bad, what)}"))
    return csr


def check_squarable(csr: sp.csr_matrix, dtype, name: str, owner: str, why: str, what: str = "user") -> sp.csr_matrix:
    """Refuse values whose squares (or products with factors of like size) ``dtype`` cannot
    hold (DataError): squared errors, gradients and dot products of such values overflow
    in the first epoch, and the fit could only stop with its factors diverged."""
    if csr.nnz:
        bound = float(np.sqrt(np.finfo(np.dtype(dtype)).max)) / 4
        magnitude = np.abs(csr.data)
        if float(magnitude.max()) > bound:  # as Python floats: the bound may not fit the data's dtype
            bad = int(np.argmax(magnitude))
            raise DataError(message(owner, name, f"at most {bound:.3g} in magnitude, so that {why} stay finite in "
                                    f"{np.dtype(dtype).name}", f"{csr.data[bad].item()!r} at {_entry_place(csr, bad, what)}"))
    return csr


def check_summable(csr: sp.csr_matrix, name: str, owner: str, what: str = "user") -> sp.csr_matrix:
    """Refuse values so large that a sum over them can overflow float64 (DataError): means,
    biases and scores are sums of stored values, and inf - inf is a silent NaN."""
    if csr.nnz:
        bound = np.finfo(np.float64).max / csr.nnz
        magnitude = np.abs(csr.data)
        if magnitude.max() > bound:
            bad = int(np.argmax(magnitude))
            raise DataError(message(owner, name, f"small enough that sums of its {csr.nnz} values stay finite "
                                    f"(|value| <= {bound:.3g})", f"{csr.data[bad]} at {_entry_place(csr, bad, what)}"))
    return csr


def native_byte_order(arr: np.ndarray) -> np.ndarray:
    """The array in the machine's byte order (big-endian input, e.g. from a file, is swapped)."""
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


#: Values checked at a time by check_finite (bounds the check's temporary to ~1 MiB).
FINITE_CHUNK = 1 << 20


def check_finite(arr: np.ndarray, name: str, owner: str, where=None) -> np.ndarray:
    """Refuse inf and NaN (DataError), naming the first one and where it is.

    In chunks, so that a large factor matrix needs no full-size boolean temporary.
    ``where(flat_position) -> str`` describes the place (default: row and column of a 2-D
    array, the position of a 1-D one).
    """
    flat = arr.reshape(-1)  # a view for contiguous arrays, which is what the edge passes
    for start in range(0, flat.shape[0], FINITE_CHUNK):
        part = flat[start:start + FINITE_CHUNK]
        if not np.isfinite(part).all():
            position = start + int(np.flatnonzero(~np.isfinite(part))[0])
            if where is not None:
                place = where(position)
            elif arr.ndim == 2:
                place = "row {}, column {}".format(*np.unravel_index(position, arr.shape))
            else:
                place = f"position {np.unravel_index(position, arr.shape)}" if arr.ndim > 1 else f"position {position}"
            raise DataError(message(owner, name, "finite", f"{flat[position]} at {place}"))
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
    return check_finite(arr, name, owner)


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
        elif arr.size and (arr.max() > _INDEX_MAX):
            raise DataError(message(owner, name, "indices within the int64 range", arr.max()))
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
        raise DataError(
            f"{owner}: '{indptr_name}' must have n_rows + 1 = {n_rows + 1} entries; got {indptr.shape[0]}."
        )
    if indptr[0] != 0:
        raise DataError(f"{owner}: '{indptr_name}' must start at 0; got {indptr[0]}.")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        row = int(np.flatnonzero(steps < 0)[0])
        raise DataError(
            f"{owner}: '{indptr_name}' must be non-decreasing; it falls after row {row} "
            f"({indptr[row]} -> {indptr[row + 1]})."
        )
    if indptr[-1] != indices.shape[0]:
        raise DataError(
            f"{owner}: '{indptr_name}'[-1] must equal len('{indices_name}') = {indices.shape[0]}; "
            f"got {indptr[-1]}."
        )
    check_index_range(indices, n_cols, indices_name, owner,
                      where=lambda bad: f"row {int(np.searchsorted(indptr, bad, side='right') - 1)}")
    if indptr.dtype != indices.dtype:
        indptr, indices = indptr.astype(np.int64), indices.astype(np.int64)
    return indptr, indices


def check_index_range(indices: np.ndarray, bound: int, name: str, owner: str, where=None) -> np.ndarray:
    """Refuse an index outside [0, bound) (DataError), naming the first one, its position and
    ``where(position)`` when given (e.g. its row)."""
    if indices.size and (indices.min() < 0 or indices.max() >= bound):
        bad = int(np.flatnonzero((indices < 0) | (indices >= bound))[0])
        place = f"position {bad}" + (f" ({where(bad)})" if where is not None else "")
        raise DataError(f"{owner}: '{name}' must lie in [0, {bound}); got {indices[bad]} at {place}.")
    return indices


def empty_csr_structure(n_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """The (indptr, indices) of a CSR with ``n_rows`` empty rows."""
    return np.zeros(n_rows + 1, dtype=np.int32), np.zeros(0, dtype=np.int32)


def raise_nan_rows(owner: str, name: str, nan_rows: np.ndarray, hint: Optional[str] = None) -> None:
    """Raise the DataError every twin gives when a row holds NaN (``nan_rows``: flag per row)."""
    rows = np.flatnonzero(nan_rows)
    if rows.size == 0:
        return
    text = (
        f"{owner}: '{name}' holds NaN in {rows.size} row(s) (first: row {rows[0]}); "
        f"NaN has no rank."
    )
    if hint:
        text += " " + hint
    raise DataError(text)


def as_id_array(ids, name: str, owner: str) -> np.ndarray:
    """One ID or a 1-D array of IDs, as a 1-D array; float IDs must be whole numbers.

    For lookups that answer unknown IDs rather than refuse them (``predict``'s fallback): a
    NaN or 2.5 is no ID at all, and would otherwise fall back silently like an unknown one.
    """
    arr = np.atleast_1d(np.asarray(ids))
    if arr.ndim != 1:
        raise ValueError(message(owner, name, "one ID or a 1-D array of IDs", f"shape {arr.shape}"))
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise ValueError(message(owner, name, "whole-number IDs", f"{arr[bad][0].item()!r} at position {int(np.argmax(bad))}"))
    return arr


def check_canonical_rows(indptr: np.ndarray, indices: np.ndarray, name: str, owner: str) -> None:
    """Refuse a CSR whose rows do not hold strictly increasing column indices (DataError).

    Computed from the arrays, not read from scipy's ``has_canonical_format``, which scipy
    caches on the matrix and which a caller's in-place change of ``indices`` leaves stale."""
    if indices.shape[0] < 2:
        return
    rising = indices[1:] > indices[:-1]
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < indices.shape[0])]
    rising[starts - 1] = True  # the first entry of a row may be below the last of the row before
    if not rising.all():
        position = int(np.flatnonzero(~rising)[0]) + 1
        row = int(np.searchsorted(indptr, position, side="right") - 1)
        raise DataError(message(owner, name, "canonical: each (user, item) stored once, indices sorted "
                                "within rows (call matrix.sum_duplicates() first if summing is what you want)",
                                f"item index {indices[position]} after {indices[position - 1]} in row {row}"))


def as_timestamps(timestamps, n_entries: int, name: str, owner: str) -> Optional[np.ndarray]:
    """None, or one Unix time per stored entry as int64: integers within int64, or floats that
    are finite whole numbers (NaN, inf and fractions are refused rather than cast to garbage)."""
    if timestamps is None:
        return None
    arr = native_byte_order(np.asarray(timestamps))
    if arr.dtype.kind not in "iuf":
        raise TypeError(message(owner, name, "integer Unix times", f"dtype {arr.dtype}"))
    if arr.shape != (n_entries,):
        raise DataError(message(owner, name, f"one time per stored entry, shape ({n_entries},)", f"shape {arr.shape}"))
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) >= 2.0 ** 63)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise DataError(message(owner, name, "whole-number Unix times within int64",
                                    f"{arr[position].item()!r} at position {position}"))
    elif arr.dtype.kind == "u" and arr.size and arr.max() > _INDEX_MAX:
        position = int(np.argmax(arr))
        raise DataError(message(owner, name, "Unix times within int64", f"{arr[position]} at position {position}"))
    return arr.astype(np.int64, copy=False)


def check_interaction_parts(matrix, users, items, timestamps, owner: str, name: str = "matrix",
                            timestamps_name: str = "timestamps"):
    """The parts of an Interactions, checked: ``(matrix, timestamps)``, the matrix a canonical
    CSR of shape (len(users), len(items)) with real, finite values, timestamps int64 or None.

    The matrix is the caller's object unless its arrays needed another dtype (see
    :func:`check_csr_matrix`)."""
    from fastcf.data.id_map import IdMap

    for label, ids in (("users", users), ("items", items)):
        if not isinstance(ids, IdMap):
            raise TypeError(message(owner, label, "a fastcf IdMap", type(ids).__name__))
    if not sp.issparse(matrix) or matrix.format != "csr":
        given = f"{matrix.format.upper()} format" if sp.issparse(matrix) else type(matrix).__name__
        raise TypeError(message(owner, name, "a scipy sparse CSR matrix", given))
    matrix = check_csr_matrix(matrix, name, owner)
    if matrix.shape != (len(users), len(items)):
        raise DataError(message(owner, name, f"of shape ({len(users)}, {len(items)}), one row per user ID "
                                "and one column per item ID", f"shape {matrix.shape}"))
    check_canonical_rows(matrix.indptr, matrix.indices, name, owner)
    return matrix, as_timestamps(timestamps, matrix.nnz, timestamps_name, owner)


def check_interactions(data, name: str, owner: str):
    """fastcf Interactions whose parts still hold what the constructor accepts.

    Checked again at every public entry, in O(nnz): a caller may have replaced ``.matrix``
    or changed its arrays in place since, and the kernels and scipy read them unchecked.
    Returns ``data`` itself, or a shallow copy over converted arrays (see
    :func:`check_csr_matrix`)."""
    from fastcf.data.interactions import Interactions

    if not isinstance(data, Interactions):
        raise TypeError(message(owner, name, "fastcf Interactions", type(data).__name__))
    matrix, timestamps = check_interaction_parts(data.matrix, data.users, data.items, data.timestamps, owner,
                                                 f"{name}.matrix", f"{name}.timestamps")
    if matrix is data.matrix and timestamps is data.timestamps:
        return data
    return data.replace(matrix, timestamps=timestamps)


def as_raw_ids(values, name: str, owner: str) -> np.ndarray:
    """Raw IDs as a 1-D array in native byte order: any hashable numbers or strings, but no
    missing ones (None, NaN: no ID, and NaN != NaN would make every lookup of it fail) and
    no complex numbers."""
    if values is None:
        raise TypeError(message(owner, name, "a 1-D array of IDs", "None"))
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(message(owner, name, "a 1-D array of IDs", f"shape {arr.shape}"))
    if arr.dtype.kind == "c":
        raise TypeError(message(owner, name, "IDs of integers, whole floats or strings", f"dtype {arr.dtype}"))
    arr = native_byte_order(arr) if arr.dtype.kind in "biuf" else arr
    if arr.dtype.kind == "f" or arr.dtype == object:
        import pandas as pd

        missing = np.asarray(pd.isna(arr), dtype=bool)
        if missing.any():
            position = int(np.flatnonzero(missing)[0])
            raise DataError(message(owner, name, "IDs without missing values", f"{arr[position]!r} at position {position}"))
    return arr


def physical_memory() -> Optional[int]:
    """This machine's memory in bytes (None where the OS does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def check_allocation(shape, bytes_per_element: int, name: str, owner: str, what: str = "output") -> None:
    """Refuse (ValueError) a size parameter whose array would not fit this machine's memory,
    before anything is allocated: NumPy's MemoryError names neither the call nor the argument,
    and a size just under the limit would push the host process into swap."""
    count = 1
    for extent in shape:
        count *= int(extent)
    needed = count * int(bytes_per_element)
    limit = physical_memory()
    if limit is not None and needed > limit:
        raise ValueError(f"{owner}: '{name}' asks for a {what} of shape {tuple(int(e) for e in shape)} "
                         f"({needed / 2 ** 30:,.1f} GiB), more than this machine's {limit / 2 ** 30:,.1f} GiB "
                         f"of memory.")
