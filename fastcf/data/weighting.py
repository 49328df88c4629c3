"""Weightings of the stored values, each a pure function returning a new Interactions.

Notation: r_ui is the stored value of user u and item i, n_users the number of users,
df_i the number of users with an entry for item i, len_u the sum of user u's values and
avg_len the mean of len_u over users with entries.
"""

from __future__ import annotations

import numpy as np

from fastcf._validation import IMPLICIT_FEEDBACK, check_finite, check_interactions, check_nonnegative, check_number
from fastcf.data.interactions import Interactions, entry_rows

__all__ = ["bm25", "confidence", "log_confidence", "tfidf"]


def _with_values(data: Interactions, values: np.ndarray, owner: str) -> Interactions:
    """A new Interactions holding the weighted ``values`` (float64), which must stay finite
    in the matrix's dtype: a weight that overflows is refused, naming the entry."""
    matrix = data.matrix.copy()
    dtype = matrix.dtype if matrix.dtype.kind == "f" else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        matrix.data = values.astype(dtype, copy=False)
    check_finite(matrix.data, "data", owner, where=lambda position: _weighted_entry(data, values, position, dtype))
    return data.replace(matrix)


def _weighted_entry(data: Interactions, values: np.ndarray, position: int, dtype) -> str:
    row = int(np.searchsorted(data.matrix.indptr, position, side="right") - 1)
    return (f"user index {row}, item index {data.matrix.indices[position]} (stored value "
            f"{data.matrix.data[position]!r} weighs {values[position]!r}, beyond {np.dtype(dtype).name})")


def confidence(data: Interactions, alpha: float = 40.0) -> Interactions:
    """c_ui = 1 + alpha * r_ui (Hu, Koren & Volinsky 2008)."""
    data = check_interactions(data, "data", "confidence")
    alpha = check_number(alpha, "alpha", "confidence")
    check_nonnegative(data.matrix, "data", "confidence", IMPLICIT_FEEDBACK)
    return _with_values(data, 1.0 + alpha * data.matrix.data.astype(np.float64), "confidence")


def log_confidence(data: Interactions, alpha: float = 1.0, epsilon: float = 1.0) -> Interactions:
    """c_ui = 1 + alpha * log(1 + r_ui / epsilon) (Hu, Koren & Volinsky 2008, eq. 6)."""
    data = check_interactions(data, "data", "log_confidence")
    alpha = check_number(alpha, "alpha", "log_confidence")
    epsilon = check_number(epsilon, "epsilon", "log_confidence", strict=True)
    values = data.matrix.data.astype(np.float64)
    if (values / epsilon <= -1).any():
        raise ValueError("log_confidence: every value must be > -epsilon; log(1 + r/epsilon) is undefined otherwise.")
    return _with_values(data, 1.0 + alpha * np.log1p(values / epsilon), "log_confidence")


def _idf(data: Interactions) -> np.ndarray:
    """log(n_users / df_i) per item (0 for an item every user has; items without users unused)."""
    df = np.bincount(data.matrix.indices, minlength=data.n_items).astype(np.float64)
    return np.log(max(data.n_users, 1) / np.maximum(df, 1.0))


def tfidf(data: Interactions) -> Interactions:
    """w_ui = r_ui * log(n_users / df_i): items everyone has weigh nothing, rare ones most."""
    data = check_interactions(data, "data", "tfidf")
    return _with_values(data, data.matrix.data.astype(np.float64) * _idf(data)[data.matrix.indices], "tfidf")


def bm25(data: Interactions, k1: float = 1.2, b: float = 0.75) -> Interactions:
    """Okapi BM25 with users as documents and items as terms:

        w_ui = idf_i * r_ui * (k1 + 1) / (r_ui + k1 * (1 - b + b * len_u / avg_len))

    with idf_i = log(n_users / df_i). Heavy users' entries are damped (b) and repeated
    interactions saturate (k1).
    """
    data = check_interactions(data, "data", "bm25")
    k1 = check_number(k1, "k1", "bm25")
    b = check_number(b, "b", "bm25", high=1.0)
    values = data.matrix.data.astype(np.float64)
    rows = entry_rows(data.matrix)
    lengths = np.bincount(rows, weights=values, minlength=data.n_users)
    present = lengths[np.diff(data.matrix.indptr) > 0]
    average = present.mean() if present.size and present.mean() != 0 else 1.0
    norm = (1.0 - b + b * lengths / average)[rows]
    denominator = values + k1 * norm
    with np.errstate(invalid="ignore", divide="ignore"):
        saturation = np.where(denominator != 0, values * (k1 + 1.0) / denominator, 0.0)
    return _with_values(data, _idf(data)[data.matrix.indices] * saturation, "bm25")
