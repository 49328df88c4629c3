"""What every twin of the metrics kernel shares: the per-user output columns and the tables.

The twins write one row of ``COLUMNS`` per evaluated user. Tables that involve a logarithm
(the rank discounts) are computed here, once, by NumPy, and handed to every twin, so that no
twin depends on its own ``log2``: with the same tables and the same order of additions the
twins agree bit for bit.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "COLUMNS", "HITS", "PRECISION", "PRECISION_IMPLICIT", "RECALL", "F1", "MAP", "NDCG", "NDCG_GRADED",
    "MRR", "HIT_RATE", "AUC", "AUC_IMPLICIT", "ITEM_TILE", "TILE_BYTES", "discount_tables", "item_tile", "pack_items",
    "raise_nan_users",
]

#: Per-user output columns, in this order, in every twin.
COLUMNS = (
    "hits", "precision", "precision_implicit", "recall", "f1", "map", "ndcg", "ndcg_graded",
    "mrr", "hit_rate", "auc", "auc_implicit",
)
(HITS, PRECISION, PRECISION_IMPLICIT, RECALL, F1, MAP, NDCG, NDCG_GRADED,
 MRR, HIT_RATE, AUC, AUC_IMPLICIT) = range(len(COLUMNS))

#: Items per tile of packed item factors (a multiple of 16, the widest SIMD row of the Cython
#: twin). A tile of f rows of ITEM_TILE values is the unit the fast twins keep in cache.
ITEM_TILE = 256
#: Bytes of packed item factors per tile: half of a 32 KiB L1 data cache, so that the tile
#: stays there while every user of a block is scored against it. (On this project's AMD EPYC,
#: ml10m shape, f = 64: 16 KiB tiles scored about 1.6x faster than 64 KiB, L2-resident ones.)
TILE_BYTES = 16 << 10


def discount_tables(k: int):
    """(discounts, ideal): discounts[r] = 1 / log2(r + 2) for ranks r = 0..k-1 (0 = best), and
    ideal[m - 1] = discounts[0] + ... + discounts[m - 1], summed left to right (np.cumsum)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    return discounts, np.cumsum(discounts)


def item_tile(n_factors: int, itemsize: int) -> int:
    """Items per tile: about TILE_BYTES of packed factors, a multiple of 16, at most ITEM_TILE."""
    fit = TILE_BYTES // max(n_factors * itemsize, 1)
    return int(max(16, min(ITEM_TILE, fit // 16 * 16)))


def pack_items(item_factors: np.ndarray, tile: int) -> np.ndarray:
    """Item factors as contiguous tiles of shape (f, tile): packed[t, j, i] = V[t * tile + i, j].

    Items past the end are zero. Each tile is one contiguous block, so scoring a block of
    users against it streams the tile from cache with unit stride.
    """
    n_items, f = item_factors.shape
    n_tiles = max(1, -(-n_items // tile))
    padded = np.zeros((n_tiles * tile, f), dtype=item_factors.dtype)
    padded[:n_items] = item_factors
    return np.ascontiguousarray(padded.reshape(n_tiles, tile, f).transpose(0, 2, 1))


def raise_nan_users(owner: str, nan_rows: np.ndarray, users: np.ndarray) -> None:
    """Raise the ValueError every twin gives when some users' scores hold NaN."""
    rows = np.flatnonzero(nan_rows)
    if rows.size == 0:
        return
    raise ValueError(
        f"{owner}: the scores of {rows.size} user(s) hold NaN (first: user {int(users[rows[0]])}); "
        f"NaN has no rank. Finite factors can still overflow to inf and give inf - inf; "
        f"check the model's factors (e.g. np.abs(factors).max())."
    )
