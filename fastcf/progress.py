"""Progress of long fits: a tqdm bar on stderr and log lines, one mechanism for every model.

Every model reports its iterations (or epochs) through :class:`FitProgress`:

- **log lines** go to the ``logging`` logger ``"fastcf"`` (through its child
  ``"fastcf.models"``): one INFO line when a fit ends (iterations, seconds, last loss), one
  DEBUG line per iteration. fastcf adds no handler of its own (only a NullHandler), so they
  show only where the application configures logging, and
  ``logging.getLogger("fastcf").setLevel(logging.WARNING)`` silences them;
- **a progress bar** (tqdm) on stderr. A model's ``show_progress`` parameter decides: False
  never, True always, None (the default) follows the fastcf-wide switch
  :func:`set_progress`, which by default ("auto") shows a bar only when stderr is a
  terminal and only once the fit has run for a second, so that short fits, tests and logs
  piped to files stay quiet. ``FASTCF_PROGRESS=0`` (or 1) in the environment sets the switch.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional

from fastcf._validation import check_optional_flag, check_positive_int

__all__ = ["FitProgress", "get_progress", "set_progress"]

logger = logging.getLogger("fastcf.models")
#: In "auto" mode, a bar appears only for fits that have run this long (seconds).
AUTO_DELAY = 1.0


def _from_environment() -> Optional[bool]:
    raw = os.environ.get("FASTCF_PROGRESS", "").strip().lower()
    if raw in ("", "auto"):
        return None
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"fastcf: environment variable FASTCF_PROGRESS must be 0, 1 or auto; got {raw!r}.")


_setting: Optional[bool] = _from_environment()


def set_progress(show: Optional[bool]) -> None:
    """Progress bars of every fit whose ``show_progress`` is None: True always, False never,
    None "auto" (stderr a terminal, and the fit longer than a second)."""
    global _setting
    if show is not None and not isinstance(show, bool):
        raise TypeError(f"set_progress: 'show' must be True, False or None; got {show!r}.")
    _setting = show


def get_progress() -> Optional[bool]:
    """The fastcf-wide progress setting (True, False, or None for auto)."""
    return _setting


class FitProgress:
    """Context manager that reports the steps of one fit; see the module docstring.

    Parameters
    ----------
    owner : str
        The model's name, shown on the bar and in the log lines.
    total : int
        Steps expected (a callback may stop the fit earlier).
    unit : str
        "iteration", "epoch", ...
    show : bool or None
        The model's ``show_progress``.
    """

    def __init__(self, owner: str, total: int, unit: str, show: Optional[bool] = None):
        for name, text in (("owner", owner), ("unit", unit)):
            if not isinstance(text, str):
                raise TypeError(f"FitProgress: '{name}' must be a str; got {type(text).__name__}.")
        total = check_positive_int(total, "total", f"FitProgress({owner!r})")
        self.owner, self.total, self.unit = owner, total, unit
        self.done = 0
        self.metrics: dict = {}
        self.started = time.perf_counter()
        show = check_optional_flag(show, "show_progress", owner)
        mode = show if show is not None else _setting
        self.bar = None
        if mode is True or (mode is None and _is_terminal(sys.stderr)):
            from tqdm import tqdm

            # Redrawn at every step (mininterval=0): a fit's steps are long, and the last one shows.
            self.bar = tqdm(total=total, desc=owner, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
                            mininterval=0, delay=0 if mode else AUTO_DELAY)

    def __enter__(self) -> "FitProgress":
        return self

    def update(self, **metrics) -> None:
        """One step done; ``metrics`` (loss, rmse, ...) go on the bar and in the log."""
        self.done += 1
        self.metrics = {key: value for key, value in metrics.items() if value is not None}
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: %s %d/%d%s (%.1f s)", self.owner, self.unit, self.done, self.total,
                         _shown(self.metrics), time.perf_counter() - self.started)
        if self.bar is not None:
            if self.metrics:
                self.bar.set_postfix({key: f"{value:.4g}" for key, value in self.metrics.items()}, refresh=False)
            self.bar.update(1)

    def __exit__(self, kind, value, traceback) -> None:
        if self.bar is not None:
            self.bar.close()
        if kind is None:
            plural = "" if self.done == 1 else "s"
            logger.info("%s: fitted in %.2f s (%d %s%s%s)", self.owner, time.perf_counter() - self.started, self.done,
                        self.unit, plural, _shown(self.metrics))


def _shown(metrics: dict) -> str:
    return "".join(f", {key} {value:.6g}" for key, value in metrics.items())


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
