"""Biased matrix factorisation for explicit ratings (Funk 2006; Koren, Bell & Volinsky 2009) by parallel SGD.

Kernel: ``fastcf/kernels/sgd/`` (block schedule in the manner of DSGD / FPSGD).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve

from fastcf.data.interactions import entry_rows
from fastcf.kernels import als_explicit_half_step, sgd_epoch, sgd_schedule
from fastcf.kernels.sgd import sgd_epoch_unchecked
from fastcf.kernels.sgd import check_schedule_blocks
from fastcf.models.base import FactorModel
from fastcf._validation import check_number, check_sgd_schedule
from fastcf.models.baseline import RatingPredictor

__all__ = ["BiasedMF"]


class BiasedMF(RatingPredictor, FactorModel):
    """Biased MF ("SVD" in Surprise): r̂_ui = μ + b_u + b_i + p_u · q_i, fitted by SGD.

    Minimises, by stochastic gradient descent over the ratings,

        Σ_(u,i) ½ (r_ui − r̂_ui)² + ½ reg_bias (b_u² + b_i²) + ½ reg_factors (|p_u|² + |q_i|²)

    (the penalties taken once per rating, as every SGD step applies them). Epoch e uses the
    learning rate ``learning_rate * learning_rate_decay ** e``.

    Reproducible in parallel: users and items are cut into ``n_blocks`` ranges each and the
    ratings visited block by block on the fixed schedule of ``fastcf.kernels.sgd`` (in each
    sub-epoch, threads take blocks that share no user and no item); the order of ratings
    within a block is shuffled once by ``random_state``. So one ``random_state`` and one
    ``n_blocks`` give one model, bit for bit, for any ``n_threads``. At most ``n_blocks``
    threads are busy at once.

    Users or items without a training rating keep zero factors and biases and are served by
    the baseline fallback (see ``predict``). ``recommend`` ranks by predicted rating.

    The defaults were tuned on the five canned MovieLens 100K folds u1..u5: mean test RMSE
    0.908 (Surprise's SVD with its defaults: 0.934 published). A decaying learning rate
    stands in for early stopping: by epoch 50 the steps are 8 % of the first.

    Parameters
    ----------
    factors : int >= 1
    epochs : int >= 1
    learning_rate : float > 0
    learning_rate_decay : float in (0, 1]
        Multiplies the learning rate after every epoch.
    reg_factors : float >= 0
        Penalty on the factors p_u, q_i.
    reg_bias : float >= 0
        Penalty on the biases b_u, b_i.
    init_std : float >= 0
        Factors start as normal(0, init_std) draws; biases start at 0.
    n_blocks : int >= 1
        Ranges per side of the block schedule (part of the answer, unlike n_threads).
    shuffle : bool
        Shuffle the ratings within each block (once, by ``random_state``); False keeps the
        order user by user, item by item.
    rating_scale : (low, high) or None
        Predictions are clipped to it; None takes the training data's min and max.
    dtype : float32 or float64
    random_state : int or None
    n_threads : int >= 1 or None
        Threads for the kernels (None: ``fastcf.get_num_threads()``); does not change the result.
    backend : {"auto", "cython", "numba", "reference"} or None
    callback : callable(epoch, model, rmse) or None
        Called after every epoch with the training RMSE of that epoch; return False to stop.
    show_progress : bool or None
        A progress bar on stderr: None (default) follows ``fastcf.set_progress`` (auto: when
        stderr is a terminal and the fit runs over a second), True always, False never. Log
        lines go to the "fastcf" logger (INFO per fit, DEBUG per iteration); see fastcf.progress.

    Attributes
    ----------
    global_mean_ : float
    user_bias_ : ndarray of shape (n_users,)
    item_bias_ : ndarray of shape (n_items,)
    user_factors_ : ndarray of shape (n_users, factors)
    item_factors_ : ndarray of shape (n_items, factors)
    loss_history_ : list of float
        Training RMSE of every epoch, each error taken just before its rating's step.
    rating_scale_, known_users_, known_items_, users_, items_
        As in :class:`~fastcf.models.baseline.RatingPredictor`.
    """

    _fitted_attributes = ("seen_", "user_factors_", "item_factors_", "user_bias_", "item_bias_")

    def __init__(
        self,
        *,
        factors: int = 100,
        epochs: int = 50,
        learning_rate: float = 0.015,
        learning_rate_decay: float = 0.95,
        reg_factors: float = 0.05,
        reg_bias: float = 0.02,
        init_std: float = 0.03,
        n_blocks: int = 8,
        shuffle: bool = True,
        rating_scale: Optional[Tuple[float, float]] = None,
        dtype=np.float32,
        random_state: Optional[int] = None,
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
        callback: Optional[Callable] = None,
        show_progress: Optional[bool] = None,
    ):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.reg_factors = reg_factors
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.n_blocks = n_blocks
        self.shuffle = shuffle
        self.rating_scale = rating_scale
        self.dtype = dtype
        self.random_state = random_state
        self.n_threads = n_threads
        self.backend = backend
        self.callback = callback
        self.show_progress = show_progress

    # --- parameters -----------------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        check_sgd_schedule(self, name)
        for param in ("reg_factors", "reg_bias", "init_std"):
            check_number(getattr(self, param), param, name)
        self._check_common_params()
        self._check_rating_scale()

    # --- fit ------------------------------------------------------------------------------

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self._fit_scale(matrix)
        dtype = np.dtype(self.dtype)
        n_users, n_items = matrix.shape
        check_schedule_blocks(self.n_blocks, matrix.nnz, n_users, n_items, f"{type(self).__name__}.fit")
        rng = np.random.default_rng(self.random_state)
        user_factors = rng.normal(0.0, self.init_std, (n_users, self.factors)).astype(dtype)
        item_factors = rng.normal(0.0, self.init_std, (n_items, self.factors)).astype(dtype)
        user_bias, item_bias = np.zeros(n_users, dtype), np.zeros(n_items, dtype)
        users, items = entry_rows(matrix), matrix.indices
        seed = int(rng.integers(2**63)) if self.shuffle else None
        block_ptr, order = sgd_schedule(users, items, n_users, n_items, self.n_blocks, seed=seed)
        # Sorted into schedule order once; every epoch then streams through contiguous arrays.
        users, items = users[order].astype(items.dtype), items[order]
        ratings = matrix.data[order].astype(dtype)
        self.loss_history_ = []
        with self._progress(self.epochs, "epoch") as progress:
            for epoch in range(self.epochs):
                arrays = (block_ptr, users, items, ratings, user_factors, item_factors, user_bias, item_bias)
                rate = self.learning_rate * self.learning_rate_decay ** epoch
                if epoch == 0:
                    sse = sgd_epoch(*arrays, global_mean=self.global_mean_, learning_rate=rate,
                                    reg_factors=self.reg_factors, reg_bias=self.reg_bias, n_threads=self.n_threads,
                                    backend=self.backend)
                else:  # the same arrays the first epoch checked (the rmse check below catches NaN)
                    sse = sgd_epoch_unchecked(*arrays, self.global_mean_, rate, self.reg_factors, self.reg_bias,
                                              self.n_threads, self.backend)
                rmse = float(np.sqrt(sse / ratings.size))
                if not np.isfinite(rmse):
                    raise FloatingPointError(
                        f"{type(self).__name__}: the factors diverged in epoch {epoch + 1}; lower 'learning_rate' "
                        f"(now {self.learning_rate}) or raise 'reg_factors' (now {self.reg_factors})."
                    )
                self.loss_history_.append(rmse)
                progress.update(rmse=rmse)
                self._set_fitted(user_factors, item_factors, user_bias, item_bias)
                if self.callback is not None and self.callback(epoch + 1, self, rmse) is False:
                    break
        self._set_fitted(user_factors, item_factors, user_bias, item_bias)

    def _set_fitted(self, user_factors, item_factors, user_bias, item_bias) -> None:
        # Rows never visited by SGD keep their random start: zero them, so that they score
        # as the baseline they fall back to.
        user_factors[~self.known_users_] = 0
        item_factors[~self.known_items_] = 0
        self._forget_item_vectors()
        self.user_factors_, self.item_factors_ = user_factors, item_factors
        self.user_bias_, self.item_bias_ = user_bias, item_bias

    # --- scores ---------------------------------------------------------------------------

    def _interaction(self, user_index, item_index):
        return np.einsum("ij,ij->i", self.user_factors_[user_index].astype(np.float64),
                         self.item_factors_[item_index].astype(np.float64))

    def _score_pairs(self, user_indices, item_indices):
        return (self.global_mean_ + self.user_bias_[user_indices].astype(np.float64)
                + self.item_bias_[item_indices] + self._interaction(user_indices, item_indices))

    # --- explanation ----------------------------------------------------------------------

    def explain(self, user, item, k: int = 5):
        """Which of the user's ratings make up their predicted rating of ``item``, through the
        fold-in's ridge solve.

        With the items fixed, the user's z_u = [p_u, b_u] that the fold-in solves (see
        ``fold_in``) is linear in the residuals t_j = r_uj − μ − b_j of their ratings:

            z_u = A_u⁻¹ Σ_j ỹ_j t_j,  ỹ_j = [q_j, 1],
            A_u = Σ_j ỹ_j ỹ_jᵀ + n_u diag(reg_factors, ..., reg_factors, reg_bias),

        so the user's part of the prediction, ỹ_i · z_u = p_u · q_i + b_u, is exactly
        Σ_j (ỹ_iᵀ A_u⁻¹ ỹ_j) t_j over the items j they rated.

        BiasedMF's users are fitted by SGD, which no closed form gives back: this decomposes
        the user *as folded in* from their training ratings (``fold_in``,
        ``predict_for_history``), whose prediction is near the fitted user's but not equal.

        Returns
        -------
        ids : the top k rated items (raw IDs), largest term first
        contributions : their terms (ỹ_iᵀ A_u⁻¹ ỹ_j) t_j
        total : their sum over all the user's ratings, p_u · q_i + b_u of the fold-in: the
            unclipped prediction for the user's folded-in history is μ + b_i + total
        """
        return super().explain(user, item, k)

    def _explain_terms(self, user, item):
        history, ratings = self._training_row(user)
        influence = self._ridge_influence(history, item)
        return history, influence * (ratings - self.global_mean_ - self.item_bias_[history])

    def _ridge_influence(self, history: np.ndarray, item: int) -> np.ndarray:
        """ỹ_jᵀ A_u⁻¹ ỹ_i for the items j of one history (see explain), in float64: how much the
        residual of each moves the user's part of the prediction of ``item``."""
        if history.size == 0:
            return np.zeros(0)
        factors = self.item_factors_.astype(np.float64)
        extended = np.hstack([factors[history], np.ones((history.size, 1))])
        penalty = history.size * np.append(np.full(factors.shape[1], float(self.reg_factors)), float(self.reg_bias))
        try:
            # A_u is symmetric: ỹ_jᵀ A_u⁻¹ ỹ_i = ỹ_j · (A_u⁻¹ ỹ_i), one solve for the whole history.
            solved = cho_solve(cho_factor(extended.T @ extended + np.diag(penalty)), np.append(factors[item], 1.0))
        except np.linalg.LinAlgError:
            raise ValueError(f"{type(self).__name__}.explain: the user's ridge system is not positive definite "
                             f"(their {history.size} ratings do not determine the factors); raise 'reg_factors' "
                             f"(now {self.reg_factors}) and 'reg_bias' (now {self.reg_bias}).") from None
        return extended @ solved

    # --- fold-in --------------------------------------------------------------------------

    def _fold_in(self, rows: sp.csr_matrix):
        """Each row's (b_u, p_u) minimising the fitted objective with the items fixed.

        Σ_i (r_ui − μ − b_i − b_u − p_u · q_i)² + n_u (reg_bias b_u² + reg_factors |p_u|²),
        one (factors + 1)-dimensional ridge solve per row: the explicit ALS half-step of
        ``fastcf/kernels/als/``, in float64.
        """
        bias, factors = self._ridge_rows(rows, self.item_factors_, self.item_bias_, np.float64)
        return bias, factors.astype(self.item_factors_.dtype)

    def _ridge_rows(self, rows: sp.csr_matrix, other_factors, other_bias, dtype):
        """(bias, factors) of every row of ``rows`` by ``als_explicit_half_step``, in ``dtype``."""
        dtype = np.dtype(dtype)
        factors = np.empty((rows.shape[0], other_factors.shape[1]), dtype)
        bias = np.empty(rows.shape[0], dtype)
        als_explicit_half_step(
            rows.indptr, rows.indices, rows.data, other_factors.astype(dtype, copy=False), other_bias, factors, bias,
            global_mean=self.global_mean_, reg_factors=self.reg_factors, reg_bias=self.reg_bias,
            n_threads=self.n_threads, backend=self.backend,
        )
        return bias, factors

    # --- incremental updates --------------------------------------------------------------

    def _update(self, seen, new, old_shape) -> None:
        """Exact ridge solves, as ``fold_in`` solves a user: the touched users' (b_u, p_u)
        against the current items, then the touched items' (b_i, q_i) against the users (new
        items only, unless ``_update_fitted_items``), then those users again; other rows do
        not move. New items start from the fit's
        ``init_std`` noise (a new user of only new items would otherwise stay at zero). For
        ExplicitALS this is its own algorithm on the touched rows; for the SGD models it is
        the exact minimiser of the same objective on those rows, the others fixed."""
        dtype = self.item_factors_.dtype
        n_users, n_items = seen.shape
        rng = np.random.default_rng([0 if self.random_state is None else self.random_state, 3, n_items])
        user_factors = np.vstack([self.user_factors_, np.zeros((n_users - old_shape[0], self.factors), dtype)])
        item_factors = np.vstack([self.item_factors_, rng.normal(0.0, self.init_std,
                                                                 (n_items - old_shape[1], self.factors)).astype(dtype)])
        user_bias = np.concatenate([self.user_bias_, np.zeros(n_users - old_shape[0], self.user_bias_.dtype)])
        item_bias = np.concatenate([self.item_bias_, np.zeros(n_items - old_shape[1], self.item_bias_.dtype)])
        self.known_users_ = np.diff(seen.indptr) > 0
        self.known_items_ = np.bincount(seen.indices, minlength=n_items) > 0
        self._grow_extra(old_shape, seen.shape)
        self._forget_item_vectors()
        self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_ = (
            user_factors, item_factors, user_bias, item_bias)
        touched_users = np.flatnonzero(np.diff(new.indptr))
        touched_items = np.unique(new.indices)
        if not self._update_fitted_items:
            touched_items = touched_items[touched_items >= old_shape[1]]
        by_item = seen.T.tocsr()
        steps = (("users", touched_users), ("items", touched_items), ("users", touched_users))
        for step, rows in steps if touched_items.size else steps[:1]:  # no item moved: one user solve is exact
            self._forget_item_vectors()
            if step == "users":
                self._solve_users(rows, seen[rows])
            else:
                bias, factors = self._ridge_rows(by_item[rows], self.user_factors_, self.user_bias_, np.float64)
                self.item_bias_[rows] = bias
                self.item_factors_[rows] = factors.astype(dtype)

    #: Whether an update re-solves fitted items the new entries touch (ExplicitALS, whose fit
    #: is such solves) or only new items (the SGD models: a ridge solve of an item against
    #: SGD-fitted users pulls it away from the users SGD fitted it with, and costs NDCG@10
    #: 0.154 -> 0.117 on ML-100K u1 with 10% new users, against 0.149 for a refit).
    _update_fitted_items = False

    def _grow_extra(self, old_shape, shape) -> None:
        """Grow state beyond factors and biases to ``shape`` (SVDpp's implicit factors)."""

    def _solve_users(self, index: np.ndarray, rows: sp.csr_matrix) -> None:
        bias, factors = self._fold_in(rows)
        self.user_bias_[index] = bias
        self.user_factors_[index] = factors

