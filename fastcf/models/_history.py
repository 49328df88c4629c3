"""What models that score a user through their history share (ItemKNN, EASE, Popularity).

A history model scores user u for item i as a product of a sparse *query row* and a fixed
*weight matrix*: ``score(u, ·) = q_u W``. For item-based models q_u is the user's history row
x_u (possibly binarised) and W an items x items matrix (a pruned similarity CSR, or EASE's
dense B), so a new user is folded in exactly by handing over their history: nothing is
solved. For a user-based model q_u is the user's row of the user-user similarity and W the
training matrix.

Subclasses provide ``_query_rows(user_indices)`` (sparse rows for training users) and
``_weights()`` (ndarray or CSR); item-based ones take :class:`HistoryFoldIn` and
``_history_query(rows)`` (the query rows of new histories over the items) too. Scores of a block are one sparse product;
never a Python loop over ratings.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from fastcf._validation import check_positive_int
from fastcf.exceptions import DataError
from fastcf.models.base import DEFAULT_BLOCK_BYTES

__all__ = ["HistoryFoldIn", "HistoryScorer", "binarized", "top_of_sparse_rows"]



def binarized(rows: sp.csr_matrix, dtype) -> sp.csr_matrix:
    """The rows with every stored value set to 1 (explicit zeros dropped first)."""
    rows = sp.csr_matrix(rows, dtype=dtype, copy=True)
    rows.eliminate_zeros()
    rows.data[:] = 1
    return rows


class HistoryScorer:
    """Mixin: scores = query rows @ weights, blockwise; fold-in, explain, similar rows."""

    def _query_rows(self, user_indices: np.ndarray) -> sp.csr_matrix:
        raise NotImplementedError

    def _weights(self):
        raise NotImplementedError

    def _scores_of_rows(self, rows: sp.csr_matrix, item_indices: np.ndarray) -> np.ndarray:
        """Dense (len(rows), len(item_indices)) scores q W[:, items]."""
        weights = self._weights()
        if item_indices.size != weights.shape[1]:
            weights = weights[:, item_indices]
        scores = rows @ weights
        if sp.issparse(scores):
            scores = scores.toarray()
        scores = np.ascontiguousarray(scores, dtype=self._score_dtype())
        self._check_scores_finite(scores, rows)
        return scores

    def _check_scores_finite(self, scores: np.ndarray, rows: sp.csr_matrix) -> None:
        """Finite values and weights can still sum past the dtype's range (3e38 + 3e38 is inf
        in float32): raise naming the overflowing score, rather than rank by inf."""
        if np.isfinite(scores).all():
            return
        row, column = np.unravel_index(int(np.flatnonzero(~np.isfinite(scores))[0]), scores.shape)
        largest = float(np.abs(rows.data).max()) if rows.nnz else 0.0
        raise DataError(f"{type(self).__name__}: the score of query row {row}, candidate {column} overflows "
                        f"{scores.dtype} (got {scores[row, column]}; the largest query value is {largest:.3g}); "
                        f"scale the values down or fit with dtype=np.float64.")

    def _score_dtype(self):
        return np.dtype(getattr(self, "dtype", np.float32))

    # A user state is the user's query rows (a training user's, or a new history's).
    def _user_state(self, user_indices):
        return self._query_rows(user_indices)

    def _scores_of_state(self, state, block, item_indices):
        return self._scores_of_rows(state[block], item_indices)

    def _score(self, user_indices, item_indices):
        return self._scores_of_rows(self._query_rows(user_indices), item_indices)

    def _score_pairs(self, user_indices, item_indices):
        """score(u_p, i_p) = Σ_j q_uj W[j, i_p]: one gather per stored query entry, summed by pair."""
        rows = self._query_rows(user_indices)
        counts = np.diff(rows.indptr)
        pair = np.repeat(np.arange(user_indices.size), counts)
        weights = self._weights()
        looked_up = np.asarray(weights[rows.indices, np.asarray(item_indices)[pair]]).ravel()
        scores = np.bincount(pair, weights=rows.data * looked_up, minlength=user_indices.size).astype(self._score_dtype())
        self._check_scores_finite(scores[:, None], rows)
        return scores

    # --- explanation ----------------------------------------------------------------------

    def _explain_terms(self, user, item):
        """The entries j of the user's query row (items, or neighbours) and their terms q_j W[j, item]."""
        query_row = self._query_rows(np.array([user]))
        weights = self._weights()
        looked_up = np.asarray(weights[query_row.indices, np.full(query_row.indices.size, item)]).ravel()
        return query_row.indices, query_row.data.astype(np.float64) * looked_up

    # --- similar rows of the weights ------------------------------------------------------

    def _top_of_rows(self, matrix, index: np.ndarray, k: int, owner: str, n_threads: Optional[int] = None):
        """Each given row's k largest off-diagonal entries of a square ``matrix`` (dense or CSR).

        A CSR row with fewer than k entries is padded with -1 and -inf, as ``recommend`` pads.
        """
        n = matrix.shape[0]
        k = min(check_positive_int(k, "k", f"{type(self).__name__}.{owner}"), max(n - 1, 1))
        if sp.issparse(matrix):
            return top_of_sparse_rows(matrix[index], index, k)
        self_exclusion = sp.csr_matrix((np.ones(index.size), index, np.arange(index.size + 1)), shape=(index.size, n))

        def scores_of(block):
            return np.ascontiguousarray(matrix[index[block]])

        return self._top_k_blocks(scores_of, np.arange(index.size), np.arange(n, dtype=np.int64), n,
                                  self_exclusion, k, DEFAULT_BLOCK_BYTES, n_threads)

    def _cooccurring(self, values: sp.csr_matrix, items, k: int, owner: str, cosine: bool):
        """Top k of the queried items' rows of XᵀX (co-occurrence; with ``cosine``, over the norms).

        Only those rows are formed, by one sparse product: cheap for a few queries at any scale.
        """
        index = self._indices(items, self.items_, self.n_items, "item", owner)
        k = min(check_positive_int(k, "k", f"{type(self).__name__}.{owner}"), max(self.n_items - 1, 1))
        values = sp.csr_matrix(values, dtype=np.float64)
        products = (values[:, index].T.tocsr() @ values).tocsr()
        if cosine:
            norms = np.sqrt(np.bincount(values.indices, weights=values.data ** 2, minlength=values.shape[1]))
            inverse = 1 / np.where(norms > 0, norms, 1)
            rows = np.repeat(np.arange(index.size), np.diff(products.indptr))
            products.data *= inverse[index][rows] * inverse[products.indices]
        return top_of_sparse_rows(products, index, k)



class HistoryFoldIn(HistoryScorer):
    """Mixin: exact fold-in, for models whose query row is the history itself (item-based).

    Subclasses provide ``_history_query(rows)``: the query rows of histories over the items.
    """

    def _fold_in(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        # The scores only read the history (score = x W): a new user is scored exactly as a
        # training user with that history would be; nothing is solved.
        return self._history_query(rows)


def top_of_sparse_rows(rows: sp.csr_matrix, index: np.ndarray, k: int):
    """Top k stored entries of each CSR row (the row's own index left out), by one lexsort."""
    rows = sp.csr_matrix(rows)
    entry_row = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    keep = rows.indices != index[entry_row]
    entry_row, columns, values = entry_row[keep], rows.indices[keep].astype(np.int64), rows.data[keep]
    # Best first within each row; ties by smaller index, as select_topk breaks them.
    order = np.lexsort((columns, -values.astype(np.float64), entry_row))
    entry_row, columns, values = entry_row[order], columns[order], values[order]
    starts = np.searchsorted(entry_row, np.arange(rows.shape[0]))
    rank = np.arange(entry_row.size) - starts[entry_row]
    kept = rank < k
    top = np.full((rows.shape[0], k), -1, dtype=np.int64)
    scores = np.full((rows.shape[0], k), -np.inf, dtype=rows.dtype if rows.dtype.kind == "f" else np.float64)
    top[entry_row[kept], rank[kept]] = columns[kept]
    scores[entry_row[kept], rank[kept]] = values[kept]
    return top, scores
