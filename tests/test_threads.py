"""One thread knob for all of fastcf, scoped settings restored in finally, BLAS kept single-threaded."""

import contextlib
import os
import threading

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
    _threads.configure_numba()  # before Numba's first launch, which get_num_threads is
    previous = numba.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with _threads.numba_threads(1):
            assert numba.get_num_threads() == 1
            raise RuntimeError("raised inside the parallel scope")
    assert numba.get_num_threads() == previous


def test_thread_counts_are_capped_at_cores_and_work_items():
    cores = config.usable_cores()
    assert _threads.resolve_n_threads(10_000, "k") == cores
    assert _threads.resolve_n_threads(None, "k", n_tasks=1) == 1
    assert _threads.resolve_n_threads(2, "k", n_tasks=0) == 1


def test_huge_n_threads_does_not_crash_the_cython_twin():
    items, _ = select_topk(np.ones((2, 3)), 1, backend="cython", n_threads=100_000)
    np.testing.assert_array_equal(items, [[0], [0]])


def test_scoped_settings_in_concurrent_threads_do_not_leak():
    before = fastcf.get_num_threads()
    barrier = threading.Barrier(2)
    seen = {}

    def work(n):
        with fastcf.set_num_threads(n):
            barrier.wait()  # both blocks are open at once
            seen[n] = fastcf.get_num_threads()
            barrier.wait()

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {1: 1, 3: 3}
    assert fastcf.get_num_threads() == before


def _blas_threads():
    return {p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


def test_blas_runs_single_threaded_inside_a_kernel_and_is_restored_after():
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS too)

    before = _blas_threads()
    assert before, "no BLAS pool found"
    with _threads.kernel_threads(None, "test"):
        assert set(_blas_threads().values()) == {1}
    assert _blas_threads() == before


def test_overlapping_kernel_calls_restore_blas_when_the_last_one_leaves():
    before = _blas_threads()
    first = _threads.kernel_threads(None, "first")
    second = _threads.kernel_threads(None, "second")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first out is not the last: BLAS stays at 1
    assert set(_blas_threads().values()) == {1}
    second.__exit__(None, None, None)
    assert _blas_threads() == before


def test_many_threads_calling_kernels_leave_blas_as_it_was():
    before = _blas_threads()
    scores = np.random.default_rng(0).random((64, 500))

    def work():
        for _ in range(50):
            select_topk(scores, 5, backend="cython")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _blas_threads() == before


def _in_a_worker_thread(function):
    """function()'s result, computed in a fresh threading.Thread (its exception re-raised here)."""
    outcome = {}

    def run():
        try:
            outcome["result"] = function()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the calling thread)
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@contextlib.contextmanager
def _a_kernel_call_in_another_thread():
    """Inside the block, another Python thread is inside a kernel scope; it leaves when the block does."""
    inside, release = threading.Event(), threading.Event()

    def kernel_in_progress():
        with _threads.kernel_threads(None, "other"):
            inside.set()
            release.wait()

    other = threading.Thread(target=kernel_in_progress)
    other.start()
    inside.wait()
    try:
        yield
    finally:
        release.set()
        other.join()


def _small_ratings():
    import scipy.sparse as sp

    matrix = sp.random(400, 300, density=0.03, random_state=3, format="csr")
    matrix.data = np.ceil(matrix.data * 5)
    return matrix


def _fit_factors(model_class, **params):
    model = model_class(**params).fit(_small_ratings())
    return model.user_factors_, model.item_factors_


@pytest.mark.parametrize("model_name, params", [
    ("ImplicitALS", dict(factors=32, iterations=5, random_state=0)),
    ("BiasedMF", dict(factors=16, epochs=5, random_state=0)),
])
def test_a_fit_in_a_worker_thread_gives_the_main_threads_bits(model_name, params):
    from fastcf import models

    model_class = getattr(models, model_name)
    in_main = _fit_factors(model_class, **params)  # the main thread fits first, as in the issue
    in_worker = _in_a_worker_thread(lambda: _fit_factors(model_class, **params))
    for main_factors, worker_factors in zip(in_main, in_worker):
        np.testing.assert_array_equal(worker_factors, main_factors)


def test_blas_reads_one_inside_a_kernel_called_from_a_worker_thread(monkeypatch):
    from fastcf.kernels import _backend
    from fastcf.models import ImplicitALS

    ImplicitALS(factors=4, iterations=1, random_state=0).fit(_small_ratings())  # main thread takes BLAS first
    twin = _backend.twin("als")
    kernel = twin.als_half_step
    seen = []

    def observing_kernel(*args):
        seen.append(set(_blas_threads().values()))
        return kernel(*args)

    monkeypatch.setattr(twin, "als_half_step", observing_kernel)
    _in_a_worker_thread(lambda: ImplicitALS(factors=4, iterations=2, random_state=0).fit(_small_ratings()))
    assert seen and all(counts == {1} for counts in seen), seen


def test_concurrent_calls_from_two_threads_restore_the_users_blas_setting():
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS too)

    # The user's own limit, held by the main thread in threadpoolctl's way; 3 is neither
    # fastcf's 1 nor this machine's default, so a lost restore shows.
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):
        users_setting = _blas_threads()
        # the main thread enters first, the other thread leaves last
        main_call = _threads.kernel_threads(None, "main")
        main_call.__enter__()
        with _a_kernel_call_in_another_thread():
            main_call.__exit__(None, None, None)
            assert set(_blas_threads().values()) == {1}  # the other call still runs
        assert _blas_threads() == users_setting
        # the other thread enters first, the main thread leaves last
        main_call = _threads.kernel_threads(None, "main")
        with _a_kernel_call_in_another_thread():
            main_call.__enter__()
        assert set(_blas_threads().values()) == {1}  # the main thread's call still runs
        main_call.__exit__(None, None, None)
        assert _blas_threads() == users_setting
    assert set(_blas_threads().values()) != {3}  # and the user's own limit was restored on exit



class _PerThreadPool:
    """A stand-in for an MKL pool: its thread count, like MKL_Set_Num_Threads_Local's, is per thread."""

    user_api, internal_api, filepath = "blas", "mkl", "fake-mkl"

    def __init__(self):
        self._local = threading.local()

    @property
    def num_threads(self):
        return getattr(self._local, "n", 4)

    def set_num_threads(self, n):
        self._local.n = n


def test_per_thread_pools_are_limited_in_every_calling_thread(monkeypatch):
    pool = _PerThreadPool()
    monkeypatch.setattr(_threads, "_blas_controller_unlocked", lambda: type("C", (), {"lib_controllers": [pool]}))

    def inside_a_kernel():
        with _threads.kernel_threads(None, "probe"):
            return pool.num_threads

    with _a_kernel_call_in_another_thread():  # the other thread entered first
        assert inside_a_kernel() == 1
        assert _in_a_worker_thread(inside_a_kernel) == 1
    assert pool.num_threads == 4


def test_a_blas_setting_changed_during_the_call_is_not_overwritten():
    before = _blas_threads()
    with _threads.kernel_threads(None, "probe"):
        threadpoolctl.threadpool_limits(limits=3, user_api="blas")  # the user's, during the call
    try:
        assert set(_blas_threads().values()) == {3}
    finally:
        threadpoolctl.threadpool_limits(limits=before)
        from threadpoolctl import OpenBLASController

        OpenBLASController.clear_controlling_thread(force=True)


def test_scores_do_not_depend_on_a_kernel_running_in_another_thread():
    from fastcf.models import ImplicitALS

    # float64 at this shape: OpenBLAS's gemm gives other bits at 2 threads than at 1.
    rng = np.random.default_rng(1)
    model = ImplicitALS(factors=64, iterations=1, dtype=np.float64, random_state=0).fit(_small_ratings())
    model.user_factors_ = rng.standard_normal((model.n_users, 64))
    model.item_factors_ = rng.standard_normal((model.n_items, 64))
    users, items = np.arange(model.n_users), np.arange(model.n_items)
    alone = model._score(users, items)  # the scoring hook that evaluation's per-block path calls
    with _a_kernel_call_in_another_thread():
        beside_a_kernel = _in_a_worker_thread(lambda: model._score(users, items))
    np.testing.assert_array_equal(beside_a_kernel, alone)


@pytest.mark.skipif("NUMBA_THREADING_LAYER" in os.environ, reason="the user chose Numba's layer")
def test_numba_uses_a_thread_safe_threading_layer():
    select_topk(np.ones((3, 3)), 1, backend="numba")
    assert numba.config.THREADING_LAYER == "threadsafe"  # what fastcf asked for
    layer = _threads.numba_threading_layer()
    assert layer.split()[0] in ("tbb", "omp"), layer
    assert _threads._serialise_numba is None  # a safe layer needs no lock


WORKQUEUE_PROBE = """
import threading, numba, numpy as np
from numba import njit, prange

@njit(parallel=True)
def user_kernel(x):
    total = 0.0
    for i in prange(x.shape[0]):
        total += x[i]
    return total

user_kernel(np.ones(10))  # the user's own code starts the workqueue layer first
from fastcf.kernels import _threads, select_topk
scores = np.random.default_rng(0).random((200, 300))
errors = []
def work():
    try:
        for _ in range(20):
            select_topk(scores, 5, backend="numba", n_threads=2)
    except Exception as exc:
        errors.append(exc)
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print(numba.threading_layer(), _threads._serialise_numba is not None, errors)
"""


def test_workqueue_started_by_user_code_is_serialised_not_aborted():
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", WORKQUEUE_PROBE], capture_output=True, text=True, env=env,
                          cwd="/", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["workqueue", "True", "[]"], done.stdout
