"""Recommendation for every user and evaluation of a factor model, one task per block of users.

Kernels: ``fastcf/kernels/topk/`` (``select_topk_dot``) and ``fastcf/kernels/metrics/``
(``factor_ranking_metrics``), the ones ``recommend`` and ``fastcf.evaluate`` use on one
machine, so the lists and the metrics are theirs.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fastcf.distributed._blocks import row_bounds, rows_of, unique_tag
from fastcf.distributed.worker import prepare_cluster
from fastcf.evaluation import _evaluate
from fastcf.evaluation.metrics import RANKING_METRICS, check_metrics, metric_column
from fastcf.evaluation.results import Evaluation
from fastcf.kernels import factor_ranking_metrics, select_topk_dot
from fastcf._validation import check_positive_int
from fastcf.kernels.metrics import DEFAULT_BLOCK_SIZE, RANKING_COLUMNS

__all__ = ["evaluate", "recommend_all"]

#: Columns of recommend_all's DataFrame.
COLUMNS = ("user", "rank", "item", "score")
#: Metrics distributed evaluate computes (list metrics other than coverage need every list).
SUPPORTED_METRICS = RANKING_METRICS + ("coverage",)


def recommend_all(client, model, k: int = 10, *, exclude_seen: bool = True, n_blocks: Optional[int] = None):
    """The top-k items of every user of a fitted factor model, as a Dask DataFrame.

    One task per block of users runs ``select_topk_dot`` (the kernel of ``model.recommend``)
    on the block's user factors against all item factors, which are sent to each worker
    once. The lists equal ``model.recommend(all users, k, exclude_seen=...)``; users with
    fewer admissible items than k get fewer rows (no padding).

    Parameters
    ----------
    client : distributed.Client
    model : fitted fastcf factor model (ImplicitALS, fit_als's result, ...)
    k : int >= 1
    exclude_seen : bool
        Leave out each user's training items (``model.seen_``).
    n_blocks : int >= 1, optional
        User blocks, i.e. partitions of the result; default 2 per worker thread.

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``user`` (raw ID, or index without ID maps), ``rank`` (1 = best), ``item``
        and ``score``; one partition per user block, users in index order.
    """
    import dask.dataframe as dd

    owner = "recommend_all"
    _check_factor_model(model, owner)
    k = min(check_positive_int(k, "k", owner), model.n_items)
    bounds = _user_bounds(client, model.seen_, n_blocks, owner)
    prepare_cluster(client, _backend(model))
    tag = unique_tag()
    # The model's own scoring vectors (biases folded in), and the per-user offset of rating
    # models (μ + b_u), which does not change a ranking and is added to the selected scores.
    queries, offset = model._query_vectors(model._user_state(slice(None)))
    items = model._item_vectors()
    queries = np.ascontiguousarray(queries, dtype=items.dtype)
    item_factors, item_ids = client.scatter([items, _raw_ids(model.items_, model.n_items)], broadcast=True, hash=False)
    user_ids = _raw_ids(model.users_, model.n_users)
    parts = []
    for b, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        seen = rows_of(model.seen_, start, stop) if exclude_seen else None
        parts.append(client.submit(
            _recommend_block, queries[start:stop], item_factors, seen, user_ids[start:stop], item_ids,
            k, _backend(model), None if offset is None else offset[start:stop], key=f"{tag}-recommend-{b}",
        ))
    meta = _recommend_block(queries[:0], items, None, user_ids[:0], _raw_ids(model.items_, model.n_items), k,
                            _backend(model), None if offset is None else offset[:0])
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def evaluate(client, model, train, test, k: int = 10, *, metrics: Optional[Sequence[str]] = None,
             exclude_train: bool = True, n_blocks: Optional[int] = None, block_size: int = DEFAULT_BLOCK_SIZE):
    """``fastcf.evaluate`` of a factor model, one task per block of users; the same values.

    Each task ranks its users' items with ``factor_ranking_metrics`` (the kernel of
    ``fastcf.evaluate``'s factor path) and returns its sums (per metric, and the counts the
    means divide by) and the set of items it recommended; the client adds them up. Means
    equal fastcf.evaluate's to rounding (the sums are taken block by block).

    Parameters
    ----------
    client : distributed.Client
    model : fitted fastcf factor model
    train, test : as for ``fastcf.evaluate`` (Interactions with shared ID maps, or sparse
        matrices of one shape)
    k : int >= 1
    metrics : names, optional
        Ranking metrics (``fastcf.evaluation.RANKING_METRICS``) and ``coverage``; default
        fastcf.evaluate's.
    exclude_train : bool
    n_blocks : int >= 1, optional
        User blocks; default 2 per worker thread.
    block_size : int >= 1
        Users per kernel block inside each task, as for ``fastcf.evaluate``.

    Returns
    -------
    Evaluation
        As ``fastcf.evaluate`` returns it, without ``per_user``.
    """
    owner = "fastcf.distributed.evaluate"
    metrics = check_metrics(metrics, owner)
    unsupported = [m for m in metrics if m not in SUPPORTED_METRICS]
    if unsupported:
        raise ValueError(
            f"{owner}: 'metrics' may hold ranking metrics and 'coverage'; got {unsupported}, which need every "
            f"user's list or predictions on the client: use fastcf.evaluate for them."
        )
    _check_factor_model(model, owner)
    k = check_positive_int(k, "k", owner)
    block_size = check_positive_int(block_size, "block_size", owner)
    train_m, test_m, _ = _evaluate._matrices(model, train, test, owner)
    graded = "ndcg_graded" in metrics
    if graded:
        _evaluate._check_gains(test_m, owner)
    bounds = _user_bounds(client, test_m, n_blocks, owner)
    prepare_cluster(client, _backend(model))
    tag = unique_tag()
    queries, items = model._ranking_vectors()
    item_factors = client.scatter(items, broadcast=True, hash=False)
    options = dict(k=k, auc="auc" in metrics, graded=graded, block_size=block_size, backend=_backend(model))
    parts = []
    for b, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        train_block = rows_of(train_m, start, stop) if exclude_train else sp.csr_matrix((stop - start, train_m.shape[1]))
        parts.append(client.submit(
            _evaluate_block, queries[start:stop], item_factors, train_block, rows_of(test_m, start, stop),
            options, key=f"{tag}-evaluate-{b}",
        ))
    totals = _add(client.gather(parts))
    n_users = test_m.shape[0]
    result = _means(totals, k, metrics, test_m.shape[1])
    out = {name: result[name] for name in metrics}
    out["n_users"] = int(totals["users"])
    out["n_users_skipped"] = int(n_users - totals["users"])
    if "auc" in metrics:
        out["n_users_auc_undefined"] = int(totals["users"] - totals["defined"][RANKING_COLUMNS.index("auc")])
    return Evaluation(out, k=k, metrics=metrics, per_user=None)


# --- client-side helpers ----------------------------------------------------------------

def _check_factor_model(model, owner: str) -> None:
    if not _evaluate.is_factor_model(model):
        raise TypeError(
            f"{owner}: 'model' must be a fitted fastcf factor model (user_factors_ @ item_factors_.T scores, "
            f"e.g. ImplicitALS); got {type(model).__name__}."
        )
    model._check_fitted(owner)


def _backend(model):
    return getattr(model, "backend", None)


def _user_bounds(client, matrix: sp.csr_matrix, n_blocks, owner: str) -> np.ndarray:
    if n_blocks is None:
        n_blocks = 2 * max(1, sum(client.nthreads().values()))
    n_blocks = check_positive_int(n_blocks, "n_blocks", owner)
    # Scoring a user costs n_items either way; its entries only add exclusions.
    return row_bounds(np.zeros(matrix.shape[0]), n_blocks, 1.0)


def _raw_ids(id_map, n: int) -> np.ndarray:
    return id_map.raw_ids if id_map is not None else np.arange(n, dtype=np.int64)


def _add(parts) -> dict:
    totals = {key: parts[0][key] for key in parts[0]}
    for part in parts[1:]:
        for key, value in part.items():
            totals[key] = totals[key] | value if key == "recommended" else totals[key] + value
    return totals


def _means(totals: dict, k: int, metrics, n_items: int) -> dict:
    """Overall values, as fastcf.evaluation.metrics.summarize and catalog_coverage give them."""
    out = {}
    sums, defined = totals["sums"], totals["defined"]
    for name in metrics:
        if name == "coverage":
            out[name] = float(np.count_nonzero(totals["recommended"]) / n_items) if n_items else float("nan")
            continue
        column = metric_column(name)
        if name == "precision_implicit":
            hits = sums[RANKING_COLUMNS.index("hits")]
            out[name] = float(hits / totals["capped_test"]) if totals["capped_test"] else float("nan")
        else:
            out[name] = float(sums[column] / defined[column]) if defined[column] else float("nan")
    return out


# --- tasks ---------------------------------------------------------------------------------

def _recommend_block(user_factors, item_factors, seen, user_ids, item_ids, k, backend, offset=None) -> pd.DataFrame:
    kwargs = {}
    if seen is not None:
        kwargs = dict(exclude_indptr=seen.indptr, exclude_indices=seen.indices)
    top, scores = select_topk_dot(user_factors, item_factors, k, n_threads=1, backend=backend, **kwargs)
    if offset is not None:
        scores = scores.astype(np.float64) + offset[:, None]
    valid = top >= 0
    rows, ranks = np.nonzero(valid)
    return pd.DataFrame({
        "user": user_ids[rows],
        "rank": (ranks + 1).astype(np.int64),
        "item": item_ids[top[valid]],
        "score": scores[valid],
    }, columns=list(COLUMNS))


def _evaluate_block(user_factors, item_factors, train, test, options) -> dict:
    """Per-metric sums of this block's users with test entries, and what the means divide by."""
    n_test = np.diff(test.indptr)
    users = np.flatnonzero(n_test > 0)
    top, values = factor_ranking_metrics(
        user_factors, item_factors, users, train.indptr, train.indices, test.indptr, test.indices, options["k"],
        test_gains=test.data if options["graded"] else None, auc=options["auc"], graded=options["graded"],
        block_size=options["block_size"], n_threads=1, backend=options["backend"],
    )
    defined = ~np.isnan(values)
    recommended = np.zeros(item_factors.shape[0], dtype=bool)
    recommended[top[top >= 0]] = True
    return {
        "users": users.size,
        "sums": np.where(defined, values, 0.0).sum(axis=0),
        "defined": defined.sum(axis=0),
        "capped_test": int(np.minimum(n_test[users], options["k"]).sum()),
        "recommended": recommended,
    }
