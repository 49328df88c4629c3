"""The shared catalogue of malformed inputs the registry test feeds to every public callable.

Each *kind* of argument (a ratings matrix, a float array, an index array, a fold-in history,
k, n_threads, ...) has a list of :class:`Malformation`: a name, how to derive the bad value
from a valid one, and what a correct library does with it:

- ``error``: refuse it with a named TypeError/ValueError (KeyError too for an unknown ID,
  where the malformation says ``key_error``);
- ``same``: a legitimately valid input (read-only, strided, int64 indices): the call must
  succeed and give the valid call's result;
- ``same_or_error``: the same result, or a named refusal (big-endian, uint64 indices, another
  sparse format); a *different* result is the failure this guards against;
- ``finite_or_error``: any result without a NaN or infinity the valid call did not have
  (empty shapes, duplicates, a huge value), or a named refusal.

Broken CSR objects are built as a caller's mutated object would be: a valid csr_matrix whose
``indptr`` / ``indices`` / ``data`` are then replaced, bypassing scipy's checks, with scipy's
cached "canonical format" flags dropped so that nothing claims the broken arrays are sorted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np
import scipy.sparse as sp

ERROR, SAME, SAME_OR_ERROR, FINITE_OR_ERROR = "error", "same", "same_or_error", "finite_or_error"
EXPECTATIONS = (ERROR, SAME, SAME_OR_ERROR, FINITE_OR_ERROR)


@dataclass(frozen=True)
class Malformation:
    name: str
    make: Callable  # (valid value, kind parameter) -> the malformed value
    expect: str
    key_error: bool = False  # an unknown ID: a KeyError naming it is a correct refusal too
    non_finite: bool = False  # the input itself holds NaN/inf, so a non-finite result is not "silent"
    pads: bool = False  # asks for more than exists: -inf scores beside -1 pads are the documented answer


def raw_csr(shape, data, indices, indptr, fmt="csr"):
    """A csr_matrix (or csc) holding exactly these arrays, as a caller's mutated object would."""
    out = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)(shape, dtype=np.float64)
    out.data, out.indices, out.indptr = data, indices, indptr
    for flag in ("_has_sorted_indices", "_has_canonical_format"):
        out.__dict__.pop(flag, None)
    return out


def _mutated(m: sp.csr_matrix, *, data=None, indices=None, indptr=None, shape=None):
    m = m.tocsr()
    return raw_csr(m.shape if shape is None else shape, m.data.copy() if data is None else data,
                   m.indices.copy() if indices is None else indices, m.indptr.copy() if indptr is None else indptr)


def _set(array, position, value, dtype=None):
    out = np.array(array, dtype=dtype or array.dtype)
    out[position] = value
    return out


def _strided(array):
    """The same values in a non-contiguous view (every other element of a larger buffer)."""
    array = np.asarray(array)
    buffer = np.zeros((array.shape[0] * 2,) + array.shape[1:], dtype=array.dtype)
    buffer[::2] = array
    return buffer[::2]


def _read_only(array):
    out = np.array(array)
    out.flags.writeable = False
    return out


def _big_endian(array):
    array = np.asarray(array)
    return array.astype(array.dtype.newbyteorder(">"))


def _with_entry(m, value):
    m = m.tocsr()
    data = m.data.copy()
    data[data.size // 2] = value
    return _mutated(m, data=data)


def _unsorted(m):
    m = m.tocsr()
    indptr, indices, data = m.indptr, m.indices.copy(), m.data.copy()
    for row in range(m.shape[0]):
        lo, hi = indptr[row], indptr[row + 1]
        indices[lo:hi], data[lo:hi] = indices[lo:hi][::-1].copy(), data[lo:hi][::-1].copy()
    return sp.csr_matrix((data, indices, indptr.copy()), shape=m.shape)  # valid, just not canonical


def _duplicated(m):
    m = m.tocsr()
    row = int(np.flatnonzero(np.diff(m.indptr) >= 2)[0])
    indices = m.indices.copy()
    indices[m.indptr[row] + 1] = indices[m.indptr[row]]
    return sp.csr_matrix((m.data.copy(), indices, m.indptr.copy()), shape=m.shape)


def _coo_coordinates(m, dtype, shift=0.0):
    coo = m.tocoo()
    out = sp.coo_matrix(coo.shape, dtype=coo.data.dtype)
    out.row, out.col, out.data = coo.row.astype(dtype) + shift, coo.col.astype(dtype), coo.data.copy()
    return out


def _all_arrays(m, transform):
    m = m.tocsr()
    return _mutated(m, data=transform(m.data), indices=transform(m.indices), indptr=transform(m.indptr))


def _empty(shape):
    return lambda m, _: sp.csr_matrix(shape, dtype=m.dtype)


def _one_by_one(m, _):
    return sp.csr_matrix(np.array([[float(m.data[0])]]))


#: A sparse matrix given as data (ratings, a train/test split, a features matrix).
SPARSE: List[Malformation] = [
    Malformation("index equal to n_columns", lambda m, _: _mutated(m, indices=_set(m.indices, -1, m.shape[1])), ERROR),
    Malformation("negative index", lambda m, _: _mutated(m, indices=_set(m.indices, 0, -7)), ERROR),
    Malformation("int64 index beyond int32", lambda m, _: _mutated(m, indices=_set(m.indices, 1, 2**31 + 5, np.int64)), ERROR),
    Malformation("falling indptr", lambda m, _: _mutated(m, indptr=_set(m.indptr, min(3, len(m.indptr) - 2), m.indptr[-1] + 900)), ERROR),
    Malformation("indptr one short", lambda m, _: _mutated(m, indptr=m.indptr[:-1].copy()), ERROR),
    Malformation("negative indptr", lambda m, _: _mutated(m, indptr=_set(m.indptr, 1, -3)), ERROR),
    Malformation("indptr not starting at 0", lambda m, _: _mutated(m, indptr=_set(m.indptr, 0, 1)), ERROR),
    Malformation("indptr ending past the data", lambda m, _: _mutated(m, indptr=_set(m.indptr, -1, m.indptr[-1] + 4)), ERROR),
    Malformation("data shorter than indices", lambda m, _: _mutated(m, data=m.tocsr().data[:-1].copy()), ERROR),
    Malformation("NaN value", lambda m, _: _with_entry(m, np.nan), ERROR, non_finite=True),
    Malformation("+inf value", lambda m, _: _with_entry(m, np.inf), ERROR, non_finite=True),
    Malformation("-inf value", lambda m, _: _with_entry(m, -np.inf), ERROR, non_finite=True),
    Malformation("value 3e38", lambda m, _: _with_entry(m, 3e38), FINITE_OR_ERROR),
    Malformation("negative value", lambda m, _: _with_entry(m, -2.0), FINITE_OR_ERROR),
    Malformation("complex data", lambda m, _: _mutated(m, data=m.tocsr().data.astype(np.complex128)), ERROR),
    Malformation("object data", lambda m, _: _mutated(m, data=m.tocsr().data.astype(str).astype(object)), ERROR),
    Malformation("float16 data", lambda m, _: _mutated(m, data=m.tocsr().data.astype(np.float16)), FINITE_OR_ERROR),
    Malformation("bool data", lambda m, _: _mutated(m, data=m.tocsr().data.astype(bool)), FINITE_OR_ERROR),
    Malformation("unsorted indices", lambda m, _: _unsorted(m), SAME_OR_ERROR),
    Malformation("duplicate indices", lambda m, _: _duplicated(m), FINITE_OR_ERROR),
    Malformation("int64 indices", lambda m, _: _all_arrays(m, lambda a: a.astype(np.int64) if a.dtype.kind == "i" else a.copy()), SAME),
    Malformation("uint64 indices", lambda m, _: _all_arrays(m, lambda a: a.astype(np.uint64) if a.dtype.kind == "i" else a.copy()), SAME_OR_ERROR),
    Malformation("read-only arrays", lambda m, _: _all_arrays(m, _read_only), SAME),
    Malformation("non-contiguous arrays", lambda m, _: _all_arrays(m, _strided), SAME),
    Malformation("big-endian arrays", lambda m, _: _all_arrays(m, _big_endian), SAME_OR_ERROR),
    # scipy casts COO coordinates to integers when they are assigned (row and col are typed
    # properties), so no call can receive float ones: r + 0.5 arrives as r, a valid matrix.
    Malformation("COO with float coordinates", lambda m, _: _coo_coordinates(m, np.float64, 0.5), SAME_OR_ERROR),
    Malformation("COO with integral float coordinates", lambda m, _: _coo_coordinates(m, np.float64), SAME_OR_ERROR),
    Malformation("COO row out of range", lambda m, _: _coo_row_beyond(m), ERROR),
    Malformation("CSC format", lambda m, _: m.tocsc(), SAME_OR_ERROR),
    Malformation("COO format", lambda m, _: m.tocoo(), SAME_OR_ERROR),
    Malformation("dense ndarray", lambda m, _: m.toarray(), SAME_OR_ERROR),
    Malformation("shape 0 x 0", _empty((0, 0)), FINITE_OR_ERROR),
    Malformation("shape 0 x n", lambda m, _: sp.csr_matrix((0, m.shape[1]), dtype=m.dtype), FINITE_OR_ERROR),
    Malformation("shape n x 0", lambda m, _: sp.csr_matrix((m.shape[0], 0), dtype=m.dtype), FINITE_OR_ERROR),
    Malformation("shape 1 x 1", _one_by_one, FINITE_OR_ERROR),
    Malformation("one row fewer", lambda m, _: m.tocsr()[:-1], FINITE_OR_ERROR),
    Malformation("None", lambda m, _: None, ERROR),
    Malformation("a string", lambda m, _: "ratings.csv", ERROR),
]


def _coo_row_beyond(m):
    coo = m.tocoo()
    out = sp.coo_matrix(coo.shape, dtype=coo.data.dtype)
    out.row, out.col, out.data = np.r_[coo.row[:-1], m.shape[0]].astype(coo.row.dtype), coo.col.copy(), coo.data.copy()
    return out


#: A float array read (scores, factors, features, ratings of a kernel call, y_pred).
def _at_middle(value):
    def make(array, _):
        out = np.array(array, dtype=np.float64 if np.asarray(array).dtype.kind not in "fc" else None)
        out.flat[out.size // 2] = value
        return out
    return make


DENSE: List[Malformation] = [
    Malformation("NaN", _at_middle(np.nan), ERROR, non_finite=True),
    Malformation("+inf", _at_middle(np.inf), ERROR, non_finite=True),
    Malformation("-inf", _at_middle(-np.inf), ERROR, non_finite=True),
    Malformation("read-only", lambda a, _: _read_only(a), SAME),
    Malformation("non-contiguous", lambda a, _: _strided(a), SAME),
    Malformation("Fortran order", lambda a, _: np.asfortranarray(a), SAME),
    Malformation("big-endian", lambda a, _: _big_endian(a), SAME_OR_ERROR),
    Malformation("float16", lambda a, _: np.asarray(a).astype(np.float16), FINITE_OR_ERROR),
    Malformation("bool", lambda a, _: np.asarray(a) > 0, FINITE_OR_ERROR),
    Malformation("object dtype", lambda a, _: np.asarray(a).astype(str).astype(object), ERROR),
    Malformation("complex", lambda a, _: np.asarray(a).astype(np.complex128) + 1j, ERROR),
    Malformation("one element fewer", lambda a, _: np.asarray(a)[:-1].copy(), ERROR),
    Malformation("extra axis", lambda a, _: np.asarray(a)[..., None].copy(), ERROR),
    Malformation("empty", lambda a, _: np.asarray(a)[:0].copy(), FINITE_OR_ERROR),
    Malformation("nested list", lambda a, _: np.asarray(a).tolist(), SAME_OR_ERROR),
    Malformation("None", lambda a, _: None, ERROR),
]

#: An array a kernel writes in place (factors, biases, random states).
WRITTEN: List[Malformation] = [
    Malformation("read-only", lambda a, _: _read_only(a), ERROR),
    Malformation("non-contiguous", lambda a, _: _strided(a), FINITE_OR_ERROR),
    Malformation("Fortran order", lambda a, _: np.asfortranarray(a), FINITE_OR_ERROR),
    Malformation("big-endian", lambda a, _: _big_endian(a), SAME_OR_ERROR),
    Malformation("float16", lambda a, _: np.asarray(a).astype(np.float16), ERROR),
    Malformation("one row fewer", lambda a, _: np.asarray(a)[:-1].copy(), ERROR),
    Malformation("a list", lambda a, _: np.asarray(a).tolist(), ERROR),
    Malformation("None", lambda a, _: None, ERROR),
]


def _index_at(value, dtype=None):
    def make(array, bound):
        out = np.array(array, dtype=dtype or np.asarray(array).dtype)
        out[len(out) // 2] = int(bound) if value == "bound" else value
        return out
    return make


#: A 1-D array of indices in [0, bound) (a kernel's users/items; ``index:<bound>``).
INDEX: List[Malformation] = [
    Malformation("index equal to the bound", _index_at("bound"), ERROR),
    Malformation("negative index", _index_at(-1), ERROR),
    Malformation("int64 index beyond int32", _index_at(2**31 + 3, np.int64), ERROR),
    Malformation("index 2**62", _index_at(2**62, np.int64), ERROR),
    Malformation("uint64", lambda a, _: np.asarray(a).astype(np.uint64), SAME_OR_ERROR),
    Malformation("int8", lambda a, _: np.asarray(a).astype(np.int8), SAME_OR_ERROR),
    Malformation("integral floats", lambda a, _: np.asarray(a).astype(np.float64), SAME_OR_ERROR),
    Malformation("fractional float", lambda a, _: np.asarray(a).astype(np.float64) + 0.5, ERROR),
    Malformation("NaN", lambda a, _: _set(np.asarray(a), 0, np.nan, np.float64), ERROR),
    Malformation("bool", lambda a, _: np.asarray(a) % 2 == 1, ERROR),
    Malformation("object dtype", lambda a, _: np.asarray(a).astype(str).astype(object), ERROR),
    Malformation("2-D", lambda a, _: np.asarray(a)[:, None].copy(), ERROR),
    Malformation("read-only", lambda a, _: _read_only(a), SAME),
    Malformation("non-contiguous", lambda a, _: _strided(a), SAME),
    Malformation("big-endian", lambda a, _: _big_endian(a), SAME_OR_ERROR),
    Malformation("empty", lambda a, _: np.asarray(a)[:0].copy(), FINITE_OR_ERROR),
    Malformation("None", lambda a, _: None, ERROR),
]


def _pair(make_indptr=None, make_indices=None):
    def make(pair, _):
        indptr, indices = (np.array(a) for a in pair)
        return (make_indptr(indptr, indices) if make_indptr else indptr,
                make_indices(indptr, indices) if make_indices else indices)
    return make


def _csr_row_with(indptr, min_length):
    return int(np.flatnonzero(np.diff(indptr) >= min_length)[0])


def _reverse_rows(indptr, indices):
    out = indices.copy()
    for row in range(len(indptr) - 1):
        out[indptr[row]:indptr[row + 1]] = indices[indptr[row]:indptr[row + 1]][::-1]
    return out


def _duplicate_in_row(indptr, indices):
    row = _csr_row_with(indptr, 2)
    return _set(indices, indptr[row] + 1, indices[indptr[row]])


#: A CSR given as two arrays (a kernel's indptr and indices; ``csr_pair:<n_columns>``). The
#: bound is the number of columns.
CSR_PAIR: List[Malformation] = [
    Malformation("index equal to n_columns", lambda p, n: _pair(make_indices=lambda ip, ix: _set(ix, 0, int(n)))(p, n), ERROR),
    Malformation("negative index", _pair(make_indices=lambda ip, ix: _set(ix, -1, -1)), ERROR),
    Malformation("int64 index beyond int32", _pair(make_indices=lambda ip, ix: _set(ix, 1, 2**31 + 1, np.int64)), ERROR),
    Malformation("falling indptr", _pair(make_indptr=lambda ip, ix: _set(ip, 1, ip[-1] + 3)), ERROR),
    Malformation("indptr one short", _pair(make_indptr=lambda ip, ix: ip[:-1].copy()), ERROR),
    Malformation("negative indptr", _pair(make_indptr=lambda ip, ix: _set(ip, 1, -2)), ERROR),
    Malformation("indptr not starting at 0", _pair(make_indptr=lambda ip, ix: _set(ip, 0, 1)), ERROR),
    Malformation("indptr ending short", _pair(make_indptr=lambda ip, ix: _set(ip, -1, ip[-1] - 1)), ERROR),
    Malformation("unsorted indices", _pair(make_indices=_reverse_rows), FINITE_OR_ERROR),
    Malformation("duplicate indices", _pair(make_indices=_duplicate_in_row), FINITE_OR_ERROR),
    Malformation("uint64 arrays", lambda p, _: tuple(np.asarray(a).astype(np.uint64) for a in p), SAME_OR_ERROR),
    Malformation("int32 arrays", lambda p, _: tuple(np.asarray(a).astype(np.int32) for a in p), SAME),
    Malformation("float indptr", _pair(make_indptr=lambda ip, ix: ip.astype(np.float64)), ERROR),
    Malformation("read-only arrays", lambda p, _: tuple(_read_only(a) for a in p), SAME),
    Malformation("non-contiguous arrays", lambda p, _: tuple(_strided(a) for a in p), SAME),
    Malformation("big-endian arrays", lambda p, _: tuple(_big_endian(a) for a in p), SAME_OR_ERROR),
    Malformation("2-D indptr", _pair(make_indptr=lambda ip, ix: ip[:, None].copy()), ERROR),
]

#: 2-D top-k lists of item indices in [0, bound), -1 padding (``top_items:<n_items>``).
TOP_ITEMS: List[Malformation] = [
    Malformation("item equal to n_items", lambda a, n: _set(a, (0, 0), int(n)), ERROR),
    Malformation("item -2", lambda a, _: _set(a, (0, 0), -2), ERROR),
    Malformation("int64 item beyond int32", lambda a, _: _set(a, (0, 0), 2**31 + 1, np.int64), ERROR),
    Malformation("fractional float", lambda a, _: np.asarray(a) + 0.5, ERROR),
    Malformation("NaN", lambda a, _: _set(a, (0, 0), np.nan, np.float64), ERROR),
    Malformation("bool", lambda a, _: np.asarray(a) > 2, ERROR),
    Malformation("object dtype", lambda a, _: np.asarray(a).astype(str).astype(object), ERROR),
    Malformation("1-D", lambda a, _: np.asarray(a).ravel().copy(), ERROR),
    Malformation("uint64", lambda a, _: np.abs(np.asarray(a)).astype(np.uint64), FINITE_OR_ERROR),
    Malformation("read-only", lambda a, _: _read_only(a), SAME),
    Malformation("non-contiguous", lambda a, _: _strided(a), SAME),
    Malformation("big-endian", lambda a, _: _big_endian(a), SAME_OR_ERROR),
    Malformation("no rows", lambda a, _: np.asarray(a)[:0].copy(), FINITE_OR_ERROR),
    Malformation("no columns", lambda a, _: np.asarray(a)[:, :0].copy(), FINITE_OR_ERROR),
    Malformation("None", lambda a, _: None, ERROR),
]

#: Raw user or item IDs passed to a model (an array, a list or one ID). The models here are
#: fitted on a bare matrix, so the raw IDs are the indices 0..n-1.
IDS: List[Malformation] = [
    Malformation("unknown ID", lambda a, n: _set(np.atleast_1d(a), 0, 10**6), ERROR, key_error=True),
    Malformation("negative ID", lambda a, _: _set(np.atleast_1d(a), 0, -1), ERROR, key_error=True),
    Malformation("ID 2**63 - 1", lambda a, _: _set(np.atleast_1d(a), 0, 2**63 - 1, np.int64), ERROR, key_error=True),
    Malformation("NaN ID", lambda a, _: _set(np.atleast_1d(a), 0, np.nan, np.float64), ERROR, key_error=True),
    Malformation("fractional float ID", lambda a, _: np.atleast_1d(a) + 0.5, ERROR, key_error=True),
    Malformation("string ID", lambda a, _: ["no such id"], ERROR, key_error=True),
    Malformation("None", lambda a, _: None, ERROR, key_error=True),
    Malformation("uint64 array", lambda a, _: np.atleast_1d(a).astype(np.uint64), SAME_OR_ERROR),
    Malformation("read-only array", lambda a, _: _read_only(np.atleast_1d(a)), SAME_OR_ERROR),
    Malformation("non-contiguous array", lambda a, _: _strided(np.atleast_1d(a)), SAME_OR_ERROR),
    Malformation("big-endian array", lambda a, _: _big_endian(np.atleast_1d(a)), SAME_OR_ERROR),
    Malformation("2-D array", lambda a, _: np.atleast_1d(a)[:, None].copy(), FINITE_OR_ERROR),
    # As candidates (items=), an empty set leaves every list all pads: the documented answer.
    Malformation("empty array", lambda a, _: np.atleast_1d(a)[:0].copy(), FINITE_OR_ERROR, pads=True),
]


def _history_with(value):
    return lambda h, _: {**h, next(iter(h)): value}


#: A fold-in history: {item ID: value} (the valid one holds positive values).
HISTORY: List[Malformation] = [
    Malformation("negative value", _history_with(-1000.0), FINITE_OR_ERROR),
    Malformation("NaN value", _history_with(np.nan), ERROR, non_finite=True),
    Malformation("+inf value", _history_with(np.inf), ERROR, non_finite=True),
    Malformation("value 1e308", lambda h, _: {item: 1e308 for item in h}, FINITE_OR_ERROR),
    Malformation("string value", _history_with("5"), ERROR),
    Malformation("complex value", _history_with(1 + 2j), ERROR),
    Malformation("unknown item", lambda h, _: {**h, 10**6: 1.0}, ERROR, key_error=True),
    Malformation("negative item", lambda h, _: {**h, -1: 1.0}, ERROR, key_error=True),
    Malformation("NaN item", lambda h, _: {**h, float("nan"): 1.0}, ERROR, key_error=True),
    Malformation("empty dict", lambda h, _: {}, FINITE_OR_ERROR),
    Malformation("list of IDs", lambda h, _: list(h), FINITE_OR_ERROR),
    Malformation("read-only array of IDs", lambda h, _: _read_only(np.array(list(h))), FINITE_OR_ERROR),
    Malformation("IDs with a duplicate", lambda h, _: list(h) + [next(iter(h))], FINITE_OR_ERROR),
    Malformation("array of unknown IDs", lambda h, _: np.array([10**6, -3]), ERROR, key_error=True),
    Malformation("None", lambda h, _: None, ERROR),
]

#: k (list length, neighbours).
K: List[Malformation] = [
    Malformation("k = 0", lambda v, _: 0, ERROR),
    Malformation("k = -1", lambda v, _: -1, ERROR),
    Malformation("k = 10**12", lambda v, _: 10**12, FINITE_OR_ERROR, pads=True),
    Malformation("k = 2.5", lambda v, _: 2.5, ERROR),
    Malformation("k = 2.0", lambda v, _: 2.0, ERROR),
    Malformation("k = True", lambda v, _: True, ERROR),
    Malformation("k = '3'", lambda v, _: "3", ERROR),
    Malformation("k = NaN", lambda v, _: float("nan"), ERROR),
    Malformation("k = numpy int", lambda v, _: np.int64(v), SAME),
]

#: A count or a size that must be >= 1 (n_items, n_folds, block sizes, synthetic sizes).
COUNT: List[Malformation] = [
    Malformation("0", lambda v, _: 0, ERROR),
    Malformation("-1", lambda v, _: -1, ERROR),
    Malformation("2.5", lambda v, _: 2.5, ERROR),
    Malformation("True", lambda v, _: True, ERROR),
    Malformation("'4'", lambda v, _: "4", ERROR),
    Malformation("10**15", lambda v, _: 10**15, FINITE_OR_ERROR),
    Malformation("numpy int", lambda v, _: np.int64(v), SAME),
]

N_THREADS: List[Malformation] = [
    Malformation("n_threads = 0", lambda v, _: 0, ERROR),
    Malformation("n_threads = -1", lambda v, _: -1, ERROR),
    Malformation("n_threads = 1.5", lambda v, _: 1.5, ERROR),
    Malformation("n_threads = True", lambda v, _: True, ERROR),
    Malformation("n_threads = '2'", lambda v, _: "2", ERROR),
    Malformation("n_threads = 10**6", lambda v, _: 10**6, FINITE_OR_ERROR),
    Malformation("n_threads = numpy 1", lambda v, _: np.int64(1), FINITE_OR_ERROR),
]

N_BLOCKS: List[Malformation] = [
    Malformation("n_blocks = 0", lambda v, _: 0, ERROR),
    Malformation("n_blocks = -1", lambda v, _: -1, ERROR),
    Malformation("n_blocks = 2.5", lambda v, _: 2.5, ERROR),
    Malformation("n_blocks = True", lambda v, _: True, ERROR),
    # Must be clamped (or refused) before anything of size n_blocks**2 is allocated.
    Malformation("n_blocks = 100_000", lambda v, _: 100_000, FINITE_OR_ERROR),
    Malformation("n_blocks = 10**12", lambda v, _: 10**12, FINITE_OR_ERROR),
]

#: A boolean mask over the stored entries.
MASK: List[Malformation] = [
    Malformation("one element short", lambda a, _: np.asarray(a)[:-1].copy(), ERROR),
    Malformation("integer 0/1", lambda a, _: np.asarray(a).astype(np.int64), ERROR),
    Malformation("float", lambda a, _: np.asarray(a).astype(np.float64), ERROR),
    Malformation("2-D", lambda a, _: np.asarray(a)[:, None].copy(), ERROR),
    Malformation("read-only", lambda a, _: _read_only(a), SAME),
    Malformation("non-contiguous", lambda a, _: _strided(a), SAME),
    Malformation("None", lambda a, _: None, ERROR),
]

#: A backend name.
BACKEND: List[Malformation] = [
    Malformation("backend = 'fortran'", lambda v, _: "fortran", ERROR),
    Malformation("backend = 3", lambda v, _: 3, ERROR),
    Malformation("backend = 'CYTHON'", lambda v, _: "CYTHON", FINITE_OR_ERROR),
]

#: A fraction in (0, 1).
FRACTION: List[Malformation] = [
    Malformation("0", lambda v, _: 0.0, ERROR),
    Malformation("1", lambda v, _: 1.0, ERROR),
    Malformation("-0.5", lambda v, _: -0.5, ERROR),
    Malformation("NaN", lambda v, _: float("nan"), ERROR),
    Malformation("'0.2'", lambda v, _: "0.2", ERROR),
    Malformation("True", lambda v, _: True, ERROR),
]

#: A non-negative finite number (a threshold, alpha, a weight).
NUMBER: List[Malformation] = [
    Malformation("NaN", lambda v, _: float("nan"), ERROR),
    Malformation("+inf", lambda v, _: float("inf"), ERROR),
    Malformation("a string", lambda v, _: "1", ERROR),
    Malformation("None", lambda v, _: None, ERROR),
    Malformation("complex", lambda v, _: 1 + 1j, ERROR),
]

#: Raw IDs that define an ID map (distinct values).
RAW_IDS: List[Malformation] = [
    Malformation("duplicate IDs", lambda a, _: np.r_[np.asarray(a), np.asarray(a)[:1]], ERROR),
    Malformation("NaN among IDs", lambda a, _: np.r_[np.asarray(a, dtype=np.float64), np.nan], ERROR),
    Malformation("2-D", lambda a, _: np.asarray(a)[:, None].copy(), ERROR),
    Malformation("read-only", lambda a, _: _read_only(a), SAME),
    Malformation("non-contiguous", lambda a, _: _strided(a), SAME),
    Malformation("big-endian", lambda a, _: _big_endian(a), SAME_OR_ERROR),
    Malformation("empty", lambda a, _: np.asarray(a)[:0].copy(), FINITE_OR_ERROR),
    Malformation("None", lambda a, _: None, ERROR),
]

#: A column of raw IDs per rating (from_arrays' users/items).
ID_COLUMN: List[Malformation] = [
    Malformation("one element short", lambda a, _: np.asarray(a)[:-1].copy(), ERROR),
    Malformation("2-D", lambda a, _: np.asarray(a)[:, None].copy(), ERROR),
    Malformation("NaN ID", lambda a, _: _set(np.asarray(a), 0, np.nan, np.float64), ERROR),
    Malformation("None inside", lambda a, _: _set(np.asarray(a).astype(object), 0, None), ERROR),
    Malformation("read-only", lambda a, _: _read_only(a), SAME),
    Malformation("non-contiguous", lambda a, _: _strided(a), SAME),
    Malformation("big-endian", lambda a, _: _big_endian(a), SAME_OR_ERROR),
    Malformation("uint64", lambda a, _: np.asarray(a).astype(np.uint64), SAME_OR_ERROR),
    Malformation("complex", lambda a, _: np.asarray(a).astype(np.complex128), ERROR),
    Malformation("None", lambda a, _: None, ERROR),
]


#: One raw ID (explain's user and item).
ID: List[Malformation] = [
    Malformation("unknown ID", lambda v, _: 10**6, ERROR, key_error=True),
    Malformation("negative ID", lambda v, _: -1, ERROR, key_error=True),
    Malformation("NaN ID", lambda v, _: float("nan"), ERROR, key_error=True),
    Malformation("fractional float ID", lambda v, _: v + 0.5, ERROR, key_error=True),
    Malformation("string ID", lambda v, _: "no such id", ERROR, key_error=True),
    Malformation("None", lambda v, _: None, ERROR, key_error=True),
    Malformation("numpy uint64 scalar", lambda v, _: np.uint64(v), SAME_OR_ERROR),
    Malformation("numpy int32 scalar", lambda v, _: np.int32(v), SAME),
    Malformation("array of two IDs", lambda v, _: np.array([v, v]), ERROR),
]

#: A flag: True, False (or None where documented).
FLAG: List[Malformation] = [
    Malformation("'yes'", lambda v, _: "yes", ERROR),
    Malformation("2", lambda v, _: 2, ERROR),
    Malformation("numpy bool", lambda v, _: np.bool_(v), SAME_OR_ERROR),
]

#: An IdMap argument.
ID_MAP: List[Malformation] = [
    Malformation("None", lambda v, _: None, ERROR),
    Malformation("a plain array of IDs", lambda v, _: np.asarray(v.raw_ids), FINITE_OR_ERROR),
    Malformation("a string", lambda v, _: "users", ERROR),
    Malformation("an empty IdMap", lambda v, _: type(v)(np.asarray(v.raw_ids)[:0]), FINITE_OR_ERROR, key_error=True),
]

#: kind -> its malformations. A registry role names one of these (``kind`` or ``kind:<bound>``).
CATALOGUE: Dict[str, List[Malformation]] = {
    "sparse": SPARSE, "dense": DENSE, "written": WRITTEN, "index": INDEX, "csr_pair": CSR_PAIR,
    "top_items": TOP_ITEMS, "ids": IDS, "history": HISTORY, "k": K, "count": COUNT, "n_threads": N_THREADS,
    "n_blocks": N_BLOCKS, "mask": MASK, "backend": BACKEND, "fraction": FRACTION, "number": NUMBER,
    "raw_ids": RAW_IDS, "id_column": ID_COLUMN, "id": ID, "flag": FLAG, "id_map": ID_MAP,
}


def malformations(kind: str) -> List[Malformation]:
    return CATALOGUE[kind.partition(":")[0]]


def n_malformations() -> int:
    return sum(len(v) for v in CATALOGUE.values())
