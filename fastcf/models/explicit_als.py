"""Biased ALS for explicit ratings with weighted-λ regularisation (Zhou, Wilkinson, Schreiber & Pan 2008).

Kernel: ``fastcf/kernels/als/`` (``als_explicit_half_step``: one exact ridge solve per row,
parallel over rows), the explicit sibling of the implicit-feedback half-step there.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf.data.interactions import entry_rows
from fastcf._validation import check_number, check_positive_int
from fastcf.models.explicit_mf import BiasedMF

__all__ = ["ExplicitALS"]


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
        Of the factors, and of the solves (float32 runs the kernel's SIMD path where the CPU
        has AVX2; fold-in always solves in float64).
    random_state : int or None
    n_threads : int >= 1 or None
        Threads for the kernel (None: ``fastcf.get_num_threads()``); does not change the result.
    backend : {"auto", "cython", "numba", "reference"} or None
    callback : callable(iteration, model, rmse) or None
        Called after every iteration with the training RMSE; return False to stop.
    show_progress : bool or None
        A progress bar on stderr: None (default) follows ``fastcf.set_progress`` (auto: when
        stderr is a terminal and the fit runs over a second), True always, False never. Log
        lines go to the "fastcf" logger (INFO per fit, DEBUG per iteration); see fastcf.progress.

    The defaults were tuned on the five canned MovieLens 100K folds u1..u5 (see
    ``tests/realdata/test_explicit_quality.py``).

    Attributes
    ----------
    As BiasedMF; ``loss_history_`` holds the training RMSE after every iteration.
    """

    _update_fitted_items = True  # its fit is these ridge solves: an update is more of them

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
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
        callback: Optional[Callable] = None,
        show_progress: Optional[bool] = None,
    ):
        self.factors = factors
        self.iterations = iterations
        self.reg_factors = reg_factors
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.rating_scale = rating_scale
        self.dtype = dtype
        self.random_state = random_state
        self.n_threads = n_threads
        self.backend = backend
        self.callback = callback
        self.show_progress = show_progress

    def _check_params(self) -> None:
        name = type(self).__name__
        check_positive_int(self.factors, "factors", name)
        check_positive_int(self.iterations, "iterations", name)
        for param in ("reg_factors", "reg_bias", "init_std"):
            check_number(getattr(self, param), param, name)
        self._check_common_params()
        self._check_rating_scale()

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self._fit_scale(matrix)
        dtype = np.dtype(self.dtype)
        n_users, n_items = matrix.shape
        rng = np.random.default_rng(self.random_state)
        item_factors = rng.normal(0.0, self.init_std, (n_items, self.factors)).astype(dtype)
        item_factors[~self.known_items_] = 0
        item_bias = np.zeros(n_items, dtype)
        user_bias, user_factors = np.zeros(n_users, dtype), np.zeros((n_users, self.factors), dtype)
        by_item = matrix.T.tocsr()
        user_rows = entry_rows(matrix)
        self.loss_history_ = []
        with self._progress(self.iterations) as progress:
            for iteration in range(1, self.iterations + 1):
                if iteration > 1:  # the first half-step would see zero user factors: start from the users
                    item_bias, item_factors = self._ridge_rows(by_item, user_factors, user_bias, dtype)
                user_bias, user_factors = self._ridge_rows(matrix, item_factors, item_bias, dtype)
                rmse = self._training_rmse(matrix, user_rows, user_factors, item_factors, user_bias, item_bias)
                self.loss_history_.append(rmse)
                progress.update(rmse=rmse)
                self._set_fitted(user_factors, item_factors, user_bias, item_bias)
                if self.callback is not None and self.callback(iteration, self, rmse) is False:
                    break

    def explain(self, user, item, k: int = 5):
        """Which of the user's ratings make up their predicted rating of ``item``, exactly.

        The fit ends with the user half-step, which solves every user's z_u = [p_u, b_u] as

            z_u = A_u⁻¹ Σ_j ỹ_j t_j,  t_j = r_uj − μ − b_j,  ỹ_j = [q_j, 1],
            A_u = Σ_j ỹ_j ỹ_jᵀ + n_u diag(reg_factors, ..., reg_factors, reg_bias),

        linear in the residuals t_j; so the user's part of the prediction, p_u · q_i + b_u,
        is exactly Σ_j (ỹ_iᵀ A_u⁻¹ ỹ_j) t_j over the items j they rated. The terms are
        computed in float64; with ``dtype=float32`` the fitted solve agrees to about 1e-5.

        Returns
        -------
        ids : the top k rated items (raw IDs), largest term first
        contributions : their terms (ỹ_iᵀ A_u⁻¹ ỹ_j) t_j
        total : their sum over all the user's ratings, p_u · q_i + b_u: the unclipped
            prediction (as ``predict(..., clip=False)`` and ``recommend`` give it) is
            μ + b_i + total
        """
        return super().explain(user, item, k)

    def _training_rmse(self, matrix, user_rows, user_factors, item_factors, user_bias, item_bias) -> float:
        """RMSE over the training ratings, in float64, a slice of entries at a time: the (nnz, factors)
        gathers of all entries at once would take gigabytes on MovieLens 1M."""
        step = max(1, (8 << 20) // (8 * self.factors))
        sse = 0.0
        for start in range(0, matrix.nnz, step):
            rows, cols = user_rows[start:start + step], matrix.indices[start:start + step]
            predicted = (self.global_mean_ + user_bias[rows].astype(np.float64) + item_bias[cols]
                         + np.einsum("ij,ij->i", user_factors[rows], item_factors[cols], dtype=np.float64))
            sse += float(np.sum((matrix.data[start:start + step] - predicted) ** 2))
        return float(np.sqrt(sse / max(matrix.nnz, 1)))
