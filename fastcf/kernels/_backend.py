"""Which twin of a kernel runs: Cython, Numba, or the NumPy reference.

The choice, first that applies:

1. the ``backend=`` argument of the call;
2. the ``FASTCF_BACKEND`` environment variable;
3. ``"auto"``: the fastest twin that imports (cython, then numba, then reference), with one
   warning per kernel, giving the reason, whenever that is not the Cython twin.

A backend that is *named* (by 1 or 2) is required: if its twin cannot be imported, the call
raises ImportError with the reason, so that a broken build fails loudly instead of running
slowly. CI sets ``FASTCF_BACKEND=cython`` for that reason.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from types import ModuleType
from typing import Dict, Optional, Tuple

from fastcf.kernels import _numba_cache

__all__ = ["BACKENDS", "KERNELS", "BackendFallbackWarning", "load_twin", "resolve_backend", "twin"]

#: Twins in order of preference.
BACKENDS: Tuple[str, ...] = ("cython", "numba", "reference")
#: Every kernel folder under fastcf/kernels/.
KERNELS: Tuple[str, ...] = ("topk", "als", "metrics", "sgd", "similarity", "bpr")

_TWIN_MODULE = {"cython": "_cython", "numba": "_numba", "reference": "reference"}
_CHOICES = ("auto",) + BACKENDS


class BackendFallbackWarning(RuntimeWarning):
    """A kernel runs on a slower twin than the fastest one fastcf ships."""


_loaded: Dict[Tuple[str, str], Tuple[Optional[ModuleType], str]] = {}
_warned: set = set()
_lock = threading.Lock()


def load_twin(kernel: str, backend: str) -> Tuple[Optional[ModuleType], str]:
    """Import one twin; returns ``(module, "")`` or ``(None, reason)``. Cached."""
    if kernel not in KERNELS:
        raise ValueError(f"fastcf: unknown kernel {kernel!r}; kernels are {', '.join(KERNELS)}.")
    key = (kernel, backend)
    with _lock:
        if key not in _loaded:
            try:
                name = f"fastcf.kernels.{kernel}.{_TWIN_MODULE[backend]}"
                if backend == "numba":
                    module = _numba_cache.import_numba_twin(name)  # copes with a read-only install
                else:
                    module = importlib.import_module(name)
                _loaded[key] = (module, "")
            except Exception as exc:  # ImportError, or OSError from a shared library
                _loaded[key] = (None, f"{type(exc).__name__}: {exc}")
        return _loaded[key]


def resolve_backend(backend: Optional[str]) -> str:
    """The backend name asked for: the argument, else FASTCF_BACKEND, else "auto"."""
    if backend is None:
        backend = os.environ.get("FASTCF_BACKEND", "").strip().lower() or "auto"
        source = "environment variable FASTCF_BACKEND"
    else:
        source = "'backend'"
    if not isinstance(backend, str) or backend not in _CHOICES:
        raise ValueError(
            f"fastcf: {source} must be one of {', '.join(map(repr, _CHOICES))}; got {backend!r}."
        )
    return backend


def twin(kernel: str, backend: Optional[str] = None) -> ModuleType:
    """The twin module that runs ``kernel`` for this call (see the module docstring)."""
    name = resolve_backend(backend)
    if name != "auto":
        module, reason = load_twin(kernel, name)
        if module is None:
            hint = " (rebuild fastcf: pip install --force-reinstall .)" if name == "cython" else ""
            raise ImportError(
                f"fastcf: backend {name!r} was requested for kernel {kernel!r} but its twin "
                f"does not import: {reason}{hint}"
            )
        return module

    reasons = []
    for candidate in BACKENDS:
        module, reason = load_twin(kernel, candidate)
        if module is not None:
            if reasons and kernel not in _warned:
                _warned.add(kernel)
                warnings.warn(
                    f"fastcf: kernel {kernel!r} runs on its {candidate} twin because "
                    + "; ".join(reasons)
                    + f". Set FASTCF_BACKEND={candidate} to make this choice explicit.",
                    BackendFallbackWarning,
                    stacklevel=3,
                )
            return module
        reasons.append(f"the {candidate} twin does not import ({reason})")
    raise ImportError(f"fastcf: no twin of kernel {kernel!r} imports: " + "; ".join(reasons))
