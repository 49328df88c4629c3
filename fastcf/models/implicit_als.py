"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008), exact, by conjugate gradient (Takács et al. 2011) or
by subspace (block coordinate) descent, iALS++ (Rendle, Krichene, Zhang & Koren 2021).

Kernel: ``fastcf/kernels/als/``.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

from fastcf.kernels import als_half_step
from fastcf.kernels.als import als_half_step_unchecked, als_loss_unchecked
from fastcf.kernels.als import als_subspace_half_step, als_subspace_half_step_unchecked
from fastcf._validation import check_choice, check_number, check_positive_int
from fastcf.exceptions import DataError
from fastcf.models._factor_init import factor_seed, initial_factors
from fastcf.models.base import FactorModel

__all__ = ["ImplicitALS"]

_SOLVERS = ("cg", "cholesky", "subspace")
#: Sides of the initial factors' streams (fastcf.models._factor_init).
USERS, ITEMS = 0, 1


#: How a stored value r becomes a confidence c (``confidence=``).
CONFIDENCES = ("linear", "raw", "log")


def confidence_values(values: np.ndarray, kind: str = "linear", alpha: float = 1.0, epsilon: float = 1.0) -> np.ndarray:
    """c of stored values r (float64): "linear" 1 + alpha r (Hu et al. 2008), "raw" r itself
    (implicit's convention), "log" 1 + alpha log(1 + r / epsilon) (Hu et al. 2008, eq. 6)."""
    values = values.astype(np.float64)
    if kind == "raw":
        return values
    if kind == "log":
        return 1.0 + alpha * np.log1p(values / epsilon)
    return 1.0 + alpha * values


def confidence_matrix(matrix: sp.csr_matrix, alpha: float, dtype, name: str, owner: str, kind: str = "linear",
                      epsilon: float = 1.0, unobserved_weight: float = 1.0) -> sp.csr_matrix:
    """The confidences of the stored entries, in ``dtype``, divided by ``unobserved_weight``
    α0 for the solvers (see ImplicitALS: the kernels weigh unobserved pairs by 1, and the
    objective divided by α0 has the same minimiser with λ / α0); a confidence that ``dtype``
    cannot hold (1 + 40 * 3e38 in float32) is refused naming its entry, since it would make
    every factor it touches inf or NaN."""
    dtype = np.dtype(dtype)
    values = confidence_values(matrix.data, kind, alpha, epsilon) / unobserved_weight
    largest = np.finfo(dtype).max
    if values.size and np.abs(values).max() > largest:
        bad = int(np.argmax(np.abs(values)))
        row = int(np.searchsorted(matrix.indptr, bad, side="right") - 1)
        raise DataError(f"{owner}: '{name}' value {matrix.data[bad].item()!r} (row {row}, column {matrix.indices[bad]}) "
                        f"gives confidence / unobserved_weight = {values[bad]:.3g}, beyond {dtype.name}; scale the "
                        f"values down or lower 'alpha' (now {alpha:g}).")
    confidence = sp.csr_matrix((values.astype(dtype), matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)
    return confidence


def frequency_regularization(counts, n_other: int, regularization: float, exponent: float,
                             unobserved_weight: float) -> np.ndarray:
    """Each row's λ_u = λ (n_u + α0 n_other)^ν (float64): Rendle et al. 2021's frequency-scaled
    regularisation ("Revisiting the performance of iALS"), λ growing with the row's weight in the
    loss (its n_u stored entries plus its n_other unstored pairs weighted α0) so that one λ fits
    busy and quiet rows alike; ν = 0 gives λ for every row.

    ``counts``: n_u of each row (np.diff of its CSR's indptr); ``n_other``: the other side's
    number of rows (items when solving users); ``unobserved_weight``: α0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    return float(regularization) * (counts + float(unobserved_weight) * float(n_other)) ** float(exponent)


def solver_penalties(indptr: np.ndarray, n_other: int, regularization: float, exponent: float,
                     unobserved_weight: float):
    """(λ, per-row λ_u or None) for the kernels, of the problem divided by α0, for the rows of a
    CSR with this ``indptr``: the flat λ / α0 with ``exponent`` 0 (the kernels' bits as before
    regularization_exp existed), else 0 and frequency_regularization / α0. ImplicitALS and
    fastcf.distributed both call it, so that a distributed fit is the local one."""
    weight = float(unobserved_weight)
    if not float(exponent):
        return float(regularization) / weight, None
    return 0.0, frequency_regularization(np.diff(indptr), n_other, regularization, exponent, weight) / weight


class ImplicitALS(FactorModel):
    """Matrix factorisation for implicit feedback by alternating least squares.

    Each stored value r_ui (a count, a rating, a click) becomes a preference p_ui = 1 with
    confidence c_ui (``confidence``: "linear" 1 + alpha r_ui, the default; "raw" r_ui itself,
    implicit's convention, where a low value may weigh less than an unobserved pair; "log"
    1 + alpha log(1 + r_ui / confidence_epsilon)); every unstored pair has p_ui = 0 and the
    weight alpha0 = ``unobserved_weight`` (Rendle et al. 2021's α0; 1 = Hu et al.). The model
    minimises

        sum over stored (u, i) of c_ui (1 - x_u . y_i)^2 + alpha0 sum over unstored (u, i) of (x_u . y_i)^2
            + sum over users u of lambda_u |x_u|^2 + sum over items i of lambda_i |y_i|^2,

        lambda_u = regularization (n_u + alpha0 n_items)^nu,  lambda_i = regularization (n_i + alpha0 n_users)^nu,

    where n_u and n_i count the user's and the item's stored entries and nu =
    ``regularization_exp`` (Rendle et al. 2021's frequency-scaled regularisation; the default
    nu = 0 is the plain regularization (|X|^2 + |Y|^2) of Hu et al.)

    by alternately solving every user's and every item's factors in closed form
    (``solver="cholesky"``) or by ``cg_steps`` warm-started conjugate-gradient steps
    (``solver="cg"``, much cheaper per iteration at nearly the same quality). Each iteration
    solves items, then users, so that the user factors are exact for the final item factors:
    folding in a training user with the Cholesky solver gives back its fitted factors.

    ``solver="subspace"`` is iALS++ (Rendle, Krichene, Zhang & Koren 2021): each half-step
    takes every row once through its factors ``block_size`` dimensions at a time, each block
    solved exactly with the others fixed and the row's predictions kept up to date, starting
    from the current factors. A half-step costs O(nnz f b + n f²) for b = ``block_size``
    against O(nnz f² + n f³) for the Cholesky solver, so it pays at large ``factors``;
    it lowers the loss at every half-step but solves no row exactly, so it needs more
    iterations than "cholesky" for the same loss. ``block_size >= factors`` is the Cholesky
    solver. Fold-in and ``partial_fit`` still solve exactly.

    Stored values must be >= 0 (``fit`` raises ValueError naming the first negative one):
    c_ui below 1 would subtract from the normal equations and can make them indefinite.

    Parameters
    ----------
    factors : int >= 1
    regularization : float >= 0
    alpha : float >= 0
        Confidence slope ("linear" and "log").
    confidence : {"linear", "raw", "log"}
    confidence_epsilon : float > 0
        The scale of "log": 1 + alpha log(1 + r / epsilon).
    unobserved_weight : float > 0
        alpha0, the weight of every unstored pair. The solvers use the equivalent problem
        divided by alpha0 (confidences c / alpha0, regularization / alpha0): the same factors.
    regularization_exp : float >= 0
        nu, the exponent of the frequency scaling above: 0 (default) a flat regularization;
        1 Rendle et al.'s recipe (with regularization about 0.003 and unobserved_weight 0.1 on
        MovieLens 20M, in their paper), which regularises each row in proportion to its weight
        in the loss. See ``frequency_regularization``.
    iterations : int >= 1
    solver : {"cg", "cholesky", "subspace"}
    cg_steps : int >= 1
        CG steps per row and half-step (solver="cg").
    block_size : int >= 1
        Dimensions per block (solver="subspace"). The default 32 keeps a block's 32 x 32
        system (4 KiB in float32) and each entry's 32-wide slice of y_i (two cache lines in
        float32) small next to the factors, so a half-step costs about block_size / factors
        of a Cholesky half-step's O(nnz f²) while each block's solve is still a dense one;
        smaller blocks move toward coordinate descent (cheaper steps, slower progress per
        sweep), larger ones toward the exact solve.
    dtype : float32 or float64
    random_state : int or None
        Seeds the initial factors (uniform, standard deviation 0.01, each row drawn from its
        own place in the seed's stream); one seed gives one model for any thread count, and
        the same model when fitted in row blocks by ``fastcf.distributed.fit_als``.
    n_threads : int >= 1 or None
        Threads for the kernels (None: ``fastcf.get_num_threads()``).
    backend : {"auto", "cython", "numba", "reference"} or None
    callback : callable(iteration, model, loss or None) or None
        Called after every iteration; return False to stop early.
    track_loss : bool
        Compute the loss after every iteration (one extra pass); kept in ``loss_history_``.
    show_progress : bool or None
        A progress bar on stderr: None (default) follows ``fastcf.set_progress`` (auto: when
        stderr is a terminal and the fit runs over a second), True always, False never. Log
        lines go to the "fastcf" logger (INFO per fit, DEBUG per iteration); see fastcf.progress.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, factors)
    item_factors_ : ndarray of shape (n_items, factors)
    loss_history_ : list of float (with track_loss)
    users_, items_ : IdMap or None
    """

    _nonnegative_data = True

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        solver: str = "cg",
        cg_steps: int = 3,
        dtype=np.float32,
        random_state: Optional[int] = None,
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
        callback: Optional[Callable] = None,
        track_loss: bool = False,
        show_progress: Optional[bool] = None,
        confidence: str = "linear",
        confidence_epsilon: float = 1.0,
        unobserved_weight: float = 1.0,
        regularization_exp: float = 0.0,
        block_size: int = 32,
    ):
        self.confidence = confidence
        self.confidence_epsilon = confidence_epsilon
        self.unobserved_weight = unobserved_weight
        self.regularization_exp = regularization_exp
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.block_size = block_size
        self.dtype = dtype
        self.random_state = random_state
        self.n_threads = n_threads
        self.backend = backend
        self.callback = callback
        self.track_loss = track_loss
        self.show_progress = show_progress

    # --- parameters -----------------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        check_positive_int(self.factors, "factors", name)
        check_positive_int(self.iterations, "iterations", name)
        check_positive_int(self.cg_steps, "cg_steps", name)
        check_positive_int(self.block_size, "block_size", name)
        for param in ("regularization", "alpha", "regularization_exp"):
            check_number(getattr(self, param), param, name)
        check_choice(self.solver, "solver", name, _SOLVERS)
        check_choice(self.confidence, "confidence", name, CONFIDENCES)
        for param in ("confidence_epsilon", "unobserved_weight"):
            check_number(getattr(self, param), param, name, strict=True)
        self._check_common_params()

    def _formulation(self) -> dict:
        """How stored values become the solvers' confidences (confidence_matrix's keywords)."""
        return dict(alpha=float(self.alpha), kind=self.confidence, epsilon=float(self.confidence_epsilon),
                    unobserved_weight=float(self.unobserved_weight))

    @property
    def _penalty(self) -> tuple:
        """(regularization, regularization_exp, unobserved_weight): solver_penalties' parameters."""
        return float(self.regularization), float(self.regularization_exp), float(self.unobserved_weight)

    def _penalties(self, indptr: np.ndarray, n_other: int):
        """solver_penalties of this model for the rows of a CSR with this ``indptr``."""
        return solver_penalties(indptr, n_other, *self._penalty)

    def _confidence(self, matrix: sp.csr_matrix, owner: str = "fit", name: str = "data", dtype=None) -> sp.csr_matrix:
        return confidence_matrix(matrix, dtype=self.dtype if dtype is None else dtype, name=name,
                                 owner=f"{type(self).__name__}.{owner}", **self._formulation())

    @property
    def _cg(self) -> int:
        return self.cg_steps if self.solver == "cg" else 0

    # --- fit ------------------------------------------------------------------------------

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        dtype = np.dtype(self.dtype)
        user_items = self._confidence(matrix)
        item_users = user_items.T.tocsr()
        # Small random starts, each row's from its own place in the seed's stream, so that a
        # fit split into row blocks (fastcf.distributed) starts from the same factors.
        seed = factor_seed(self.random_state)
        user_factors = initial_factors(seed, USERS, 0, matrix.shape[0], self.factors, dtype)
        item_factors = initial_factors(seed, ITEMS, 0, matrix.shape[1], self.factors, dtype)
        self.loss_history_ = []
        with self._progress(self.iterations) as progress:
            for iteration in range(1, self.iterations + 1):
                # The first half-steps check the arrays in full; later ones reuse them unchanged
                # (factors are checked for finiteness below), so they skip the O(nnz) re-check.
                checked = iteration == 1
                self._half_step(item_users, user_factors, item_factors, checked=checked)
                self._half_step(user_items, item_factors, user_factors, checked=checked)
                for name, factors in (("item", item_factors), ("user", user_factors)):
                    if not np.isfinite(factors).all():
                        raise FloatingPointError(
                            f"{type(self).__name__}: {name} factors became non-finite in iteration {iteration}; "
                            f"raise 'regularization' (now {self.regularization}) or lower 'alpha' (now {self.alpha})."
                        )
                loss = None
                if self.track_loss:
                    regularization, user_penalties = self._penalties(user_items.indptr, matrix.shape[1])
                    item_penalties = self._penalties(item_users.indptr, matrix.shape[0])[1]
                    loss = als_loss_unchecked(
                        user_items.indptr, user_items.indices, user_items.data, user_factors, item_factors,
                        regularization, self.n_threads, self.backend, user_penalties, item_penalties,
                    ) * float(self.unobserved_weight)  # the loss of the problem as stated, not divided by α0
                    self.loss_history_.append(loss)
                progress.update(loss=loss)
                self.user_factors_, self.item_factors_ = user_factors, item_factors
                if self.callback is not None and self.callback(iteration, self, loss) is False:
                    break
        self.user_factors_, self.item_factors_ = user_factors, item_factors

    def _half_step(self, confidence: sp.csr_matrix, other, factors, cg_steps: Optional[int] = None,
                   checked: bool = True) -> None:
        arrays = (confidence.indptr, confidence.indices, confidence.data, other, factors)
        # Each row's count is its whole row's (fit, fold-in and partial_fit all pass full rows),
        # and the other side is the whole of it.
        regularization, rows = self._penalties(confidence.indptr, other.shape[0])
        if self.solver == "subspace" and cg_steps is None:  # fold-in and partial_fit ask for exact solves
            if checked:
                als_subspace_half_step(*arrays, regularization=regularization, block_size=self.block_size,
                                       row_regularization=rows, n_threads=self.n_threads, backend=self.backend)
            else:
                als_subspace_half_step_unchecked(*arrays, regularization, self.block_size, n_threads=self.n_threads,
                                                 backend=self.backend, row_regularization=rows)
            return
        cg_steps = self._cg if cg_steps is None else cg_steps
        if checked:
            als_half_step(*arrays, regularization=regularization, row_regularization=rows, cg_steps=cg_steps,
                          n_threads=self.n_threads, backend=self.backend)
        else:
            als_half_step_unchecked(*arrays, regularization, cg_steps, None, self.n_threads, self.backend, rows)

    # --- fold-in --------------------------------------------------------------------------

    def _fold_in(self, rows: sp.csr_matrix) -> np.ndarray:
        """New users' factors, each user's least-squares problem solved exactly (as a Cholesky
        half-step would) with the item factors fixed."""
        # The histories were checked by _history_rows and the item factors by fit or load:
        # the unchecked core, so that a fold-in does not scan the whole item-factor matrix.
        confidence = self._confidence(rows, "fold_in", "history", self.item_factors_.dtype)
        if confidence.indptr.dtype != confidence.indices.dtype:
            confidence.indptr, confidence.indices = confidence.indptr.astype(np.int64), confidence.indices.astype(np.int64)
        factors = np.zeros((rows.shape[0], self.item_factors_.shape[1]), dtype=self.item_factors_.dtype)
        self._half_step(confidence, np.ascontiguousarray(self.item_factors_), factors, cg_steps=0, checked=False)
        return factors

    # --- explanation ----------------------------------------------------------------------

    def explain(self, user, item, k: int = 5):
        """Which of the user's training items contribute most to their score for ``item``.

        With W = (Yᵀ C_u Y + λ_u I)⁻¹ (λ_u the user's regularization, see the class) the score
        decomposes exactly (Hu et al. 2008, sec. 5) as
        x_u · y_i = Σ_j c_uj (y_iᵀ W y_j) over the user's items j (exact for factors solved
        exactly, as with the Cholesky solver or by fold-in).

        Returns
        -------
        ids : the top k contributing items (raw IDs), largest contribution first
        contributions : their terms c_uj y_iᵀ W y_j
        total : the sum over all the user's items, i.e. the score of ``item`` for a user with
            this history solved exactly
        """
        return super().explain(user, item, k)

    def _explain_terms(self, user, item):
        history, values = self._training_row(user)
        confidence = confidence_values(values, self.confidence, self.alpha, self.confidence_epsilon)
        weight = float(self.unobserved_weight)
        Y = self.item_factors_.astype(np.float64)
        Yu = Y[history]
        penalty = float(frequency_regularization(history.size, Y.shape[0], self.regularization, self.regularization_exp,
                                                 weight))
        A = weight * (Y.T @ Y) + (Yu * (confidence - weight)[:, None]).T @ Yu + penalty * np.eye(Y.shape[1])
        # A is symmetric: y_iᵀ A⁻¹ y_j = (A⁻¹ y_i) · y_j, one solve for all the user's items.
        weights = np.linalg.solve(A, Y[item])
        return history, confidence * (Yu @ weights)

    # --- incremental updates -------------------------------------------------------------

    def _update(self, seen, new, old_shape) -> None:
        """Re-solve the users the new entries touch, then their items, then those users again,
        each exactly (Cholesky) against the current other side; other rows stay bit for bit.
        New rows start from the fit's random initial factors (their own place in the seed's
        stream), so that new users with only new items do not stay at zero."""
        dtype = self.user_factors_.dtype
        seed = factor_seed(self.random_state)
        user_factors = np.vstack([self.user_factors_, initial_factors(seed, USERS, old_shape[0], seen.shape[0],
                                                                      self.factors, dtype)])
        item_factors = np.vstack([self.item_factors_, initial_factors(seed, ITEMS, old_shape[1], seen.shape[1],
                                                                      self.factors, dtype)])
        touched_users = np.flatnonzero(np.diff(new.indptr))
        touched_items = np.unique(new.indices)
        user_items = self._confidence(seen, "partial_fit")
        item_users = user_items.T.tocsr()
        for rows, csr, other, factors in (
            (touched_users, user_items, item_factors, user_factors),
            (touched_items, item_users, user_factors, item_factors),
            (touched_users, user_items, item_factors, user_factors),
        ):
            solved = np.zeros((rows.size, self.factors), dtype=dtype)
            self._half_step(csr[rows], other, solved, cg_steps=0)
            factors[rows] = solved
        self.user_factors_, self.item_factors_ = user_factors, item_factors
