"""Metric definitions and the metrics-from-lists path.

Every metric fastcf reports, with its formula and conventions. The per-user ranking metrics
are computed by the kernel ``fastcf.kernels.metrics`` (whose ``reference.py`` is their
executable specification); this module turns per-user values into overall ones and adds
the metrics of lists alone (coverage, novelty, diversity) and of rating predictions.

Conventions, fixed everywhere in fastcf
--------------------------------------
- **Relevant items** are the user's test entries; for graded NDCG their values are the gains.
- **Training items are excluded** from each user's ranking (``exclude_train=True``); a test
  item that is also a training item stays relevant (counts in |T_u|) but can never be hit.
- **Ties** in score are broken by the lower item index (as ``select_topk``); a list shorter
  than k (fewer admissible items than k) is padded, and padding is a miss.
- **Users with no test entry are skipped** and counted in ``n_users_skipped``; every other
  user counts once in each mean (a macro average), except ``precision_implicit``.
- Notation: k the cut-off, T_u the user's test items, h_u = |top-k ∩ T_u| the hits,
  m_u = min(k, |T_u|), rank r = 0 for the first item, D(r) = 1 / log2(r + 2).

Ranking metrics at k (means over evaluated users)
-------------------------------------------------
precision           h_u / k. Divides by k even when |T_u| < k or the list is padded.
precision_implicit  Σ_u h_u / Σ_u m_u: what implicit's ``ranking_metrics_at_k`` calls precision
                    (a ratio of sums; per user, h_u / m_u, averaged with weights m_u).
recall              h_u / |T_u|.
calibrated_recall   h_u / m_u: recall with the denominator capped at k, so that 1 is reachable by a
                    list of k items. Liang et al.'s (2018) "Recall@k" (RecPack's CalibratedRecallK),
                    reported as Recall@k by the Mult-VAE, EASE and iALS (Rendle et al. 2021) papers;
                    equal to recall for a user with |T_u| <= k. Per user it is the ratio that
                    precision_implicit sums, here averaged with equal weights.
f1                  2 P R / (P + R) per user = 2 h_u / (k + |T_u|), then averaged (0 without a hit).
map                 AP_u = (1 / m_u) Σ_{r: hit} (hits in ranks 0..r) / (r + 1): the denominator is
                    min(k, |T_u|), as in implicit, so implicit's ``map`` is this one.
ndcg                binary gains: Σ_{r: hit} D(r) / Σ_{r < m_u} D(r); equals implicit's ``ndcg`` and
                    Liang et al.'s NDCG@k (whose ideal DCG is over min(k, |T_u|) ranks too).
ndcg_graded         linear gains g = the test value (e.g. the rating): Σ_{r: hit} g D(r) divided by
                    the same sum over the m_u largest test gains in order (scikit-learn's
                    ``ndcg_score`` convention); 0 when that ideal is 0. Gains must be >= 0.
mrr                 1 / (r + 1) for the first hit, 0 without one.
hit_rate            1 if h_u > 0 else 0.
auc                 full AUC over all admissible (non-training) items: positives T_u minus the
                    training items, negatives the other admissible items,
                    (#pairs positive above negative + ½ #tied pairs) / (#pos · #neg).
                    Users without an admissible positive or negative are left out (counted in
                    ``n_users_auc_undefined``).
auc_implicit        implicit's "AUC": from the top k only, the rest of each list assumed in random
                    order: (Σ_{misses at r} hits before r + ((h + |T_u|) / 2)(N − misses)) / (|T_u| N)
                    with N = n_items − |T_u| (training items count as negatives); misses are
                    listed items not in T_u (-1 pads are not misses, so it stays in [0, 1]).

Beyond accuracy (of the top-k lists of the evaluated users)
-----------------------------------------------------------
coverage            catalog coverage: |∪_u top-k(u)| / n_items.
novelty             mean self-information of the recommended items: per user, the mean over the
                    list of −log2 p_i, p_i = (training users who have item i) / (users with a
                    training entry); an item no training user has counts as had by one user.
                    Averaged over users with a non-empty list.
diversity           intra-list diversity given item features F: per user, the mean over the
                    list's pairs of 1 − cos(F_i, F_j) (a zero feature vector has cosine 0 with
                    everything); users with fewer than 2 items are left out.

Rating metrics (over test entries, not users)
---------------------------------------------
rmse, mae           sqrt(mean (r − r̂)²) and mean |r − r̂| over every test entry, r̂ being
                    exactly what the model's ``predict`` returns (clipped to the rating scale
                    for explicit-rating models). A prediction
                    for a user or item with no training entry is the model's own fallback (its
                    baseline, e.g. a global mean, or 0 for factors it never learnt); such
                    entries count like any other, as in Surprise, and their number is reported
                    as ``n_fallback``.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf._validation import (as_canonical_csr, as_float_matrix, as_float_vector, as_interaction_matrix, check_finite, check_positive_int,
                                message)
from fastcf.exceptions import DataError
from fastcf.kernels.metrics import RANKING_COLUMNS, list_ranking_metrics

__all__ = [
    "ALL_METRICS",
    "DEFAULT_METRICS",
    "LIST_METRICS",
    "RANKING_METRICS",
    "RATING_METRICS",
    "catalog_coverage",
    "intra_list_diversity",
    "mae",
    "novelty",
    "ranking_metrics",
    "rating_metrics",
    "rmse",
]

#: Per-user ranking metrics, computed by the kernel.
RANKING_METRICS: Tuple[str, ...] = (
    "precision", "precision_implicit", "recall", "calibrated_recall", "f1", "map", "ndcg", "ndcg_graded", "mrr",
    "hit_rate", "auc", "auc_implicit",
)
#: Metrics whose per-user value is another metric's kernel column (averaged their own way):
#: calibrated recall h_u / min(k, |T_u|) is the per-user ratio of precision_implicit.
_SHARED_COLUMNS = {"calibrated_recall": "precision_implicit"}


def metric_column(name: str) -> int:
    """The column of the kernel's per-user values (``RANKING_COLUMNS``) that holds ``name``."""
    return RANKING_COLUMNS.index(_SHARED_COLUMNS.get(name, name))
#: Metrics of the lists alone.
LIST_METRICS: Tuple[str, ...] = ("coverage", "novelty", "diversity")
#: Metrics of rating predictions.
RATING_METRICS: Tuple[str, ...] = ("rmse", "mae")
ALL_METRICS: Tuple[str, ...] = RANKING_METRICS + LIST_METRICS + RATING_METRICS
#: What ``evaluate`` reports when ``metrics`` is not given.
DEFAULT_METRICS: Tuple[str, ...] = ("precision", "recall", "map", "ndcg", "mrr", "hit_rate", "coverage")
#: Metrics that need the score of every item (lists are not enough).
SCORE_METRICS: Tuple[str, ...] = ("auc",)
_LOWER_IS_BETTER = frozenset(RATING_METRICS)


def check_metrics(metrics: Optional[Iterable[str]], owner: str, default: Sequence[str] = DEFAULT_METRICS) -> Tuple[str, ...]:
    """The metric names asked for, validated, in the order given, without repeats."""
    if metrics is None:
        return tuple(default)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = []
    for name in metrics:
        if not isinstance(name, str) or name not in ALL_METRICS:
            raise ValueError(
                f"{owner}: unknown metric {name!r}; metrics are {', '.join(ALL_METRICS)}."
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"{owner}: 'metrics' is empty; name at least one of {', '.join(ALL_METRICS)}.")
    return tuple(names)


def lower_is_better(metric: str) -> bool:
    """True for error metrics (rmse, mae), False for every ranking metric."""
    return metric in _LOWER_IS_BETTER


# --- rating metrics -------------------------------------------------------------------------

def _pair(y_true, y_pred, owner: str):
    y_true = as_float_vector(y_true, "y_true", owner).astype(np.float64, copy=False)
    y_pred = as_float_vector(y_pred, "y_pred", owner).astype(np.float64, copy=False)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{owner}: 'y_true' and 'y_pred' must have one length; got {y_true.size} and {y_pred.size}.")
    if y_true.size == 0:
        raise ValueError(f"{owner}: no ratings to measure (empty 'y_true').")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, sqrt(mean((y_true - y_pred)²)), over all entries."""
    y_true, y_pred = _pair(y_true, y_pred, "rmse")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error, mean(|y_true - y_pred|), over all entries."""
    y_true, y_pred = _pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(y_true - y_pred)))


def rating_metrics(y_true, y_pred, metrics: Sequence[str] = RATING_METRICS) -> dict:
    """{"rmse": ..., "mae": ...} (those asked for) of predictions against true ratings."""
    functions = {"rmse": rmse, "mae": mae}
    unknown = [m for m in metrics if m not in functions]
    if unknown:
        raise ValueError(f"rating_metrics: unknown rating metric {unknown[0]!r}; they are rmse, mae.")
    return {name: functions[name](y_true, y_pred) for name in metrics}


# --- metrics of lists -----------------------------------------------------------------------

def _lists(recommended, owner: str) -> np.ndarray:
    top = np.asarray(recommended)
    if top.ndim != 2:
        raise ValueError(f"{owner}: 'recommended' must be a 2-D array (users x k); got shape {top.shape}.")
    if top.dtype.kind not in "iu":
        raise TypeError(f"{owner}: 'recommended' must hold integer item indices (-1 pads); got dtype {top.dtype}.")
    if top.size and top.dtype.kind == "u" and top.max() > np.iinfo(np.int64).max:
        raise DataError(message(owner, "recommended", "item indices within the int64 range", top.max()))
    if top.shape[1] == 0:
        raise DataError(message(owner, "recommended", "lists of at least one item (k >= 1 columns)",
                                f"shape {top.shape}"))
    top = top.astype(np.int64, copy=False)
    if top.size and top.min() < -1:
        raise DataError(message(owner, "recommended", "item indices >= 0, or -1 for a pad", top.min()))
    return top


def catalog_coverage(recommended, n_items: int) -> float:
    """|∪ lists| / n_items: the share of the catalogue recommended to at least one user (-1 pads)."""
    top = _lists(recommended, "catalog_coverage")
    n_items = check_positive_int(n_items, "n_items", "catalog_coverage", minimum=0)
    items = top[top >= 0]
    if items.size and items.max() >= n_items:
        raise DataError(f"catalog_coverage: item {items.max()} is outside [0, {n_items}).")
    if n_items == 0:  # only pads: nothing recommended from an empty catalogue
        return float("nan")
    return float(np.unique(items).size / n_items)


def item_popularity(train) -> np.ndarray:
    """p_i = (training users who have item i) / (users with a training entry); unseen items count as had by one."""
    matrix = as_interaction_matrix(train, "train", "item_popularity")
    n_users = int(np.count_nonzero(np.diff(matrix.indptr)))
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
    return np.maximum(counts, 1.0) / max(n_users, 1)


def novelty(recommended, train) -> np.ndarray:
    """Per-user novelty: mean over the list of −log2 p_i (p_i from ``item_popularity(train)``); NaN for an empty list.

    Returns
    -------
    ndarray of shape (n_users,), float64
    """
    top = _lists(recommended, "novelty")
    information = -np.log2(item_popularity(train))
    valid = top >= 0
    if top.size and top.max() >= information.size:
        raise ValueError(f"novelty: item {top.max()} is outside the training matrix's {information.size} items.")
    total = np.where(valid, information[np.maximum(top, 0)], 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def intra_list_diversity(recommended, item_features, *, block_bytes: int = 64 << 20) -> np.ndarray:
    """Per-user intra-list diversity: mean over the list's pairs of 1 − cos(F_i, F_j); NaN below 2 items.

    Parameters
    ----------
    recommended : int array of shape (n_users, k), -1 pads
    item_features : array or scipy sparse matrix of shape (n_items, d)
        E.g. one-hot genres or item factors. A zero row has cosine 0 with every item.

    Returns
    -------
    ndarray of shape (n_users,), float64
    """
    top = _lists(recommended, "intra_list_diversity")
    features = item_features
    if sp.issparse(features):
        features = as_canonical_csr(features, "item_features", "intra_list_diversity", "item").astype(np.float64)
        norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
        unit = sp.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ features
        unit = sp.csr_matrix(unit)
    else:
        features = as_float_matrix(features, "item_features", "intra_list_diversity").astype(np.float64, copy=False)
        check_finite(features, "item_features", "intra_list_diversity")
        norms = np.linalg.norm(features, axis=1)
        unit = features / np.where(norms > 0, norms, 1.0)[:, None]
    n_items = unit.shape[0]
    if top.size and top.max() >= n_items:
        raise ValueError(f"intra_list_diversity: item {top.max()} has no row in 'item_features' ({n_items} rows).")
    n_users, k = top.shape
    out = np.full(n_users, np.nan)
    if k < 2 or n_users == 0:
        return out
    d = unit.shape[1]
    block = max(1, int(block_bytes // max(8 * k * max(d, k), 1)))
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    for start in range(0, n_users, block):
        rows = top[start:start + block]
        valid = rows >= 0
        flat = np.maximum(rows, 0).ravel()
        vectors = unit[flat]
        vectors = (vectors.toarray() if sp.issparse(vectors) else vectors).reshape(rows.shape[0], k, d)
        vectors = vectors * valid[:, :, None]
        cosine = vectors @ vectors.transpose(0, 2, 1)
        pair = valid[:, :, None] & valid[:, None, :] & upper
        n_pairs = pair.sum(axis=(1, 2))
        distance = np.where(pair, 1.0 - cosine, 0.0).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + rows.shape[0]] = np.where(n_pairs > 0, distance / np.maximum(n_pairs, 1), np.nan)
    return out


# --- per-user values -> overall values ----------------------------------------------------

def summarize(values: np.ndarray, n_test: np.ndarray, k: int, metrics: Sequence[str]) -> dict:
    """Overall ranking metrics from the kernel's per-user rows (users with test entries only)."""
    out = {}
    for name in metrics:
        if name not in RANKING_METRICS:
            continue
        column = values[:, metric_column(name)]
        if name == "precision_implicit":
            denominator = np.minimum(n_test, k).sum()
            hits = values[:, RANKING_COLUMNS.index("hits")]
            out[name] = float(hits.sum() / denominator) if denominator else float("nan")
        elif name in ("auc", "auc_implicit"):
            defined = ~np.isnan(column)
            out[name] = float(np.mean(column[defined])) if defined.any() else float("nan")
        else:
            out[name] = float(np.mean(column)) if column.size else float("nan")
    return out


def list_values(top: np.ndarray, metrics: Sequence[str], n_items: int, train=None, item_features=None,
                owner: str = "diversity") -> Tuple[dict, dict]:
    """(overall, per-user) values of the list metrics asked for, over the rows of ``top``;
    ``owner``: the public call named in errors."""
    overall, per_user = {}, {}
    if "coverage" in metrics:
        overall["coverage"] = catalog_coverage(top, n_items)
    if "novelty" in metrics:
        if train is None:
            raise ValueError("novelty needs the training interactions (item popularity comes from them).")
        per_user["novelty"] = novelty(top, train)
    if "diversity" in metrics:
        if item_features is None:
            raise ValueError(
                "diversity needs item features: pass item_features= (an items x features array or sparse "
                "matrix, e.g. one-hot genres or the model's item factors)."
            )
        if not (sp.issparse(item_features) or isinstance(item_features, np.ndarray)):
            raise TypeError(message(owner, "item_features", "an items x features array or scipy sparse matrix",
                                    type(item_features).__name__))
        if item_features.ndim != 2 or item_features.shape[0] != n_items:
            raise DataError(message(owner, "item_features", f"2-D with one row per item ({n_items})",
                                    f"shape {item_features.shape}"))
        per_user["diversity"] = intra_list_diversity(top, item_features)
    for name, column in per_user.items():
        defined = ~np.isnan(column)
        overall[name] = float(np.mean(column[defined])) if defined.any() else float("nan")
    return overall, per_user


def ranking_metrics(
    recommended,
    test,
    *,
    metrics: Optional[Sequence[str]] = None,
    train=None,
    item_features=None,
    per_user: bool = False,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
):
    """Ranking metrics of given top-k lists against test entries (the metrics-from-lists path).

    For models that only produce lists (or lists from another library). The lists are
    taken as they are: excluding training items is the list maker's business.

    Parameters
    ----------
    recommended : int array of shape (n_users, k)
        Row u: the items recommended to user u (dense indices), best first; -1 pads. Rows
        of users without test entries are ignored (those users are counted as skipped).
    test : Interactions or scipy sparse matrix of shape (n_users, n_items)
        Held-out entries; row u's stored entries are u's relevant items, their values the
        gains of ``ndcg_graded``.
    metrics : names, optional
        Any of ``RANKING_METRICS`` except ``auc`` (lists carry no scores), and ``coverage``,
        ``novelty`` (needs ``train``), ``diversity`` (needs ``item_features``). Default:
        precision, precision_implicit, recall, map, ndcg, mrr, hit_rate.
    per_user : bool
        Also build a pandas DataFrame with one row per evaluated user (``result.per_user``).

    Returns
    -------
    Evaluation
        A dict of overall values by metric name, plus ``n_users`` (evaluated) and
        ``n_users_skipped``; ``.per_user`` holds the table.
    """
    from fastcf.evaluation.results import Evaluation

    owner = "ranking_metrics"
    metrics = check_metrics(
        metrics, owner, ("precision", "precision_implicit", "recall", "map", "ndcg", "mrr", "hit_rate")
    )
    if "auc" in metrics:
        raise ValueError(
            f"{owner}: 'auc' (full AUC) needs every item's score, which lists do not carry; use "
            f"fastcf.evaluate(model, ...) or 'auc_implicit' (implicit's top-k approximation)."
        )
    rating = [m for m in metrics if m in RATING_METRICS]
    if rating:
        raise ValueError(f"{owner}: {rating[0]!r} is a rating metric; lists have no predicted ratings.")
    matrix = as_interaction_matrix(test, "test", owner)
    top = _lists(recommended, owner)
    if top.shape[0] != matrix.shape[0]:
        raise ValueError(
            f"{owner}: 'recommended' has {top.shape[0]} rows but 'test' has {matrix.shape[0]} users."
        )
    k = top.shape[1]
    n_test = np.diff(matrix.indptr)
    users = np.flatnonzero(n_test > 0)
    ranking_names = [m for m in metrics if m in RANKING_METRICS]
    values = list_ranking_metrics(
        top[users], users, matrix.indptr, matrix.indices, matrix.shape[1], test_gains=matrix.data,
        graded="ndcg_graded" in metrics, n_threads=n_threads, backend=backend,
    )
    result = summarize(values, n_test[users], k, ranking_names)
    extra, extra_per_user = list_values(top[users], metrics, matrix.shape[1], train, item_features, owner)
    result.update(extra)
    result = {name: result[name] for name in metrics}
    result["n_users"] = int(users.size)
    result["n_users_skipped"] = int(matrix.shape[0] - users.size)
    frame = None
    if per_user:
        frame = per_user_frame(users, n_test[users], values, ranking_names, extra_per_user, getattr(test, "users", None))
    return Evaluation(result, k=k, metrics=metrics, per_user=frame)


def per_user_frame(users, n_test, values, ranking_names, extra, id_map=None):
    """One row per evaluated user: n_test, hits (when ranked: ``values`` not None), then each per-user metric."""
    import pandas as pd

    data = {"n_test": n_test.astype(np.int64)}
    if values is not None:
        data["hits"] = values[:, RANKING_COLUMNS.index("hits")].astype(np.int64)
        for name in ranking_names:
            data[name] = values[:, metric_column(name)]
    data.update(extra)
    index = pd.Index(id_map.to_raw(users) if id_map is not None else users, name="user")
    return pd.DataFrame(data, index=index)
