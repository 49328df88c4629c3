"""Cross-validation and grid search on the data layer's splits.

Folds run one after another, each with all threads (the models' and the kernels'
``n_threads`` default to ``fastcf.get_num_threads()``): on a few cores one parallel fit is
faster than several fits fighting over them, and memory holds one model at a time.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from fastcf.data.interactions import Interactions
from fastcf.data.splits import _kfold
from fastcf.evaluation._evaluate import evaluate
from fastcf.evaluation.metrics import check_metrics, lower_is_better
from fastcf.evaluation.results import CrossValidation, GridSearch
from fastcf._validation import check_flag

__all__ = ["cross_validate", "grid_search"]


def _new_model(make_model, params: Mapping, owner: str):
    """An unfitted model: make_model(**params), or a copy of a model instance with ``params`` set."""
    if hasattr(make_model, "get_params") and not isinstance(make_model, type):
        model = type(make_model)(**make_model.get_params(deep=False))
        # set_params names an unknown parameter and the valid ones, and takes name__param.
        return model.set_params(**params) if params else model
    if callable(make_model):
        return make_model(**params)
    raise TypeError(
        f"{owner}: 'make_model' must be a model class, a function returning an unfitted model, or a model "
        f"to copy; got {type(make_model).__name__}."
    )


def _splits(data, folds, by: str, seed: int, owner: str):
    """The list of (train, test) pairs to run: kfold of ``data``, or the pairs given."""
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
        if not isinstance(data, Interactions):
            raise TypeError(
                f"{owner}: with 'folds' a number, 'data' must be Interactions to split; got {type(data).__name__}."
            )
        return _kfold(data, folds, by, seed, "drop", owner)
    try:
        splits = list(folds)
    except TypeError:
        raise TypeError(
            f"{owner}: 'folds' must be a number of folds or a sequence of (train, test) pairs (e.g. "
            f"fastcf.data.kfold(data, 5) or read_movielens_folds(path)); got {type(folds).__name__}."
        ) from None
    for position, split in enumerate(splits):
        if not (isinstance(split, tuple) and len(split) == 2):
            raise TypeError(f"{owner}: fold {position} must be a (train, test) pair; got {type(split).__name__}.")
    if not splits:
        raise ValueError(f"{owner}: 'folds' is empty.")
    return splits


def cross_validate(
    make_model: Union[Callable, object],
    data: Optional[Interactions],
    folds: Union[int, Sequence] = 5,
    metrics: Optional[Sequence[str]] = None,
    *,
    k: int = 10,
    by: str = "rating",
    seed: int = 0,
    params: Optional[Mapping] = None,
    verbose: bool = False,
    **evaluate_kwargs,
) -> CrossValidation:
    """Fit and evaluate a model on every fold; report each fold and the mean ± std.

    Parameters
    ----------
    make_model : class, callable or model
        Gives a fresh unfitted model for each fold: ``make_model(**params)``, or, for a model
        instance, a copy with the same parameters (``type(m)(**m.get_params(deep=False))``)
        and ``params`` set on it (``set_params``).
    data : Interactions, or None when ``folds`` lists the splits
    folds : int or sequence of (train, test)
        A number: ``fastcf.data.kfold(data, folds, by=by, seed=seed)`` (default 5, entries
        dealt at random into folds of equal size; cold test entries dropped). Or the
        splits themselves, e.g. ``read_movielens_folds(path)``.
    metrics : names, optional
        As for ``evaluate`` (default its ``DEFAULT_METRICS``).
    k : int
        Cut-off of the ranking metrics.
    params : mapping, optional
        Passed to ``make_model``.
    verbose : bool
        One line per fold on stderr.
    **evaluate_kwargs
        Passed to ``evaluate`` (``exclude_train``, ``item_features``, ``n_threads``, ...).

    Returns
    -------
    CrossValidation
        ``.folds`` (a DataFrame, one row per fold, with fit and evaluation seconds),
        ``.mean``, ``.std`` (sample std over folds), ``cv["ndcg"]`` -> (mean, std),
        ``.summary()``.
    """
    import sys

    import pandas as pd

    owner = "cross_validate"
    metrics = check_metrics(metrics, owner)
    splits = _splits(data, folds, by, seed, owner)
    rows = []
    for fold, (train, test) in enumerate(splits):
        model = _new_model(make_model, params or {}, owner)
        started = time.perf_counter()
        model.fit(train)
        fitted = time.perf_counter()
        result = evaluate(model, train, test, k, metrics=metrics, **evaluate_kwargs)
        done = time.perf_counter()
        row = {name: result[name] for name in metrics}
        row.update(n_users=result["n_users"], fit_seconds=fitted - started, evaluate_seconds=done - fitted)
        rows.append(row)
        if verbose:
            shown = ", ".join(f"{name} {row[name]:.4f}" for name in metrics)
            print(f"{owner}: fold {fold + 1}/{len(splits)}: {shown} (fit {row['fit_seconds']:.1f} s, "
                  f"evaluate {row['evaluate_seconds']:.1f} s)", file=sys.stderr)
        del model
    frame = pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="fold"))
    return CrossValidation(frame, metrics, k)


def _combinations(param_grid, owner: str):
    """The parameter combinations of a grid (dict of lists) or of a list of grids, in order."""
    grids = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid)
    combos = []
    for grid in grids:
        if not isinstance(grid, Mapping):
            raise TypeError(f"{owner}: 'param_grid' must be a dict of lists or a list of such dicts.")
        names = list(grid)
        values = []
        for name in names:
            options = grid[name]
            if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
                raise TypeError(f"{owner}: param_grid[{name!r}] must be a list of values; got {options!r}.")
            options = list(options)
            if not options:
                raise ValueError(f"{owner}: param_grid[{name!r}] is empty.")
            values.append(options)
        combos.extend(dict(zip(names, chosen)) for chosen in itertools.product(*values))
    if not combos:
        raise ValueError(f"{owner}: 'param_grid' holds no combination.")
    return combos


def _is_grid(value) -> bool:
    """A parameter grid: a dict of lists, or a non-empty list of such dicts."""
    if isinstance(value, Mapping):
        return True
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(g, Mapping) for g in value)


def grid_search(
    make_model: Union[Callable, object],
    data,
    param_grid,
    *,
    folds: Union[int, Sequence] = 3,
    metric: str = "ndcg",
    metrics: Optional[Sequence[str]] = None,
    k: int = 10,
    by: str = "rating",
    seed: int = 0,
    refit: bool = True,
    verbose: bool = False,
    **evaluate_kwargs,
) -> GridSearch:
    """Evaluate every combination of a parameter grid; pick the best by one metric; refit it.

    The arguments come in ``cross_validate``'s order, the model first, then the data, then
    what varies: ``grid_search(make_model, data, param_grid)`` (as scikit-learn's
    ``GridSearchCV(estimator, param_grid).fit(X)`` reads: estimator, data, grid). The former
    order, grid before data, raises a TypeError saying so.

    Parameters
    ----------
    make_model : class, callable or model
        ``make_model(**params)`` gives an unfitted model; a model instance is copied with
        ``params`` set on the copy (``set_params``: an unknown name is a ValueError).
    data : Interactions, a (train, test) pair, or None when ``folds`` lists the splits
        Interactions: cross-validated on ``folds`` (the same folds for every combination).
        A pair: a single split (``std_*`` is then NaN).
    param_grid : dict of lists, or list of such dicts
        E.g. ``{"factors": [32, 64], "regularization": [0.01, 0.1]}``: every combination,
        in the order given (the last name varies fastest).
    folds : int or sequence of (train, test)
        As for ``cross_validate`` (default 3), when ``data`` is Interactions.
    metric : str
        Chooses the best combination: the highest mean, or the lowest for rmse and mae;
        among equals the first in grid order.
    metrics : names, optional
        Everything to report; ``metric`` is always among them.
    refit : bool
        Fit a fresh model with the best parameters once more, on all of ``data``
        (Interactions), or on the pair's train part (the test part stays held out, so
        ``evaluate(result.best_model, train, test)`` gives ``best_score``); default True.
        With ``data`` None (the folds given) there is no whole to refit on: pass the
        Interactions the folds come from, or ``refit=False``.
    **evaluate_kwargs
        Passed to ``evaluate``.

    Returns
    -------
    GridSearch
        ``.results`` (a DataFrame, one row per combination), ``.best_params``,
        ``.best_score``, ``.best_index``, and with ``refit`` ``.best_model`` (fitted) and
        ``.refit_seconds``.
    """
    import pandas as pd

    owner = "grid_search"
    if _is_grid(data):
        raise TypeError(
            f"{owner}: the arguments are (make_model, data, param_grid), in cross_validate's order; 'data' got a "
            f"parameter grid ({type(data).__name__}) and 'param_grid' got {type(param_grid).__name__}. Call "
            f"grid_search(make_model, data, param_grid)."
        )
    refit = check_flag(refit, "refit", owner)
    (metric,) = check_metrics([metric], owner)
    metrics = check_metrics(metrics, owner, default=(metric,))
    if metric not in metrics:
        metrics = (metric,) + metrics
    combos = _combinations(param_grid, owner)
    if isinstance(data, tuple) and len(data) == 2:
        splits, whole = [data], data[0]
    else:
        splits, whole = _splits(data, folds, by, seed, owner), data
    if refit and whole is None:  # refused before the search, not after it
        raise ValueError(f"{owner}: refit=True fits the best model on 'data', which is None (the folds were given); "
                         f"pass the Interactions the folds come from as 'data', or refit=False.")
    rows = []
    for position, params in enumerate(combos):
        cv = cross_validate(make_model, None, splits, metrics, k=k, params=params, **evaluate_kwargs)
        row = dict(params)
        for name in metrics:
            row[f"mean_{name}"] = float(cv.mean[name])
            row[f"std_{name}"] = float(cv.std[name])
        row["fit_seconds"] = float(cv.folds["fit_seconds"].sum())
        rows.append(row)
        if verbose:
            import sys

            print(f"{owner}: {position + 1}/{len(combos)} {params}: {metric} {row[f'mean_{metric}']:.4f}",
                  file=sys.stderr)
    search = GridSearch(pd.DataFrame(rows), metric, combos, lower_is_better(metric))
    if refit and search.best_params is not None:
        started = time.perf_counter()
        search.best_model = _new_model(make_model, search.best_params, owner).fit(whole)
        search.refit_seconds = time.perf_counter() - started
    return search
