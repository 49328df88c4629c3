"""Biased ALS for explicit ratings with weighted-λ regularisation (Zhou, Wilkinson, Schreiber & Pan 2008).

No kernel of its own yet: each half-step is one exact ridge solve per row, done here with
batched NumPy matmul and solve over rows of similar length (see "Open" below). Its math is the explicit twin of
``fastcf/kernels/als/`` (which solves the implicit-feedback systems over all pairs and so
cannot be reused as it is).

Open: move the per-row solve into ``fastcf/kernels/als/`` as an explicit half-step with the
three twins, parallel over rows.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf.data.interactions import entry_rows
from fastcf.kernels._checks import check_positive_int
from fastcf.models.baseline import check_number
from fastcf.models.explicit_mf import BiasedMF

__all__ = ["ExplicitALS"]


def ridge_rows(rows: sp.csr_matrix, other_factors: np.ndarray, offsets: np.ndarray, reg_bias: float,
               reg_factors: float) -> Tuple[np.ndarray, np.ndarray]:
    """Each row's (b, x) minimising Σ_j (t_j − b − x · y_j)² + n (reg_bias b² + reg_factors |x|²).

    t_j = ``rows.data`` − ``offsets`` (one offset per stored entry), y_j = ``other_factors``
    of the row's column j, n = the row's number of entries (weighted-λ). Rows without
    entries get b = 0, x = 0.

    Returns
    -------
    bias : ndarray of shape (n_rows,), float64
    factors : ndarray of shape (n_rows, f), float64
    """
    f = other_factors.shape[1]
    other = np.hstack([np.ones((other_factors.shape[0], 1)), other_factors.astype(np.float64)])
    penalty = np.r_[reg_bias, np.full(f, reg_factors)]
    target = rows.data.astype(np.float64) - offsets
    counts = np.diff(rows.indptr)
    solution = np.zeros((rows.shape[0], f + 1))
    # Rows sorted by length and solved in batches of similar lengths, each batch padded to its
    # longest row with zero rows (which add nothing to a Gram matrix): one batched matmul and
    # one batched solve per batch instead of a Python-level solve per row.
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    start = 0
    while start < order.size:
        longest = counts[order[min(start + 255, order.size - 1)]]
        stop = min(order.size, start + max(1, min(256, (1 << 22) // max(longest * (f + 1), 1))))
        batch = order[start:stop]
        width = counts[batch[-1]]
        offsets_in_row = np.arange(width)
        valid = offsets_in_row[None, :] < counts[batch][:, None]
        positions = np.where(valid, rows.indptr[batch][:, None] + offsets_in_row[None, :], 0)
        design = other[rows.indices[positions]] * valid[:, :, None]
        transposed = np.ascontiguousarray(design.transpose(0, 2, 1))  # contiguous: matmul then uses BLAS
        gram = np.matmul(transposed, design)
        gram += (counts[batch][:, None] * penalty[None, :] + 1e-12)[:, :, None] * np.eye(f + 1)[None]
        rhs = np.matmul(transposed, (target[positions] * valid)[:, :, None])
        solution[batch] = np.linalg.solve(gram, rhs)[:, :, 0]
        start = stop
    return solution[:, 0], solution[:, 1:]


class ExplicitALS(BiasedMF):
    """Biased matrix factorisation of explicit ratings by alternating least squares (ALS-WR).

    r̂_ui = μ + b_u + b_i + p_u · q_i, minimising

        Σ_(u,i) (r_ui − r̂_ui)² + Σ_u n_u (reg_bias b_u² + reg_factors |p_u|²)
                               + Σ_i n_i (reg_bias b_i² + reg_factors |q_i|²)

    (Zhou et al. 2008: each row's penalty weighted by its number of ratings, n_u or n_i) by
    exact alternating solves, items first, then users: each row's (bias, factors) is one
    (factors + 1)-dimensional ridge solve with the other side fixed. Every row is solved on
    its own, so the result does not depend on any thread count. Folding in a training user
    gives back its fitted bias and factors (the last half-step solved them exactly).

    Serving as BiasedMF (predict clipped with baseline fallback, fold-in, recommend by
    predicted rating); ``fold_in`` solves the same weighted-λ problem.

    Parameters
    ----------
    factors : int >= 1
    iterations : int >= 1
    reg_factors : float >= 0
        λ of the factors (times the row's number of ratings).
    reg_bias : float >= 0
        λ of the biases (times the row's number of ratings).
    init_std : float >= 0
        The item factors start as normal(0, init_std) draws (the users are solved first).
    rating_scale : (low, high) or None
    dtype : float32 or float64
        Of the stored factors; the solves run in float64.
    random_state : int or None
    callback : callable(iteration, model, rmse) or None
        Called after every iteration with the training RMSE; return False to stop.
    show_progress : bool

    The defaults were tuned on the five canned MovieLens 100K folds u1..u5 (see
    ``tests/realdata/test_explicit_quality.py``).

    Attributes
    ----------
    As BiasedMF; ``loss_history_`` holds the training RMSE after every iteration.
    """

    def __init__(
        self,
        *,
        factors: int = 20,
        iterations: int = 15,
        reg_factors: float = 0.1,
        reg_bias: float = 0.1,
        init_std: float = 0.1,
        rating_scale: Optional[Tuple[float, float]] = None,
        dtype=np.float32,
        random_state: Optional[int] = None,
        callback: Optional[Callable] = None,
        show_progress: bool = False,
    ):
        self.factors = factors
        self.iterations = iterations
        self.reg_factors = reg_factors
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.rating_scale = rating_scale
        self.dtype = dtype
        self.random_state = random_state
        self.callback = callback
        self.show_progress = show_progress

    def _check_params(self) -> None:
        name = type(self).__name__
        check_positive_int(self.factors, "factors", name)
        check_positive_int(self.iterations, "iterations", name)
        for param in ("reg_factors", "reg_bias", "init_std"):
            check_number(name, param, getattr(self, param))
        self._check_common_params()
        self._check_rating_scale()

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self._fit_scale(matrix)
        dtype = np.dtype(self.dtype)
        n_users, n_items = matrix.shape
        rng = np.random.default_rng(self.random_state)
        item_factors = rng.normal(0.0, self.init_std, (n_items, self.factors))
        item_factors[~self.known_items_] = 0
        item_bias = np.zeros(n_items)
        user_bias, user_factors = np.zeros(n_users), np.zeros((n_users, self.factors))
        by_item = matrix.T.tocsr()
        user_rows = entry_rows(matrix)
        mu = self.global_mean_
        self.loss_history_ = []
        started = time.perf_counter()
        for iteration in range(1, self.iterations + 1):
            if iteration > 1:  # the first half-step would see zero user factors: start from the users
                item_bias, item_factors = ridge_rows(by_item, user_factors, mu + user_bias[by_item.indices],
                                                     self.reg_bias, self.reg_factors)
            user_bias, user_factors = ridge_rows(matrix, item_factors, mu + item_bias[matrix.indices],
                                                 self.reg_bias, self.reg_factors)
            predicted = (mu + user_bias[user_rows] + item_bias[matrix.indices]
                         + np.einsum("ij,ij->i", user_factors[user_rows], item_factors[matrix.indices]))
            rmse = float(np.sqrt(np.mean((matrix.data - predicted) ** 2)))
            self.loss_history_.append(rmse)
            if self.show_progress:
                print(f"{type(self).__name__}: iteration {iteration}/{self.iterations}, training RMSE {rmse:.4f} "
                      f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
            self._set_fitted(user_factors.astype(dtype), item_factors.astype(dtype), user_bias.astype(dtype),
                             item_bias.astype(dtype))
            if self.callback is not None and self.callback(iteration, self, rmse) is False:
                break

    def _fold_in_rows(self, rows: sp.csr_matrix):
        bias, factors = ridge_rows(rows, self.item_factors_, self.global_mean_ + self.item_bias_[rows.indices],
                                   self.reg_bias, self.reg_factors)
        return bias, factors.astype(self.item_factors_.dtype)

