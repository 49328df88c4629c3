"""Metrics as functions of k and of the training iteration: the data behind the plots."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from fastcf.evaluation._evaluate import _check_gains, _matrices, evaluate, is_factor_model, ranking_lists
from fastcf.evaluation.metrics import LIST_METRICS, RANKING_METRICS, RATING_METRICS, check_metrics, list_values, summarize
from fastcf._validation import check_positive_int
from fastcf.kernels.metrics import factor_ranking_metrics, list_ranking_metrics

__all__ = ["EvaluationCallback", "compare_at_k", "metrics_at_k"]


def metrics_at_k(
    model,
    train,
    test,
    ks: Sequence[int] = (1, 2, 5, 10, 20, 50),
    metrics: Sequence[str] = ("precision", "recall", "ndcg"),
    *,
    exclude_train: bool = True,
    item_features=None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
):
    """Ranking metrics at several cut-offs from one ranking pass.

    The top-k list is a prefix of the top-K list for k < K (same order, same tie rule), so
    the model ranks once at K = max(ks) and each k is measured on the prefixes; the values
    equal ``evaluate(model, train, test, k)``'s.

    Returns
    -------
    pandas.DataFrame
        Index ``k`` (sorted), one column per metric (ranking and list metrics only; ``auc``
        does not depend on k and repeats).
    """
    import pandas as pd

    owner = "metrics_at_k"
    metrics = check_metrics(metrics, owner)
    rating = [m for m in metrics if m in RATING_METRICS]
    if rating:
        raise ValueError(f"{owner}: {rating[0]!r} does not depend on k; use evaluate for it.")
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise TypeError(f"{owner}: 'ks' must be a sequence of cut-offs (ints >= 1); got {ks!r}.")
    ks = sorted({check_positive_int(k, "ks", owner) for k in ks})
    if not ks:
        raise ValueError(f"{owner}: 'ks' must hold at least one cut-off; got none.")
    train_m, test_m, _ = _matrices(model, train, test, owner)
    if backend is None:
        backend = getattr(model, "backend", None)
    n_test = np.diff(test_m.indptr)
    users = np.flatnonzero(n_test > 0)
    graded = "ndcg_graded" in metrics
    if graded:
        _check_gains(test_m, owner)
    top, values = ranking_lists(
        model, train_m, test_m, users, ks[-1], auc="auc" in metrics, graded=graded, exclude_train=exclude_train,
        n_threads=n_threads, backend=backend, owner=owner,
    )
    ranking_names = [m for m in metrics if m in RANKING_METRICS]
    list_names = [m for m in metrics if m in LIST_METRICS]
    rows = []
    for k in ks:
        prefix = np.ascontiguousarray(top[:, :k])
        at_k = list_ranking_metrics(
            prefix, users, test_m.indptr, test_m.indices, test_m.shape[1],
            test_gains=test_m.data if graded else None, graded=graded, n_threads=n_threads, backend=backend,
        )
        row = summarize(at_k, n_test[users], k, [m for m in ranking_names if m != "auc"])
        if "auc" in metrics:
            row["auc"] = summarize(values, n_test[users], k, ["auc"])["auc"]
        row.update(list_values(prefix, list_names, test_m.shape[1], train_m, item_features, owner)[0])
        rows.append({name: row[name] for name in metrics})
    return pd.DataFrame(rows, index=pd.Index(ks, name="k"))


class EvaluationCallback:
    """Validation metrics after every ``every`` iterations of a model's fit, kept for plotting.

    Pass it as a model's ``callback=``: every iterative fastcf model (ImplicitALS, BPR, WARP,
    HybridMF, BiasedMF, SVDpp, ExplicitALS, BaselineOnly) calls ``callback(iteration, model,
    loss)`` after each iteration or epoch with its current state set (factors, biases,
    ``seen_`` and the ID maps), and stops when it returns False. Dot-product factor models are
    measured by the metrics kernel on the current factors; the others go through ``evaluate``.

    Parameters
    ----------
    train, test : as for ``evaluate`` (``train`` is what the model is being fitted on)
    k : int
    metrics : names
        Ranking and list metrics to record.
    every : int >= 1
        Evaluate after iterations every, 2 every, ... (and never more often).
    stop_when_worse : int, optional
        Return False (stop fitting) once ``metrics[0]`` has not improved for this many
        evaluations.

    Attributes
    ----------
    history : list of dict
        One dict per evaluated iteration: ``iteration``, ``loss`` (None when the model does
        not track it) and every metric.
    """

    def __init__(self, train, test, k: int = 10, metrics: Sequence[str] = ("ndcg",), *, every: int = 1,
                 stop_when_worse: Optional[int] = None, n_threads: Optional[int] = None):
        self.train = train
        self.test = test
        self.k = k
        self.metrics = check_metrics(metrics, "EvaluationCallback")
        rating = [m for m in self.metrics if m in RATING_METRICS]
        if rating:
            raise ValueError(f"EvaluationCallback: {rating[0]!r} is not a ranking metric.")
        self.every = every
        self.stop_when_worse = stop_when_worse
        self.n_threads = n_threads
        self.history: list = []
        self._best = None
        self._since_best = 0

    def __call__(self, iteration: int, model, loss=None):
        if iteration % self.every:
            return None
        row = {"iteration": iteration, "loss": loss}
        row.update(self._measure(model))
        self.history.append(row)
        if self.stop_when_worse is None:
            return None
        value = row[self.metrics[0]]
        if self._best is None or value > self._best:
            self._best, self._since_best = value, 0
        else:
            self._since_best += 1
        return False if self._since_best >= self.stop_when_worse else None

    def _measure(self, model) -> dict:
        if not is_factor_model(model):
            result = evaluate(model, self.train, self.test, self.k, metrics=self.metrics, n_threads=self.n_threads)
            return {name: result[name] for name in self.metrics}
        train_m = self.train.matrix if hasattr(self.train, "matrix") else self.train.tocsr()
        test_m = self.test.matrix if hasattr(self.test, "matrix") else self.test.tocsr()
        n_test = np.diff(test_m.indptr)
        users = np.flatnonzero(n_test > 0)
        graded = "ndcg_graded" in self.metrics
        queries, items = model._ranking_vectors()
        top, values = factor_ranking_metrics(
            queries, items, users, train_m.indptr, train_m.indices, test_m.indptr,
            test_m.indices, self.k, test_gains=test_m.data if graded else None, auc="auc" in self.metrics,
            graded=graded, n_threads=self.n_threads, backend=getattr(model, "backend", None),
        )
        row = summarize(values, n_test[users], self.k, [m for m in self.metrics if m in RANKING_METRICS])
        row.update(list_values(top, [m for m in self.metrics if m in LIST_METRICS], test_m.shape[1], train_m)[0])
        return row

    def to_frame(self):
        """The history as a pandas DataFrame indexed by iteration."""
        import pandas as pd

        return pd.DataFrame(self.history).set_index("iteration")


def compare_at_k(models: Mapping[str, object], train, test, ks: Sequence[int] = (1, 2, 5, 10, 20, 50),
                 metrics: Sequence[str] = ("precision", "recall", "ndcg"), **kwargs) -> dict:
    """{name: metrics_at_k(model, ...)} for several fitted models on one split."""
    return {name: metrics_at_k(model, train, test, ks, metrics, **kwargs) for name, model in models.items()}
