"""Backend selection: explicit argument, FASTCF_BACKEND, auto with a fallback warning."""

import importlib
import os
import re
import sys
import warnings

import numpy as np
import pytest

from fastcf.kernels import _backend, select_topk


@pytest.fixture
def fresh_backend_state(monkeypatch):
    """Forget cached imports and warnings, and restore them afterwards."""
    monkeypatch.setattr(_backend, "_loaded", {})
    monkeypatch.setattr(_backend, "_warned", set())
    monkeypatch.delenv("FASTCF_BACKEND", raising=False)


def break_twin(monkeypatch, backend, message="simulated broken build"):
    """Make one twin of topk fail to import, as a missing compiled module would."""
    module = f"fastcf.kernels.topk.{_backend._TWIN_MODULE[backend]}"
    monkeypatch.setitem(sys.modules, module, None)  # import of a None entry raises ImportError


def test_explicit_backend_runs_that_twin(fresh_backend_state):
    for backend in ("reference", "numba", "cython"):
        module = _backend.twin("topk", backend)
        assert module.__name__.endswith(_backend._TWIN_MODULE[backend])


def test_environment_variable_names_the_backend(fresh_backend_state, monkeypatch):
    monkeypatch.setenv("FASTCF_BACKEND", "numba")
    assert _backend.twin("topk").__name__ == "fastcf.kernels.topk._numba"
    monkeypatch.setenv("FASTCF_BACKEND", " Reference ")
    assert _backend.twin("topk").__name__ == "fastcf.kernels.topk.reference"


def test_argument_wins_over_environment(fresh_backend_state, monkeypatch):
    monkeypatch.setenv("FASTCF_BACKEND", "numba")
    assert _backend.twin("topk", "reference").__name__ == "fastcf.kernels.topk.reference"


def test_auto_prefers_cython_without_warning(fresh_backend_state):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _backend.twin("topk", "auto").__name__ == "fastcf.kernels.topk._cython"


def test_auto_falls_back_with_one_warning_giving_the_reason(fresh_backend_state, monkeypatch):
    break_twin(monkeypatch, "cython")
    with pytest.warns(_backend.BackendFallbackWarning, match=r"numba twin because the cython twin does not import \((ModuleNotFound|Import)Error: import of fastcf.kernels.topk._cython"):
        assert _backend.twin("topk").__name__ == "fastcf.kernels.topk._numba"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        assert _backend.twin("topk").__name__ == "fastcf.kernels.topk._numba"


def test_auto_falls_back_to_reference_when_both_compiled_twins_are_missing(fresh_backend_state, monkeypatch):
    break_twin(monkeypatch, "cython")
    break_twin(monkeypatch, "numba")
    with pytest.warns(_backend.BackendFallbackWarning, match="cython twin.*numba twin"):
        items, _ = select_topk(np.array([[1.0, 3.0, 2.0]]), 2)
    np.testing.assert_array_equal(items, [[1, 2]])


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_named_backend_is_required(fresh_backend_state, monkeypatch, how):
    break_twin(monkeypatch, "cython")
    kwargs = {}
    if how == "argument":
        kwargs["backend"] = "cython"
    else:
        monkeypatch.setenv("FASTCF_BACKEND", "cython")
    with pytest.raises(ImportError, match=r"backend 'cython' was requested for kernel 'topk' but its twin does not import"):
        select_topk(np.ones((2, 3)), 1, **kwargs)


@pytest.mark.parametrize("bad", ["cuda", "Cython2", "", 3])
def test_unknown_backend_lists_the_valid_ones(fresh_backend_state, bad):
    with pytest.raises(ValueError, match=r"'backend' must be one of 'auto', 'cython', 'numba', 'reference'; got"):
        select_topk(np.ones((2, 3)), 1, backend=bad)


def test_unknown_backend_in_environment_names_the_variable(fresh_backend_state, monkeypatch):
    monkeypatch.setenv("FASTCF_BACKEND", "gpu")
    with pytest.raises(ValueError, match=r"environment variable FASTCF_BACKEND must be one of .*; got 'gpu'"):
        select_topk(np.ones((2, 3)), 1)


def test_empty_environment_variable_means_auto(fresh_backend_state, monkeypatch):
    monkeypatch.setenv("FASTCF_BACKEND", "")
    assert _backend.resolve_backend(None) == "auto"


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="unknown kernel 'nope'"):
        _backend.load_twin("nope", "reference")


@pytest.mark.skipif(
    os.environ.get("FASTCF_REQUIRE_OPENMP") != "1",
    reason="only where the build must have OpenMP (CI sets FASTCF_REQUIRE_OPENMP=1)",
)
def test_every_cython_twin_is_built_with_openmp():
    for kernel in _backend.KERNELS:
        module, reason = _backend.load_twin(kernel, "cython")
        assert module is not None, f"cython twin of {kernel} missing: {reason}"
        # > 0, not a minimum version: MSVC's /openmp reports OpenMP 2.0 (200203) and is fine.
        assert module.OPENMP_VERSION > 0, f"cython twin of {kernel} built without OpenMP"
        assert module.openmp_max_threads() >= 1


def test_show_versions_lists_every_twin(capsys):
    import fastcf

    fastcf.show_versions()
    out = capsys.readouterr().out
    for kernel in _backend.KERNELS:
        for backend in _backend.BACKENDS:
            # Whitespace between the columns: scripts/build_wheel.py parses them this way.
            assert re.search(rf"^\s+{kernel}\s+{backend}\s+ok", out, re.M), (kernel, backend)
    assert "numba threading layer:" in out
    assert "OpenMP on" in out or os.environ.get("FASTCF_NO_OPENMP") == "1"
