"""evaluate_heldout: metrics of a model on users it never saw, folded in from part of their items."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp

from fastcf._validation import as_interaction_matrix, check_interactions, check_positive_int, message
from fastcf.data.interactions import Interactions
from fastcf.exceptions import DataError
from fastcf.evaluation._evaluate import SCORE_BLOCK_BYTES, _check_gains, _grown_from
from fastcf.evaluation.metrics import (
    LIST_METRICS, RANKING_METRICS, RATING_METRICS, check_metrics, list_values, per_user_frame, summarize,
)
from fastcf.evaluation.results import Evaluation
from fastcf.kernels.metrics import (
    DEFAULT_BLOCK_SIZE, RANKING_COLUMNS, factor_ranking_metrics, list_ranking_metrics, score_ranking_metrics,
)

__all__ = ["evaluate_heldout"]


def evaluate_heldout(
    model,
    part,
    k: Union[int, Sequence[int]] = 10,
    *,
    metrics: Optional[Sequence[str]] = None,
    per_user: bool = False,
    item_features=None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Union[Evaluation, Dict[int, Evaluation]]:
    """Metrics of a fitted model on held-out users (strong generalization), folded in as one batch.

    Every user of ``part`` is folded in from their ``fold_in`` items, as the model's
    ``recommend_for_history`` folds a new user in (an exact solve for ALS and rating models,
    SGD passes for ranking models, the history itself for neighbour and history models),
    nothing refitted; then each is ranked against the whole catalogue less their fold-in
    items, and the ranking is measured against their ``targets``. The metrics, names and
    conventions are ``evaluate``'s (:mod:`fastcf.evaluation.metrics`), among them
    ``calibrated_recall`` (Liang et al.'s Recall@k) and ``ndcg``.

    All users are folded in by one call of the model's fold-in; a dot-product model's
    rankings then come from the fused score-and-select kernel
    (``fastcf.kernels.factor_ranking_metrics``), any other model's from blocks of its scores
    (at most 64 MiB at a time) measured by ``score_ranking_metrics``. Results do not depend
    on ``n_threads`` or ``block_size``. As in ``evaluate``, a factor model's scores here are
    the kernel's (summed in factor order), which may differ from ``recommend_for_history``'s
    BLAS scores in the last bit, and so in the order of near-ties.

    Parameters
    ----------
    model : fitted fastcf model that folds in new users
        Fitted on the training part of the split (``heldout_user_split(...).train``). A model
        without fold-in (UserKNN: a new user's neighbours need a refit) is refused, named.
    part : HeldoutPart (``split.validation`` or ``split.test``), or a pair (fold_in, targets)
        Interactions over the model's items with one user map, or two scipy sparse
        matrices of one shape with one column per fitted item. Fold-in values are read as the
        model reads training values; target values are the gains of ``ndcg_graded``.
    k : int >= 1, or a sequence of them
        Cut-off. With several, the model ranks once at the largest and each k is measured on
        the prefixes of those lists (the top k is a prefix of the top K, ties broken alike),
        so ``k=(20, 50, 100)`` costs one fold-in and one ranking.
    metrics : sequence of names, optional
        Ranking and list metrics (``fastcf.evaluation.RANKING_METRICS``, ``LIST_METRICS``);
        default ``DEFAULT_METRICS``. Rating metrics (rmse, mae) are refused.
    per_user : bool
        Also build a DataFrame, one row per evaluated user, indexed by raw user ID.
    item_features : array or sparse matrix of shape (n_items, d), optional
        Needed by ``diversity``.
    block_size : int >= 1
        Users scored together per thread by the factor kernel.
    n_threads : int >= 1, optional
    backend : {"auto", "cython", "numba", "reference"}, optional
        Kernel twin; default the model's ``backend`` if it has one, else ``FASTCF_BACKEND``.

    Returns
    -------
    Evaluation, or dict {k: Evaluation} when ``k`` is a sequence
        As ``evaluate`` returns it: overall values by metric name, ``n_users`` (evaluated),
        ``n_users_skipped`` (held-out users without a target), and ``n_users_auc_undefined``
        with ``auc``. Novelty's item popularity is that of the model's training matrix.
    """
    owner = "evaluate_heldout"
    metrics = check_metrics(metrics, owner)
    rating = [m for m in metrics if m in RATING_METRICS]
    if rating:
        raise ValueError(f"{owner}: {rating[0]!r} is a rating metric; held-out users are measured on rankings "
                         f"(predict_for_history gives a folded-in user's predictions).")
    ks, single = _cutoffs(k, owner)
    block_size = check_positive_int(block_size, "block_size", owner)
    _check_folds_in(model, owner)
    fold_in, targets, user_map = _part_matrices(model, part, owner)
    if backend is None:
        backend = getattr(model, "backend", None)
    graded = "ndcg_graded" in metrics
    if graded:
        _check_gains(targets, owner)
    n_targets = np.diff(targets.indptr)
    users = np.flatnonzero(n_targets > 0)
    ranking_names = [m for m in metrics if m in RANKING_METRICS]
    list_names = [m for m in metrics if m in LIST_METRICS]
    top, values = _folded_in_rankings(model, fold_in, targets, users, ks[-1], "auc" in metrics, graded, block_size,
                                      n_threads, backend)
    results = {}
    for cutoff in ks:
        if cutoff == ks[-1]:
            at_k, prefix = values, top
        else:
            prefix = np.ascontiguousarray(top[:, :cutoff])
            at_k = list_ranking_metrics(prefix, users, targets.indptr, targets.indices, targets.shape[1],
                                        test_gains=targets.data if graded else None, graded=graded,
                                        n_threads=n_threads, backend=backend)
            at_k[:, RANKING_COLUMNS.index("auc")] = values[:, RANKING_COLUMNS.index("auc")]
        result = summarize(at_k, n_targets[users], cutoff, ranking_names)
        extra, table = list_values(prefix, list_names, targets.shape[1], model.seen_, item_features, owner)
        result.update(extra)
        out = {name: result[name] for name in metrics}
        out["n_users"] = int(users.size)
        out["n_users_skipped"] = int(targets.shape[0] - users.size)
        if "auc" in metrics:
            out["n_users_auc_undefined"] = int(np.isnan(at_k[:, RANKING_COLUMNS.index("auc")]).sum())
        frame = per_user_frame(users, n_targets[users], at_k, ranking_names, table, user_map) if per_user else None
        results[cutoff] = Evaluation(out, k=cutoff, metrics=metrics, per_user=frame)
    return results[ks[0]] if single else results


def _folded_in_rankings(model, fold_in, targets, users, k, auc, graded, block_size, n_threads, backend):
    """(top-k lists, per-user kernel values) of the users of ``users`` (rows of the part),
    folded in from ``fold_in`` as one batch, their fold-in items excluded."""
    try:
        # As recommend_for_history hands histories to the fold-in: float64 values.
        state = model._fold_in(fold_in.astype(np.float64))
    except DataError as error:  # the model's own message names its fold-in and 'history'
        raise DataError(f"evaluate_heldout: 'part.fold_in' cannot be folded in: {error}") from error
    gains = targets.data if graded else None
    if model._scoring == "dot":
        # The offset of rating models (global mean and user bias) is one number per user: it
        # moves a user's scores, never their order, so the ranking needs the queries alone.
        queries, _ = model._query_vectors(state)
        items = model._item_vectors()
        queries = np.ascontiguousarray(queries, dtype=items.dtype)
        return factor_ranking_metrics(
            queries, items, users, fold_in.indptr, fold_in.indices, targets.indptr, targets.indices, k,
            test_gains=gains, auc=auc, graded=graded, block_size=block_size, n_threads=n_threads, backend=backend,
        )
    n_rows, n_items = targets.shape
    all_items = np.arange(n_items, dtype=np.int64)
    has_target = np.zeros(n_rows, dtype=bool)
    has_target[users] = True
    block = max(1, int(SCORE_BLOCK_BYTES // (8 * max(n_items, 1))))
    tops, values = [], []
    for start in range(0, n_rows, block):
        rows = slice(start, min(start + block, n_rows))
        measured = start + np.flatnonzero(has_target[rows])
        if measured.size == 0:
            continue
        scores = model._scores_of_state(state, rows, all_items)[has_target[rows]]
        top, value = score_ranking_metrics(
            scores, measured, fold_in.indptr, fold_in.indices, targets.indptr, targets.indices, k,
            test_gains=gains, auc=auc, graded=graded, n_threads=n_threads, backend=backend,
        )
        tops.append(top)
        values.append(value)
    if not tops:
        return np.full((0, k), -1, dtype=np.int64), np.zeros((0, len(RANKING_COLUMNS)))
    return np.concatenate(tops), np.concatenate(values)


# --- checks -----------------------------------------------------------------------------

def _cutoffs(k, owner: str):
    """(sorted distinct cut-offs, whether one int was given)."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
        return [check_positive_int(k, "k", owner)], True
    if isinstance(k, (str, bytes)) or not hasattr(k, "__iter__"):
        raise TypeError(message(owner, "k", "an int >= 1 or a sequence of them", repr(k)))
    ks = sorted({check_positive_int(value, "k", owner) for value in k})
    if not ks:
        raise ValueError(message(owner, "k", "an int >= 1 or a non-empty sequence of them", repr(k)))
    return ks, False


def _check_folds_in(model, owner: str) -> None:
    from fastcf.models.base import Recommender

    if not isinstance(model, Recommender):
        raise TypeError(message(owner, "model", "a fitted fastcf model that folds in new users (e.g. EASE, ItemKNN, "
                                "ImplicitALS)", type(model).__name__))
    name = type(model).__name__
    # UserKNN hides recommend_for_history (a new user's neighbours need their similarity to
    # every training user, which the fitted model does not keep); a model without _fold_in has none.
    if not hasattr(model, "recommend_for_history") or type(model)._fold_in is Recommender._fold_in:
        raise TypeError(
            f"{owner}: {name} cannot fold in new users (it has no recommend_for_history), so it cannot be "
            f"evaluated on held-out users. Use a model that folds in (ItemKNN, EASE, ImplicitALS, ...), or "
            f"evaluate {name} with a split that keeps every user in training (fastcf.evaluate)."
        )
    model._check_fitted(owner)


def _part_matrices(model, part, owner: str):
    """(fold-in CSR, targets CSR, user IdMap or None), checked against each other and the model."""
    fold_in, targets = _unpack(part, owner)
    if isinstance(fold_in, Interactions) != isinstance(targets, Interactions):
        raise TypeError(f"{owner}: 'part.fold_in' and 'part.targets' must both be Interactions or both sparse "
                        f"matrices; got {type(fold_in).__name__} and {type(targets).__name__}.")
    user_map = None
    if isinstance(fold_in, Interactions):
        fold_in = check_interactions(fold_in, "part.fold_in", owner)
        targets = check_interactions(targets, "part.targets", owner)
        if fold_in.users != targets.users or fold_in.items != targets.items:
            raise ValueError(f"{owner}: 'part.fold_in' and 'part.targets' must share ID maps, as the parts of "
                             f"heldout_user_split do.")
        model_items = getattr(model, "items_", None)
        if model_items is not None and model_items != fold_in.items:
            if not _grown_from(model_items, fold_in.items):
                raise ValueError(
                    f"{owner}: the part's items are not the model's: fit the model on the split's 'train' (whose "
                    f"item map the parts share); got {len(fold_in.items)} items, the model has {len(model_items)}.")
            # partial_fit appended items after the split: the parts in the model's item space.
            fold_in = fold_in.reindex(fold_in.users, model_items)
            targets = targets.reindex(targets.users, model_items)
        user_map = fold_in.users
        fold_in, targets = fold_in.matrix, targets.matrix
    else:
        fold_in = as_interaction_matrix(fold_in, "part.fold_in", owner)
        targets = as_interaction_matrix(targets, "part.targets", owner)
        if fold_in.shape != targets.shape:
            raise ValueError(f"{owner}: 'part.fold_in' and 'part.targets' must have one shape; got {fold_in.shape} "
                             f"and {targets.shape}.")
    if fold_in.shape[1] != model.n_items:
        raise ValueError(f"{owner}: 'part.fold_in' must have one column per fitted item ({model.n_items}); got "
                         f"{fold_in.shape[1]}.")
    # The model's own checks of training values: a history it could not have been fitted on is refused.
    fold_in = model._check_values(fold_in, "part.fold_in", owner)
    return fold_in, targets, user_map


def _unpack(part, owner: str):
    if isinstance(part, (Interactions,)) or sp.issparse(part):
        raise TypeError(message(owner, "part", "a HeldoutPart (split.validation or split.test) or a pair (fold_in, "
                                "targets)", f"one {type(part).__name__}"))
    try:
        fold_in, targets = part
    except (TypeError, ValueError):
        raise TypeError(message(owner, "part", "a HeldoutPart (split.validation or split.test) or a pair (fold_in, "
                                "targets)", type(part).__name__)) from None
    for name, value in (("part.fold_in", fold_in), ("part.targets", targets)):
        if not (isinstance(value, Interactions) or sp.issparse(value)):
            raise TypeError(message(owner, name, "fastcf Interactions or a scipy sparse matrix", type(value).__name__))
    return fold_in, targets
