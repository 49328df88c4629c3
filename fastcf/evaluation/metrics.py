"""Ranking metrics at k, the specification: plain NumPy over recommended lists and test sets.

Conventions, fixed here and used everywhere in fastcf:

- ``recommended`` is (n_users, k) dense item indices, best first, -1 for padding (a user
  with fewer admissible items); padding is never a hit.
- Relevant items are the user's stored test entries (binary relevance).
- Users with no test entries are skipped (and counted in ``n_users_skipped``).
- precision@k divides the hits by k, also when the user has fewer than k test items.
  ``precision_implicit`` divides by min(k, |test|) instead, as implicit's
  ``ranking_metrics_at_k`` does, for comparisons with it.
- NDCG@k: DCG = sum over hits at rank r (0-based) of 1 / log2(r + 2), divided by the DCG of
  the ideal list, min(k, |test|) hits at the top.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["ranking_metrics"]


def ranking_metrics(recommended: np.ndarray, test: sp.csr_matrix) -> dict:
    """Mean precision, precision_implicit, recall, NDCG and hit rate at k over users with test items.

    Parameters
    ----------
    recommended : ndarray of shape (n_users, k), int
        Row u: the items recommended to user u (dense indices), best first; -1 pads.
    test : CSR of shape (n_users, n_items)
        The held-out entries; row u's stored entries are u's relevant items.
    """
    recommended = np.asarray(recommended)
    n_users, k = recommended.shape
    if test.shape[0] != n_users:
        raise ValueError(f"ranking_metrics: 'recommended' has {n_users} rows but 'test' has {test.shape[0]}.")
    test = sp.csr_matrix(test)
    n_relevant = np.diff(test.indptr)
    evaluated = n_relevant > 0
    # hits[u, r]: is the r-th recommendation of u among u's test items?
    hits = np.zeros((n_users, k), dtype=bool)
    for u in np.flatnonzero(evaluated):
        relevant = test.indices[test.indptr[u]:test.indptr[u + 1]]
        hits[u] = np.isin(recommended[u], relevant) & (recommended[u] >= 0)
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = hits @ discounts
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    n_hits = hits.sum(axis=1)
    rel = n_relevant[evaluated]
    return {
        "precision": float(np.mean(n_hits[evaluated] / k)),
        "precision_implicit": float(np.mean(n_hits[evaluated] / np.minimum(rel, k))),
        "recall": float(np.mean(n_hits[evaluated] / rel)),
        "ndcg": float(np.mean(dcg[evaluated] / ideal[evaluated])),
        "hit_rate": float(np.mean(n_hits[evaluated] > 0)),
        "n_users": int(evaluated.sum()),
        "n_users_skipped": int((~evaluated).sum()),
    }
