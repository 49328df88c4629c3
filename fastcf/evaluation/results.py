"""What evaluate, cross_validate and grid_search return."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["CrossValidation", "Evaluation", "GridSearch"]


class Evaluation(dict):
    """Overall values by name (this dict: metric -> float, plus counts such as ``n_users``).

    Attributes
    ----------
    k : int
        The cut-off of the ranking metrics.
    metrics : tuple of str
        The metrics asked for, in order (the counts are the other keys).
    per_user : pandas.DataFrame or None
        With ``per_user=True``: one row per evaluated user (index: raw user ID, or index),
        columns ``n_test``, ``hits`` and every per-user metric asked for.
    """

    def __init__(self, values: dict, *, k: int, metrics: Sequence[str], per_user=None):
        super().__init__(values)
        self.k = k
        self.metrics = tuple(metrics)
        self.per_user = per_user

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}@{self.k}={self[name]:.4f}" if name not in ("rmse", "mae", "auc") else f"{name}={self[name]:.4f}"
            for name in self.metrics if name in self
        )
        counts = ", ".join(f"{key}={value}" for key, value in self.items() if key not in self.metrics)
        return f"Evaluation({shown}; {counts})"


class CrossValidation:
    """Results of ``cross_validate``: one row per fold, and their mean and standard deviation.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold (index ``fold``): every metric, ``n_users``, ``fit_seconds`` and
        ``evaluate_seconds``.
    metrics : tuple of str
    mean, std : pandas.Series
        Over the folds, per column of ``folds``; std is the sample standard deviation
        (ddof = 1; NaN with a single fold).
    """

    def __init__(self, folds, metrics: Sequence[str], k: int):
        self.folds = folds
        self.metrics = tuple(metrics)
        self.k = k
        self.mean = folds.mean(axis=0)
        self.std = folds.std(axis=0, ddof=1)

    def __getitem__(self, metric: str):
        """(mean, std) of one metric over the folds."""
        return float(self.mean[metric]), float(self.std[metric])

    def summary(self) -> str:
        """One line per metric: ``ndcg@10  0.3121 ± 0.0042``."""
        lines = []
        for name in self.metrics:
            label = name if name in ("rmse", "mae", "auc") else f"{name}@{self.k}"
            lines.append(f"{label:<24} {self.mean[name]:.4f} ± {self.std[name]:.4f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CrossValidation({len(self.folds)} folds)\n{self.summary()}"


class GridSearch:
    """Results of ``grid_search``.

    Attributes
    ----------
    results : pandas.DataFrame
        One row per parameter combination, in grid order: the parameters, then
        ``mean_<metric>`` and ``std_<metric>`` for every metric (std over folds; NaN for a
        single split), and ``fit_seconds``.
    metric : str
        The metric that picks the best combination.
    best_index : int
        Row of the best combination (the first one among equals).
    best_params : dict
    best_score : float
        Mean of ``metric`` for the best combination.
    best_model : fitted model or None
        With ``refit=True`` (the default): a fresh model with ``best_params``, fitted on all
        of the data (see ``grid_search``); None with ``refit=False`` or when no combination
        gave a score.
    refit_seconds : float or None
        How long that last fit took.
    """

    def __init__(self, results, metric: str, params: Sequence[dict], lower_is_better: bool):
        self.results = results
        self.metric = metric
        self.best_model = None
        self.refit_seconds: Optional[float] = None
        scores = results[f"mean_{metric}"].to_numpy(dtype=np.float64)
        if np.isnan(scores).all():
            self.best_index: Optional[int] = None
            self.best_params: Optional[dict] = None
            self.best_score = float("nan")
        else:
            filled = np.where(np.isnan(scores), np.inf if lower_is_better else -np.inf, scores)
            self.best_index = int(np.argmin(filled) if lower_is_better else np.argmax(filled))
            self.best_params = dict(params[self.best_index])
            self.best_score = float(scores[self.best_index])

    def __repr__(self) -> str:
        return (f"GridSearch({len(self.results)} combinations; best {self.metric} = {self.best_score:.4f} "
                f"with {self.best_params})")
