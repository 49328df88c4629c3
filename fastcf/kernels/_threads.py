"""Thread counts for kernel calls: resolve them, scope them, and keep BLAS out of the way.

Every kernel call runs inside :func:`kernel_threads`, which

* turns ``n_threads=None`` into fastcf's process-wide setting (``fastcf.set_num_threads``);
* limits the BLAS pools to one thread for the duration of the call, because a kernel that is
  already parallel over rows and calls BLAS per row would otherwise start threads x BLAS
  threads and thrash two cores. This holds in every Python thread, and overlapping calls from
  several threads put the user's setting back when the last one leaves (see "BLAS" below for
  why this is not threadpoolctl's limiter).

Numba twins also enter :func:`numba_threads`, which sets Numba's thread count and restores
the previous one in ``finally``.

Numba's default ``workqueue`` layer aborts the process when two Python threads enter a
parallel kernel at once, so fastcf asks for a thread-safe layer (TBB, else OpenMP). If the
user chose a layer with NUMBA_THREADING_LAYER, that choice stands. If no thread-safe layer
loads, fastcf serialises its own Numba calls with a lock instead of crashing.

After ``os.fork()`` from a process whose kernels have run, GNU OpenMP's thread pool does not
exist in the child (a parallel region there hangs, and Numba's OpenMP layer terminates the
process). So in such a child every kernel runs on one thread (the Cython twins and the
reference are then safe), and a Numba call whose OpenMP layer was started before the fork
raises RuntimeError saying so instead of killing the process. For parallel workers, start
them with multiprocessing's "spawn" or "forkserver" method.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator, Optional

from fastcf import config
from fastcf._validation import check_n_threads
from fastcf.kernels import _numba_cache

__all__ = ["kernel_threads", "numba_threads", "numba_threading_layer", "resolve_n_threads", "single_threaded_blas"]


#: A kernel call has started threads in this process (so a fork now inherits dead pools).
_threads_started = False
#: This process was forked from one where _threads_started was True: kernels run on one thread.
_forked_after_threads = False


def _after_fork_in_child() -> None:
    global _forked_after_threads
    _forked_after_threads = _forked_after_threads or _threads_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def resolve_n_threads(n_threads: Optional[int], owner: str, n_tasks: Optional[int] = None) -> int:
    """The thread count a kernel call uses: ``n_threads`` if given, else fastcf's setting.

    Capped at the usable cores (more threads only contend for them, and each may hold
    per-thread scratch) and at ``n_tasks``, the number of parallel work items, when given.
    """
    if n_threads is None:
        n = config.get_num_threads()
    else:
        n = check_n_threads(n_threads, "n_threads", owner)
    n = min(n, config.usable_cores())
    if n_tasks is not None:
        n = min(n, max(int(n_tasks), 1))
    if _forked_after_threads:  # see the module docstring
        return 1
    return n


# --- BLAS -----------------------------------------------------------------------------------

_controller = None
_modules_at_controller = -1
_controller_lock = threading.Lock()


def _blas_controller_unlocked():
    """A threadpoolctl controller (about 1 ms to build), rebuilt only after new imports.

    A BLAS library arrives only with an import (scipy brings a second OpenBLAS beside
    numpy's), so a stable module count means the cached controller still sees every pool.
    Call with _controller_lock held.
    """
    global _controller, _modules_at_controller
    import threadpoolctl

    if _controller is None or len(sys.modules) != _modules_at_controller:
        _controller = threadpoolctl.ThreadpoolController()
        _modules_at_controller = len(sys.modules)
    return _controller


def thread_pools() -> list:
    """threadpoolctl's description of every BLAS / OpenMP pool loaded in this process."""
    import threadpoolctl

    return threadpoolctl.threadpool_info()


# Why not threadpoolctl's limiter: OpenBLAS built on pthreads (numpy's and scipy's wheels) has
# one thread count for the whole process, and since threadpoolctl 3.8 only one Python thread,
# the first to set it, may change it until that thread's last ``with`` block exits. A limit
# entered from a worker thread while another thread holds control is silently dropped, and
# a limit restored from another thread than the one that set it is dropped too. So fastcf
# sets the pools itself, counting its calls across all threads: the first call to enter
# limits the process-wide pools and the last to leave restores them. Pools whose limit is
# per thread (MKL, OpenBLAS on OpenMP) are limited in each calling thread and restored there.
# Releasing threadpoolctl's control (force=True) also takes it from a user's own
# threadpool_limits block in another thread; that block's restore still works (it retakes it).

_blas_users = 0  # kernel calls now inside kernel_threads, across all Python threads
_shared_saved: dict = {}  # filepath -> (pool, its thread count before the first call entered)
_per_thread = threading.local()  # .depth and .saved, for pools whose limit is per thread


def _limit_is_per_thread(pool) -> bool:
    # threadpoolctl sets MKL with MKL_Set_Num_Threads_Local, and OpenBLAS on OpenMP with
    # omp_set_num_threads: both hold only for the calling thread.
    api = getattr(pool, "internal_api", None)
    return api == "mkl" or (api == "openblas" and getattr(pool, "threading_layer", None) == "openmp")


def _set_pool_threads(pool, n: int) -> None:
    """Set one pool's thread count from whichever Python thread calls, bypassing threadpoolctl's
    controlling-thread rule (which exists only in threadpoolctl >= 3.8)."""
    release = getattr(type(pool), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    pool.set_num_threads(n)
    if pool.num_threads != n and hasattr(pool, "_real_set_num_threads"):
        pool._real_set_num_threads(n)  # another thread took control between the release and the set
    if release is not None:
        release(force=True)  # so that no Python thread is locked out afterwards, the user's included


def _limit_pools(pools, saved: dict) -> None:
    for pool in pools:
        if pool.filepath not in saved:
            saved[pool.filepath] = (pool, pool.num_threads)
            _set_pool_threads(pool, 1)


def _restore_pools(saved: dict) -> None:
    for pool, original in saved.values():
        # A pool that no longer reads fastcf's 1 was set by the user during the call: that stands.
        if original is not None and pool.num_threads == 1:
            _set_pool_threads(pool, original)
    saved.clear()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS pools at one thread while any kernel call runs in any Python thread; restored in finally.

    Models enter it around their own NumPy products too (scoring blocks): OpenBLAS's float64
    ``gemm`` gives other bits at 2 threads than at 1, so scores would otherwise depend on
    whether another Python thread happened to be inside a kernel at the time.
    """
    global _blas_users
    with _controller_lock:
        pools = [pool for pool in _blas_controller_unlocked().lib_controllers if pool.user_api == "blas"]
        # Every entry checks, not only the first: a pool loaded while calls overlap is limited too.
        _limit_pools([pool for pool in pools if not _limit_is_per_thread(pool)], _shared_saved)
        _blas_users += 1
    depth = getattr(_per_thread, "depth", 0)
    if depth == 0:
        _per_thread.saved = {}
    _limit_pools([pool for pool in pools if _limit_is_per_thread(pool)], _per_thread.saved)
    _per_thread.depth = depth + 1
    try:
        yield
    finally:
        _per_thread.depth -= 1
        if _per_thread.depth == 0:
            _restore_pools(_per_thread.saved)
        with _controller_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _restore_pools(_shared_saved)


@contextlib.contextmanager
def kernel_threads(n_threads: Optional[int], owner: str, n_tasks: Optional[int] = None,
                   blas: bool = True) -> Iterator[int]:
    """Scope of one kernel call: yields the thread count; BLAS pools run single-threaded inside.

    ``blas=False``: the call is known to make no BLAS call (a single-user top-k), so the pools
    are left alone; setting and restoring them costs more than such a call.
    """
    global _threads_started
    n = resolve_n_threads(n_threads, owner, n_tasks)
    _threads_started = True
    if not blas:
        yield n
        return
    with single_threaded_blas():
        yield n


# --- Numba ----------------------------------------------------------------------------------

_SAFE_LAYERS = ("tbb", "omp")
_serialise_numba: Optional[threading.Lock] = None
_numba_configured = False
_configure_lock = threading.Lock()


def configure_numba() -> None:
    """Make fastcf's Numba calls safe from several Python threads. Idempotent.

    Before any parallel launch, fastcf asks for a thread-safe layer (TBB, else OpenMP)
    unless NUMBA_THREADING_LAYER names one. Whenever the layer in force is, or may be,
    ``workqueue`` (none of the safe layers loads, the user chose it, or the user's own code
    launched it before fastcf), fastcf's Numba calls are serialised by a lock instead.
    """
    global _numba_configured, _serialise_numba
    if _numba_configured:
        return
    import numba

    with _configure_lock:  # two threads configuring at once must agree on one lock
        if _numba_configured:
            return
        safe_available = any(_numba_layer_loads(layer) for layer in _SAFE_LAYERS)
        try:
            active = numba.threading_layer()  # raises ValueError before the first launch
        except ValueError:
            active = None
        requested = os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower()
        if active is not None:
            unsafe = active == "workqueue"
        elif not requested:
            choice = "threadsafe" if safe_available else "workqueue"
            # Numba re-reads its configuration from the environment when it compiles, so
            # the choice must live there too, or a compile before the first launch undoes it.
            os.environ["NUMBA_THREADING_LAYER"] = choice
            numba.config.THREADING_LAYER = choice
            unsafe = not safe_available
        else:
            unsafe = requested not in ("tbb", "omp", "safe", "threadsafe") or not safe_available
        if unsafe:
            _serialise_numba = threading.Lock()
        _numba_cache.install_compile_log()
        _numba_configured = True


def _numba_layer_loads(layer: str) -> bool:
    try:
        if layer == "tbb":
            from numba.np.ufunc import tbbpool  # noqa: F401
        else:
            from numba.np.ufunc import omppool  # noqa: F401
    except Exception:  # ImportError, or an OSError from a missing shared library
        return False
    return True


@contextlib.contextmanager
def numba_threads(n_threads: int) -> Iterator[None]:
    """Run Numba's parallel regions with ``n_threads`` threads, restoring the previous count."""
    import numba

    configure_numba()
    if _forked_after_threads and _numba_layer_started() == "omp":
        raise RuntimeError(
            "fastcf: the Numba twins cannot run in a process forked after Numba's OpenMP threading "
            "layer started (GNU OpenMP is not fork-safe; Numba would terminate the process). In this "
            "child use backend='cython' or 'reference' (they run on one thread here), or start "
            "workers with multiprocessing's 'spawn' or 'forkserver' method."
        )
    n = min(n_threads, numba.config.NUMBA_NUM_THREADS)
    lock = _serialise_numba or contextlib.nullcontext()
    with lock:
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            yield
        finally:
            numba.set_num_threads(previous)


def _numba_layer_started() -> Optional[str]:
    """The Numba threading layer already launched in this process (or its parent), else None."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


def numba_threading_layer() -> str:
    """The layer Numba uses (or will use) for parallel kernels in this process."""
    try:
        import numba
    except Exception as exc:
        return f"numba not importable ({type(exc).__name__}: {exc})"
    configure_numba()
    try:
        active = numba.threading_layer()
        return f"{active} (active)"
    except ValueError:  # no parallel kernel has run yet
        loads = [layer for layer in _SAFE_LAYERS if _numba_layer_loads(layer)]
        chosen = numba.config.THREADING_LAYER
        if chosen in ("threadsafe", "safe", "default") and loads:
            chosen = loads[0] if chosen != "safe" else "tbb"
        return f"{chosen} (not started yet; thread-safe layers that load: {', '.join(loads) or 'none'})"
