"""Popularity: every user gets the most popular items they have not seen; the baseline to beat.

No kernel: the scores are one ``np.bincount`` over the training entries.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from fastcf._validation import check_choice
from fastcf.models._history import HistoryFoldIn, binarized
from fastcf.models.base import Recommender

__all__ = ["Popularity"]

_MEASURES = ("users", "values")


class Popularity(HistoryFoldIn, Recommender):
    """Non-personalised ranking by item popularity (the usual sanity baseline, e.g. Cremonesi,
    Koren & Turrin 2010, "Performance of recommender algorithms on top-N recommendation tasks").

    score(u, i) = popularity_i for every user u; ``recommend`` leaves out each user's training
    items, so users differ only in what they have already seen, and ``recommend_for_history``
    does the same for new users. Ties go to the smaller item index, as everywhere in fastcf.

    Parameters
    ----------
    by : {"users", "values"}
        "users": the number of users with an entry for the item (explicit zeros count);
        "values": the sum of the stored values (plays, clicks, ratings).

    ``similar_items`` lists the items most often had by the same users (co-occurrence).

    Attributes
    ----------
    popularity_ : ndarray of shape (n_items,), float64
    users_, items_ : IdMap or None
    """

    _fitted_attributes = ("seen_", "popularity_")
    _restorable_ = ("popularity_",)

    def __init__(self, *, by: str = "users"):
        self.by = by

    def _fit(self, matrix: sp.csr_matrix) -> None:
        check_choice(self.by, "by", type(self).__name__, _MEASURES)
        weights = None if self.by == "users" else matrix.data.astype(np.float64)
        self.popularity_ = np.bincount(matrix.indices, weights=weights, minlength=matrix.shape[1]).astype(np.float64)

    # Scores ignore the history, so the shared history machinery (fold-in above all) applies
    # with the query rows only deciding how many users there are.
    def _query_rows(self, user_indices):
        return self.seen_[user_indices]

    def _history_query(self, rows):
        return rows

    def _scores_of_rows(self, rows, item_indices):
        return np.tile(self.popularity_[item_indices], (rows.shape[0], 1))

    def _score_pairs(self, user_indices, item_indices):
        return self.popularity_[item_indices].copy()

    def explain(self, user, item, k: int = 5):
        """What of the user's history makes their score for ``item``: nothing.

        The score is ``popularity_[item]`` for every user, whatever they had, so no item of
        the history contributes: the score is all base.

        Returns
        -------
        ids : empty (of the item IDs' dtype)
        contributions : empty, float64
        total : 0.0, the sum of no terms; the score is ``popularity_[item]``
        """
        return super().explain(user, item, k)

    def _explain_terms(self, user, item):
        return np.zeros(0, dtype=np.int64), np.zeros(0)

    def similar_items(self, items, k: int = 10, *, n_threads: Optional[int] = None):
        """The k items most often had by the users of each given item (co-occurrence counts).

        Only the queried items' rows of XᵀX are formed (one sparse product), never all of it.
        Returns (ids, counts), shaped like ``recommend``'s; -1 pads where fewer items co-occur.
        """
        self._check_similar_call("similar_items", n_threads)
        top, scores = self._cooccurring(binarized(self.seen_, np.float64), items, k, "similar_items", cosine=False)
        ids = self._item_ids(top)
        return (ids[0], scores[0]) if np.ndim(items) == 0 else (ids, scores)
