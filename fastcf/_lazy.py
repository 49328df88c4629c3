"""Modules imported on first use, so that ``import fastcf`` stays fast.

pandas alone takes about 0.3 s to import (it pulls in pyarrow where installed), more than the
rest of fastcf together, and only the data readers and the DataFrame outputs need it. A module
writes ``pd = lazy_module("pandas")`` in place of ``import pandas as pd``; the real import runs
at the first attribute access (``pd.DataFrame``), and costs nothing afterwards.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

__all__ = ["lazy_module"]

_lock = threading.Lock()


class _LazyModule(types.ModuleType):
    """Stands in for a module until an attribute is read, then becomes a view of it."""

    def __getattr__(self, attribute):
        # Only reached for names not yet copied in: the first access, or a missing name.
        with _lock:
            module = sys.modules.get(self.__name__) or importlib.import_module(self.__name__)
            self.__dict__.update(module.__dict__)
        return getattr(module, attribute)

    def __dir__(self):
        return dir(importlib.import_module(self.__name__))

    def __repr__(self):
        loaded = "loaded" if self.__name__ in sys.modules else "not imported yet"
        return f"<lazy module {self.__name__!r} ({loaded})>"


def lazy_module(name: str) -> types.ModuleType:
    """``name`` if it is already imported, else a stand-in that imports it on first use."""
    return sys.modules.get(name) or _LazyModule(name)
