"""Neighbourhood rating predictors in the manner of Surprise's KNNBasic, KNNWithMeans and KNNBaseline
(Koren 2010, "Factor in the neighbors", sec. 2.2; Herlocker et al. 1999; Sarwar et al. 2001).

Kernel: ``fastcf/kernels/similarity/`` for the similarity. Predictions gather, for a block of
(user, item) pairs at once, every rating that could serve as a neighbour, look their
similarities up in the pruned CSR (one ``np.searchsorted`` over its sorted keys), keep each
pair's k most similar by one lexsort, and sum by ``np.bincount``: whole-array operations over
blocks of at most ``_ENTRY_BLOCK`` candidate ratings, never a Python loop over ratings.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf.data.interactions import entry_rows
from fastcf._validation import check_choice, check_flag, check_number, check_positive_int
from fastcf.kernels.similarity import MEASURES
from fastcf.models._history import HistoryScorer
from fastcf.models._pairs import pair_answer
from fastcf.models.base import Recommender
from fastcf.models.baseline import BaselineOnly, RatingPredictor
from fastcf.models.item_knn import pruned_similarity

__all__ = ["KNNBaseline", "KNNBasic", "KNNWithMeans"]

#: Candidate neighbour ratings handled per vectorised step (bounds the scratch arrays).
_ENTRY_BLOCK = 1 << 21


class _ExplicitKNN(RatingPredictor, HistoryScorer, Recommender):
    """r̂ = base(x, y) + Σ_{z ∈ N^k(x; y)} s(x, z) (r(z, y) − base(z, y)) / Σ s(x, z).

    With item-based similarity (the default) x is the item, y the user and N^k(x; y) the k
    items most similar to x among those the user rated; user-based swaps the roles.
    Subclasses set ``_base`` to "zero", "means" or "baseline" and ``_default_measure``.
    """

    _fitted_attributes = ("seen_", "similarity_", "user_bias_", "item_bias_")
    _restorable_ = ("similarity_", "means_", "reg_user_")
    _base = "zero"
    _default_measure = "pearson"

    def __init__(
        self,
        *,
        k: int = 40,
        min_k: int = 1,
        user_based: bool = False,
        measure: Optional[str] = None,
        shrinkage: Optional[float] = None,
        min_support: int = 1,
        max_neighbours: Optional[int] = None,
        baseline_params: Optional[dict] = None,
        rating_scale: Optional[Tuple[float, float]] = None,
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
    ):
        self.k = k
        self.min_k = min_k
        self.user_based = user_based
        self.measure = measure
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.max_neighbours = max_neighbours
        self.baseline_params = baseline_params
        self.rating_scale = rating_scale
        self.n_threads = n_threads
        self.backend = backend

    # --- parameters -----------------------------------------------------------------------

    @property
    def _measure(self) -> str:
        return self._default_measure if self.measure is None else self.measure

    @property
    def _shrinkage(self) -> float:
        if self.shrinkage is not None:
            return float(self.shrinkage)
        return 100.0 if self._measure == "pearson_baseline" else 0.0

    def _check_params(self) -> None:
        name = type(self).__name__
        check_positive_int(self.k, "k", name)
        check_positive_int(self.min_k, "min_k", name)
        check_flag(self.user_based, "user_based", name)
        check_choice(self._measure, "measure", name, MEASURES)
        if self.shrinkage is not None:
            check_number(self.shrinkage, "shrinkage", name)
        check_positive_int(self.min_support, "min_support", name)
        if self.max_neighbours is not None:
            check_positive_int(self.max_neighbours, "max_neighbours", name)
        if self.baseline_params is not None and not isinstance(self.baseline_params, dict):
            raise TypeError(f"{name}: 'baseline_params' must be None or a dict of BaselineOnly parameters; "
                            f"got {type(self.baseline_params).__name__}.")
        self._check_rating_scale()

    # --- fit ------------------------------------------------------------------------------

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self._fit_scale(matrix)
        try:
            baseline = BaselineOnly(**(self.baseline_params or {})).fit(matrix)
        except (TypeError, ValueError) as exc:  # the data passed its checks: the parameters are at fault
            raise type(exc)(f"{type(self).__name__}: 'baseline_params': {exc}") from None
        self.user_bias_, self.item_bias_ = baseline.user_bias_, baseline.item_bias_
        self.reg_user_ = float(baseline.reg_user)
        ratings = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        if self._measure == "pearson_baseline":
            ratings.data -= self._baseline_of(entry_rows(ratings), ratings.indices, self.user_bias_)
        # The compared entities are the rows: items x users for item-based similarity.
        rows = ratings if self.user_based else ratings.T.tocsr()
        rows.sort_indices()
        n_rows = rows.shape[0]
        similarity = pruned_similarity(
            rows, self.max_neighbours or max(n_rows, 1), measure=self._measure, shrinkage=self._shrinkage,
            min_support=self.min_support, alpha=0.5, bm25_k1=1.2, bm25_b=0.75, n_threads=self.n_threads,
            backend=self.backend,
        )
        similarity.sort_indices()
        self.similarity_ = similarity
        counts = np.bincount(matrix.indices, minlength=matrix.shape[1]) if not self.user_based else np.diff(matrix.indptr)
        sums = (np.bincount(matrix.indices, weights=matrix.data, minlength=matrix.shape[1]) if not self.user_based
                else np.bincount(entry_rows(matrix), weights=matrix.data, minlength=matrix.shape[0]))
        # An entity without ratings takes the global mean (it is never a neighbour anyway).
        self.means_ = np.where(counts > 0, sums / np.maximum(counts, 1), self.global_mean_)

    def _baseline_of(self, users, items, user_bias) -> np.ndarray:
        return self.global_mean_ + user_bias[users] + self.item_bias_[items]

    # --- the neighbourhood estimate -------------------------------------------------------

    def _keys(self) -> np.ndarray:
        """Sorted row * n + column keys of similarity_ (cached: the lookups search them)."""
        cached = getattr(self, "_keys_cache", None)
        if cached is None or cached[0] is not self.similarity_:
            S = self.similarity_
            keys = entry_rows(S).astype(np.int64) * S.shape[1] + S.indices
            cached = (S, keys)
            self._keys_cache = cached
        return cached[1]

    def _by_y(self, ratings: sp.csr_matrix) -> sp.csr_matrix:
        """Ratings with one row per y (users for item-based): where the candidates are read."""
        if not self.user_based:
            return ratings
        cached = getattr(self, "_by_item_cache", None)
        if cached is None or cached[0] is not ratings:
            cached = (ratings, ratings.T.tocsr())
            self._by_item_cache = cached
        return cached[1]

    def _neighbours(self, x, y, by_y: sp.csr_matrix, user_bias):
        """For pairs (x_p, y_p): (pair, z, s(x, z), r − base) of each pair's k neighbours.

        ``by_y`` has one row per y (its ratings over the x entities), ``user_bias`` the
        biases of the users those ratings belong to (fitted, or folded in).
        """
        lo = by_y.indptr[y].astype(np.int64)
        counts = by_y.indptr[y + 1].astype(np.int64) - lo
        start = np.cumsum(counts) - counts
        pair = np.repeat(np.arange(x.size), counts)
        position = lo[pair] + np.arange(pair.size) - start[pair]
        z = by_y.indices[position].astype(np.int64)
        keys = self._keys()
        wanted = x[pair] * self.similarity_.shape[1] + z
        found = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
        present = keys[found] == wanted if keys.size else np.zeros(wanted.size, dtype=bool)
        pair, z, position = pair[present], z[present], position[present]
        similarity = self.similarity_.data[found[present]].astype(np.float64)
        # Each pair's k most similar, ties to the smaller index: one lexsort for the block.
        order = np.lexsort((z, -similarity, pair))
        pair, z, position, similarity = pair[order], z[order], position[order], similarity[order]
        rank = np.arange(pair.size) - np.searchsorted(pair, pair)
        kept = rank < self.k
        pair, z, position, similarity = pair[kept], z[kept], position[kept], similarity[kept]
        value = by_y.data[position].astype(np.float64) - self._base_values(z, y[pair], user_bias)
        return pair, z, similarity, value

    def _base_values(self, x, y, user_bias) -> np.ndarray:
        """base(x, y): 0, x's mean rating, or the baseline μ + b_u + b_i."""
        if self._base == "zero":
            return np.zeros(x.size)
        if self._base == "means":
            return self.means_[x]
        users, items = (x, y) if self.user_based else (y, x)
        return self._baseline_of(users, items, user_bias)

    def _estimate(self, users, items, ratings: sp.csr_matrix, user_bias):
        """(estimates, possible) for (user, item) pairs; users index the rows of ``ratings``.

        Impossible pairs (fewer than ``min_k`` neighbours with positive similarity) get the
        baseline μ + b_u + b_i.
        """
        x, y = (users, items) if self.user_based else (items, users)
        by_y = self._by_y(ratings)
        estimate = self._baseline_of(users, items, user_bias)
        possible = np.zeros(users.size, dtype=bool)
        # Blocks of pairs with about _ENTRY_BLOCK candidate ratings each (a heavier pair alone).
        candidates = np.cumsum(np.diff(by_y.indptr)[y])
        total = int(candidates[-1]) if candidates.size else 0
        edges = np.searchsorted(candidates, np.arange(_ENTRY_BLOCK, total, _ENTRY_BLOCK), side="right")
        edges = np.unique(np.r_[0, edges, users.size])
        for lo, hi in zip(edges[:-1], edges[1:]):
            block = slice(lo, hi)
            pair, _, similarity, value = self._neighbours(x[block], y[block], by_y, user_bias)
            n = hi - lo
            weight = np.bincount(pair, weights=similarity, minlength=n)
            total = np.bincount(pair, weights=similarity * value, minlength=n)
            ok = (np.bincount(pair, minlength=n) >= self.min_k) & (weight > 0)
            base = self._base_values(x[block], y[block], user_bias)
            estimate[block] = np.where(ok, base + total / np.where(ok, weight, 1), estimate[block])
            possible[block] = ok
        return estimate, possible

    # --- prediction -----------------------------------------------------------------------

    def predict(self, users, items, *, clip: bool = True, return_fallback: bool = False):
        """Predicted ratings of (user, item) pairs, element-wise, clipped to the rating scale.

        Pairs whose user or item has no training rating, and pairs with fewer than ``min_k``
        neighbours of positive similarity, fall back to the baseline μ + b_u + b_i (as far as
        it is known; see :class:`~fastcf.models.baseline.RatingPredictor`);
        ``return_fallback=True`` also returns the boolean array marking them.
        """
        # As arrays even for one pair (which would come back as numbers): the neighbours fill them in.
        out, fallback = RatingPredictor.predict(self, np.atleast_1d(users), np.atleast_1d(items), clip=False,
                                                return_fallback=True)
        both = ~fallback
        if both.any():
            u = self._lookup(users, self.users_, self.n_users, "user")[both]
            i = self._lookup(items, self.items_, self.n_items, "item")[both]
            estimate, possible = self._estimate(u, i, self.seen_, self.user_bias_)
            out[both] = estimate
            fallback[both] = ~possible
        if clip:
            np.clip(out, *self.rating_scale_, out=out)
        return pair_answer(out, users, items, fallback if return_fallback else None)

    def _score_pairs(self, user_indices, item_indices):
        return self._estimate(user_indices, item_indices, self.seen_, self.user_bias_)[0]

    def _grid(self, rows: np.ndarray, item_indices: np.ndarray, ratings, user_bias) -> np.ndarray:
        """Unclipped estimates of every (row, item) pair, as a dense block."""
        users = np.repeat(rows, item_indices.size)
        items = np.tile(item_indices, rows.size)
        return self._estimate(users, items, ratings, user_bias)[0].reshape(rows.size, item_indices.size)

    # Rows of estimates: a user state is (row indices into its ratings, those ratings, the
    # rows' biases), the training users' or new ones'.
    def _user_state(self, user_indices):
        return np.asarray(user_indices, dtype=np.int64), self.seen_, self.user_bias_

    def _scores_of_state(self, state, block, item_indices):
        rows, ratings, user_bias = state
        return self._grid(rows[block], np.asarray(item_indices, dtype=np.int64), ratings, user_bias)

    def _score(self, user_indices, item_indices):
        return self._scores_of_state(self._user_state(user_indices), slice(None), item_indices)

    # --- fold-in (item-based) -------------------------------------------------------------

    def _check_item_based(self, owner: str) -> None:
        if self.user_based:
            raise NotImplementedError(
                f"{type(self).__name__}.{owner}: a new user's user-based neighbours need their similarity to "
                f"every training user, which the fitted model does not hold; refit with the user, or use "
                f"user_based=False (item-based neighbours fold in exactly)."
            )

    def _fold_in(self, rows):
        self._check_item_based("fold_in")
        return np.arange(rows.shape[0]), rows, self._ridge_bias(rows, self.reg_user_)

    def _bias_and_factors(self, state):
        return state[2], None

    # --- explanation and similarity -------------------------------------------------------

    def explain(self, user, item, k: int = 5):
        """The neighbours behind the prediction of ``user``'s rating of ``item``.

        The unclipped prediction is base + Σ_z s(x, z) (r − base) / Σ s over the neighbours
        z used (see the class docstring), so it decomposes exactly over them. When fewer
        than ``min_k`` neighbours qualify the prediction is the baseline μ + b_u + b_i and
        no neighbour takes part: ids and contributions are empty and total is 0.

        Returns
        -------
        ids : the neighbours used (raw item IDs item-based, user IDs user-based), up to k,
            largest contribution first
        contributions : s (r − base) / Σ s of each
        total : their sum over all the neighbours used: the prediction, unclipped, minus
            its base (0, the mean, or the baseline)
        """
        return super().explain(user, item, k)

    def _explain_terms(self, user, item):
        u, i = np.array([user]), np.array([item])
        x, y = (u, i) if self.user_based else (i, u)
        _, z, similarity, value = self._neighbours(x, y, self._by_y(self.seen_), self.user_bias_)
        if not self._estimate(u, i, self.seen_, self.user_bias_)[1][0]:
            return z[:0], np.zeros(0)
        by_index = np.argsort(z, kind="stable")  # the neighbours come by similarity; equal terms go by index
        return z[by_index], (similarity * value / similarity.sum())[by_index]

    def _explain_ids(self, indices):
        return self._user_ids(indices) if self.user_based else self._item_ids(indices)

    def similar_items(self, items, k: int = 10, *, n_threads: Optional[int] = None):
        """The k most similar items: read from ``similarity_`` item-based, else the cosine of item columns."""
        owner = "similar_items"
        self._check_similar_call(owner, n_threads)
        if self.user_based:
            top, scores = self._cooccurring(self.seen_, items, k, owner, cosine=True)
        else:
            index = self._indices(items, self.items_, self.n_items, "item", owner)
            top, scores = self._top_of_rows(self.similarity_, index, k, owner, n_threads)
        ids = self._item_ids(top)
        return (ids[0], scores[0]) if np.ndim(items) == 0 else (ids, scores)

    def similar_users(self, users, k: int = 10, *, n_threads: Optional[int] = None):
        """The k most similar users, read from ``similarity_`` (user_based=True only)."""
        owner = "similar_users"
        self._check_similar_call(owner, n_threads)
        if not self.user_based:
            raise NotImplementedError(f"{type(self).__name__}.{owner}: the model holds item-item similarities; "
                                      f"fit with user_based=True for user neighbours.")
        index = self._indices(users, self.users_, self.n_users, "user", owner)
        top, scores = self._top_of_rows(self.similarity_, index, k, owner, n_threads)
        ids = self._user_ids(top)
        return (ids[0], scores[0]) if np.ndim(users) == 0 else (ids, scores)


_PARAMETERS = """
    Parameters
    ----------
    k : int >= 1
        Neighbours averaged per prediction (Surprise's default 40).
    min_k : int >= 1
        Fewer neighbours with positive similarity than this: the baseline is predicted and
        the pair flagged as a fallback.
    user_based : bool
        False (default; Surprise's default is True): neighbours are items the user rated,
        compared by their ratings; True: users who rated the item.
    measure : str or None
        A ``fastcf.kernels.similarity.MEASURES`` name; None: {measure!r}. "pearson_baseline"
        compares the ratings less the baseline.
    shrinkage : float >= 0 or None
        Similarities shrink by n / (n + λ) (n − 1 over n − 1 + λ for "pearson_baseline"),
        n the co-rating count; None: 100 for "pearson_baseline" (Surprise's default), else 0.
    min_support : int >= 1
        Pairs with fewer co-ratings have no similarity.
    max_neighbours : int or None
        Similarities kept per entity in ``similarity_`` (None: every positive one, as
        Surprise; memory then grows with the square of the entity count).
    baseline_params : dict or None
        Parameters of the :class:`~fastcf.models.BaselineOnly` that gives b_u and b_i (for
        the fallback{baseline_use}).
    rating_scale : (low, high) or None
        Predictions are clipped to it; None takes the training data's min and max.
    n_threads : int or None
        Threads of the similarity kernel.
    backend : {{"auto", "cython", "numba", "reference"}} or None

    Attributes
    ----------
    similarity_ : scipy CSR (n_items x n_items item-based, n_users x n_users user-based)
        Positive similarities only, indices sorted.
    means_ : ndarray, the mean rating of every item (user-based: of every user)
    global_mean_, user_bias_, item_bias_, rating_scale_, known_users_, known_items_, users_, items_
        As in :class:`~fastcf.models.baseline.RatingPredictor`.

    Differences from Surprise: measures are the similarity kernel's (no "msd"); a pair with
    too few neighbours predicts the baseline rather than the global mean or the mean; ties
    between equally similar neighbours go to the smaller index.
"""


class KNNBasic(_ExplicitKNN):
    __doc__ = """Basic neighbourhood predictor: r̂_ui = Σ_j s(i, j) r_uj / Σ_j s(i, j).

    The sums run over N^k_i(u), the k items most similar to i among those u rated (user-based:
    the k users most similar to u among those who rated i, over r_vi).
    """ + _PARAMETERS.format(measure="pearson", baseline_use="")
    _base = "zero"
    _default_measure = "pearson"


class KNNWithMeans(_ExplicitKNN):
    __doc__ = """Neighbourhood predictor around the means: r̂_ui = μ_i + Σ_j s(i, j) (r_uj − μ_j) / Σ_j s(i, j).

    μ_i is item i's mean rating (user-based: μ_u + Σ_v s(u, v) (r_vi − μ_v) / Σ_v s(u, v)).
    """ + _PARAMETERS.format(measure="pearson", baseline_use="")
    _base = "means"
    _default_measure = "pearson"


class KNNBaseline(_ExplicitKNN):
    __doc__ = """Neighbourhood predictor around the baseline (Koren 2010, eq. 3):

        r̂_ui = b_ui + Σ_j s(i, j) (r_uj − b_uj) / Σ_j s(i, j),   b_ui = μ + b_u + b_i,

    over N^k_i(u) (user-based: the users v most similar to u who rated i, over r_vi − b_vi).
    The default similarity is the shrunk Pearson-baseline correlation of the residuals
    r − b (Koren 2010, eq. 2; shrinkage 100 as in Surprise).
    """ + _PARAMETERS.format(measure="pearson_baseline", baseline_use=", the residuals and the pearson-baseline "
                                                                      "similarity")
    _base = "baseline"
    _default_measure = "pearson_baseline"
