"""Numba twin of top-k row similarity; ``reference.py`` is the specification.

Row a is scored against every row b sharing a column with it by walking a's columns u and,
for each, column u's rows b (X by columns): ``acc[b] += x_au * x_bu``. The accumulators are
dense arrays of n_rows per worker, reused across rows. A row whose walk is short next to
n_rows also records the rows it touches, so that scoring and resetting cost O(touched)
instead of O(n_rows); a long walk skips that bookkeeping and scans the accumulator instead.
Each row's k best stay in a binary heap (top-k's) in the output buffer.

Rows are dealt to workers round-robin (row a to worker a mod n_workers), which balances the
load when heavy rows are spread through the matrix; every row's sums run over its columns in
order, so the result does not depend on the thread count.
"""

import numba
import numpy as np

from fastcf.kernels._threads import numba_threads
from fastcf.kernels.similarity._layout import assemble, chunk_rows, slots
from fastcf.kernels.topk._numba import _sift_down, _sift_up, _swap

__all__ = ["similarity_topk"]

DOT, CORATED_COSINE, PEARSON, JACCARD = 0, 1, 2, 3
_CODES = {"dot": DOT, "corated_cosine": CORATED_COSINE, "pearson": PEARSON, "jaccard": JACCARD}
# Scan the whole accumulator instead of tracking touched rows once a row's walk is this
# long relative to n_rows (tracking costs a branch per step, the scan one pass over n_rows).
DENSE_WALK_RATIO = 0.5


@numba.njit(inline="always")
def _offer(values, neighbours, size, n_slots, score, b):
    """Offer (score, b) to a heap whose root is the worst kept pair; returns the new size."""
    if size < n_slots:
        values[size] = score
        neighbours[size] = b
        _sift_up(values, neighbours, size)
        return size + 1
    if score > values[0] or (score == values[0] and b < neighbours[0]):
        values[0] = score
        neighbours[0] = b
        _sift_down(values, neighbours, 0, size)
    return size


@numba.njit
def _accumulate_dot(a, indptr, indices, data, t_indptr, t_indices, t_data, acc):
    """acc[b] += x_au * x_bu for every column u of row a: the hot loop of the plain cosine,
    kept apart from the bookkeeping of the other paths so that it compiles tight."""
    for p in range(indptr[a], indptr[a + 1]):
        u = indices[p]
        x = data[p]
        for q in range(t_indptr[u], t_indptr[u + 1]):
            # Unsigned: the indices are validated non-negative, and Numba then skips its
            # negative-index fix-up.
            acc[numba.uintp(t_indices[q])] += x * t_data[q]


@numba.njit
def _accumulate(a, measure, dense, counting, indptr, indices, data, t_indptr, t_indices, t_data,
                acc, count, cross, own, other, own_sum, other_sum, touched):
    """Sums of row a against every row sharing a column; returns the number of rows touched
    (recorded in ``touched`` unless ``dense``)."""
    n_touched = 0
    for p in range(indptr[a], indptr[a + 1]):
        u = indices[p]
        x = data[p]
        start, stop = t_indptr[u], t_indptr[u + 1]
        if measure == DOT:
            if dense:
                for q in range(start, stop):
                    b = t_indices[q]
                    acc[b] += x * t_data[q]
                    count[b] += 1
            else:
                for q in range(start, stop):
                    b = t_indices[q]
                    if count[b] == 0:
                        touched[n_touched] = b
                        n_touched += 1
                    count[b] += 1
                    acc[b] += x * t_data[q]
        else:
            x64 = np.float64(x)
            for q in range(start, stop):
                b = t_indices[q]
                if count[b] == 0:
                    touched[n_touched] = b
                    n_touched += 1
                count[b] += 1
                if measure != JACCARD:
                    y = np.float64(t_data[q])
                    cross[b] += x64 * y
                    own[b] += x64 * x64
                    other[b] += y * y
                    if measure == PEARSON:
                        own_sum[b] += x64
                        other_sum[b] += y
    return n_touched


@numba.njit
def _core(measure, a, b, indptr, acc, count, cross, own, other, own_sum, other_sum, left, right):
    """The core similarity of rows a and b from the accumulated sums (see reference.py)."""
    if measure == DOT:
        return (acc[b] * right[b]) * left[a]
    if measure == CORATED_COSINE:
        denominator = own[b] * other[b]
        return left.dtype.type(cross[b] / np.sqrt(denominator) if denominator > 0 else 0.0)
    n = np.float64(count[b])
    if measure == PEARSON:
        numerator = n * cross[b] - own_sum[b] * other_sum[b]
        denominator = np.sqrt(n * own[b] - own_sum[b] * own_sum[b]) * np.sqrt(n * other[b] - other_sum[b] * other_sum[b])
        return left.dtype.type(numerator / denominator if denominator > 0 else 0.0)
    union = np.float64(indptr[a + 1] - indptr[a]) + np.float64(indptr[b + 1] - indptr[b]) - n
    return left.dtype.type(n / union if n > 0 else 0.0)


@numba.njit
def _select_dot(a, exclude_self, acc, left, right, labels, values, neighbours):
    """The heap of row a from a full accumulator of dot products (the plain cosine's path)."""
    n_slots = values.shape[0]
    size = 0
    left_a = left[a]
    for b in range(acc.shape[0]):
        dot = acc[b]
        if dot == 0 or (exclude_self and b == a):
            continue
        score = (dot * right[b]) * left_a
        # Most candidates lose to the heap's root: test that before the call.
        if score > 0 and (size < n_slots or score >= values[0]):
            size = _offer(values, neighbours, size, n_slots, score, labels[b])
    return size


@numba.njit
def _row(a, measure, shrinkage, shrink_offset, min_support, exclude_self, indptr, indices, data,
         t_indptr, t_indices, t_data, left, right, labels, acc, count, cross, own, other, own_sum, other_sum,
         touched, values, neighbours):
    """Fill one row's heap in ``values`` / ``neighbours`` (rows named by ``labels``); returns how many
    it holds."""
    n_rows = indptr.shape[0] - 1
    counting = measure != DOT or min_support > 1 or shrinkage > 0
    walk = 0
    for p in range(indptr[a], indptr[a + 1]):
        walk += t_indptr[indices[p] + 1] - t_indptr[indices[p]]
    dense = measure == DOT and walk >= DENSE_WALK_RATIO * n_rows
    if dense and not counting:
        _accumulate_dot(a, indptr, indices, data, t_indptr, t_indices, t_data, acc)
        n_touched = 0
    else:
        n_touched = _accumulate(a, measure, dense, counting, indptr, indices, data, t_indptr, t_indices, t_data,
                                acc, count, cross, own, other, own_sum, other_sum, touched)
    n_slots = values.shape[0]
    size = 0
    if dense and not counting:
        size = _select_dot(a, exclude_self, acc, left, right, labels, values, neighbours)
    n_candidates = 0 if dense and not counting else (n_rows if dense else n_touched)
    for c in range(n_candidates):
        b = c if dense else touched[c]
        if dense and acc[b] == 0:
            continue  # no shared column, or a zero dot product: not a positive similarity
        if exclude_self and b == a:
            continue
        if counting and count[b] < min_support:
            continue
        if measure == DOT:  # inline: this runs for up to n_rows candidates per row
            score = (acc[b] * right[b]) * left[a]
        else:
            score = _core(measure, a, b, indptr, acc, count, cross, own, other, own_sum, other_sum, left, right)
        if shrinkage > 0:
            shrunk = np.float64(count[b] - shrink_offset)
            score = score * left.dtype.type(shrunk / (shrunk + shrinkage))
        if score > 0:
            size = _offer(values, neighbours, size, n_slots, score, labels[b])
    # Reset the scratch for the worker's next row.
    if dense:
        acc[:] = 0
        if counting:
            count[:] = 0
    else:
        for c in range(n_touched):
            b = touched[c]
            acc[b] = 0
            count[b] = 0
            if measure == CORATED_COSINE or measure == PEARSON:
                cross[b] = 0
                own[b] = 0
                other[b] = 0
                own_sum[b] = 0
                other_sum[b] = 0
    # Heap sort: the worst kept pair moves to the end, so the row ends best-first.
    for end in range(size - 1, 0, -1):
        _swap(values, neighbours, 0, end)
        _sift_down(values, neighbours, 0, end)
    return size


@numba.njit(parallel=True, nogil=True, cache=True)
def _chunk(first, stop, measure, shrinkage, shrink_offset, min_support, exclude_self, indptr, indices, data,
           t_indptr, t_indices, t_data, left, right, labels, acc, count, cross, own, other, own_sum, other_sum,
           touched, out_counts, out_values, out_neighbours):
    n_workers = acc.shape[0]
    for w in numba.prange(n_workers):
        for a in range(first + w, stop, n_workers):
            out_counts[a - first] = _row(
                a, measure, shrinkage, shrink_offset, min_support, exclude_self, indptr, indices, data,
                t_indptr, t_indices, t_data, left, right, labels, acc[w], count[w], cross[w], own[w], other[w],
                own_sum[w], other_sum[w], touched[w], out_values[a - first], out_neighbours[a - first],
            )


def similarity_topk(
    indptr, indices, data, t_indptr, t_indices, t_data, left_scale, right_scale, labels, k, measure, shrinkage,
    shrink_offset, min_support, exclude_self, n_threads,
):
    """The top-k similar rows of every row; see ``reference.similarity_topk``."""
    n_rows = indptr.shape[0] - 1
    code = _CODES[measure]
    n_slots = slots(k, n_rows)
    per_chunk = chunk_rows(n_rows, n_slots, data.itemsize)
    parts = []
    with numba_threads(n_threads):
        n_workers = max(1, min(numba.get_num_threads(), n_rows))
        sums = n_rows if code in (CORATED_COSINE, PEARSON) else 1  # float64 sums only where used
        acc = np.zeros((n_workers, n_rows), dtype=data.dtype)
        count = np.zeros((n_workers, n_rows), dtype=np.int64)
        cross, own, other, own_sum, other_sum = (np.zeros((n_workers, sums)) for _ in range(5))
        touched = np.zeros((n_workers, n_rows), dtype=np.int64)
        for first in range(0, n_rows, per_chunk):
            stop = min(first + per_chunk, n_rows)
            out_counts = np.zeros(stop - first, dtype=np.int64)
            out_values = np.zeros((stop - first, n_slots), dtype=data.dtype)
            out_neighbours = np.zeros((stop - first, n_slots), dtype=np.int64)
            _chunk(first, stop, code, float(shrinkage), int(shrink_offset), int(min_support), bool(exclude_self),
                   indptr, indices, data, t_indptr, t_indices, t_data, left_scale, right_scale, labels, acc, count,
                   cross, own, other, own_sum, other_sum, touched, out_counts, out_values, out_neighbours)
            parts.append((out_counts, out_neighbours, out_values))
    return assemble(n_rows, parts, data.dtype)
