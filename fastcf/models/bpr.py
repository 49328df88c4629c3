"""Matrix factorisation for implicit feedback with ranking losses: BPR (Rendle et al. 2009) and WARP (Weston et al. 2011).

Kernel: ``fastcf/kernels/bpr/`` (SGD over sampled triples, one random stream pair per block).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

from fastcf.data.interactions import entry_rows
from fastcf.kernels import harmonic_rank_weights, ranking_epoch, ranking_rng_state
from fastcf.kernels.bpr import check_ranking_blocks
from fastcf._validation import check_flag, check_number, check_positive_int, check_sgd_schedule
from fastcf.models.base import FactorModel

__all__ = ["BPR", "RankingFactorModel", "WARP"]


class RankingFactorModel(FactorModel):
    """What BPR, WARP and HybridMF share: the SGD loop, scores with item biases, fold-in.

    Scores are s_ui = p_u · q_i + b_i, p_u = ``user_factors_[u]``, q_i = ``item_factors_[i]``
    and b_i = ``item_bias_[i]`` (zero without ``item_bias``). Subclasses give ``_loss`` and
    may represent users and items by features (:class:`~fastcf.models.hybrid.HybridMF`).

    Threads. One ``random_state`` and one ``n_blocks`` give one model, bit for bit, at any
    ``n_threads`` and on every run: users and items are cut into ``n_blocks`` blocks each and
    the threads take cells of a grid that share no row (``fastcf/kernels/bpr/__init__.py``).
    """

    _fitted_attributes = ("seen_", "user_factors_", "item_factors_", "item_bias_")
    _restorable_ = ("item_bias_",)
    _loss = "bpr"
    # Files saved before the racy schedule was removed name the grid, which is now the only one.
    _retired_parameters = {"schedule": "grid"}
    # Every stored entry is a positive whatever its value: a negative value is a dislike that
    # would silently be learned as a like, so it is refused instead.
    _nonnegative_data = True

    # --- parameters -----------------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        check_sgd_schedule(self, name)
        check_ranking_blocks(self.n_blocks, name)
        check_positive_int(self.max_sampled, "max_sampled", name)
        check_positive_int(self.fold_in_epochs, "fold_in_epochs", name)
        for param in ("regularization", "bias_regularization", "init_std"):
            check_number(getattr(self, param), param, name)
        if self.samples_per_epoch is not None:
            check_positive_int(self.samples_per_epoch, "samples_per_epoch", name)
        check_flag(self.item_bias, "item_bias", name)
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"{name}: 'dtype' must be float32 or float64; got {np.dtype(self.dtype)}.")
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"{name}: 'callback' must be callable or None; got {type(self.callback).__name__}.")

    # --- fit ------------------------------------------------------------------------------

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self._fit_embeddings(matrix, None, None)

    def _fit_embeddings(self, matrix, user_features, item_features) -> None:
        """SGD on the ranking loss; features are CSR (rows x features) or None for identity."""
        dtype = np.dtype(self.dtype)
        positives = _positives(matrix)
        n_user_rows = matrix.shape[0] if user_features is None else user_features.shape[1]
        n_item_rows = matrix.shape[1] if item_features is None else item_features.shape[1]
        rng = np.random.default_rng(self.random_state)
        user_embeddings = rng.normal(0.0, self.init_std, (n_user_rows, self.factors)).astype(dtype)
        item_embeddings = rng.normal(0.0, self.init_std, (n_item_rows, self.factors)).astype(dtype)
        bias = np.zeros(n_item_rows, dtype)
        streams = ranking_rng_state(int(rng.integers(2**63)), self.n_blocks)
        n_samples = positives.nnz if self.samples_per_epoch is None else self.samples_per_epoch
        if positives.nnz == 0:
            n_samples = 0
        entry_users = entry_rows(positives).astype(positives.indices.dtype)
        rank_weights = self._rank_weights(matrix.shape[1])
        self.loss_history_ = []
        with self._progress(self.epochs, "epoch") as progress:
            for epoch in range(1, self.epochs + 1):
                ordered = ranking_epoch(
                    positives.indptr, positives.indices, entry_users, user_embeddings, item_embeddings, bias, streams,
                    loss=self._loss, n_samples=n_samples, max_sampled=self.max_sampled,
                    learning_rate=self.learning_rate * self.learning_rate_decay ** (epoch - 1),
                    reg_user=self.regularization, reg_item=self.regularization,
                    reg_bias=self.bias_regularization, learn_bias=self.item_bias, user_features=user_features,
                    item_features=item_features, rank_weights=rank_weights, n_threads=self.n_threads,
                    backend=self.backend,
                )
                if not (np.isfinite(user_embeddings).all() and np.isfinite(item_embeddings).all()):
                    raise FloatingPointError(
                        f"{type(self).__name__}: the factors diverged in epoch {epoch}; lower 'learning_rate' "
                        f"(now {self.learning_rate}) or raise 'regularization' (now {self.regularization})."
                    )
                self.loss_history_.append(ordered)
                progress.update(ordered=ordered)
                self._set_embeddings(user_embeddings, item_embeddings, bias, user_features, item_features)
                if self.callback is not None and self.callback(epoch, self, ordered) is False:
                    break
        self._set_embeddings(user_embeddings, item_embeddings, bias, user_features, item_features)

    def _rank_weights(self, n_items: int) -> np.ndarray:
        """WARP's L(r): the harmonic number H(r), divided by H(n_items) so that a step is never
        larger than the learning rate (plain SGD on the raw H(r), up to ~10, diverges)."""
        weights = harmonic_rank_weights(n_items)
        return weights / weights[-1]

    def _set_embeddings(self, user_embeddings, item_embeddings, bias, user_features, item_features) -> None:
        self._forget_item_vectors()
        self.user_factors_, self.item_factors_, self.item_bias_ = user_embeddings, item_embeddings, bias

    # --- incremental updates --------------------------------------------------------------

    def _update(self, seen, new, old_shape) -> None:
        """The touched users are folded in again from where they are (new users from zero),
        the items fixed: the model's fold-in, ``fold_in_epochs`` SGD passes over each one's
        history. Where the update brings new items, they learn next: ``fold_in_epochs``
        epochs of the model's SGD over the new items' entries, items learning, of which only
        the new items keep what they learned (the fitted items drawn as negatives go back to
        their rows: passes over a few users' entries would push them up or down for
        everyone), and the users are folded in once more. A new item starts from ``init_std``
        noise, and its bias is not learned from these few users: it keeps the fitted items'
        mean (a ranking fit's biases sit mostly below 0, so a zero would rank an item nobody
        has had above most). Seeded by ``random_state`` and the update's shape; one thread, so
        one seed gives one result."""
        dtype = self.item_factors_.dtype
        n_users, n_items = seen.shape
        rng = np.random.default_rng([0 if self.random_state is None else self.random_state, 4, n_users, n_items])
        user_factors = np.vstack([self.user_factors_, np.zeros((n_users - old_shape[0], self.factors), dtype)])
        item_factors = np.vstack([self.item_factors_, rng.normal(0.0, self.init_std,
                                                                 (n_items - old_shape[1], self.factors)).astype(dtype)])
        start_bias = self.item_bias_.mean() if self.item_bias_.size else 0.0
        bias = np.concatenate([self.item_bias_, np.full(n_items - old_shape[1], start_bias, dtype)])
        touched = np.flatnonzero(np.diff(new.indptr) > 0)
        self._set_embeddings(user_factors, item_factors, bias, None, None)
        user_factors[touched] = self._fold_in(seen[touched], start=user_factors[touched])
        if n_items == old_shape[1]:
            return
        # The positives of the new items only: nothing else keeps what the pass learns.
        on_new = new.indices >= old_shape[1]
        counts = np.bincount(np.repeat(np.arange(n_users), np.diff(new.indptr))[on_new], minlength=n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(new.indptr.dtype)
        positives = _positives(sp.csr_matrix((new.data[on_new], new.indices[on_new], indptr), shape=seen.shape))
        fitted_items, fitted_bias = item_factors[:old_shape[1]].copy(), bias[:old_shape[1]].copy()
        ranking_epoch(
            positives.indptr, positives.indices, entry_rows(positives).astype(positives.indices.dtype), user_factors,
            item_factors, bias, ranking_rng_state(int(rng.integers(2**63)), 1), loss=self._loss,
            n_samples=positives.nnz * self.fold_in_epochs, max_sampled=self.max_sampled,
            learning_rate=self.learning_rate, reg_user=self.regularization, reg_item=self.regularization,
            reg_bias=self.bias_regularization, learn_bias=False, rank_weights=self._rank_weights(n_items),
            n_threads=1, backend=self.backend,
        )
        item_factors[:old_shape[1]], bias[:old_shape[1]] = fitted_items, fitted_bias
        self._set_embeddings(user_factors, item_factors, bias, None, None)
        user_factors[touched] = self._fold_in(seen[touched], start=user_factors[touched])

    # --- scores: [p_u, 1] · [q_i, b_i] --------------------------------------------------

    def _query_vectors(self, state):
        dtype = self.item_factors_.dtype
        return np.hstack([state.astype(dtype, copy=False), np.ones((state.shape[0], 1), dtype)]), None

    def _item_vectors(self):
        return self._cached_item_vectors(lambda: np.hstack([self.item_factors_, self.item_bias_[:, None]]),
                                         self.item_factors_, self.item_bias_)

    # --- explanation ----------------------------------------------------------------------

    def explain(self, user, item, k: int = 5):
        """An approximate explanation: the user's training items closest to ``item`` in factor space.

        The score p_u · q_i + b_i does not decompose over the history: p_u is the end of SGD
        over sampled (positive, negative) pairs, not a function of the history that can be
        taken apart. What this gives instead is the item side of why ``item`` ranks high:
        how closely its factors point where those of the user's items do, in the space the
        score is computed in. The terms are the dot products q_i · q_j over the user's
        training items j; they do not sum to the score.

        Returns
        -------
        ids : the top k training items (raw IDs), largest q_i · q_j first
        contributions : q_i · q_j
        total : their sum over all the user's items, q_i · Σ_j q_j: the score (item bias
            left out) of a user represented by the sum of their items' factors, not the
            model's score
        """
        return super().explain(user, item, k)

    def _explain_terms(self, user, item):
        history, _ = self._training_row(user)
        factors = self.item_factors_
        return history, factors[history].astype(np.float64) @ factors[item].astype(np.float64)

    # --- fold-in --------------------------------------------------------------------------

    def user_factors_for(self, history, *, start=None) -> np.ndarray:
        """Factors of users not seen in training, from their histories, the item side fixed.

        Each new user's vector starts at ``start`` (zero by default) and takes
        ``fold_in_epochs`` passes of the model's SGD over its history (as many sampled
        triples per pass as it has items), on one thread so that the answer is reproducible.

        Parameters
        ----------
        history : dict {item ID: value}, sequence of item IDs, or a scipy sparse matrix of
            shape (n, n_items) with one history per row (dense item indices); every stored
            item counts as a positive
        start : ndarray of shape (factors,) or (n, factors), optional

        Returns
        -------
        ndarray of shape (factors,) for one history, (n, factors) for a matrix
        """
        self._check_fitted("user_factors_for")
        rows, single = self._history_rows(history, "user_factors_for")
        factors = self._fold_in(rows, start)
        return factors[0] if single else factors

    def _fold_in(self, rows: sp.csr_matrix, start=None) -> np.ndarray:
        dtype = self.item_factors_.dtype
        factors = np.zeros((rows.shape[0], self.item_factors_.shape[1]), dtype=dtype)
        if start is not None:
            factors[:] = np.asarray(start, dtype=dtype)
        positives = _positives(rows)
        if positives.nnz == 0:
            return factors
        # Fold-in draws from a stream of its own: the same history gives the same factors.
        seed = [0 if self.random_state is None else self.random_state, 1]
        # update_items=False leaves the item side untouched, but the kernel's item arguments are
        # writable buffers: a memory-mapped (read-only) model lends it a private copy.
        items, bias = (a if a.flags.writeable else a.copy() for a in (self.item_factors_, self.item_bias_))
        ranking_epoch(
            positives.indptr, positives.indices, entry_rows(positives).astype(positives.indices.dtype), factors,
            items, bias, ranking_rng_state(seed, 1), loss=self._loss,
            n_samples=positives.nnz * self.fold_in_epochs, max_sampled=self.max_sampled,
            learning_rate=self.learning_rate, reg_user=self.regularization, reg_item=self.regularization,
            learn_bias=self.item_bias, update_items=False, rank_weights=self._rank_weights(rows.shape[1]),
            n_threads=1, backend=self.backend,
        )
        return factors


def _positives(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The stored entries as a canonical CSR structure (values ignored; explicit zeros count)."""
    positives = sp.csr_matrix((np.ones(matrix.nnz, dtype=np.float32), matrix.indices, matrix.indptr), shape=matrix.shape)
    if not positives.has_canonical_format:
        positives.sum_duplicates()
    return positives


_SHARED_DOC = """
    Every stored entry of the training matrix is a positive (its value is ignored). An epoch
    samples ``samples_per_epoch`` (default: the number of positives) pairs (u, i) uniformly
    with replacement and draws negatives uniformly among the items u has not seen.

    Parameters
    ----------
    factors : int >= 1
    learning_rate : float > 0
        Plain SGD step.
    learning_rate_decay : float in (0, 1]
        Epoch e (from 0) steps with ``learning_rate * learning_rate_decay ** e``; below 1 it
        settles rows updated by nearly every sample (shared side features) at the end.
    regularization : float >= 0
        L2 penalty on the user and item factors, applied to the rows of each step.
    bias_regularization : float >= 0
        L2 penalty on the item biases.
    item_bias : bool
        Learn an item bias b_i (popularity). A user bias would cancel in every pairwise
        difference, so there is none.
    epochs : int >= 1
    max_sampled : int >= 1
        Negative draws per sample at most (draws that hit a positive count).
    samples_per_epoch : int >= 1 or None
    n_blocks : int >= 1
        P: the grid schedule cuts users and items into P blocks each (at most 1024) and runs
        P cells at once, so at most P threads work; negatives of a sample come from its
        positive's item block (P random items each epoch). Part of the answer, unlike the
        thread count. The default 12 is divided by 2, 3, 4 and 6 threads.
    init_std : float >= 0
        Factors start as normal(0, init_std) draws; biases at 0.
    fold_in_epochs : int >= 1
        Passes over a new user's history in fold-in.
    dtype : float32 or float64
    random_state : int or None
    n_threads : int >= 1 or None
        Threads (None: ``fastcf.get_num_threads()``); see "Threads" above: they change
        nothing in the model.
    backend : {"auto", "cython", "numba", "reference"} or None
    callback : callable(epoch, model, ordered) or None
        Called after every epoch with the share of sampled pairs already ordered; return
        False to stop.
    show_progress : bool or None
        A progress bar on stderr (None: follows ``fastcf.set_progress``); log lines go to the
        "fastcf" logger (see fastcf.progress).

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, factors)
    item_factors_ : ndarray of shape (n_items, factors)
    item_bias_ : ndarray of shape (n_items,)
    loss_history_ : list of float
        Per epoch, the share of sampled pairs already ordered before their step.
    users_, items_ : IdMap or None
"""


class _Params:
    """The constructor BPR and WARP share (only their defaults differ)."""

    def _store(self, **params) -> None:
        for name, value in params.items():
            setattr(self, name, value)


class BPR(_Params, RankingFactorModel):
    """Bayesian Personalised Ranking (Rendle, Freudenthaler, Gantner & Schmidt-Thieme 2009).

    Maximises Σ ln σ(s_ui − s_uj) over sampled triples (u, positive i, negative j), minus
    L2 penalties, by SGD: each step moves p_u, q_i, q_j (and b_i, b_j) along the gradient
    scaled by σ(s_uj − s_ui), so pairs already well ordered barely move.
    """ + _SHARED_DOC

    _loss = "bpr"

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        learning_rate_decay: float = 1.0,
        regularization: float = 0.01,
        bias_regularization: float = 0.01,
        item_bias: bool = True,
        epochs: int = 50,
        max_sampled: int = 10,
        samples_per_epoch: Optional[int] = None,
        n_blocks: int = 12,
        init_std: float = 0.1,
        fold_in_epochs: int = 20,
        dtype=np.float32,
        random_state: Optional[int] = None,
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
        callback: Optional[Callable] = None,
        show_progress: Optional[bool] = None,
    ):
        self._store(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})


class WARP(_Params, RankingFactorModel):
    """Weighted Approximate-Rank Pairwise loss (Weston, Bengio & Usunier 2011, WSABIE).

    For a sampled positive (u, i), negatives are drawn until one violates the margin,
    s_uj > s_ui − 1. If that took N valid draws, the rank of i is estimated as
    r = (n_items − |I_u|) // N and the hinge 1 − s_ui + s_uj is stepped with weight
    L(r) = H(r) / H(n_items), H(r) = Σ_{k<=r} 1/k: positives ranked low (a violator found at
    once) move most. (The division keeps plain SGD steps at most the learning rate; the
    paper's unscaled H(r) needs adaptive steps.) No violator in ``max_sampled`` draws: no step.
    """ + _SHARED_DOC

    _loss = "warp"

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        learning_rate_decay: float = 1.0,
        regularization: float = 0.01,
        bias_regularization: float = 0.01,
        item_bias: bool = True,
        epochs: int = 30,
        max_sampled: int = 10,
        samples_per_epoch: Optional[int] = None,
        n_blocks: int = 12,
        init_std: float = 0.1,
        fold_in_epochs: int = 20,
        dtype=np.float32,
        random_state: Optional[int] = None,
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
        callback: Optional[Callable] = None,
        show_progress: Optional[bool] = None,
    ):
        self._store(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
