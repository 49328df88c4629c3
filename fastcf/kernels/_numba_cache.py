"""Where Numba keeps fastcf's compiled twins on disk, and how long compiling them took.

The Numba twins are ``@njit(cache=True)``: the first call of each compiles it (seconds) and
saves the machine code, so later processes load it instead (milliseconds). Numba saves it in
the first of these places that is writable:

1. ``NUMBA_CACHE_DIR``, when set;
2. ``__pycache__`` beside the twin's source (a source checkout, a user's own venv);
3. Numba's user-wide cache folder (``~/.cache/numba``, or ``$XDG_CACHE_HOME/numba``, on
   Linux; ``~/Library/Caches/numba`` on macOS; ``%LOCALAPPDATA%\\numba`` on Windows). This
   covers a read-only site-packages, such as a system install or a container image.

Where none of them is writable (a read-only home as well, as in some containers and
serverless sandboxes), Numba refuses to decorate the function and the twin would not import.
fastcf then points Numba at a folder of its own in the temporary directory
(:func:`private_cache_dir`) and imports the twin again. Set ``NUMBA_CACHE_DIR`` to choose
the place yourself.

Each compilation of a fastcf twin is logged on the ``"fastcf"`` logger at DEBUG level, with
its duration, and listed by ``fastcf.show_versions()`` (:func:`compile_report`)::

    logging.basicConfig()
    logging.getLogger("fastcf").setLevel(logging.DEBUG)
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tempfile
import threading
import time
from types import ModuleType
from typing import List, Tuple

__all__ = ["compile_report", "import_numba_twin", "install_compile_log", "private_cache_dir"]

logger = logging.getLogger("fastcf")

# Numba's message when no cache locator applies (stable since numba 0.4x).
_NO_LOCATOR = "no locator available"

#: (function, signature, seconds) of every compilation of a fastcf twin in this process.
compilations: List[Tuple[str, str, float]] = []
_listener_installed = False
_install_lock = threading.Lock()


def import_numba_twin(module_name: str) -> ModuleType:
    """Import a Numba twin; when Numba finds no writable cache folder, give it a private one."""
    try:
        return importlib.import_module(module_name)
    except RuntimeError as exc:
        if _NO_LOCATOR not in str(exc):
            raise
        reason = str(exc)
    import numba

    folder = private_cache_dir()
    logger.info(
        "Numba has no writable cache folder (%s); caching fastcf's Numba twins in %s. "
        "Set NUMBA_CACHE_DIR to choose another.", reason, folder,
    )
    # Numba reads the folder when a function is decorated, so setting it before the second
    # import is enough. It holds for the user's own cache=True functions decorated later
    # too, which would fail the same way; os.environ is left alone for child processes.
    numba.config.CACHE_DIR = folder
    return importlib.import_module(module_name)


def private_cache_dir() -> str:
    """A cache folder in the temporary directory that only this user can write.

    Numba's cache index is a pickle, so a folder that another user could write would let them
    run code in this process: the folder must be ours, mode 0700, or a new one is made.
    """
    user = _user_tag()
    folder = os.path.join(tempfile.gettempdir(), f"fastcf-numba-cache-{user}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if _private(folder):
            tempfile.TemporaryFile(dir=folder).close()
            return folder
    except OSError:
        pass
    return tempfile.mkdtemp(prefix=f"fastcf-numba-cache-{user}-")


def _user_tag() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    return "".join(c for c in os.environ.get("USERNAME", "user") if c.isalnum()) or "user"


def _private(folder: str) -> bool:
    if not hasattr(os, "getuid"):  # Windows: the temp dir is already per user
        return True
    if os.path.islink(folder):
        return False
    st = os.lstat(folder)
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


# --- compile times -----------------------------------------------------------------------


def install_compile_log() -> None:
    """Time every compilation of a fastcf Numba function from now on. Idempotent."""
    global _listener_installed
    if _listener_installed:
        return
    with _install_lock:
        if _listener_installed:
            return
        try:
            from numba.core import event

            event.register("numba:compile", _compile_timer_class()())
        except (ImportError, AttributeError) as exc:  # a numba without the event API still runs
            logger.debug("Numba compile times are not recorded: %s", exc)
        _listener_installed = True


def _compile_timer_class():
    """The numba Listener subclass; built on first use, so that this module imports without numba."""
    from numba.core import event

    class CompileTimer(event.Listener):
        """Times the outermost compilation: a twin's jitted helpers compile inside it."""

        def __init__(self):
            self._depth = 0
            self._started = 0.0

        def on_start(self, ev):
            if _is_fastcf(ev):
                self._depth += 1
                if self._depth == 1:
                    self._started = time.perf_counter()

        def on_end(self, ev):
            if not _is_fastcf(ev):
                return
            self._depth -= 1
            if self._depth == 0:
                seconds = time.perf_counter() - self._started
                dispatcher = ev.data["dispatcher"]
                name = f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"
                signature = "(" + ", ".join(str(a) for a in ev.data["args"]) + ")"
                compilations.append((name, signature, seconds))
                logger.debug("Numba compiled %s%s in %.2f s", name, signature, seconds)

    return CompileTimer


def _is_fastcf(ev) -> bool:
    dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module.startswith("fastcf.")


def compile_report() -> List[str]:
    """Lines for show_versions: the cache folder, each compilation's duration, cache loads."""
    twins = [
        module for name, module in sorted(sys.modules.items())
        if name.startswith("fastcf.kernels.") and name.endswith("._numba") and module is not None
    ]
    folders, loaded = set(), []
    for module in twins:
        for dispatcher in _cached_dispatchers(module):
            stats = dispatcher.stats
            if os.path.basename(stats.cache_path) == "__pycache__":
                folders.add("__pycache__ beside each twin's source")
            else:  # <cache root>/<source folder>_<hash>
                folders.add(os.path.dirname(stats.cache_path))
            hits = sum(stats.cache_hits.values())
            if hits:
                name = f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"
                loaded.append(f"  {name}: {hits} signature(s) loaded from the on-disk cache")
    lines = [f"numba cache: {', '.join(sorted(folders)) or '(no Numba twin imported yet)'}"]
    if not compilations and not loaded:
        lines.append("numba compiles: none in this process yet (each twin compiles on its first call)")
        return lines
    lines.append("numba compiles in this process (first call of each twin and signature):")
    for name, signature, seconds in compilations:
        lines.append(f"  {name}{signature}: compiled in {seconds:.2f} s")
    return lines + loaded


def _cached_dispatchers(module: ModuleType) -> list:
    from numba.core.registry import CPUDispatcher

    return [
        value for value in vars(module).values()
        if isinstance(value, CPUDispatcher) and getattr(value.stats, "cache_path", None)
    ]
