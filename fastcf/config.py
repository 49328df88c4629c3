"""Process-wide settings: the thread count, and a report of what fastcf runs on.

One knob sets the threads of every fastcf kernel::

    fastcf.set_num_threads(4)            # from now on
    with fastcf.set_num_threads(1):      # only inside the block
        model.fit(data)

Kernels also take ``n_threads=`` per call, which wins over the knob. The default is the
number of cores this process may use (its CPU affinity, not the machine's core count),
or ``FASTCF_NUM_THREADS`` when that is set.
"""

from __future__ import annotations

import contextvars
import os
import platform
import sys
import threading
from typing import Optional

# (kernels/_threads.py reads it as config.check_n_threads.)
from fastcf._validation import check_n_threads

__all__ = ["get_num_threads", "set_num_threads", "show_versions", "usable_cores"]


def usable_cores() -> int:
    """Number of cores this process may run on (respects CPU affinity and cgroups' cpusets)."""
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _threads_from_environment() -> Optional[int]:
    raw = os.environ.get("FASTCF_NUM_THREADS", "").strip()
    if not raw:
        return None
    try:
        return check_n_threads(int(raw), "FASTCF_NUM_THREADS", "fastcf")
    except ValueError:
        raise ValueError(
            f"fastcf: environment variable FASTCF_NUM_THREADS must be an int >= 1; got {raw!r}."
        ) from None


_num_threads: Optional[int] = _threads_from_environment()
_num_threads_lock = threading.Lock()
# A `with set_num_threads(n):` block sets this instead of the process-wide value, so that
# blocks in different threads (or asyncio tasks) neither see nor undo each other's setting.
_scoped_threads: contextvars.ContextVar = contextvars.ContextVar("fastcf_num_threads", default=None)


def get_num_threads() -> int:
    """Threads fastcf's kernels use when a call does not pass ``n_threads``."""
    scoped = _scoped_threads.get()
    if scoped is not None:
        return scoped
    return _num_threads if _num_threads is not None else usable_cores()


class _ThreadSetting:
    """Returned by set_num_threads. In a ``with`` statement the setting becomes local to the
    block (and to the calling thread or task) and the process-wide value is put back."""

    def __init__(self, n: Optional[int], previous: Optional[int]):
        self._n = n
        self._previous = previous
        self._token = None

    def __enter__(self) -> "_ThreadSetting":
        global _num_threads
        with _num_threads_lock:
            if _num_threads == self._n:  # unless another thread has changed it since
                _num_threads = self._previous
        self._token = _scoped_threads.set(self._n if self._n is not None else usable_cores())
        return self

    def __exit__(self, *exc_info) -> None:
        _scoped_threads.reset(self._token)

    def __repr__(self) -> str:
        return f"<fastcf threads: {get_num_threads()}>"


def set_num_threads(n: Optional[int]) -> _ThreadSetting:
    """Set the thread count of every fastcf kernel (None: all usable cores).

    Called on its own, the setting is process-wide and lasts. Used as ``with
    set_num_threads(n):``, it holds only inside the block, only for the thread (or asyncio
    task) that entered it, and ends when the block ends, also when it raises; so concurrent
    blocks in several threads do not disturb each other.
    """
    global _num_threads
    value = None if n is None else check_n_threads(n, "n", "set_num_threads")
    with _num_threads_lock:
        previous = _num_threads
        _num_threads = value
    return _ThreadSetting(value, previous)


def show_versions(file=None) -> None:
    """Print versions, which kernel twins imported, OpenMP, Numba's threading layer and BLAS pools.

    Paste its output into bug reports.
    """
    from fastcf._version import __version__
    from fastcf.kernels import _backend, _numba_cache, _threads

    lines = [
        f"fastcf      {__version__}  ({os.path.dirname(os.path.abspath(__file__))})",
        f"python      {sys.version.split()[0]}  ({platform.platform()})",
        f"cores       {usable_cores()} usable; fastcf threads {get_num_threads()}",
    ]
    for module in ("numpy", "scipy", "numba", "threadpoolctl"):
        lines.append(f"{module:<11} {_module_version(module)}")
    lines.append(f"backend     FASTCF_BACKEND={os.environ.get('FASTCF_BACKEND', '') or '(unset: auto)'}")
    width = max(len(kernel) for kernel in _backend.KERNELS) + 2  # a space always parts the columns
    lines.append(f"  {'kernel':<{width}}{'twin':<12}status")
    for kernel in _backend.KERNELS:
        for backend in _backend.BACKENDS:
            twin, reason = _backend.load_twin(kernel, backend)
            status = "ok" if twin is not None else f"missing: {reason}"
            if twin is not None and backend == "cython":
                status += f" (built with Cython {twin.CYTHON_VERSION}; {_describe_openmp(twin)}"
                if hasattr(twin, "SIMD_AVAILABLE"):
                    status += f"; SIMD micro-kernels {'in use' if twin.SIMD_AVAILABLE else 'not available'}"
                status += ")"
            lines.append(f"  {kernel:<{width}}{backend:<12}{status}")
    lines.append(f"numba threading layer: {_threads.numba_threading_layer()}")
    lines += _numba_cache.compile_report()
    lines.append("BLAS/OpenMP pools (threadpoolctl):")
    for pool in _threads.thread_pools():
        lines.append(
            f"  {pool.get('user_api')}: {pool.get('internal_api')} {pool.get('version')} "
            f"num_threads={pool.get('num_threads')}  {pool.get('filepath')}"
        )
    print("\n".join(lines), file=file or sys.stdout)


def _describe_openmp(cython_twin) -> str:
    version = cython_twin.OPENMP_VERSION
    if not version:
        return "OpenMP OFF: built with FASTCF_NO_OPENMP, kernels run serially"
    return f"OpenMP on, spec {version}, max threads {cython_twin.openmp_max_threads()}"


def _module_version(name: str) -> str:
    try:
        module = __import__(name)
    except Exception as exc:  # a broken install reports rather than crashes show_versions
        return f"not importable ({type(exc).__name__}: {exc})"
    return getattr(module, "__version__", "unknown")
