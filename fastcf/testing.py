"""Helpers for testing and benchmarking code that uses fastcf.

The model contract checks join this module as the models arrive.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["topk_problem"]


def topk_problem(
    n_rows: int,
    n_items: int,
    n_excluded: int,
    dtype=np.float32,
    seed: int = 0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reproducible input for ``select_topk``: a score block and a CSR of exclusions.

    Scores are standard normal; each row excludes ``n_excluded`` distinct random items (as a
    user excludes the items already seen), given sorted as in a canonical CSR.

    Returns
    -------
    scores : ndarray of shape (n_rows, n_items), ``dtype``
    exclude_indptr : ndarray of shape (n_rows + 1,), int32
    exclude_indices : ndarray of shape (n_rows * n_excluded,), int32
    """
    if not 0 <= n_excluded <= n_items:
        raise ValueError(f"topk_problem: 'n_excluded' must lie in [0, n_items={n_items}]; got {n_excluded}.")
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_rows, n_items), dtype=np.float64).astype(dtype)
    if n_excluded:
        # The positions of the n_excluded smallest random keys: distinct items per row.
        keys = rng.random((n_rows, n_items))
        excluded = np.sort(np.argpartition(keys, n_excluded - 1, axis=1)[:, :n_excluded], axis=1)
    else:
        excluded = np.empty((n_rows, 0), dtype=np.int64)
    exclude_indptr = np.arange(n_rows + 1, dtype=np.int32) * n_excluded
    return scores, exclude_indptr, excluded.astype(np.int32).ravel()
