"""Ratings split into row blocks that live on the workers: one CSR per block of users, one per block of items.

Each block is the output of a task, never scattered data, so that Dask can recompute it
when a worker is lost: from the input's partitions (a Dask DataFrame read from storage) or
from the block's own arrays, which travel inside its task (in-memory inputs).
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fastcf._validation import IMPLICIT_FEEDBACK, as_float_vector, check_finite, message
from fastcf.data.id_map import IdMap
from fastcf.exceptions import DataError

__all__ = ["RatingBlocks", "row_bounds", "rows_of", "unique_tag"]

#: Column names of a Dask DataFrame of ratings (the names Interactions.to_frame uses).
USER, ITEM, RATING = "user", "item", "rating"


def row_bounds(counts: np.ndarray, n_blocks: int, row_cost: float) -> np.ndarray:
    """Boundaries (n_blocks + 1,) of contiguous row blocks of about equal work.

    A row with n entries costs n + row_cost (its entries, plus its own f x f algebra), so a
    block of a few heavy rows weighs as much as a block of many light ones.
    """
    n_rows = counts.shape[0]
    n_blocks = max(1, min(int(n_blocks), n_rows))
    cost = np.cumsum(counts.astype(np.float64) + row_cost)
    targets = cost[-1] * np.arange(1, n_blocks) / n_blocks
    inner = np.searchsorted(cost, targets, side="left") + 1
    bounds = np.unique(np.concatenate([[0], np.minimum(inner, n_rows), [n_rows]]))
    return bounds.astype(np.int64)


def confidence_block(raw: sp.csr_matrix, formulation: dict, dtype) -> sp.csr_matrix:
    """The solvers' confidences of the stored entries, as ImplicitALS computes them
    (``formulation``: its ``_formulation()``)."""
    from fastcf.models.implicit_als import confidence_matrix

    return confidence_matrix(raw, dtype=dtype, name="data", owner="fastcf.distributed.fit_als", **formulation)


@dataclass
class Side:
    """The row blocks of one orientation (users x items, or items x users)."""

    bounds: np.ndarray
    #: Futures of the blocks' raw-value CSRs (rows of the block, all columns).
    blocks: List = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def sizes(self):
        return [(int(a), int(b)) for a, b in zip(self.bounds[:-1], self.bounds[1:])]


@dataclass
class RatingBlocks:
    """Ratings on the cluster: user blocks (user x item rows) and item blocks (item x user rows)."""

    users: Side
    items: Side
    shape: tuple
    user_ids: Optional[IdMap]
    item_ids: Optional[IdMap]
    nnz: int
    #: A prefix that makes this fit's task keys unique on the scheduler.
    tag: str

    # --- building ------------------------------------------------------------------------

    @classmethod
    def from_matrix(cls, client, matrix: sp.csr_matrix, user_ids, item_ids, n_blocks, row_cost) -> "RatingBlocks":
        """Blocks of an in-memory canonical CSR (sorted indices, no duplicates)."""
        tag = unique_tag()
        item_user = matrix.T.tocsr()  # the same order ImplicitALS uses, so the same sums
        sides = []
        for name, csr in (("users", matrix), ("items", item_user)):
            bounds = row_bounds(np.diff(csr.indptr), n_blocks, row_cost)
            blocks = []
            for b, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
                # The block's arrays travel inside its task, so that Dask can rerun it if a
                # worker is lost (scattered data would be gone); Dask warns about such large
                # tasks, which here are intended.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
                    blocks.append(client.submit(_copy, rows_of(csr, start, stop), key=f"{tag}-ratings-{name}-{b}"))
            sides.append(Side(bounds, blocks))
        return cls(sides[0], sides[1], matrix.shape, user_ids, item_ids, int(matrix.nnz), tag)

    @classmethod
    def from_dask_frame(cls, client, frame, n_blocks, row_cost, value_dtype=np.float32) -> "RatingBlocks":
        """Blocks of a Dask DataFrame with columns user, item and (optionally) rating.

        Two passes over the partitions: the first counts the entries of every raw user and
        item ID (their sorted IDs become the ID maps, as IdMap.factorize orders them); the
        second cuts every partition into pieces per user block and per item block, which
        one task per block joins into a CSR. Repeated (user, item) pairs are summed, as for
        a scipy matrix with duplicates. Without a rating column every value is 1.
        """
        _check_frame(frame)
        tag = unique_tag()
        partitions = frame.to_delayed()
        counted = client.compute([_dask_delayed(_count_ids)(p) for p in partitions])
        user_counts, item_counts = _merge_counts(client.gather(counted))
        user_ids, item_ids = IdMap(user_counts.index.to_numpy(), "user"), IdMap(item_counts.index.to_numpy(), "item")
        shape = (len(user_ids), len(item_ids))
        bounds = {
            "users": row_bounds(user_counts.to_numpy(), n_blocks, row_cost),
            "items": row_bounds(item_counts.to_numpy(), n_blocks, row_cost),
        }
        id_futures = client.scatter([user_ids.raw_ids, item_ids.raw_ids], broadcast=True, hash=False)
        # The ID arrays are small next to the ratings; scattered to every worker, they
        # survive the loss of any one.
        pieces = [
            client.submit(_cut_partition, client.compute(p), id_futures[0], id_futures[1],
                          bounds["users"], bounds["items"], value_dtype, key=f"{tag}-pieces-{i}")
            for i, p in enumerate(partitions)
        ]
        sides = []
        for side, n_columns in (("users", shape[1]), ("items", shape[0])):
            blocks = []
            for b, (start, stop) in enumerate(zip(bounds[side][:-1], bounds[side][1:])):
                blocks.append(client.submit(
                    _join_pieces, side, b, int(stop - start), n_columns, *pieces, key=f"{tag}-ratings-{side}-{b}",
                ))
            sides.append(Side(bounds[side], blocks))
        nnz = sum(client.gather([client.submit(_nnz, block) for block in sides[0].blocks]))
        return cls(sides[0], sides[1], shape, user_ids, item_ids, int(nnz), tag)

    def gather_matrix(self, client) -> sp.csr_matrix:
        """The whole users x items CSR of raw values, on the client (the model's ``seen_``)."""
        return sp.vstack(client.gather(self.users.blocks), format="csr")


def unique_tag() -> str:
    """A prefix for one call's task keys, unique on the scheduler."""
    return f"fastcf-{uuid.uuid4().hex[:10]}"


def rows_of(matrix: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Rows [start, stop) of a CSR as a CSR of views (no copy, unlike matrix[start:stop])."""
    lo, hi = matrix.indptr[start], matrix.indptr[stop]
    return sp.csr_matrix(
        (matrix.data[lo:hi], matrix.indices[lo:hi], matrix.indptr[start:stop + 1] - lo),
        shape=(stop - start, matrix.shape[1]),
    )


def _dask_delayed(function):
    import dask

    return dask.delayed(function, pure=True)


def _copy(block: sp.csr_matrix) -> sp.csr_matrix:
    return block.copy()


def _nnz(block: sp.csr_matrix) -> int:
    return int(block.nnz)


def _check_frame(frame) -> None:
    columns = list(frame.columns)
    missing = [c for c in (USER, ITEM) if c not in columns]
    if missing:
        raise ValueError(
            f"fastcf.distributed: a Dask DataFrame of ratings needs columns {USER!r} and {ITEM!r} "
            f"(and optionally {RATING!r}); it has {columns}, missing {missing}."
        )


def _count_ids(part: pd.DataFrame):
    return part[USER].value_counts(sort=False), part[ITEM].value_counts(sort=False)


def _merge_counts(counts):
    """(user counts, item counts), each a Series indexed by the sorted raw IDs."""
    merged = []
    for side in (0, 1):
        series = [c[side] for c in counts if len(c[side])]
        if not series:
            raise ValueError("fastcf.distributed: the Dask DataFrame of ratings is empty; it needs users and items.")
        total = pd.concat(series).groupby(level=0, sort=True).sum()
        merged.append(total)
    return merged


def _cut_partition(part: pd.DataFrame, user_raw, item_raw, user_bounds, item_bounds, value_dtype):
    """One partition's entries as pieces: {("users", b): (rows, cols, values), ("items", b): ...}."""
    rows = np.searchsorted(user_raw, part[USER].to_numpy())
    cols = np.searchsorted(item_raw, part[ITEM].to_numpy())
    if RATING in part.columns:
        # As ImplicitALS.fit checks a matrix: real, finite and >= 0 (a negative confidence
        # would turn a dislike into a strong like).
        name = f"data.{RATING}"
        values = as_float_vector(part[RATING].to_numpy(), name, "fit_als").astype(value_dtype)
        check_finite(values, name, "fit_als")  # also after the cast (1e39 is inf in float32)
        if values.size and values.min() < 0:
            bad = int(np.argmin(values))
            raise DataError(message("fit_als", name, f">= 0 ({IMPLICIT_FEEDBACK})",
                                    f"{values[bad]} (user {_raw(part[USER], bad)!r}, item {_raw(part[ITEM], bad)!r})"))
    else:
        values = np.ones(rows.shape[0], dtype=value_dtype)
    pieces = {}
    for side, major, minor, bounds in (("users", rows, cols, user_bounds), ("items", cols, rows, item_bounds)):
        block = np.searchsorted(bounds, major, side="right") - 1
        order = np.argsort(block, kind="stable")
        edges = np.searchsorted(block[order], np.arange(bounds.shape[0]))
        for b in range(bounds.shape[0] - 1):
            take = order[edges[b]:edges[b + 1]]
            pieces[side, b] = (major[take] - bounds[b], minor[take], values[take])
    return pieces


def _raw(column: pd.Series, position: int):
    """A raw ID as a Python value (1, not np.int64(1), in messages)."""
    return np.asarray(column.iloc[position]).tolist()


def _join_pieces(side: str, b: int, n_rows: int, n_columns: int, *pieces) -> sp.csr_matrix:
    """One block's CSR from every partition's piece: sorted indices, duplicates summed."""
    parts = [p[side, b] for p in pieces]
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    values = np.concatenate([p[2] for p in parts])
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_columns))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix
