"""Plots: metric@k curves of several models, and loss / validation metrics per iteration.

Needs matplotlib (``pip install 'fastcf[plot]'``), imported only when a plot is drawn. The
figures are built without pyplot (no global state, no display needed), returned, and saved
as PNG when a ``path`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

__all__ = ["plot_history", "plot_metric_at_k"]


def _figure(n_axes: int, width: float = 6.4, height: float = 4.2):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "fastcf's plots need matplotlib, which is not installed: pip install 'fastcf[plot]' "
            "(or pip install matplotlib)."
        ) from None
    figure = Figure(figsize=(width * n_axes, height), layout="constrained")
    axes = figure.subplots(1, n_axes, squeeze=False)[0]
    return figure, list(axes)


def _save(figure, path: Optional[Union[str, Path]]):
    if path is not None:
        path = Path(path)
        if path.suffix.lower() not in ("", ".png"):
            raise ValueError(f"plots are saved as PNG; got the path {str(path)!r}.")
        figure.savefig(path.with_suffix(".png"), dpi=120, format="png")
    return figure


def plot_metric_at_k(
    curves: Mapping[str, object],
    metric: Union[str, Sequence[str]] = "ndcg",
    *,
    path: Optional[Union[str, Path]] = None,
    title: Optional[str] = None,
):
    """Metric@k against k, one line per model (one panel per metric).

    Parameters
    ----------
    curves : mapping name -> DataFrame
        Per model, the table of ``fastcf.evaluation.metrics_at_k`` (index k, a column per
        metric); ``compare_at_k`` builds the mapping for several fitted models.
    metric : str or sequence of str
        Column(s) to draw.
    path : str or Path, optional
        Where to save the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not curves:
        raise ValueError("plot_metric_at_k: 'curves' is empty; give at least one model's metrics_at_k table.")
    for name, frame in curves.items():
        missing = [m for m in metrics if m not in frame.columns]
        if missing:
            raise ValueError(
                f"plot_metric_at_k: the table of {name!r} has no column {missing[0]!r} (it has "
                f"{', '.join(map(str, frame.columns))})."
            )
    figure, axes = _figure(len(metrics))
    for ax, name in zip(axes, metrics):
        for label, frame in curves.items():
            ax.plot(frame.index.to_numpy(), frame[name].to_numpy(), marker="o", label=str(label))
        ax.set_xlabel("k")
        ax.set_ylabel(f"{name}@k")
        ax.set_xscale("log")
        ks = list(next(iter(curves.values())).index)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _history_frame(history):
    import pandas as pd

    if hasattr(history, "to_frame") and hasattr(history, "history"):  # EvaluationCallback
        return history.to_frame()
    if hasattr(history, "loss_history_"):  # a fitted model with track_loss=True
        losses = list(history.loss_history_)
        return pd.DataFrame({"loss": losses}, index=pd.Index(range(1, len(losses) + 1), name="iteration"))
    if isinstance(history, pd.DataFrame):
        return history.set_index("iteration") if "iteration" in history.columns else history
    frame = pd.DataFrame(list(history))
    return frame.set_index("iteration") if "iteration" in frame.columns else frame


def plot_history(
    history,
    metrics: Optional[Sequence[str]] = None,
    *,
    path: Optional[Union[str, Path]] = None,
    title: Optional[str] = None,
):
    """Training loss and validation metrics per iteration (a panel for the loss if there is one).

    Parameters
    ----------
    history : EvaluationCallback, model with ``loss_history_``, DataFrame or list of dicts
        Rows per iteration with ``iteration``, optionally ``loss``, and metric columns.
    metrics : names, optional
        Metric columns to draw; default every column but the loss.
    path : str or Path, optional
        Where to save the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    frame = _history_frame(history)
    if frame.empty:
        raise ValueError("plot_history: the history is empty (no iteration was recorded).")
    has_loss = "loss" in frame.columns and frame["loss"].notna().any()
    if metrics is None:
        metrics = [c for c in frame.columns if c != "loss"]
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ValueError(f"plot_history: no column {missing[0]!r} in the history ({', '.join(frame.columns)}).")
    if not has_loss and not metrics:
        raise ValueError("plot_history: the history holds neither a loss nor a metric.")
    figure, axes = _figure(int(has_loss) + int(bool(metrics)))
    from matplotlib.ticker import MaxNLocator  # after _figure, which explains a missing matplotlib

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    iterations = frame.index.to_numpy()
    if has_loss:
        ax = axes.pop(0)
        ax.plot(iterations, frame["loss"].to_numpy(dtype=float), marker="o", color="tab:red")
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
    if metrics:
        ax = axes.pop(0)
        for name in metrics:
            ax.plot(iterations, frame[name].to_numpy(dtype=float), marker="o", label=name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation metric")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    return _save(figure, path)
