"""What every model's ``predict`` returns: a number for one pair, arrays for arrays."""

from __future__ import annotations

from typing import Optional

import numpy as np


def pair_answer(values: np.ndarray, users, items, fallback: Optional[np.ndarray] = None):
    """``values`` (and ``fallback``) as predict returns them.

    One user and one item given as scalars get a float (and a bool), as scikit-learn's and
    Surprise's single predictions do; any array argument keeps the arrays, of the pairs' length.
    """
    if np.ndim(users) == 0 and np.ndim(items) == 0:
        value = float(values[0])
        return value if fallback is None else (value, bool(fallback[0]))
    return values if fallback is None else (values, fallback)
