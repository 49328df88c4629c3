"""Every public kernel function against every kind of bad or unusual input (issue 11, list 1).

Each call in ``KERNEL_CALLS`` (conftest.py) is run as built, then with one argument changed:
non-finite values, malformed CSR structures, out-of-range indices, other index and float
dtypes, other memory layouts (read-only, strided, Fortran, big-endian) and bad scalars. The
outcome must be the baseline's result bit for bit, or a TypeError/ValueError naming the
argument; never a crash, garbage or a changed input.
"""

import numpy as np
import pytest


def _same(a, b):
    """Exact equality of kernel outcomes (nested tuples, dicts, arrays, floats; NaN == NaN)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _baseline(kernel_call):
    return kernel_call.run(kernel_call.build())


def _expect_named_error(kernel_call, kwargs, *names):
    """A TypeError or ValueError that names one of ``names``."""
    with pytest.raises((TypeError, ValueError)) as caught:
        kernel_call.run(kwargs)
    assert any(name in str(caught.value) for name in names), f"the error should name {names}: {caught.value}"


def _index_names(kernel_call):
    names = [n for pair in kernel_call.csr for n in pair[:2]] + [n for n, _ in kernel_call.indices]
    return [n for n in names if n != "users" or "top_items" not in kernel_call.build()]


def test_a_valid_call_runs_and_changes_only_what_it_writes(kernel_call):
    kwargs = kernel_call.build()
    before = {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray) and k not in kernel_call.written}
    kernel_call.run(kwargs)
    for name, value in before.items():
        assert np.array_equal(kwargs[name], value, equal_nan=True), f"{name} was modified"


@pytest.mark.kernel_role("floats")
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_floats_are_refused_by_name_or_documented_as_ordinary(kernel_call, value):
    for name in kernel_call.floats:
        kwargs = kernel_call.build()
        arr = kwargs[name]
        arr.flat[arr.size // 2] = value
        if name in kernel_call.inf_ok and not np.isnan(value):
            kernel_call.run(kwargs)  # documented: +-inf is an ordinary (highest or lowest) score
        else:
            _expect_named_error(kernel_call, kwargs, name)


DEFECTS = {
    "index equal to the column count": lambda indptr, indices, n_cols: indices.__setitem__(0, n_cols),
    "negative index": lambda indptr, indices, n_cols: indices.__setitem__(-1, -1),
    "huge index": lambda indptr, indices, n_cols: indices.__setitem__(1, 2**40),
    "falling indptr": lambda indptr, indices, n_cols: indptr.__setitem__(1, indptr[-1] + 3),
    "indptr not starting at 0": lambda indptr, indices, n_cols: indptr.__setitem__(0, 1),
    "indptr ending short": lambda indptr, indices, n_cols: indptr.__setitem__(-1, indptr[-1] - 1),
}


@pytest.mark.kernel_role("csr")
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_malformed_csr_is_refused_naming_the_array(kernel_call, defect):
    for indptr_name, indices_name, n_cols in kernel_call.csr:
        kwargs = kernel_call.build()
        DEFECTS[defect](kwargs[indptr_name], kwargs[indices_name], n_cols)
        with pytest.raises(ValueError) as caught:
            kernel_call.run(kwargs)
        assert indptr_name in str(caught.value) or indices_name in str(caught.value), caught.value


@pytest.mark.kernel_role("csr")
def test_indptr_of_the_wrong_length_is_refused(kernel_call):
    for indptr_name, _, _ in kernel_call.csr:
        kwargs = kernel_call.build()
        kwargs[indptr_name] = kwargs[indptr_name][:-1]
        # Where the CSR alone defines the row count, the rows named then fall outside it.
        _expect_named_error(kernel_call, kwargs, indptr_name, "users")


@pytest.mark.kernel_role("indices")
@pytest.mark.parametrize("where", ["bound", -1, 2**62])
def test_index_arrays_out_of_range_are_refused(kernel_call, where):
    for name, bound in kernel_call.indices:
        kwargs = kernel_call.build()
        kwargs[name] = kwargs[name].copy()
        kwargs[name][0] = bound if where == "bound" else where
        _expect_named_error(kernel_call, kwargs, name)


INDEX_VARIANTS = {
    "int32": lambda a: a.astype(np.int32),
    "uint32": lambda a: a.astype(np.uint32),
    "int16": lambda a: a.astype(np.int16),
    "big-endian int64": lambda a: a.astype(">i8"),
    "read-only": lambda a: _read_only(a),
    "strided": lambda a: np.repeat(a, 2)[::2],
    "list": lambda a: a.tolist(),
}


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.kernel_role("index_arrays")
@pytest.mark.parametrize("variant", list(INDEX_VARIANTS))
def test_index_dtypes_and_layouts_give_the_same_result(kernel_call, variant):
    baseline = _baseline(kernel_call)
    kwargs = kernel_call.build()
    for name in _index_names(kernel_call):
        kwargs[name] = INDEX_VARIANTS[variant](kwargs[name])
    assert _same(kernel_call.run(kwargs), baseline)


@pytest.mark.kernel_role("index_arrays")
def test_mixed_index_dtypes_give_the_same_result(kernel_call):
    baseline = _baseline(kernel_call)
    kwargs = kernel_call.build()
    for position, name in enumerate(_index_names(kernel_call)):
        kwargs[name] = kwargs[name].astype(np.int32 if position % 2 else np.int64)
    assert _same(kernel_call.run(kwargs), baseline)


@pytest.mark.kernel_role("index_arrays")
@pytest.mark.parametrize("dtype", [np.float64, bool, "<U3"])
def test_non_integer_index_arrays_are_refused(kernel_call, dtype):
    names = _index_names(kernel_call)
    kwargs = kernel_call.build()
    kwargs[names[0]] = kwargs[names[0]].astype(dtype)
    _expect_named_error(kernel_call, kwargs, names[0])


FLOAT_LAYOUTS = {
    "read-only": _read_only,
    "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "Fortran order": lambda a: np.asfortranarray(a),
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}


@pytest.mark.kernel_role("floats")
@pytest.mark.parametrize("layout", list(FLOAT_LAYOUTS))
def test_float_inputs_in_any_layout_give_the_same_result(kernel_call, layout):
    baseline = _baseline(kernel_call)
    kwargs = kernel_call.build()
    for name in kernel_call.floats:
        kwargs[name] = FLOAT_LAYOUTS[layout](kwargs[name])
    assert _same(kernel_call.run(kwargs), baseline)


@pytest.mark.kernel_role("floats")
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int64, np.bool_, np.complex128, object, "<U4"])
def test_float_inputs_of_other_dtypes_are_converted_or_refused_by_name(kernel_call, dtype):
    for name in kernel_call.floats:
        kwargs = kernel_call.build()
        with np.errstate(invalid="ignore"):  # inf has no integer value; that case is covered above
            kwargs[name] = kwargs[name].astype(dtype)
        try:
            result, written = kernel_call.run(kwargs)
        except (TypeError, ValueError) as exc:
            assert name in str(exc), f"the error should name {name!r}: {exc}"
            continue
        # Accepted: only real dtypes may be (complex would lose its imaginary part, object
        # and strings would be guessed at), and what is written stays finite.
        assert np.dtype(dtype).kind in "biuf", f"{name} of dtype {np.dtype(dtype)} was accepted"
        for array in written.values():
            assert np.isfinite(array).all()


WRITTEN_DEFECTS = {
    "read-only": _read_only,
    "strided": lambda a: np.repeat(a, 2, axis=0)[::2],
    "Fortran order": lambda a: np.asfortranarray(a) if a.ndim == 2 and a.shape[1] > 1 else None,
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "float16": lambda a: a.astype(np.float16),
    "list": lambda a: a.tolist(),
}


@pytest.mark.kernel_role("written")
@pytest.mark.parametrize("defect", list(WRITTEN_DEFECTS))
def test_arrays_written_in_place_must_be_usable_as_they_are(kernel_call, defect):
    for name in kernel_call.written:
        kwargs = kernel_call.build()
        changed = WRITTEN_DEFECTS[defect](kwargs[name])
        if changed is None:
            continue
        kwargs[name] = changed
        _expect_named_error(kernel_call, kwargs, name)


def test_bad_scalars_are_refused_by_name(kernel_call):
    assert kernel_call.bad_scalars, "list the kernel's scalar arguments with bad values"
    for name, value in kernel_call.bad_scalars:
        kwargs = kernel_call.build()
        kwargs[name] = value
        _expect_named_error(kernel_call, kwargs, name)
