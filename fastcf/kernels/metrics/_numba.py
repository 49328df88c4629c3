"""Numba twin of the ranking-metrics kernel; ``reference.py`` is the specification.

Parallel over blocks of users (factor scores) or over users (score blocks, lists). Per user:
mark the excluded and the test items in per-thread masks, keep the k best admissible items
in a binary heap (root = worst kept; ties go to the lower index), measure the list, and, for
the full AUC, count for every negative how many positives score above it by binary search
among the sorted positive scores. Factor scores are computed a tile of items at a time
(``_columns.pack_items``), the products and sums one by one in factor order as the
reference defines them (no fastmath, so LLVM fuses nothing).
"""

import numba
import numpy as np

from fastcf.kernels._threads import numba_threads
from fastcf.kernels.topk._numba import _sift_down, _sift_up, _swap, _worse  # noqa: F401
from fastcf.kernels.metrics._columns import (
    AUC, AUC_IMPLICIT, COLUMNS, F1, HIT_RATE, HITS, MAP, MRR, NDCG, NDCG_GRADED, PRECISION,
    PRECISION_IMPLICIT, RECALL, discount_tables, item_tile, pack_items, raise_nan_users,
)

__all__ = ["factor_ranking_metrics", "list_ranking_metrics", "score_ranking_metrics"]

N_COLUMNS = len(COLUMNS)


# The heap of (score, item) whose root is the worst kept entry is top-k's, shared.


@numba.njit
def _rank(row, n_items, excluded, heap, top):
    """Fill ``top`` (k,) with the best admissible items; returns True if the row holds NaN."""
    k = top.shape[0]
    size = 0
    item = 0
    while item < n_items:
        if size == k:
            # Once the heap is full an item must beat the root; ties with it lose, since every
            # kept item has a lower index. Most items lose: skip them 16 at a time (LLVM turns
            # the fixed-length test into vector compares). NaN does not lose, so it is found.
            root = heap[0]
            while item + 16 <= n_items:
                beats = False
                for q in range(16):
                    beats |= not (row[item + q] <= root)
                if beats:
                    break
                item += 16
            while item < n_items and row[item] <= root:
                item += 1
            if item >= n_items:
                break
            score = row[item]
            if score != score:
                return True
            if not excluded[item]:
                heap[0] = score
                top[0] = item
                _sift_down(heap, top, 0, size)
        else:
            score = row[item]
            if score != score:
                return True
            if not excluded[item]:
                heap[size] = score
                top[size] = item
                _sift_up(heap, top, size)
                size += 1
        item += 1
    for end in range(size - 1, 0, -1):
        _swap(heap, top, 0, end)
        _sift_down(heap, top, 0, end)
    for pos in range(size, k):
        top[pos] = -1
    return False


# --- per-user metrics -----------------------------------------------------------------------

@numba.njit
def _sift_down_min(values, pos, size):
    """Min-heap of float64 values (the root is the smallest)."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and values[child + 1] < values[child]:
            child += 1
        if not values[child] < values[pos]:
            break
        values[pos], values[child] = values[child], values[pos]
        pos = child


@numba.njit
def _ideal_graded(gains, m, discounts, heap):
    """Σ_{r < m} g_(r) D(r) over the m largest gains, largest first."""
    size = 0
    for g in gains:
        if size < m:
            heap[size] = g
            size += 1
            if size == m:
                for pos in range(m // 2 - 1, -1, -1):
                    _sift_down_min(heap, pos, m)
        elif g > heap[0]:
            heap[0] = g
            _sift_down_min(heap, 0, m)
    # Heap sort of a min-heap leaves the values in descending order.
    for end in range(size - 1, 0, -1):
        heap[0], heap[end] = heap[end], heap[0]
        _sift_down_min(heap, 0, end)
    total = 0.0
    for r in range(size):
        total += heap[r] * discounts[r]
    return total


@numba.njit
def _list_values(top, test_slot, gains, n_test, n_items, discounts, ideal, compute_graded, gain_heap, out):
    """One user's row of COLUMNS from ``top``; ``test_slot[i]`` is 1 + i's position in the test row, or 0."""
    for c in range(N_COLUMNS):
        out[c] = np.nan
    if n_test == 0:
        return
    k = top.shape[0]
    hits = 0
    misses = 0
    ap = 0.0
    dcg = 0.0
    dcg_graded = 0.0
    auc_implicit = 0.0
    first_hit = -1
    for r in range(k):
        item = top[r]
        slot = test_slot[item] if item >= 0 else 0
        if slot > 0:
            hits += 1
            ap += hits / (r + 1)
            dcg += discounts[r]
            if compute_graded:
                dcg_graded += gains[slot - 1] * discounts[r]
            if first_hit < 0:
                first_hit = r
        elif item >= 0:  # a pad (-1) is no negative item: it takes no part in the AUC
            misses += 1
            auc_implicit += hits
    m = min(k, n_test)
    out[HITS] = hits
    out[PRECISION] = hits / k
    out[PRECISION_IMPLICIT] = hits / m
    out[RECALL] = hits / n_test
    out[F1] = 2.0 * hits / (k + n_test)
    out[MAP] = ap / m
    out[NDCG] = dcg / ideal[m - 1]
    if compute_graded:
        ideal_graded = _ideal_graded(gains, m, discounts, gain_heap)
        out[NDCG_GRADED] = dcg_graded / ideal_graded if ideal_graded > 0 else 0.0
    out[MRR] = 1.0 / (first_hit + 1) if first_hit >= 0 else 0.0
    out[HIT_RATE] = 1.0 if hits > 0 else 0.0
    negatives = n_items - n_test
    if negatives > 0:
        total = auc_implicit + ((hits + n_test) / 2.0) * (negatives - misses)
        out[AUC_IMPLICIT] = total / (float(n_test) * float(negatives))


@numba.njit
def _full_auc(row, n_items, excluded, test_slot, test_items, positives):
    """AUC over the admissible items (masks set); ``positives`` is scratch of >= len(test_items)."""
    n_pos = 0
    for item in test_items:
        if not excluded[item]:
            positives[n_pos] = row[item]
            n_pos += 1
    if n_pos == 0:
        return np.nan
    pos = positives[:n_pos]
    pos.sort()
    lowest = pos[0]
    highest = pos[n_pos - 1]
    above = 0  # (positive, negative) pairs the positive wins
    ties = 0
    n_neg = 0
    for item in range(n_items):
        if excluded[item] or test_slot[item] > 0:
            continue
        n_neg += 1
        s = row[item]
        if s < lowest:
            above += n_pos
        elif s > highest:
            continue
        else:
            # upper = #positives <= s, lower = #positives < s
            lo, hi = 0, n_pos
            while lo < hi:
                mid = (lo + hi) >> 1
                if pos[mid] <= s:
                    lo = mid + 1
                else:
                    hi = mid
            upper = lo
            lower = upper
            while lower > 0 and pos[lower - 1] == s:
                lower -= 1
            above += n_pos - upper
            ties += upper - lower
    if n_neg == 0:
        return np.nan
    return (above + 0.5 * ties) / (float(n_pos) * float(n_neg))


@numba.njit
def _measure_user(row, n_items, u, train_indptr, train_indices, test_indptr, test_indices, test_gains,
                  discounts, ideal, compute_auc, compute_graded, excluded, test_slot, heap, gain_heap,
                  positives, top, out):
    """Rank one user's score row and write its metrics; returns True if the row holds NaN."""
    train_items = train_indices[train_indptr[u]:train_indptr[u + 1]]
    test_start, test_stop = test_indptr[u], test_indptr[u + 1]
    test_items = test_indices[test_start:test_stop]
    for item in train_items:
        excluded[item] = 1
    for pos in range(test_items.shape[0]):
        test_slot[test_items[pos]] = pos + 1
    has_nan = _rank(row, n_items, excluded, heap, top)
    if not has_nan:
        _list_values(top, test_slot, test_gains[test_start:test_stop], test_items.shape[0], n_items,
                     discounts, ideal, compute_graded, gain_heap, out)
        if compute_auc and test_items.shape[0] > 0:
            out[AUC] = _full_auc(row, n_items, excluded, test_slot, test_items, positives)
    for item in train_items:
        excluded[item] = 0
    for item in test_items:
        test_slot[item] = 0
    return has_nan


# --- factor scores --------------------------------------------------------------------------

@numba.njit
def _score_tiles(user_rows, packed, out):
    """out[r, t*T + i] = Σ_j user_rows[r, j] * packed[t, j, i], added in factor order."""
    n_tiles, f, tile = packed.shape
    for t in range(n_tiles):
        for r in range(user_rows.shape[0]):
            o = out[r, t * tile:(t + 1) * tile]
            o[:] = 0
            for j in range(f):
                a = user_rows[r, j]
                v = packed[t, j]
                for i in range(tile):
                    o[i] = o[i] + a * v[i]


@numba.njit(parallel=True, nogil=True, cache=True)
def _factor_metrics(user_factors, packed, n_items, users, train_indptr, train_indices, test_indptr,
                    test_indices, test_gains, discounts, ideal, compute_auc, compute_graded, block_size,
                    score_scratch, user_scratch, excluded, test_slot, heap, gain_heap, positives,
                    top_items, values, nan_rows):
    n = users.shape[0]
    n_blocks = (n + block_size - 1) // block_size
    for b in numba.prange(n_blocks):
        tid = numba.get_thread_id()
        start = b * block_size
        stop = min(start + block_size, n)
        rows = user_scratch[tid, :stop - start]
        for r in range(start, stop):
            rows[r - start] = user_factors[users[r]]
        scores = score_scratch[tid, :stop - start]
        _score_tiles(rows, packed, scores)
        for r in range(start, stop):
            nan_rows[r] = _measure_user(
                scores[r - start], n_items, users[r], train_indptr, train_indices, test_indptr, test_indices,
                test_gains, discounts, ideal, compute_auc, compute_graded, excluded[tid], test_slot[tid],
                heap[tid], gain_heap[tid], positives[tid], top_items[r], values[r],
            )


@numba.njit(parallel=True, nogil=True, cache=True)
def _score_metrics(scores, users, train_indptr, train_indices, test_indptr, test_indices, test_gains,
                   discounts, ideal, compute_auc, compute_graded, excluded, test_slot, heap, gain_heap,
                   positives, top_items, values, nan_rows):
    for r in numba.prange(users.shape[0]):
        tid = numba.get_thread_id()
        nan_rows[r] = _measure_user(
            scores[r], scores.shape[1], users[r], train_indptr, train_indices, test_indptr, test_indices,
            test_gains, discounts, ideal, compute_auc, compute_graded, excluded[tid], test_slot[tid],
            heap[tid], gain_heap[tid], positives[tid], top_items[r], values[r],
        )


@numba.njit(parallel=True, nogil=True, cache=True)
def _list_metrics(top_items, users, test_indptr, test_indices, test_gains, n_items, discounts, ideal,
                  compute_graded, test_slot, gain_heap, values):
    for r in numba.prange(users.shape[0]):
        tid = numba.get_thread_id()
        u = users[r]
        test_start, test_stop = test_indptr[u], test_indptr[u + 1]
        slots = test_slot[tid]
        for pos in range(test_start, test_stop):
            slots[test_indices[pos]] = pos - test_start + 1
        _list_values(top_items[r], slots, test_gains[test_start:test_stop], test_stop - test_start, n_items,
                     discounts, ideal, compute_graded, gain_heap[tid], values[r])
        for pos in range(test_start, test_stop):
            slots[test_indices[pos]] = 0


# --- entry points ---------------------------------------------------------------------------

def _max_row(indptr):
    return int(np.max(np.diff(indptr))) if indptr.shape[0] > 1 else 0


def _user_scratch(n_threads, n_items, k, dtype, max_test):
    """Per-thread masks and heaps: excluded, test_slot, heap, gain_heap, positives."""
    return (
        np.zeros((n_threads, n_items + 1), dtype=np.uint8),
        np.zeros((n_threads, n_items + 1), dtype=np.int64),
        np.empty((n_threads, k), dtype=dtype),
        np.empty((n_threads, k), dtype=np.float64),
        np.empty((n_threads, max(max_test, 1)), dtype=dtype),
    )


def factor_ranking_metrics(user_factors, item_factors, users, train_indptr, train_indices,
                           test_indptr, test_indices, test_gains, k, compute_auc, compute_graded,
                           block_size, n_threads):
    """Top k and ranking metrics with scores U_u · V_i; see ``reference.factor_ranking_metrics``."""
    n_items, f = item_factors.shape
    n = users.shape[0]
    tile = item_tile(f, item_factors.itemsize)
    packed = pack_items(item_factors, tile)
    discounts, ideal = discount_tables(k)
    top_items = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, N_COLUMNS), dtype=np.float64)
    nan_rows = np.zeros(n, dtype=np.bool_)
    block_size = max(1, min(block_size, n))
    with numba_threads(n_threads):
        threads = numba.get_num_threads()
        score_scratch = np.empty((threads, block_size, packed.shape[0] * tile), dtype=item_factors.dtype)
        user_scratch = np.empty((threads, block_size, f), dtype=item_factors.dtype)
        scratch = _user_scratch(threads, n_items, k, item_factors.dtype, _max_row(test_indptr))
        _factor_metrics(user_factors, packed, n_items, users, train_indptr, train_indices, test_indptr,
                        test_indices, test_gains, discounts, ideal, compute_auc, compute_graded, block_size,
                        score_scratch, user_scratch, *scratch, top_items, values, nan_rows)
    raise_nan_users("factor_ranking_metrics", nan_rows, users)
    return top_items, values


def score_ranking_metrics(scores, users, train_indptr, train_indices, test_indptr, test_indices,
                          test_gains, k, compute_auc, compute_graded, n_threads):
    """Top k and ranking metrics from a score block; see ``reference.score_ranking_metrics``."""
    n, n_items = scores.shape
    discounts, ideal = discount_tables(k)
    top_items = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, N_COLUMNS), dtype=np.float64)
    nan_rows = np.zeros(n, dtype=np.bool_)
    with numba_threads(n_threads):
        scratch = _user_scratch(numba.get_num_threads(), n_items, k, scores.dtype, _max_row(test_indptr))
        _score_metrics(scores, users, train_indptr, train_indices, test_indptr, test_indices, test_gains,
                       discounts, ideal, compute_auc, compute_graded, *scratch, top_items, values, nan_rows)
    raise_nan_users("score_ranking_metrics", nan_rows, users)
    return top_items, values


def list_ranking_metrics(top_items, users, test_indptr, test_indices, test_gains, n_items, compute_graded,
                         n_threads):
    """Ranking metrics of given lists; see ``reference.list_ranking_metrics``."""
    n, k = top_items.shape
    discounts, ideal = discount_tables(k)
    values = np.empty((n, N_COLUMNS), dtype=np.float64)
    with numba_threads(n_threads):
        threads = numba.get_num_threads()
        test_slot = np.zeros((threads, n_items + 1), dtype=np.int64)
        gain_heap = np.empty((threads, k), dtype=np.float64)
        _list_metrics(top_items, users, test_indptr, test_indices, test_gains, n_items, discounts, ideal,
                      compute_graded, test_slot, gain_heap, values)
    return values
