"""Neighbourhood models for implicit feedback: ItemKNN (Sarwar et al. 2001; Deshpande & Karypis 2004)
and UserKNN (Herlocker et al. 1999), on a pruned top-k similarity.

Kernel: ``fastcf/kernels/similarity/`` (top-k similar rows of a sparse matrix, computed in
parallel with a per-thread accumulator; never the dense n x n matrix). Scoring is one sparse
product per block of users.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import scipy.sparse as sp

from fastcf._validation import as_canonical_csr, check_choice, check_flag, check_float_dtype, check_number, check_positive_int
from fastcf.kernels.similarity import MEASURES, similarity_topk
from fastcf.models._history import HistoryFoldIn, HistoryScorer, binarized
from fastcf.models.base import Recommender

__all__ = ["ItemKNN", "UserKNN", "pruned_similarity"]

#: The default shrinkage of the measures computed over co-rated pairs only (Pearson, adjusted
#: cosine): with none, a pair of rare rows with one or two co-ratings correlates perfectly and
#: takes every neighbour slot (ML-100K u1, ItemKNN pearson: precision@10 0.003 at shrinkage 0,
#: 0.155 at 10, 0.354 at 100, where 70% of the kept similarities are exactly 1 at 0).
CO_RATED_SHRINKAGE = 100.0
#: Above this share of kept similarities at |s| >= 0.999, a co-rated ranking has collapsed.
COLLAPSED_SHARE = 0.1


def is_co_rated(measure: str) -> bool:
    """Whether ``measure`` is computed over the co-rated pairs only (see MEASURES)."""
    return MEASURES[measure] in ("pearson", "corated_cosine")


def pruned_similarity(rows: sp.csr_matrix, k: int, *, measure: str, shrinkage: float, min_support: int,
                      alpha: float, bm25_k1: float, bm25_b: float, n_threads, backend) -> sp.csr_matrix:
    """The n_rows x n_rows CSR of each row's k most similar other rows (kernel order: best first)."""
    # Public, so an edge: the kernel's own checks would name its arguments, not 'rows'.
    rows = as_canonical_csr(rows, "rows", "pruned_similarity", what="row")
    indptr, indices, values = similarity_topk(
        rows.indptr, rows.indices, rows.data, rows.shape[1], k, measure=measure, shrinkage=shrinkage,
        min_support=min_support, alpha=alpha, bm25_k1=bm25_k1, bm25_b=bm25_b, n_threads=n_threads, backend=backend,
    )
    return sp.csr_matrix((values, indices, indptr), shape=(rows.shape[0], rows.shape[0]))


class _NeighbourModel(HistoryScorer, Recommender):
    """What ItemKNN and UserKNN share: parameters, their checks, the pruned similarity."""

    _fitted_attributes = ("seen_", "similarity_")
    _restorable_ = ("similarity_",)
    # Implicit feedback: scores sum similarities (or neighbours' values) as evidence for an item,
    # which a negative value would turn into evidence against it without saying so.
    _nonnegative_data = True

    def __init__(
        self,
        *,
        k: int = 100,
        measure: str = "cosine",
        shrinkage: Optional[float] = None,
        min_support: int = 1,
        alpha: float = 0.5,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        exponent: float = 1.0,
        normalize: bool = False,
        binarize: bool = False,
        dtype=np.float32,
        n_threads: Optional[int] = None,
        backend: Optional[str] = None,
    ):
        self.k = k
        self.measure = measure
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.alpha = alpha
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.exponent = exponent
        self.normalize = normalize
        self.binarize = binarize
        self.dtype = dtype
        self.n_threads = n_threads
        self.backend = backend

    def _check_params(self) -> None:
        name = type(self).__name__
        check_positive_int(self.k, "k", name)
        check_choice(self.measure, "measure", name, MEASURES)
        if self.shrinkage is not None:
            check_number(self.shrinkage, "shrinkage", name)
        check_positive_int(self.min_support, "min_support", name)
        check_number(self.alpha, "alpha", name, high=1.0)
        check_number(self.bm25_k1, "bm25_k1", name)
        check_number(self.bm25_b, "bm25_b", name, high=1.0)
        check_number(self.exponent, "exponent", name, strict=True)
        check_flag(self.normalize, "normalize", name)
        check_flag(self.binarize, "binarize", name)
        check_float_dtype(self.dtype, "dtype", name)

    def _history_query(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """The values the model works with: the stored ones, or 1s with ``binarize``, in ``dtype``."""
        dtype = np.dtype(self.dtype)
        return binarized(rows, dtype) if self.binarize else sp.csr_matrix(rows, dtype=dtype)

    @property
    def _shrinkage(self) -> float:
        if self.shrinkage is not None:
            return float(self.shrinkage)
        return CO_RATED_SHRINKAGE if is_co_rated(self.measure) else 0.0

    def _similarity(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        similarity = pruned_similarity(
            rows, self.k, measure=self.measure, shrinkage=self._shrinkage, min_support=self.min_support,
            alpha=self.alpha, bm25_k1=self.bm25_k1, bm25_b=self.bm25_b, n_threads=self.n_threads,
            backend=self.backend,
        )
        self._warn_if_collapsed(similarity)
        if self.exponent != 1:
            similarity.data **= similarity.dtype.type(self.exponent)
        if self.normalize:
            sums = np.asarray(similarity.sum(axis=1)).ravel()
            similarity = sp.csr_matrix(sp.diags(1 / np.where(sums > 0, sums, 1)).astype(similarity.dtype) @ similarity)
        similarity.sort_indices()
        return similarity

    def _warn_if_collapsed(self, similarity: sp.csr_matrix) -> None:
        """A co-rated measure whose kept similarities are mostly ±1 ranks by ties among rare rows."""
        if not is_co_rated(self.measure) or similarity.nnz == 0:
            return
        share = float(np.mean(np.abs(similarity.data) >= 0.999))
        if share > COLLAPSED_SHARE:
            warnings.warn(
                f"{type(self).__name__}: {share:.0%} of the kept similarities are 1 (measure={self.measure!r} over "
                f"co-rated pairs, shrinkage={self._shrinkage:g}): pairs with one or two co-ratings take the neighbour "
                f"slots and the ranking collapses. Set shrinkage={CO_RATED_SHRINKAGE:g} (the default for this "
                f"measure) or use measure='cosine'.", UserWarning, stacklevel=4)

    def _similar_rows(self, ids, what: str, k: int, n_threads, owner: str):
        """Each given row's neighbours, read from the pruned similarity (padded with -1 / -inf)."""
        self._check_similar_call(owner, n_threads)
        id_map, count = (self.items_, self.n_items) if what == "item" else (self.users_, self.n_users)
        index = self._indices(ids, id_map, count, what, owner)
        return self._top_of_rows(self.similarity_, index, k, owner, n_threads)


_SHARED_PARAMETERS = """
    Parameters
    ----------
    k : int >= 1
        Neighbours kept per {row} in the pruned similarity.
    measure : str
        One of ``fastcf.kernels.similarity.MEASURES``: "cosine", "asymmetric_cosine" (``alpha``),
        "tfidf", "bm25" (``bm25_k1``, ``bm25_b``), "adjusted_cosine", "pearson",
        "pearson_baseline" (values taken as already centred), "jaccard"; see
        :func:`fastcf.kernels.similarity_topk` for the formulas.
    shrinkage : float >= 0 or None
        λ: similarities are multiplied by n / (n + λ), n the co-occurrence count. None: 100 for
        the measures over co-rated pairs ("pearson", "adjusted_cosine", "pearson_baseline"),
        whose rankings collapse without it (ML-100K u1, item pearson: precision@10 0.003 at 0,
        0.354 at 100), else 0. A fit whose co-rated similarities are mostly 1 warns, naming the fix.
    min_support : int >= 1
        Pairs with fewer co-occurrences are dropped.
    alpha : float in [0, 1]
        Asymmetric cosine's exponent (0.5 is the cosine).
    bm25_k1, bm25_b : float
        BM25's saturation and length normalisation (measure="bm25").
    exponent : float > 0
        Kept similarities are raised to this power (Aiolli 2013's locality q; > 1 favours the
        closest neighbours).
    normalize : bool
        Scale each {row}'s kept similarities to sum to 1 (Deshpande & Karypis 2004, sec. 4.2).
    binarize : bool
        Use 1 for every stored entry, in the similarity and in the scores.
    dtype : float32 or float64
    n_threads : int or None
        Threads for the kernel (None: ``fastcf.get_num_threads()``); the result does not depend on it.
    backend : {{"auto", "cython", "numba", "reference"}} or None

    Attributes
    ----------
    similarity_ : scipy CSR of shape (n_{row}s, n_{row}s), ``dtype``
        Row a: {row} a's neighbours and their similarities (all > 0), at most k.
    users_, items_ : IdMap or None
"""


class ItemKNN(HistoryFoldIn, _NeighbourModel):
    __doc__ = """Item-based top-N recommendation: score(u, i) = Σ_{{j ∈ I(u)}} x_uj s(j, i).

    s(j, ·) holds item j's k most similar items (Deshpande & Karypis 2004, "Item-based top-N
    recommendation algorithms"; similarities as in Sarwar et al. 2001 and Aiolli 2013), so an
    item scores for a user when it is among the neighbours of the user's items. Scores read
    only the user's history: a new user folds in exactly (``recommend_for_history``), and
    ``explain`` lists the history items j whose terms x_uj s(j, i) make up a score.
    ``similar_items`` reads straight from the pruned similarity.
    """ + _SHARED_PARAMETERS.format(row="item")

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        item_users = self._history_query(matrix).T.tocsr()
        self.similarity_ = self._similarity(item_users)

    def _query_rows(self, user_indices):
        return self._history_query(self.seen_[user_indices])

    def _weights(self):
        return self.similarity_

    def explain(self, user, item, k: int = 5):
        """Which of the user's training items make up their score for ``item`` (its neighbours among them).

        Returns
        -------
        ids : the top k contributing items (raw IDs), largest term x_uj s(j, i) first; items
            that do not list ``item`` among their neighbours contribute 0 and come last
        contributions : their terms
        total : the sum over all the user's items, i.e. the score
        """
        return super().explain(user, item, k)

    def similar_items(self, items, k: int = 10, *, n_threads: Optional[int] = None):
        """The k nearest neighbours of each given item, as stored in ``similarity_``, best first.

        Returns (ids, similarities) shaped like ``recommend``'s; rows with fewer than k
        neighbours are padded with -1 (or None) and -inf.
        """
        top, scores = self._similar_rows(items, "item", k, n_threads, "similar_items")
        ids = self._item_ids(top)
        return (ids[0], scores[0]) if np.ndim(items) == 0 else (ids, scores)


class UserKNN(_NeighbourModel):
    __doc__ = """User-based top-N recommendation: score(u, i) = Σ_{{v ∈ N(u)}} s(u, v) x_vi.

    N(u) holds user u's k most similar users (Herlocker, Konstan, Borchers & Riedl 1999, "An
    algorithmic framework for performing collaborative filtering"), so an item scores by the
    similarity of the neighbours who have it. ``explain`` lists the neighbours whose terms
    s(u, v) x_vi make up a score; ``similar_users`` reads straight from the pruned similarity;
    ``similar_items`` gives the cosine of item columns, for the queried items only.
    A new user would need their similarity to every training user, so there is no fold-in.
    """ + _SHARED_PARAMETERS.format(row="user")

    @property
    def recommend_for_history(self):
        # Hidden rather than raising when called: hasattr(model, "recommend_for_history") is
        # how callers ask whether a model folds in.
        raise AttributeError("UserKNN has no recommend_for_history: a new user's neighbours need their similarity "
                             "to every training user, which the fitted model does not hold; refit with the user, "
                             "or use ItemKNN (item-based neighbours fold in exactly).")

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        self.similarity_ = self._similarity(self._history_query(matrix))

    def _query_rows(self, user_indices):
        return self.similarity_[user_indices]

    def _weights(self):
        # The training matrix in the model's values; recomputed from seen_ (the fitted state)
        # once per model rather than stored twice.
        cached = getattr(self, "_values_cache", None)
        if cached is None or cached[0] is not self.seen_:
            cached = (self.seen_, self._history_query(self.seen_))
            self._values_cache = cached
        return cached[1]

    def explain(self, user, item, k: int = 5):
        """Which neighbours of ``user`` make up their score for ``item``.

        Returns
        -------
        ids : the top k contributing neighbours (raw user IDs), largest term s(u, v) x_vi first
        contributions : their terms (neighbours without ``item`` contribute 0 and come last)
        total : the sum over all neighbours, i.e. the score
        """
        return super().explain(user, item, k)

    def _explain_ids(self, indices):
        return self._user_ids(indices)  # the terms are the neighbours'

    def similar_users(self, users, k: int = 10, *, n_threads: Optional[int] = None):
        """The k nearest neighbours of each given user, as stored in ``similarity_``, best first."""
        top, scores = self._similar_rows(users, "user", k, n_threads, "similar_users")
        ids = self._user_ids(top)
        return (ids[0], scores[0]) if np.ndim(users) == 0 else (ids, scores)

    def similar_items(self, items, k: int = 10, *, n_threads: Optional[int] = None):
        """The k items whose user columns have the largest cosine with each given item's.

        Only the queried items' rows of XᵀX are formed (one sparse product).
        """
        self._check_similar_call("similar_items", n_threads)
        top, scores = self._cooccurring(self._weights(), items, k, "similar_items", cosine=True)
        ids = self._item_ids(top)
        return (ids[0], scores[0]) if np.ndim(items) == 0 else (ids, scores)
