"""evaluate: every metric of a fitted model on a test set, in one pass over the users."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from fastcf.data.interactions import Interactions
from fastcf.evaluation.metrics import (
    LIST_METRICS, RANKING_METRICS, RATING_METRICS, SCORE_METRICS, check_metrics, list_values, per_user_frame,
    summarize,
)
from fastcf.evaluation.results import Evaluation
from fastcf._validation import as_interaction_matrix, check_interactions, check_positive_int
from fastcf.kernels.metrics import (
    DEFAULT_BLOCK_SIZE, RANKING_COLUMNS, factor_ranking_metrics, list_ranking_metrics, score_ranking_metrics,
)

__all__ = ["evaluate", "ranking_lists"]

#: Memory for one block of scores (users x items) on the score path (models that are not
#: factor models): the same bound as Recommender.recommend's.
SCORE_BLOCK_BYTES = 64 << 20
#: Test entries predicted per call on the rating path (bounds the gathered factor rows).
PAIR_BLOCK = 1 << 18


def evaluate(
    model,
    train,
    test,
    k: int = 10,
    *,
    metrics: Optional[Sequence[str]] = None,
    per_user: bool = False,
    exclude_train: bool = True,
    item_features=None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Evaluation:
    """Metrics of a fitted model on held-out entries: ranking at k, lists, ratings.

    Every user with at least one test entry is ranked against the whole catalogue (less
    their ``train`` items), and every metric asked for is computed from that one pass; see
    :mod:`fastcf.evaluation.metrics` for each formula and convention. Users without test
    entries are skipped and counted.

    How the ranking is computed depends on the model:

    - a factor model (``user_factors_`` and ``item_factors_``, scores their dot products):
      the fused kernel ``fastcf.kernels.factor_ranking_metrics`` scores, excludes, selects
      and measures on per-thread scratch, never holding the users x items matrix;
    - another fastcf model: its ``_score`` for blocks of users (at most 64 MiB of scores at
      a time), measured by ``fastcf.kernels.score_ranking_metrics``;
    - any other object with ``recommend(users, k, exclude_seen=...)`` returning (ids,
      scores) as fastcf models do: its lists, measured by ``list_ranking_metrics`` (no full
      ``auc``; exclusions are then the model's own).

    Results do not depend on ``n_threads`` or ``block_size``. A factor model's ranking here
    uses the kernel's scores (products and sums in factor order), which may differ from
    ``recommend``'s BLAS scores in the last bit, and so in the order of near-ties.

    Parameters
    ----------
    model : fitted fastcf model (or an object with ``recommend``)
        Fitted on ``train`` (the same users and items, in the same order).
    train, test : Interactions with shared ID maps (as fastcf's splits return), or scipy
        sparse users x items matrices of one shape
        ``train``'s entries are excluded from the rankings; ``test``'s are the relevant
        items, their values the gains of ``ndcg_graded`` and the targets of ``rmse``/``mae``.
    k : int >= 1
        Cut-off of the ranking metrics; larger than the catalogue is allowed.
    metrics : sequence of names, optional
        Any of ``fastcf.evaluation.ALL_METRICS``; default ``DEFAULT_METRICS`` (precision,
        recall, map, ndcg, mrr, hit_rate, coverage).
    per_user : bool
        Also build a pandas DataFrame, one row per evaluated user (``result.per_user``).
    exclude_train : bool
        Leave each user's training items out of their ranking (default).
    item_features : array or sparse matrix of shape (n_items, d), optional
        Needed by ``diversity``.
    block_size : int >= 1
        Users scored together per thread by the factor kernel (memory: threads x block_size x
        n_items scores).
    n_threads : int >= 1, optional
        Default ``fastcf.get_num_threads()``.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Kernel twin; default the model's ``backend`` if it has one, else ``FASTCF_BACKEND``.

    Returns
    -------
    Evaluation
        A dict of overall values by metric name, plus ``n_users`` (evaluated),
        ``n_users_skipped`` (no test entry), ``n_users_auc_undefined`` (with ``auc``) and
        ``n_fallback`` (with ``rmse``/``mae``); ``.per_user`` holds the table.
    """
    owner = "evaluate"
    metrics = check_metrics(metrics, owner)
    k = check_positive_int(k, "k", owner)
    block_size = check_positive_int(block_size, "block_size", owner)
    train_m, test_m, user_map = _matrices(model, train, test, owner)
    if backend is None:
        backend = getattr(model, "backend", None)
    n_users, n_items = test_m.shape
    n_test = np.diff(test_m.indptr)
    users = np.flatnonzero(n_test > 0)

    ranking_names = [m for m in metrics if m in RANKING_METRICS]
    list_names = [m for m in metrics if m in LIST_METRICS]
    rating_names = [m for m in metrics if m in RATING_METRICS]
    result, table = {}, {}
    values = None
    if ranking_names or list_names:
        graded = "ndcg_graded" in metrics
        if graded:
            _check_gains(test_m, owner)
        top, values = ranking_lists(
            model, train_m, test_m, users, k, auc="auc" in metrics, graded=graded, exclude_train=exclude_train,
            block_size=block_size, n_threads=n_threads, backend=backend, owner=owner,
        )
        result.update(summarize(values, n_test[users], k, ranking_names))
        extra, table = list_values(top, list_names, n_items, train_m, item_features, owner)
        result.update(extra)
    if rating_names:
        rating, rating_table, n_fallback = _rating_metrics(model, train_m, test_m, users, rating_names, user_map, owner)
        result.update(rating)
        table.update(rating_table)

    out = {name: result[name] for name in metrics}
    out["n_users"] = int(users.size)
    out["n_users_skipped"] = int(n_users - users.size)
    if "auc" in metrics:
        out["n_users_auc_undefined"] = int(np.isnan(values[:, RANKING_COLUMNS.index("auc")]).sum())
    if rating_names:
        out["n_fallback"] = n_fallback
    frame = None
    if per_user:
        frame = per_user_frame(users, n_test[users], values, ranking_names, table, user_map)
    return Evaluation(out, k=k, metrics=metrics, per_user=frame)


# --- the three ways to a ranking ----------------------------------------------------------

def is_factor_model(model) -> bool:
    """The model ranks by dot products of user and item vectors (declared by its ``_scoring``),
    so the fused score-and-select kernels apply; see ``Recommender._ranking_vectors``."""
    return getattr(model, "_scoring", None) == "dot" and hasattr(model, "_ranking_vectors")


def ranking_lists(model, train_m, test_m, users, k, *, auc=False, graded=False, exclude_train=True,
                  block_size=DEFAULT_BLOCK_SIZE, n_threads=None, backend=None, owner="evaluate"):
    """(top_items, per-user kernel values) of ``users``, by the fastest path the model allows."""
    n_users, n_items = test_m.shape
    if exclude_train:
        train_indptr, train_indices = train_m.indptr, train_m.indices
    else:
        train_indptr, train_indices = np.zeros(n_users + 1, dtype=np.int32), np.zeros(0, dtype=np.int32)
    gains = test_m.data if graded else None
    if is_factor_model(model):
        queries, items = model._ranking_vectors()
        return factor_ranking_metrics(
            queries, items, users, train_indptr, train_indices,
            test_m.indptr, test_m.indices, k, test_gains=gains, auc=auc, graded=graded,
            block_size=block_size, n_threads=n_threads, backend=backend,
        )
    if hasattr(model, "_score") and hasattr(model, "seen_"):
        return _score_path(model, users, train_indptr, train_indices, test_m, k, gains, auc, graded, n_threads, backend)
    if auc:
        raise ValueError(
            f"{owner}: 'auc' (full AUC) needs every item's score, and {type(model).__name__} only gives "
            f"lists (recommend). Ask for 'auc_implicit', implicit's top-k approximation, instead."
        )
    top = _recommended(model, users, k, exclude_train, n_items, owner)
    values = list_ranking_metrics(
        top, users, test_m.indptr, test_m.indices, n_items, test_gains=gains, graded=graded,
        n_threads=n_threads, backend=backend,
    )
    return top, values


def _score_path(model, users, train_indptr, train_indices, test_m, k, gains, auc, graded, n_threads, backend):
    n_items = test_m.shape[1]
    all_items = np.arange(n_items, dtype=np.int64)
    block = max(1, int(SCORE_BLOCK_BYTES // (8 * max(n_items, 1))))
    tops, values = [], []
    for start in range(0, users.size, block):
        rows = users[start:start + block]
        scores = model._score(rows, all_items)
        top, value = score_ranking_metrics(
            scores, rows, train_indptr, train_indices, test_m.indptr, test_m.indices, k, test_gains=gains,
            auc=auc, graded=graded, n_threads=n_threads, backend=backend,
        )
        tops.append(top)
        values.append(value)
    if not tops:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, len(RANKING_COLUMNS)))
    return np.concatenate(tops), np.concatenate(values)


def _recommended(model, users, k, exclude_train, n_items, owner):
    """The model's own top-k lists for ``users``, as dense item indices (-1 pads)."""
    if not hasattr(model, "recommend"):
        raise TypeError(
            f"{owner}: {type(model).__name__} has neither factors, nor scores (_score), nor recommend(); "
            f"there is nothing to rank with."
        )
    top = np.full((users.size, k), -1, dtype=np.int64)
    if users.size == 0:
        return top
    user_map = getattr(model, "users_", None)
    ids = user_map.to_raw(users) if user_map is not None else users
    recommended, _ = model.recommend(ids, k, exclude_seen=exclude_train)
    recommended = np.asarray(recommended)
    item_map = getattr(model, "items_", None)
    if item_map is not None:
        flat = recommended.ravel()
        indices = item_map.to_index(np.where(flat == None, -1, flat) if flat.dtype == object else flat,  # noqa: E711
                                    missing="ignore").reshape(recommended.shape)
    else:
        indices = recommended.astype(np.int64)
    width = min(k, indices.shape[1])
    top[:, :width] = indices[:, :width]
    return top


# --- ratings --------------------------------------------------------------------------------

def _rating_metrics(model, train_m, test_m, users, names, user_map, owner):
    """Overall and per-user RMSE/MAE over the test entries, and how many were fallbacks."""
    rows = np.repeat(np.arange(test_m.shape[0], dtype=np.int64), np.diff(test_m.indptr))
    cols = test_m.indices.astype(np.int64)
    truth = test_m.data.astype(np.float64)
    if truth.size == 0:
        raise ValueError(f"{owner}: the test set has no entries; rmse and mae need at least one.")
    predicted = np.empty(truth.size, dtype=np.float64)
    for start in range(0, truth.size, PAIR_BLOCK):
        part = slice(start, start + PAIR_BLOCK)
        predicted[part] = _predict(model, rows[part], cols[part], owner)
    if not np.isfinite(predicted).all():
        bad = int(np.flatnonzero(~np.isfinite(predicted))[0])
        raise ValueError(
            f"{owner}: the model predicts {predicted[bad]} for user index {rows[bad]}, item index {cols[bad]}; "
            f"rmse and mae need finite predictions."
        )
    warm_users = np.diff(train_m.indptr) > 0
    warm_items = np.bincount(train_m.indices, minlength=train_m.shape[1]) > 0
    n_fallback = int(np.count_nonzero(~warm_users[rows] | ~warm_items[cols]))
    error = truth - predicted
    overall = {}
    table = {}
    counts = np.diff(test_m.indptr)[users].astype(np.float64)
    if "rmse" in names:
        overall["rmse"] = float(np.sqrt(np.mean(error ** 2)))
        table["rmse"] = np.sqrt(np.bincount(rows, error ** 2, minlength=test_m.shape[0])[users] / counts)
    if "mae" in names:
        overall["mae"] = float(np.mean(np.abs(error)))
        table["mae"] = np.bincount(rows, np.abs(error), minlength=test_m.shape[0])[users] / counts
    return overall, table, n_fallback


def _predict(model, rows, cols, owner):
    """``model.predict`` of the pairs' IDs, as given: RMSE and MAE are then exactly those of
    the predictions a user gets (clipped to the rating scale, baseline fallbacks included),
    not of the unclipped scores that ranking uses."""
    if not hasattr(model, "predict"):
        raise TypeError(f"{owner}: {type(model).__name__} cannot predict ratings (no predict()); drop rmse and mae.")
    users = model.users_.to_raw(rows) if getattr(model, "users_", None) is not None else rows
    items = model.items_.to_raw(cols) if getattr(model, "items_", None) is not None else cols
    return np.asarray(model.predict(users, items), dtype=np.float64)


# --- checks -----------------------------------------------------------------------------

def _matrices(model, train, test, owner):
    """(train CSR, test CSR, user IdMap or None), checked against each other and the model."""
    if isinstance(train, Interactions) != isinstance(test, Interactions):
        raise TypeError(f"{owner}: 'train' and 'test' must both be Interactions or both sparse matrices.")
    if isinstance(train, Interactions):
        train, test = check_interactions(train, "train", owner), check_interactions(test, "test", owner)
        if train.users != test.users or train.items != test.items:
            raise ValueError(
                f"{owner}: 'train' and 'test' must share ID maps; use a fastcf split (random_split, "
                f"leave_k_out, kfold, ...) or test.reindex(train.users, train.items)."
            )
        model_users, model_items = getattr(model, "users_", None), getattr(model, "items_", None)
        if _grown_from(model_users, train.users) and _grown_from(model_items, train.items):
            # The model's maps hold every ID of train's (partial_fit appended users and items):
            # evaluate in the model's index space, the new rows empty in train and test.
            train, test = train.reindex(model_users, model_items), test.reindex(model_users, model_items)
        train_m, test_m, user_map, item_map = train.matrix, test.matrix, train.users, train.items
        for name, ours, theirs in (("user", user_map, model_users), ("item", item_map, model_items)):
            if theirs is not None and theirs is not ours and theirs != ours:
                raise ValueError(
                    f"{owner}: the model was fitted with other {name} IDs than 'train' has; fit it on 'train' "
                    f"(the {name} order must match)."
                )
    else:
        train_m = as_interaction_matrix(train, "train", owner)
        test_m = as_interaction_matrix(test, "test", owner)
        user_map = None
    if train_m.shape != test_m.shape:
        raise ValueError(f"{owner}: 'train' and 'test' must have one shape; got {train_m.shape} and {test_m.shape}.")
    check_fitted = getattr(model, "_check_fitted", None)
    if check_fitted is not None:
        check_fitted("evaluate")
    seen = getattr(model, "seen_", None)
    if seen is None and not hasattr(model, "recommend"):
        raise TypeError(f"{owner}: {type(model).__name__} is not a fitted fastcf model (no seen_) and has no recommend().")
    if seen is not None and seen.shape != train_m.shape:
        raise ValueError(
            f"{owner}: the model was fitted on a {seen.shape[0]} x {seen.shape[1]} matrix but 'train' is "
            f"{train_m.shape[0]} x {train_m.shape[1]}; fit it on 'train'."
        )
    return train_m, test_m, user_map


def _grown_from(model_map, data_map) -> bool:
    """The model's ID map starts with ``data_map``'s IDs and has more (an updated model)."""
    return (model_map is not None and len(model_map) > len(data_map)
            and np.array_equal(model_map.raw_ids[:len(data_map)], data_map.raw_ids))


def _check_gains(test_m, owner):
    data = test_m.data
    bad = ~np.isfinite(data) | (data < 0)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(test_m.indptr, position, side="right") - 1)
        raise ValueError(
            f"{owner}: 'ndcg_graded' uses the test values as gains, which must be finite and >= 0; got "
            f"{data[position]} (user index {row}). Shift or binarise the test values, or use 'ndcg'."
        )
