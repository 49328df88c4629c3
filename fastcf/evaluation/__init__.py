"""Evaluation: ranking metrics at k over all users, computed the same way for every model."""

from __future__ import annotations

import numpy as np

from fastcf.data.interactions import Interactions
from fastcf.evaluation.metrics import ranking_metrics

__all__ = ["evaluate", "ranking_metrics"]


def evaluate(model, train: Interactions, test: Interactions, k: int = 10) -> dict:
    """Ranking metrics at k of a fitted model: recommend k items to every user with test
    items, excluding their training items, and score the lists against the test entries.

    ``train`` and ``test`` share ID maps (as every fastcf split returns them); the model
    must have been fitted on ``train``.
    """
    if train.users != test.users or train.items != test.items:
        raise ValueError("evaluate: 'train' and 'test' must share ID maps (use a fastcf split).")
    users = np.flatnonzero(np.diff(test.matrix.indptr) > 0)
    recommended = np.full((test.n_users, k), -1, dtype=np.int64)
    if users.size:
        ids, _ = model.recommend(test.users.to_raw(users) if model.users_ is not None else users, k)
        indices = test.items.to_index(np.asarray(ids).ravel(), missing="ignore").reshape(ids.shape) \
            if model.items_ is not None else np.asarray(ids)
        recommended[users, : indices.shape[1]] = indices
    return ranking_metrics(recommended, test.matrix)
