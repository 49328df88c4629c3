"""One thread knob for all of fastcf, scoped settings restored in finally, BLAS kept single-threaded."""

import os

import numba
import numpy as np
import pytest
import threadpoolctl

import fastcf
from fastcf import config
from fastcf.kernels import _threads, select_topk


def test_default_is_usable_cores(monkeypatch):
    monkeypatch.setattr(config, "_num_threads", None)
    assert fastcf.get_num_threads() == config.usable_cores() >= 1


def test_set_num_threads_sets_and_the_with_block_restores():
    before = fastcf.get_num_threads()
    with fastcf.set_num_threads(1):
        assert fastcf.get_num_threads() == 1
        with fastcf.set_num_threads(3):
            assert fastcf.get_num_threads() == 3
        assert fastcf.get_num_threads() == 1
    assert fastcf.get_num_threads() == before


def test_with_block_restores_after_an_exception():
    before = fastcf.get_num_threads()
    with pytest.raises(RuntimeError):
        with fastcf.set_num_threads(1):
            raise RuntimeError("boom")
    assert fastcf.get_num_threads() == before


def test_set_num_threads_without_with_persists(monkeypatch):
    monkeypatch.setattr(config, "_num_threads", None)
    fastcf.set_num_threads(1)
    assert fastcf.get_num_threads() == 1
    fastcf.set_num_threads(None)
    assert fastcf.get_num_threads() == config.usable_cores()


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), ("2", TypeError), (True, TypeError)])
def test_bad_thread_counts_are_refused(bad, error):
    with pytest.raises(error, match=r"set_num_threads: 'n' must be an int >= 1 or None"):
        fastcf.set_num_threads(bad)


@pytest.mark.parametrize("raw, expected", [("3", 3), (" 1 ", 1), ("", None)])
def test_environment_variable_sets_the_default(monkeypatch, raw, expected):
    monkeypatch.setenv("FASTCF_NUM_THREADS", raw)
    assert config._threads_from_environment() == expected


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_bad_environment_variable_is_named(monkeypatch, raw):
    monkeypatch.setenv("FASTCF_NUM_THREADS", raw)
    with pytest.raises(ValueError, match="FASTCF_NUM_THREADS"):
        config._threads_from_environment()


def test_kernel_call_uses_the_knob_when_n_threads_is_none():
    with fastcf.set_num_threads(1):
        assert _threads.resolve_n_threads(None, "k") == 1
    assert _threads.resolve_n_threads(2, "k") == 2


def test_numba_thread_count_is_restored_even_when_the_kernel_raises():
    previous = numba.get_num_threads()
    scores = np.ones((4, 4))
    scores[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        select_topk(scores, 2, backend="numba", n_threads=1)
    assert numba.get_num_threads() == previous


def test_blas_runs_single_threaded_inside_a_kernel_and_is_restored_after():
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS too)

    def blas_threads():
        return {p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}

    before = blas_threads()
    assert before, "no BLAS pool found"
    with _threads.kernel_threads(None, "test"):
        assert set(blas_threads().values()) == {1}
    assert blas_threads() == before


@pytest.mark.skipif("NUMBA_THREADING_LAYER" in os.environ, reason="the user chose Numba's layer")
def test_numba_uses_a_thread_safe_threading_layer():
    select_topk(np.ones((3, 3)), 1, backend="numba")
    layer = _threads.numba_threading_layer()
    assert layer.split()[0] in ("tbb", "omp"), layer
