"""SVD++ (Koren 2008, "Factorization meets the neighborhood") by reproducible parallel SGD.

Kernel: ``fastcf/kernels/sgd/`` (``svdpp_epoch``, the block schedule of ``sgd_epoch``).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf.data.interactions import entry_rows
from fastcf.kernels import sgd_schedule, svdpp_epoch
from fastcf.kernels.sgd import check_schedule_blocks, svdpp_epoch_unchecked
from fastcf._validation import check_number
from fastcf.models.explicit_mf import BiasedMF

__all__ = ["SVDpp"]


class SVDpp(BiasedMF):
    """SVD++: r̂_ui = μ + b_u + b_i + q_i · (p_u + |N(u)|^-½ Σ_{j ∈ N(u)} y_j).

    N(u) is the set of items user u rated in training (the implicit feedback of having rated
    them, whatever the rating). Fitted by SGD on the block schedule of BiasedMF, so that one
    ``random_state`` and one ``n_blocks`` give one model, bit for bit, for any ``n_threads``.

    Each epoch (the y_j of a user's items lie in every item range, so they cannot be written
    by the parallel blocks without races or a thread-dependent order):

    1. z_u = |N(u)|^-½ Σ_{j ∈ N(u)} y_j for every user (a sparse product);
    2. one ``svdpp_epoch`` over the ratings with z_u fixed: the bias, p_u and q_i steps of
       Koren (2008) with user vector p_u + z_u, accumulating g_u = Σ_i e_ui q_i per user;
    3. every y_j takes the mean, over the users R(j) who rated j, of the step a user-wise pass
       would give it (as MyMediaLite's SVD++ does, one step per user instead of one per rating):
       y_j += lr (mean_{u ∈ R(j)} |N(u)|^-½ g_u − reg_implicit y_j).

    The mean, not the sum: all |R(j)| steps are taken from one state, so a summed step is
    |R(j)| per-user steps at once and diverges on popular items at any fixed rate as the data
    grows (MovieLens 10M, up to ~67,000 raters an item on the synthetic shape, diverged in
    epoch 2). With the mean, the change of every z_u is lr W D⁻¹ Wᵀ g (W the |N(u)|^-½ weights,
    D = diag |R(j)|), and ‖W D⁻¹ Wᵀ‖ ≤ 1 because D⁻¹ WᵀW has nonnegative rows summing to 1:
    no larger than one user-wise step lr g_u, whatever the number of raters. The fixed point
    (mean step = reg_implicit y_j) is the same as the summed step's, so the model fitted to
    convergence is unchanged; only the step size per item is.

    Serving: ``user_factors_`` holds the effective user vectors p_u + z_u, so recommend,
    predict and similar_users work as for BiasedMF. ``fold_in`` gives a new user z from
    their rated items (with the fitted y) and solves b_u, p_u exactly on top of it; the
    returned factors are p_u + z.

    Parameters
    ----------
    As :class:`~fastcf.models.explicit_mf.BiasedMF`, plus

    reg_implicit : float >= 0
        Penalty on the y_j.
    learning_rate_implicit : float > 0 or None
        Learning rate of the y_j steps (decayed like ``learning_rate``); None uses
        ``learning_rate``. The rate of the mean step (step 3); mean RMSE below at 0.015:
        0.9064, 0.03: 0.9054, 0.05: 0.9049, 0.08: 0.9051, 0.15: 0.9075. (The former summed
        step, at 0.001, gave 0.9022 here but diverged on MovieLens 10M.)

    The defaults were tuned on the five canned MovieLens 100K folds u1..u5: mean test RMSE
    0.905 (Surprise's published SVDpp figure: 0.919).

    Attributes
    ----------
    As BiasedMF, with ``user_factors_`` = p_u + z_u, plus
    explicit_user_factors_ : ndarray of shape (n_users, factors), the p_u
    implicit_factors_ : ndarray of shape (n_items, factors), the y_j
    """

    _restorable_ = ("explicit_user_factors_", "implicit_factors_")
    _state_shapes = {"explicit_user_factors_": ("n_users", "factors"), "implicit_factors_": ("n_items", "factors")}

    def __init__(
        self,
        *,
        factors: int = 100,
        epochs: int = 50,
        learning_rate: float = 0.015,
        learning_rate_decay: float = 0.95,
        reg_factors: float = 0.05,
        reg_bias: float = 0.02,
        reg_implicit: float = 0.05,
        learning_rate_implicit: Optional[float] = 0.05,
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
        super().__init__(
            factors=factors, epochs=epochs, learning_rate=learning_rate, learning_rate_decay=learning_rate_decay,
            reg_factors=reg_factors, reg_bias=reg_bias, init_std=init_std, n_blocks=n_blocks, shuffle=shuffle,
            rating_scale=rating_scale, dtype=dtype, random_state=random_state, n_threads=n_threads,
            backend=backend, callback=callback, show_progress=show_progress,
        )
        self.reg_implicit = reg_implicit
        self.learning_rate_implicit = learning_rate_implicit

    def _check_params(self) -> None:
        super()._check_params()
        name = type(self).__name__
        check_number(self.reg_implicit, "reg_implicit", name)
        if self.learning_rate_implicit is not None:
            check_number(self.learning_rate_implicit, "learning_rate_implicit", name, strict=True)

    def _implicit_rows(self, rows: sp.csr_matrix, dtype) -> sp.csr_matrix:
        """|N(u)|^-½ on every stored entry of each row (N(u) = the row's items)."""
        counts = np.diff(rows.indptr)
        scale = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
        return sp.csr_matrix((np.repeat(scale, counts).astype(dtype), rows.indices, rows.indptr), shape=rows.shape)

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self._fit_scale(matrix)
        dtype = np.dtype(self.dtype)
        n_users, n_items = matrix.shape
        check_schedule_blocks(self.n_blocks, matrix.nnz, n_users, n_items, f"{type(self).__name__}.fit")
        rng = np.random.default_rng(self.random_state)
        user_factors = rng.normal(0.0, self.init_std, (n_users, self.factors)).astype(dtype)
        item_factors = rng.normal(0.0, self.init_std, (n_items, self.factors)).astype(dtype)
        implicit = np.zeros((n_items, self.factors), dtype)
        user_bias, item_bias = np.zeros(n_users, dtype), np.zeros(n_items, dtype)
        users, items = entry_rows(matrix), matrix.indices
        seed = int(rng.integers(2**63)) if self.shuffle else None
        block_ptr, order = sgd_schedule(users, items, n_users, n_items, self.n_blocks, seed=seed)
        users, items = users[order].astype(items.dtype), items[order]
        ratings = matrix.data[order].astype(dtype)
        weights = self._implicit_rows(matrix, dtype)
        weights_t = weights.T.tocsr()
        raters = np.diff(weights_t.indptr)
        inverse_raters = (1.0 / np.maximum(raters, 1)).astype(dtype)  # items nobody rated have no step
        implicit_rate = self.learning_rate if self.learning_rate_implicit is None else self.learning_rate_implicit
        self.loss_history_ = []
        sums = np.zeros_like(user_factors)  # z_u, as implicit starts at 0
        with self._progress(self.epochs, "epoch") as progress:
            for epoch in range(self.epochs):
                decay = self.learning_rate_decay ** epoch
                gradients = np.zeros_like(user_factors)
                arrays = (block_ptr, users, items, ratings, user_factors, sums, item_factors, user_bias, item_bias,
                          gradients)
                if epoch == 0:
                    sse = svdpp_epoch(*arrays, global_mean=self.global_mean_, learning_rate=self.learning_rate * decay,
                                      reg_factors=self.reg_factors, reg_bias=self.reg_bias, n_threads=self.n_threads,
                                      backend=self.backend)
                else:  # the arrays the first epoch checked; sums and gradients are made here, finite
                    sse = svdpp_epoch_unchecked(*arrays, self.global_mean_, self.learning_rate * decay,
                                                self.reg_factors, self.reg_bias, self.n_threads, self.backend)
                # The mean, not the sum, of the users' steps: a summed step grows with |R(j)| and
                # diverges on popular items at any fixed rate; the mean is bounded (see the docstring).
                lr = implicit_rate * decay
                step = (weights_t @ gradients) * inverse_raters[:, None]
                implicit = (implicit * dtype.type(1.0 - lr * self.reg_implicit) + (lr * step).astype(dtype)).astype(dtype)
                implicit[~self.known_items_] = 0
                # The next epoch's z_u, and this epoch's effective user vectors p_u + z_u.
                sums = np.ascontiguousarray(weights @ implicit, dtype=dtype)
                rmse = float(np.sqrt(sse / ratings.size))
                if not (np.isfinite(rmse) and np.isfinite(implicit).all()):
                    raise FloatingPointError(
                        f"{type(self).__name__}: the factors diverged in epoch {epoch + 1}; lower 'learning_rate' "
                        f"(now {self.learning_rate}) or raise 'reg_implicit' (now {self.reg_implicit})."
                    )
                self.loss_history_.append(rmse)
                progress.update(rmse=rmse)
                self._set_svdpp(user_factors, item_factors, user_bias, item_bias, implicit, sums)
                if self.callback is not None and self.callback(epoch + 1, self, rmse) is False:
                    break

    def _set_svdpp(self, user_factors, item_factors, user_bias, item_bias, implicit, sums) -> None:
        user_factors[~self.known_users_] = 0
        self.explicit_user_factors_ = user_factors
        self.implicit_factors_ = implicit
        effective = user_factors + sums
        self._set_fitted(effective, item_factors, user_bias, item_bias)

    def explain(self, user, item, k: int = 5):
        """Which of the user's ratings make up their predicted rating of ``item``, through the
        fold-in.

        The fold-in (see ``fold_in``) takes z = |N(u)|^-½ Σ_l y_l over the rated items, then
        solves [p_u, b_u] = A_u⁻¹ Σ_j ỹ_j (t_j − q_j · z) as BiasedMF does, t_j = r_uj − μ − b_j.
        With a_j = ỹ_iᵀ A_u⁻¹ ỹ_j, the user's part of the prediction is

            q_i · (p_u + z) + b_u = Σ_j a_j t_j + (q_i − Σ_j a_j q_j) · z
                                  = Σ_l [a_l t_l + |N(u)|^-½ (q_i − Σ_j a_j q_j) · y_l],

        exactly a sum over the rated items l: what the rating of l moves through the solve,
        plus what having rated l moves through y_l (net of what the solve takes back).

        SVD++'s users are fitted by SGD, which no closed form gives back: this decomposes the
        user *as folded in* from their training ratings (``fold_in``, ``predict_for_history``),
        whose prediction is near the fitted user's but not equal.

        Returns
        -------
        ids : the top k rated items (raw IDs), largest term first
        contributions : their terms a_l t_l + |N(u)|^-½ (q_i − Σ_j a_j q_j) · y_l
        total : their sum, q_i · (p_u + z) + b_u of the fold-in: the unclipped prediction for
            the user's folded-in history is μ + b_i + total
        """
        return super().explain(user, item, k)

    def _explain_terms(self, user, item):
        history, ratings = self._training_row(user)
        if history.size == 0:
            return history, np.zeros(0)
        influence = self._ridge_influence(history, item)
        factors = self.item_factors_.astype(np.float64)
        # z enters twice: in q_i · z, and through the residuals r − q_j · z the solve fits.
        net = factors[item] - influence @ factors[history]
        implicit = self.implicit_factors_[history].astype(np.float64) @ net / np.sqrt(history.size)
        return history, influence * (ratings - self.global_mean_ - self.item_bias_[history]) + implicit

    def _fold_in(self, rows: sp.csr_matrix):
        """z from the rated items, then (b_u, p_u) by the exact ridge solve of BiasedMF on r − q_i · z."""
        sums = np.asarray(self._implicit_rows(rows, np.float64) @ self.implicit_factors_.astype(np.float64))
        shifted = rows.copy()
        index_rows = entry_rows(rows)
        shifted.data = rows.data - np.einsum("ij,ij->i", sums[index_rows],
                                             self.item_factors_[rows.indices].astype(np.float64))
        bias, factors = super()._fold_in(shifted)
        return bias, (factors.astype(np.float64) + sums).astype(self.item_factors_.dtype)

    def _grow_extra(self, old_shape, shape) -> None:
        # A new item's y_j starts at zero: it enters new users' z_u once a full fit learns it.
        dtype = self.implicit_factors_.dtype
        self.implicit_factors_ = np.vstack([self.implicit_factors_,
                                            np.zeros((shape[1] - old_shape[1], self.factors), dtype)])
        self.explicit_user_factors_ = np.vstack([self.explicit_user_factors_,
                                                 np.zeros((shape[0] - old_shape[0], self.factors), dtype)])

    def _solve_users(self, index, rows) -> None:
        """(b_u, p_u + z_u) as fold_in solves it; p_u kept apart as the fit keeps it."""
        bias, effective = self._fold_in(rows)
        sums = np.asarray(self._implicit_rows(rows, np.float64) @ self.implicit_factors_.astype(np.float64))
        self.user_bias_[index] = bias
        self.user_factors_[index] = effective
        self.explicit_user_factors_[index] = (effective.astype(np.float64) - sums).astype(effective.dtype)

