"""Evaluation: metrics you can trust, computed in one pass for every user; cross-validation.

- :func:`evaluate`: ranking metrics at k (precision, recall, calibrated recall, F1, MAP, NDCG binary and
  graded, MRR, hit rate, full AUC and implicit-compatible variants), beyond-accuracy metrics
  (coverage, novelty, diversity) and rating metrics (RMSE, MAE) of a fitted model, overall
  and per user.
- :func:`evaluate_heldout`: the same metrics on held-out users (strong generalization: see
  ``fastcf.data.heldout_user_split``), folded in as one batch.
- :func:`ranking_metrics`: the same ranking metrics from given top-k lists.
- :func:`cross_validate`, :func:`grid_search`: on the data layer's splits.
- :func:`metrics_at_k`, :class:`EvaluationCallback`, :func:`plot_metric_at_k`,
  :func:`plot_history`: curves over k and over training iterations (plots need the
  ``plot`` extra, matplotlib).

Every formula and convention is in :mod:`fastcf.evaluation.metrics`; the per-user kernel
and its executable specification are in ``fastcf/kernels/metrics/``.
"""

from __future__ import annotations

from fastcf.evaluation._evaluate import evaluate
from fastcf.evaluation._heldout import evaluate_heldout
from fastcf.evaluation.curves import EvaluationCallback, compare_at_k, metrics_at_k
from fastcf.evaluation.metrics import (
    ALL_METRICS,
    DEFAULT_METRICS,
    LIST_METRICS,
    RANKING_METRICS,
    RATING_METRICS,
    catalog_coverage,
    intra_list_diversity,
    mae,
    novelty,
    ranking_metrics,
    rating_metrics,
    rmse,
)
from fastcf.evaluation.model_selection import cross_validate, grid_search
from fastcf.evaluation.plots import plot_history, plot_metric_at_k
from fastcf.evaluation.results import CrossValidation, Evaluation, GridSearch

__all__ = [
    "ALL_METRICS",
    "CrossValidation",
    "DEFAULT_METRICS",
    "Evaluation",
    "EvaluationCallback",
    "GridSearch",
    "LIST_METRICS",
    "RANKING_METRICS",
    "RATING_METRICS",
    "catalog_coverage",
    "compare_at_k",
    "cross_validate",
    "evaluate",
    "evaluate_heldout",
    "grid_search",
    "intra_list_diversity",
    "mae",
    "metrics_at_k",
    "novelty",
    "plot_history",
    "plot_metric_at_k",
    "ranking_metrics",
    "rating_metrics",
    "rmse",
]
