"""Ranking metrics at k, the specification: plain NumPy and Python that the twins must match.

For each evaluated user u (a row of ``users``), with

* T_u: u's test items (row u of the test CSR, no duplicates), with gains g_ui (their values);
* E_u: u's excluded items (row u of the train CSR; any order, duplicates allowed);
* s_ui: u's score for item i;

the ranking L_u is the admissible items (not in E_u) sorted by score descending, ties broken
by the lower item index (as ``select_topk``), cut at k and padded with -1. Then, with
h = |L_u ∩ T_u| (the hits), rank r = 0 for the best item, m = min(k, |T_u|),
D(r) = 1 / log2(r + 2):

=====================  ===================================================================
precision              h / k (padding counts as a miss: k > #admissible caps it below 1)
precision_implicit     h / m (per user; implicit's overall value is Σ h / Σ m)
recall                 h / |T_u|
f1                     2 h / (k + |T_u|), the harmonic mean of precision and recall (0 if h = 0)
map                    (1 / m) Σ_{r: L_u[r] ∈ T_u} hits(r) / (r + 1), hits(r) = hits in ranks 0..r
ndcg                   Σ_{r: hit} D(r) / Σ_{r < m} D(r)
ndcg_graded            Σ_{r: hit} g(L_u[r]) D(r) / Σ_{r < m} g_(r) D(r), g_(0) >= g_(1) >= ... the
                       sorted gains of T_u (linear gain); 0 when that ideal DCG is 0
mrr                    1 / (r + 1) for the first hit's rank r; 0 without a hit
hit_rate               1 if h > 0 else 0
auc                    over all admissible items: positives P = T_u \\ E_u, negatives N = the
                       admissible items not in T_u; (#{(p, n): s_p > s_n} + ½ #{s_p = s_n}) / (|P| |N|);
                       NaN when P or N is empty
auc_implicit           implicit's AUC from the top k only: for each miss at rank r add the hits
                       before it, then ((h + |T_u|) / 2) (n_items − |T_u| − misses), all divided
                       by |T_u| (n_items − |T_u|); NaN when n_items = |T_u|. A miss is a listed
                       item not in T_u; -1 pads are not misses (counting them, as implicit
                       does, gives values below 0 when fewer than k items are admissible)
=====================  ===================================================================

A user with no test item gets NaN in every column. Sums run left to right (rank 0 first) in
float64; the twins add in the same order and use the same discount tables, so they agree
exactly.

Scores of a factor model are defined as s_ui = (...((U_u0 V_i0) + U_u1 V_i1) + ...) + U_u,f-1 V_i,f-1:
products and sums in the factors' dtype, in factor order, each rounded on its own (no fused
multiply-add). Every twin computes them so, whatever the thread count or block size, and
so ranks exactly alike.
"""

import numpy as np

from fastcf.kernels.metrics._columns import (
    AUC, AUC_IMPLICIT, COLUMNS, F1, HIT_RATE, HITS, MAP, MRR, NDCG, NDCG_GRADED, PRECISION,
    PRECISION_IMPLICIT, RECALL, discount_tables, raise_nan_users,
)

__all__ = ["factor_ranking_metrics", "list_ranking_metrics", "score_ranking_metrics"]


def factor_ranking_metrics(user_factors, item_factors, users, train_indptr, train_indices,
                           test_indptr, test_indices, test_gains, k, compute_auc, compute_graded,
                           block_size, n_threads):
    """Top k and ranking metrics of every user in ``users``, scores U_u · V_i.

    Parameters
    ----------
    user_factors : ndarray of shape (n_users, f), float32 or float64, C-contiguous
    item_factors : ndarray of shape (n_items, f), same dtype, C-contiguous
    users : ndarray of shape (n,), int32 or int64
        The users to evaluate: rows of ``user_factors`` and of both CSRs.
    train_indptr, train_indices : CSR structure (n_users + 1,), (nnz,)
        Items excluded from each user's ranking.
    test_indptr, test_indices : CSR structure (n_users + 1,), (nnz_test,), same index dtype
        Each user's relevant items, without duplicates in a row.
    test_gains : ndarray of shape (nnz_test,), float64
        Gains of the test entries, read only when ``compute_graded`` (it may be empty otherwise).
    k : int >= 1
    compute_auc, compute_graded : bool
        Fill the ``auc`` and ``ndcg_graded`` columns (NaN otherwise).
    block_size : int >= 1
        Users scored together (the fast twins hold block_size x n_items scores per thread).
    n_threads : int
        Unused here (the reference is serial).

    Returns
    -------
    top_items : ndarray of shape (n, k), int64 (-1 pads)
    values : ndarray of shape (n, len(COLUMNS)), float64
    """
    n = users.shape[0]
    top_items = np.full((n, k), -1, dtype=np.int64)
    values = np.full((n, len(COLUMNS)), np.nan)
    nan_rows = np.zeros(n, dtype=bool)
    for start in range(0, n, block_size):
        block = slice(start, min(start + block_size, n))
        scores = factor_scores(user_factors[users[block]], item_factors)
        nan_rows[block] = _score_block(
            scores, users[block], train_indptr, train_indices, test_indptr, test_indices, test_gains, k,
            compute_auc, compute_graded, top_items[block], values[block],
        )
    raise_nan_users("factor_ranking_metrics", nan_rows, users)
    return top_items, values


def score_ranking_metrics(scores, users, train_indptr, train_indices, test_indptr, test_indices,
                          test_gains, k, compute_auc, compute_graded, n_threads):
    """Top k and ranking metrics from a dense score block: row r holds the scores of user ``users[r]``.

    Parameters
    ----------
    scores : ndarray of shape (n, n_items), float32 or float64, C-contiguous
    users, train_*, test_*, k, compute_auc, compute_graded, n_threads :
        As for ``factor_ranking_metrics``.

    Returns
    -------
    top_items : ndarray of shape (n, k), int64 (-1 pads)
    values : ndarray of shape (n, len(COLUMNS)), float64
    """
    n = users.shape[0]
    top_items = np.full((n, k), -1, dtype=np.int64)
    values = np.full((n, len(COLUMNS)), np.nan)
    nan_rows = _score_block(
        scores, users, train_indptr, train_indices, test_indptr, test_indices, test_gains, k,
        compute_auc, compute_graded, top_items, values,
    )
    raise_nan_users("score_ranking_metrics", nan_rows, users)
    return top_items, values


def list_ranking_metrics(top_items, users, test_indptr, test_indices, test_gains, n_items, compute_graded,
                         n_threads):
    """Ranking metrics of given lists: row r is the ranking of user ``users[r]``, best first.

    Parameters
    ----------
    top_items : ndarray of shape (n, k), int64
        Item indices in [0, n_items), -1 for padding; no item twice in a row.
    users, test_*, compute_graded, n_threads : as for ``factor_ranking_metrics``
    n_items : int
        The catalogue size (``auc_implicit`` counts its negatives from it).

    Returns
    -------
    values : ndarray of shape (n, len(COLUMNS)), float64; ``auc`` is NaN (lists carry no scores)
    """
    n, k = top_items.shape
    discounts, ideal = discount_tables(k)
    values = np.full((n, len(COLUMNS)), np.nan)
    for r in range(n):
        u = users[r]
        test = test_indices[test_indptr[u]:test_indptr[u + 1]]
        gains = test_gains[test_indptr[u]:test_indptr[u + 1]]
        values[r] = list_values(top_items[r], test, gains, n_items, discounts, ideal, compute_graded)
    return values


# --- the definitions, one user at a time ------------------------------------------------

def factor_scores(user_rows, item_factors):
    """Scores (n, n_items) of the definition: products and sums rounded one by one, in factor order."""
    scores = np.zeros((user_rows.shape[0], item_factors.shape[0]), dtype=item_factors.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf, inf - inf = NaN: reported per user
        for j in range(item_factors.shape[1]):
            scores += user_rows[:, j, None] * item_factors[None, :, j]
    return scores


def ranking(scores_row, excluded, k):
    """The k best admissible items, score descending, lower index first among equal scores; -1 pads."""
    admissible = np.flatnonzero(~excluded)
    order = np.lexsort((admissible, -scores_row[admissible]))[:k]
    top = np.full(k, -1, dtype=np.int64)
    top[:order.size] = admissible[order]
    return top


def list_values(top, test, gains, n_items, discounts, ideal, compute_graded):
    """One user's row of COLUMNS from the ranking ``top`` (auc is left NaN)."""
    row = np.full(len(COLUMNS), np.nan)
    n_test = test.shape[0]
    if n_test == 0:
        return row
    k = top.shape[0]
    relevant = set(test.tolist())
    gain_of = dict(zip(test.tolist(), gains.tolist())) if compute_graded else {}
    hits = 0
    misses = 0
    ap = dcg = dcg_graded = auc_implicit = 0.0
    first_hit = -1
    for r in range(k):
        item = int(top[r])
        if item >= 0 and item in relevant:
            hits += 1
            ap += hits / (r + 1)
            dcg += discounts[r]
            if compute_graded:
                dcg_graded += gain_of[item] * discounts[r]
            if first_hit < 0:
                first_hit = r
        elif item >= 0:  # a pad (-1) is no negative item: it takes no part in the AUC
            misses += 1
            auc_implicit += hits
    m = min(k, n_test)
    row[HITS] = hits
    row[PRECISION] = hits / k
    row[PRECISION_IMPLICIT] = hits / m
    row[RECALL] = hits / n_test
    row[F1] = 2.0 * hits / (k + n_test)
    row[MAP] = ap / m
    row[NDCG] = dcg / ideal[m - 1]
    if compute_graded:
        best = np.sort(gains)[::-1][:m]
        ideal_graded = 0.0
        for r in range(m):
            ideal_graded += best[r] * discounts[r]
        row[NDCG_GRADED] = dcg_graded / ideal_graded if ideal_graded > 0 else 0.0
    row[MRR] = 1.0 / (first_hit + 1) if first_hit >= 0 else 0.0
    row[HIT_RATE] = 1.0 if hits > 0 else 0.0
    negatives = n_items - n_test
    if negatives > 0:
        # implicit's expression, term by term: its remaining negatives sit half-way among the
        # positives it did not rank.
        total = auc_implicit + ((hits + n_test) / 2.0) * (negatives - misses)
        row[AUC_IMPLICIT] = total / (float(n_test) * float(negatives))
    return row


def full_auc(scores_row, excluded, test):
    """AUC over all admissible items: test items positive, the rest negative, ties count half."""
    is_test = np.zeros(scores_row.shape[0], dtype=bool)
    is_test[test] = True
    positive = np.sort(scores_row[is_test & ~excluded])
    negative = scores_row[~is_test & ~excluded]
    if positive.size == 0 or negative.size == 0:
        return np.nan
    below_or_equal = np.searchsorted(positive, negative, side="right")
    below = np.searchsorted(positive, negative, side="left")
    above = int(np.sum(positive.size - below_or_equal))  # pairs the positive wins
    ties = int(np.sum(below_or_equal - below))
    return (above + 0.5 * ties) / (float(positive.size) * float(negative.size))


def _score_block(scores, users, train_indptr, train_indices, test_indptr, test_indices, test_gains, k,
                 compute_auc, compute_graded, top_items, values):
    """Rank and measure every row of a score block; returns the rows that hold NaN."""
    discounts, ideal = discount_tables(k)
    n_items = scores.shape[1]
    nan_rows = np.isnan(scores).any(axis=1)
    for r in range(scores.shape[0]):
        if nan_rows[r]:
            continue
        u = users[r]
        excluded = np.zeros(n_items, dtype=bool)
        excluded[train_indices[train_indptr[u]:train_indptr[u + 1]]] = True
        test = test_indices[test_indptr[u]:test_indptr[u + 1]]
        gains = test_gains[test_indptr[u]:test_indptr[u + 1]]
        top_items[r] = ranking(scores[r], excluded, k)
        values[r] = list_values(top_items[r], test, gains, n_items, discounts, ideal, compute_graded)
        if compute_auc and test.size:
            values[r, AUC] = full_auc(scores[r], excluded, test)
    return nan_rows
