"""Thread counts for kernel calls: resolve them, scope them, and keep BLAS out of the way.

Every kernel call runs inside :func:`kernel_threads`, which

* turns ``n_threads=None`` into fastcf's process-wide setting (``fastcf.set_num_threads``);
* limits the BLAS pools to one thread for the duration of the call, because a kernel that is
  already parallel over rows and calls BLAS per row would otherwise start threads x BLAS
  threads and thrash two cores.

Numba twins also enter :func:`numba_threads`, which sets Numba's thread count and restores
the previous one in ``finally``.

Numba's default ``workqueue`` layer aborts the process when two Python threads enter a
parallel kernel at once, so fastcf asks for a thread-safe layer (TBB, else OpenMP). If the
user chose a layer with NUMBA_THREADING_LAYER, that choice stands. If no thread-safe layer
loads, fastcf serialises its own Numba calls with a lock instead of crashing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator, Optional

from fastcf import config

__all__ = ["kernel_threads", "numba_threads", "numba_threading_layer", "resolve_n_threads"]


def resolve_n_threads(n_threads: Optional[int], owner: str) -> int:
    """The thread count a kernel call uses: ``n_threads`` if given, else fastcf's setting."""
    if n_threads is None:
        return config.get_num_threads()
    return config.check_n_threads(n_threads, "n_threads", owner)


# --- BLAS -----------------------------------------------------------------------------------

_controller = None
_modules_at_controller = -1
_controller_lock = threading.Lock()


def _blas_controller():
    """A threadpoolctl controller (about 1 ms to build), rebuilt only after new imports.

    A BLAS library arrives only with an import (scipy brings a second OpenBLAS beside
    numpy's), so a stable module count means the cached controller still sees every pool.
    """
    global _controller, _modules_at_controller
    import threadpoolctl

    with _controller_lock:
        if _controller is None or len(sys.modules) != _modules_at_controller:
            _controller = threadpoolctl.ThreadpoolController()
            _modules_at_controller = len(sys.modules)
        return _controller


def thread_pools() -> list:
    """threadpoolctl's description of every BLAS / OpenMP pool loaded in this process."""
    import threadpoolctl

    return threadpoolctl.threadpool_info()


@contextlib.contextmanager
def kernel_threads(n_threads: Optional[int], owner: str) -> Iterator[int]:
    """Scope of one kernel call: yields the thread count; BLAS pools run single-threaded inside."""
    n = resolve_n_threads(n_threads, owner)
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield n


# --- Numba ----------------------------------------------------------------------------------

_SAFE_LAYERS = ("tbb", "omp")
_serialise_numba: Optional[threading.Lock] = None
_numba_configured = False


def configure_numba() -> None:
    """Choose a thread-safe Numba threading layer. Call before the first parallel launch."""
    global _numba_configured, _serialise_numba
    if _numba_configured:
        return
    import numba

    if not os.environ.get("NUMBA_THREADING_LAYER"):
        available = [layer for layer in _SAFE_LAYERS if _numba_layer_loads(layer)]
        if available:
            numba.config.THREADING_LAYER = "threadsafe"
        else:
            numba.config.THREADING_LAYER = "workqueue"
            _serialise_numba = threading.Lock()
    elif os.environ["NUMBA_THREADING_LAYER"].strip().lower() == "workqueue":
        _serialise_numba = threading.Lock()
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
    n = min(n_threads, numba.config.NUMBA_NUM_THREADS)
    lock = _serialise_numba or contextlib.nullcontext()
    with lock:
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            yield
        finally:
            numba.set_num_threads(previous)


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
        return f"{chosen} (not yet started; thread-safe layers available: {', '.join(loads) or 'none'})"
