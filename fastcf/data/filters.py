"""Filters that remove entries, users or items; each returns a new Interactions.

Removed users and items leave the ID maps, so the result has only users and items with at
least one entry. Counts of what was removed are added to the result's report notes.
"""

from __future__ import annotations

import copy

import numpy as np

from fastcf._validation import check_interactions, check_number, check_positive_int
from fastcf.data.id_map import IdMap
from fastcf.data.interactions import Interactions, csr_from_sorted_entries, entry_rows

__all__ = ["binarize", "compact", "k_core"]


def _with_note(data: Interactions, note: str) -> Interactions:
    report = copy.deepcopy(data.report) if data.report is not None else None
    if report is not None:
        report.notes.append(note)
    return data.replace(report=report)


def compact(data: Interactions) -> Interactions:
    """Drop users and items that have no entry (from the matrix and the ID maps)."""
    data = check_interactions(data, "data", "compact")
    return _compact(data)


def _compact(data: Interactions) -> Interactions:
    user_kept = np.diff(data.matrix.indptr) > 0
    item_kept = np.bincount(data.matrix.indices, minlength=data.n_items) > 0
    if user_kept.all() and item_kept.all():
        return data
    new_row = np.cumsum(user_kept) - 1
    new_col = np.cumsum(item_kept) - 1
    rows = new_row[entry_rows(data.matrix)]
    cols = new_col[data.matrix.indices]
    shape = (int(user_kept.sum()), int(item_kept.sum()))
    matrix = csr_from_sorted_entries(rows, cols, data.matrix.data, shape)  # order is unchanged
    users = IdMap(data.users.raw_ids[user_kept], data.users.name)
    items = IdMap(data.items.raw_ids[item_kept], data.items.name)
    return data.replace(matrix, users=users, items=items)


def k_core(data: Interactions, min_user_entries: int = 5, min_item_entries: int = 5) -> Interactions:
    """Iteratively remove users with fewer than ``min_user_entries`` entries and items with
    fewer than ``min_item_entries``, until every remaining user and item meets its minimum.

    The result is the largest such sub-matrix (the k-core), which is unique.
    """
    data = check_interactions(data, "data", "k_core")
    min_user_entries = check_positive_int(min_user_entries, "min_user_entries", "k_core")
    min_item_entries = check_positive_int(min_item_entries, "min_item_entries", "k_core")
    rows = entry_rows(data.matrix)
    cols = data.matrix.indices
    alive = np.ones(data.nnz, dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        user_count = np.bincount(rows[alive], minlength=data.n_users)
        item_count = np.bincount(cols[alive], minlength=data.n_items)
        survives = alive & (user_count[rows] >= min_user_entries) & (item_count[cols] >= min_item_entries)
        if survives.sum() == alive.sum():
            break
        alive = survives
    result = _compact(data.select_entries(alive))
    return _with_note(
        result,
        f"k-core (users >= {min_user_entries}, items >= {min_item_entries} entries) after {rounds} round(s): "
        f"removed {data.nnz - result.nnz:,} entries, {data.n_users - result.n_users:,} users, "
        f"{data.n_items - result.n_items:,} items",
    )


def binarize(data: Interactions, threshold: float) -> Interactions:
    """Entries rated >= ``threshold`` become 1; the others are removed (users/items kept)."""
    data = check_interactions(data, "data", "binarize")
    threshold = check_number(threshold, "threshold", "binarize", low=None)
    kept = data.matrix.data >= threshold
    result = data.select_entries(kept)
    result.matrix.data = np.ones_like(result.matrix.data)
    return _with_note(result, f"binarized at rating >= {threshold}: removed {int((~kept).sum()):,} entries below it")
