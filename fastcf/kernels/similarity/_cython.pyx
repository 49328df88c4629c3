"""Cython twin of top-k row similarity; ``reference.py`` is the specification.

The algorithm is the Numba twin's (see ``_numba.py``): per-thread dense accumulators of
n_rows, a walk row a -> its columns u -> column u's rows b, touched-row bookkeeping only for
rows whose walk is short next to n_rows, and a heap per row in the output buffer. Rows are
scheduled dynamically; every row's sums run over its columns in order, so the result does
not depend on the thread count or the schedule.

Plain dot products (cosine and its kin, no support or shrinkage) go further when memory
allows (``SYMMETRIC_BYTES``): blocks of rows share one read of each column, and each pair of
long rows is computed once, by the lower row, for both rows' heaps (``_block_symmetric``);
about half the walk of row by row, with the same bits. A column that many of a block's
members share is added to all of their sums with one vector update per entry
(``DENSE_SHARING``); the public function sorts the rows longest first so that blocks are made
of rows that share many columns. Rows are named by ``labels`` in the heaps (the caller's row
indices), so the order of the rows changes neither the output nor its ties.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport sqrt
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memset

import numpy as np

from fastcf.kernels._fused cimport index_t
from fastcf.kernels._heap cimport heap_offer, heap_sort
from fastcf.kernels._openmp cimport FASTCF_CYTHON_VERSION, FASTCF_OPENMP_VERSION, fastcf_omp_max_threads
from fastcf.kernels.similarity._layout import assemble, chunk_rows, slots

cdef extern from "_similarity_native.h":
    int64_t fcf_sim_column_fi(float* acc, int64_t stride, int64_t width, const float* w, const int32_t* rows,
                              const float* values, int64_t start, int64_t q, int64_t lowest_row) nogil
    int64_t fcf_sim_column_fl(float* acc, int64_t stride, int64_t width, const float* w, const int64_t* rows,
                              const float* values, int64_t start, int64_t q, int64_t lowest_row) nogil
    int64_t fcf_sim_column_di(double* acc, int64_t stride, int64_t width, const double* w, const int32_t* rows,
                              const double* values, int64_t start, int64_t q, int64_t lowest_row) nogil
    int64_t fcf_sim_column_dl(double* acc, int64_t stride, int64_t width, const double* w, const int64_t* rows,
                              const double* values, int64_t start, int64_t q, int64_t lowest_row) nogil
    int fcf_sim_simd() nogil


cdef inline int64_t _dense_column(
    floating* acc, int64_t stride, int64_t width, const floating* w,
    const index_t* rows, const floating* values, int64_t start, int64_t q, int64_t lowest_row,
) noexcept nogil:
    """``fcf_sim_column_*`` for these floating and index types."""
    if floating is float:
        if index_t is int32_t:
            return fcf_sim_column_fi(acc, stride, width, w, <const int32_t*>rows, values, start, q, lowest_row)
        else:
            return fcf_sim_column_fl(acc, stride, width, w, <const int64_t*>rows, values, start, q, lowest_row)
    else:
        if index_t is int32_t:
            return fcf_sim_column_di(acc, stride, width, w, <const int32_t*>rows, values, start, q, lowest_row)
        else:
            return fcf_sim_column_dl(acc, stride, width, w, <const int64_t*>rows, values, start, q, lowest_row)

__all__ = ["similarity_topk"]

OPENMP_VERSION = FASTCF_OPENMP_VERSION
CYTHON_VERSION = FASTCF_CYTHON_VERSION.decode()

cdef enum:
    DOT = 0
    CORATED_COSINE = 1
    PEARSON = 2
    JACCARD = 3
_CODES = {"dot": DOT, "corated_cosine": CORATED_COSINE, "pearson": PEARSON, "jaccard": JACCARD}
# See the Numba twin: scan the accumulator instead of tracking touched rows past this walk.
cdef double DENSE_WALK_RATIO = 0.5
# Rows whose plain dot products are accumulated together (see _block_dot), at most
# BLOCK_ROWS (1 turns blocking off) and as many as BLOCK_BYTES of accumulators allow per
# thread. On the 10M shape, 16-32 rows cut the time by a third against row by row.
BLOCK_ROWS = 32
BLOCK_BYTES = 8 << 20
# Plain dot products compute each pair of long rows once when every thread's heaps of all
# rows (n_threads x n_rows x k slots) fit in this many bytes; else row by row in chunks.
SYMMETRIC_BYTES = 128 << 20
# In the pairwise path, a column shared by at least this many members of a block is added
# to all of their sums with one vector update per entry (see _walk_block). On the 10M shape
# (kernel time against the scalar walk, one noisy run each): 2 -> 0.74, 4 -> 0.60, 6 -> 0.53,
# 8 -> 0.53-0.57, 12 -> 0.67; a full block's update is four AVX2 multiplies and adds in float32.
DENSE_SHARING = 6


def openmp_max_threads():
    """omp_get_max_threads() of the OpenMP runtime this module links (1 without OpenMP)."""
    return fastcf_omp_max_threads()


cdef struct Sums:
    # Per-thread scratch of n_rows entries each (the float64 sums only for the co-rated cores).
    void* acc
    int64_t* count
    double* cross
    double* own
    double* other
    double* own_sum
    double* other_sum
    int64_t* touched


cdef struct Partners:
    # The symmetric path's per-thread heaps of every row (see _block_symmetric): a short row
    # offers each long neighbour b the pair (b, a) too, in b's heap of this thread.
    const unsigned char* is_long
    void* values          # n_rows x n_slots
    int64_t* neighbours   # n_rows x n_slots
    int64_t* sizes        # n_rows
    void* thresholds      # n_rows: heap b's worst kept score once full, else 0


cdef inline void _offer_partner(
    Partners* partners, Py_ssize_t b, Py_ssize_t n_slots, floating score, int64_t a,
) noexcept nogil:
    """Offer (score, a) to row b's heap of this thread; one comparison when it cannot enter."""
    cdef floating* thresholds = <floating*>partners.thresholds
    cdef floating* values
    if score > 0 and score >= thresholds[b]:
        values = <floating*>partners.values + b * n_slots
        partners.sizes[b] = heap_offer(values, partners.neighbours + b * n_slots, partners.sizes[b], n_slots, score, a)
        if partners.sizes[b] == n_slots:
            thresholds[b] = values[0]


cdef inline Py_ssize_t _accumulate(
    Py_ssize_t a, int measure, bint dense, bint counting,
    const index_t* indptr, const index_t* indices, const floating* data,
    const index_t* t_indptr, const index_t* t_indices, const floating* t_data,
    floating* acc, Sums* s,
) noexcept nogil:
    """Sums of row a against every row sharing a column; returns the number of rows touched
    (recorded in s.touched unless ``dense``)."""
    cdef Py_ssize_t p, q, b, start, stop, n_touched = 0
    cdef floating x
    cdef double x64, y
    cdef int64_t* count = s.count
    for p in range(indptr[a], indptr[a + 1]):
        x = data[p]
        start = t_indptr[indices[p]]
        stop = t_indptr[indices[p] + 1]
        if measure == DOT:
            if dense and not counting:
                for q in range(start, stop):
                    acc[t_indices[q]] += x * t_data[q]
            elif dense:
                for q in range(start, stop):
                    b = t_indices[q]
                    acc[b] += x * t_data[q]
                    count[b] += 1
            else:
                for q in range(start, stop):
                    b = t_indices[q]
                    if count[b] == 0:
                        s.touched[n_touched] = b
                        n_touched += 1
                    count[b] += 1
                    acc[b] += x * t_data[q]
        else:
            x64 = x
            for q in range(start, stop):
                b = t_indices[q]
                if count[b] == 0:
                    s.touched[n_touched] = b
                    n_touched += 1
                count[b] += 1
                if measure != JACCARD:
                    y = t_data[q]
                    s.cross[b] += x64 * y
                    s.own[b] += x64 * x64
                    s.other[b] += y * y
                    if measure == PEARSON:
                        s.own_sum[b] += x64
                        s.other_sum[b] += y
    return n_touched


cdef inline floating _core(
    int measure, Py_ssize_t a, Py_ssize_t b, const index_t* indptr, const floating* acc, Sums* s,
    const floating* left, const floating* right,
) noexcept nogil:
    """The core similarity of rows a and b from the accumulated sums (see reference.py)."""
    cdef double n, numerator, denominator, union
    if measure == DOT:
        return (acc[b] * right[b]) * left[a]
    if measure == CORATED_COSINE:
        denominator = s.own[b] * s.other[b]
        return <floating>(s.cross[b] / sqrt(denominator) if denominator > 0 else 0.0)
    n = <double>s.count[b]
    if measure == PEARSON:
        numerator = n * s.cross[b] - s.own_sum[b] * s.other_sum[b]
        denominator = (sqrt(n * s.own[b] - s.own_sum[b] * s.own_sum[b])
                       * sqrt(n * s.other[b] - s.other_sum[b] * s.other_sum[b]))
        return <floating>(numerator / denominator if denominator > 0 else 0.0)
    union = <double>(indptr[a + 1] - indptr[a]) + <double>(indptr[b + 1] - indptr[b]) - n
    return <floating>(n / union if n > 0 else 0.0)


cdef inline int64_t _walk(Py_ssize_t a, const index_t* indptr, const index_t* indices, const index_t* t_indptr) noexcept nogil:
    """Steps of row a's accumulation: the entries of all of its columns."""
    cdef int64_t walk = 0
    cdef Py_ssize_t p
    for p in range(indptr[a], indptr[a + 1]):
        walk += t_indptr[indices[p] + 1] - t_indptr[indices[p]]
    return walk


cdef Py_ssize_t _row(
    Py_ssize_t a, Py_ssize_t n_rows, int measure, double shrinkage, int shrink_offset, int64_t min_support,
    bint exclude_self,
    const index_t* indptr, const index_t* indices, const floating* data,
    const index_t* t_indptr, const index_t* t_indices, const floating* t_data,
    const floating* left, const floating* right, const int64_t* labels,
    Sums* s, Py_ssize_t n_slots, floating* values, int64_t* neighbours, Partners* partners=NULL,
) noexcept nogil:
    """Fill one row's heap in ``values`` / ``neighbours``, sorted best-first; returns its size.
    With ``partners`` (plain dot products only), also offer every long row b the pair (b, a),
    and leave the heap unsorted for the final merge."""
    cdef bint counting = measure != DOT or min_support > 1 or shrinkage > 0
    cdef floating* acc = <floating*>s.acc
    cdef Py_ssize_t c, b, n_touched, n_candidates, size = 0
    cdef bint dense = measure == DOT and _walk(a, indptr, indices, t_indptr) >= DENSE_WALK_RATIO * n_rows
    cdef floating score
    cdef double shrunk
    n_touched = _accumulate(a, measure, dense, counting, indptr, indices, data, t_indptr, t_indices, t_data, acc, s)
    n_candidates = n_rows if dense else n_touched
    for c in range(n_candidates):
        b = c if dense else s.touched[c]
        if dense and acc[b] == 0:
            continue  # no shared column, or a zero dot product: not a positive similarity
        if exclude_self and b == a:
            continue
        if counting and s.count[b] < min_support:
            continue
        score = _core(measure, a, b, indptr, acc, s, left, right)
        if shrinkage > 0:
            shrunk = <double>(s.count[b] - shrink_offset)
            score = score * <floating>(shrunk / (shrunk + shrinkage))
        if score > 0:
            size = heap_offer(values, neighbours, size, n_slots, score, labels[b])
        if partners != NULL and b != a and partners.is_long[b]:
            _offer_partner(partners, b, n_slots, (acc[b] * right[a]) * left[b], labels[a])
    # Reset the scratch for the thread's next row.
    if dense:
        memset(acc, 0, n_rows * sizeof(floating))
        if counting:
            memset(s.count, 0, n_rows * sizeof(int64_t))
    else:
        for c in range(n_touched):
            b = s.touched[c]
            acc[b] = 0
            s.count[b] = 0
            if measure == CORATED_COSINE or measure == PEARSON:
                s.cross[b] = 0
                s.own[b] = 0
                s.other[b] = 0
                s.own_sum[b] = 0
                s.other_sum[b] = 0
    if partners == NULL:
        heap_sort(values, neighbours, size)
    return size


cdef Py_ssize_t _select_dot(
    Py_ssize_t a, Py_ssize_t n_rows, bint exclude_self, floating* acc, const floating* left, const floating* right, const int64_t* labels,
    Py_ssize_t n_slots, floating* values, int64_t* neighbours,
) noexcept nogil:
    """The sorted heap of row a from its full accumulator of dot products, which it zeroes."""
    cdef Py_ssize_t b, size = 0
    cdef floating dot, score, left_a = left[a]
    for b in range(n_rows):
        dot = acc[b]
        if dot == 0 or (exclude_self and b == a):
            continue
        score = (dot * right[b]) * left_a
        if score > 0 and (size < n_slots or score >= values[0]):
            size = heap_offer(values, neighbours, size, n_slots, score, labels[b])
    memset(acc, 0, n_rows * sizeof(floating))
    heap_sort(values, neighbours, size)
    return size


cdef void _walk_block(
    Py_ssize_t n_members, const Py_ssize_t* members, int64_t* cursors,
    const index_t* indptr, const index_t* indices, const floating* data,
    const index_t* t_indptr, const index_t* t_indices, const floating* t_data,
    floating* block_acc, Py_ssize_t width, Py_ssize_t stride, floating* weights, floating** targets,
    Py_ssize_t lowest_row, Py_ssize_t dense_width=0, Py_ssize_t dense_sharing=0, Py_ssize_t* sharers=NULL,
    floating* dense_weights=NULL,
) noexcept nogil:
    """acc_m[b] += x_au * x_bu for every member row a = members[m], its columns u and the
    rows b >= lowest_row of column u (cursors start at each member's indptr); acc_m[b] is
    block_acc[m * width + b * stride]. The members'
    columns are merged in increasing order, and each column's entries are read once for
    every member that has it: the walk's memory traffic falls by the block's overlap, while
    each row's sums still run over its columns in order (the same bits as row by row)."""
    cdef Py_ssize_t m, q, start, n_sharing, j, b
    cdef int64_t u, lowest
    cdef floating y, x0, x1
    cdef floating* acc0
    cdef floating* acc1
    while True:
        lowest = -1
        for m in range(n_members):
            if cursors[m] < indptr[members[m] + 1]:
                u = indices[cursors[m]]
                if lowest < 0 or u < lowest:
                    lowest = u
        if lowest < 0:
            break
        n_sharing = 0
        for m in range(n_members):
            if cursors[m] < indptr[members[m] + 1] and indices[cursors[m]] == lowest:
                weights[n_sharing] = data[cursors[m]]
                targets[n_sharing] = block_acc + m * width
                if sharers != NULL:
                    sharers[n_sharing] = m
                n_sharing += 1
                cursors[m] += 1
        # The column's rows from the last down to lowest_row: a column gets one term per row
        # b, so the direction does not change any sum, and no search is needed for where the
        # rows >= lowest_row start (a binary search per column cost a sixth of the time).
        start = t_indptr[lowest]
        q = t_indptr[lowest + 1] - 1
        if dense_width > 0 and n_sharing >= dense_sharing:
            # Many members share the column: one vector update of the members' contiguous
            # sums per entry (zero weights for the others) beats a scalar update per member.
            for j in range(n_sharing):
                dense_weights[sharers[j]] = weights[j]
            _dense_column(block_acc, stride, dense_width, dense_weights, t_indices, t_data, start, q, lowest_row)
            for j in range(n_sharing):
                dense_weights[sharers[j]] = 0
        elif n_sharing == 1:
            acc0 = targets[0]
            x0 = weights[0]
            while q >= start and t_indices[q] >= lowest_row:
                acc0[t_indices[q] * stride] += x0 * t_data[q]
                q -= 1
        elif n_sharing == 2:
            acc0, acc1 = targets[0], targets[1]
            x0, x1 = weights[0], weights[1]
            while q >= start and t_indices[q] >= lowest_row:
                b = t_indices[q] * stride
                y = t_data[q]
                acc0[b] += x0 * y
                acc1[b] += x1 * y
                q -= 1
        else:
            while q >= start and t_indices[q] >= lowest_row:
                b = t_indices[q] * stride
                y = t_data[q]
                for j in range(n_sharing):
                    targets[j][b] += weights[j] * y
                q -= 1


cdef void _block_dot(
    Py_ssize_t first, Py_ssize_t stop, Py_ssize_t chunk_first, Py_ssize_t n_rows, bint exclude_self,
    const index_t* indptr, const index_t* indices, const floating* data,
    const index_t* t_indptr, const index_t* t_indices, const floating* t_data,
    const floating* left, const floating* right, const int64_t* labels,
    floating* block_acc, int64_t* cursors, Py_ssize_t* members, floating* weights, floating** targets,
    Sums* s, Py_ssize_t n_slots, floating* out_values, int64_t* out_neighbours, int64_t* out_counts,
) noexcept nogil:
    """Plain dot products of the rows [first, stop) together (see _walk_block); rows whose
    walk is short are left to ``_row``."""
    cdef Py_ssize_t m, n_members = 0, row
    cdef Py_ssize_t width = n_rows + 1
    for row in range(first, stop):
        if _walk(row, indptr, indices, t_indptr) >= DENSE_WALK_RATIO * n_rows:
            members[n_members] = row
            cursors[n_members] = indptr[row]
            n_members += 1
        else:
            out_counts[row - chunk_first] = _row(
                row, n_rows, DOT, 0.0, 0, 1, exclude_self, indptr, indices, data, t_indptr, t_indices, t_data,
                left, right, labels, s, n_slots, out_values + (row - chunk_first) * n_slots,
                out_neighbours + (row - chunk_first) * n_slots,
            )
    _walk_block(n_members, members, cursors, indptr, indices, data, t_indptr, t_indices, t_data,
                block_acc, width, 1, weights, targets, 0)
    for m in range(n_members):
        row = members[m]
        out_counts[row - chunk_first] = _select_dot(
            row, n_rows, exclude_self, block_acc + m * width, left, right, labels, n_slots,
            out_values + (row - chunk_first) * n_slots, out_neighbours + (row - chunk_first) * n_slots,
        )


cdef void _block_symmetric(
    Py_ssize_t first, Py_ssize_t stop, Py_ssize_t block, Py_ssize_t n_rows, bint exclude_self,
    const index_t* indptr, const index_t* indices, const floating* data,
    const index_t* t_indptr, const index_t* t_indices, const floating* t_data,
    const floating* left, const floating* right, const int64_t* labels,
    floating* block_acc, int64_t* cursors, Py_ssize_t* members, floating* weights, floating** targets,
    Sums* s, Py_ssize_t n_slots, Partners* partners, Py_ssize_t dense_sharing,
) noexcept nogil:
    """_block_dot's walk for the rows [first, stop), computing each pair of long rows once.

    x_a . x_b sums the same products x_au x_bu over the same columns u in the same order
    whichever of a and b is accumulated, so the dot product of long rows a < b comes out of
    a's walk with the bits b's walk would give; a offers (a, b) to its own heap and (b, a) to
    b's, each scaled as the row-by-row path scales it. The walk therefore reads only the rows
    from the block's first long row on, about half of them. A
    short row is left to ``_row``, which covers all of its pairs itself (and offers its long
    neighbours theirs), so the long rows skip the short ones. Heaps are per thread and stay
    unsorted until the merge."""
    cdef Py_ssize_t m, n_members = 0, b, row, lowest_row, lanes, dense_width
    cdef floating dot, score, left_b, right_b
    cdef floating* acc
    cdef floating* own_values
    cdef Py_ssize_t size
    cdef floating* heap_values = <floating*>partners.values
    for row in range(first, stop):
        if partners.is_long[row]:
            members[n_members] = row
            cursors[n_members] = indptr[row]
            n_members += 1
        else:
            partners.sizes[row] = _row(
                row, n_rows, DOT, 0.0, 0, 1, exclude_self, indptr, indices, data, t_indptr, t_indices, t_data,
                left, right, labels, s, n_slots, heap_values + row * n_slots, partners.neighbours + row * n_slots, partners,
            )
    if n_members == 0:
        return
    lowest_row = members[0]
    # Vector updates cover the members rounded up to whole 32-byte vectors (within the block).
    lanes = 32 // sizeof(floating)
    dense_width = min(block, (n_members + lanes - 1) // lanes * lanes)
    _walk_block(n_members, members, cursors, indptr, indices, data, t_indptr, t_indices, t_data,
                block_acc, 1, block, weights, targets, lowest_row, dense_width, dense_sharing, members + block,
                weights + block)
    # Scored b by b: acc_m[b] lies at block_acc[b * block + m], so the members' sums for
    # one b share a cache line or two, in the walk above as here.
    for b in range(lowest_row, n_rows):
        if not partners.is_long[b]:
            continue
        acc = block_acc + b * block
        right_b = right[b]
        left_b = left[b]
        # Members are in increasing order; b's pairs with rows from b on are b's own walk's.
        for m in range(n_members):
            row = members[m]
            if row > b or (exclude_self and row == b):
                break
            dot = acc[m]
            if dot == 0:
                continue
            size = partners.sizes[row]
            own_values = heap_values + row * n_slots
            score = (dot * right_b) * left[row]
            if score > 0 and (size < n_slots or score >= own_values[0]):
                size = heap_offer(own_values, partners.neighbours + row * n_slots, size, n_slots, score, labels[b])
                partners.sizes[row] = size
                if size == n_slots:
                    (<floating*>partners.thresholds)[row] = own_values[0]
            if b != row:
                _offer_partner(partners, b, n_slots, (dot * right[row]) * left_b, labels[row])
    memset(block_acc + lowest_row * block, 0, (n_rows - lowest_row) * block * sizeof(floating))


cdef void _merge_heaps(
    Py_ssize_t row, Py_ssize_t n_rows, Py_ssize_t n_threads, Py_ssize_t n_slots,
    floating* values, int64_t* neighbours, int64_t* sizes,
) noexcept nogil:
    """Row ``row``'s best pairs from every thread's heap into thread 0's, sorted. The order
    (score, then row) is total, so the k best of the union do not depend on which thread
    held which pair."""
    cdef Py_ssize_t t, j, size = sizes[row]
    cdef floating* own_values = values + row * n_slots
    cdef int64_t* own_neighbours = neighbours + row * n_slots
    cdef floating* other_values
    cdef int64_t* other_neighbours
    for t in range(1, n_threads):
        other_values = values + (t * n_rows + row) * n_slots
        other_neighbours = neighbours + (t * n_rows + row) * n_slots
        for j in range(sizes[t * n_rows + row]):
            size = heap_offer(own_values, own_neighbours, size, n_slots, other_values[j], other_neighbours[j])
    heap_sort(own_values, own_neighbours, size)
    sizes[row] = size


cdef _symmetric(
    Py_ssize_t n_rows, Py_ssize_t n_slots, Py_ssize_t block, Py_ssize_t dense_sharing, bint exclude_self,
    int n_threads,
    const index_t* indptr, const index_t* indices, const floating* data,
    const index_t* t_indptr, const index_t* t_indices, const floating* t_data,
    const floating* left, const floating* right, const int64_t* labels,
    floating[:, ::1] block_acc, int64_t[:, ::1] block_int, floating[:, ::1] block_weights,
    size_t[:, ::1] block_targets, Sums* scratch, dtype,
):
    """Plain dot products, each pair of long rows computed once (see _block_symmetric), into
    per-thread heaps of every row that are merged at the end."""
    cdef Py_ssize_t a, blk, t, n_blocks = (n_rows + block - 1) // block
    is_long_array = np.zeros(n_rows + 1, dtype=np.uint8)
    heap_values_array = np.zeros((n_threads, n_rows, n_slots), dtype=dtype)
    heap_neighbours_array = np.zeros((n_threads, n_rows, n_slots), dtype=np.int64)
    heap_sizes_array = np.zeros((n_threads, n_rows), dtype=np.int64)
    thresholds_array = np.zeros((n_threads, n_rows + 1), dtype=dtype)
    cdef unsigned char[::1] is_long = is_long_array
    cdef floating[:, :, ::1] heap_values = heap_values_array
    cdef int64_t[:, :, ::1] heap_neighbours = heap_neighbours_array
    cdef int64_t[:, ::1] heap_sizes = heap_sizes_array
    cdef floating[:, ::1] thresholds = thresholds_array
    per_thread = np.zeros(n_threads * sizeof(Partners), dtype=np.uint8)
    cdef unsigned char[::1] per_thread_bytes = per_thread
    cdef Partners* partners = <Partners*>&per_thread_bytes[0]
    for a in range(n_rows):
        is_long[a] = _walk(a, indptr, indices, t_indptr) >= DENSE_WALK_RATIO * n_rows
    for t in range(n_threads):
        partners[t].is_long = &is_long[0]
        partners[t].values = &heap_values[t, 0, 0]
        partners[t].neighbours = &heap_neighbours[t, 0, 0]
        partners[t].sizes = &heap_sizes[t, 0]
        partners[t].thresholds = &thresholds[t, 0]
    for blk in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        t = threadid()
        _block_symmetric(
            blk * block, min((blk + 1) * block, n_rows), block, n_rows, exclude_self, indptr, indices, data,
            t_indptr, t_indices, t_data, left, right, labels, &block_acc[t, 0], &block_int[t, 0],
            <Py_ssize_t*>&block_int[t, block], &block_weights[t, 0], <floating**>&block_targets[t, 0],
            &scratch[t], n_slots, &partners[t], dense_sharing,
        )
    for a in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads):
        _merge_heaps(a, n_rows, n_threads, n_slots, &heap_values[0, 0, 0], &heap_neighbours[0, 0, 0],
                     &heap_sizes[0, 0])
    return assemble(n_rows, [(heap_sizes_array[0], heap_neighbours_array[0], heap_values_array[0])], dtype)


def similarity_topk(
    const index_t[::1] indptr,           # IN  (n_rows + 1,)
    const index_t[::1] indices,          # IN  (nnz,)
    const floating[::1] data,            # IN  (nnz,)
    const index_t[::1] t_indptr,         # IN  (n_columns + 1,)
    const index_t[::1] t_indices,        # IN  (nnz,)
    const floating[::1] t_data,          # IN  (nnz,)
    const floating[::1] left_scale,      # IN  (n_rows,)
    const floating[::1] right_scale,     # IN  (n_rows,)
    const int64_t[::1] labels,           # IN  (n_rows,)
    Py_ssize_t k,
    str measure,
    double shrinkage,
    int shrink_offset,
    int64_t min_support,
    bint exclude_self,
    int n_threads,
):
    """The top-k similar rows of every row; see ``reference.similarity_topk``."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1, n_slots = slots(k, n_rows), first, stop, a, t
    cdef int code = _CODES[measure]
    cdef Py_ssize_t per_chunk = chunk_rows(n_rows, n_slots, sizeof(floating))
    cdef Py_ssize_t block = max(1, min(BLOCK_ROWS, BLOCK_BYTES // ((n_rows + 1) * sizeof(floating))))
    cdef Py_ssize_t dense_sharing = DENSE_SHARING
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t width = n_rows + 1  # +1: a valid pointer even when n_rows == 0
    cdef Py_ssize_t sums_width = width if code == CORATED_COSINE or code == PEARSON else 1
    acc_array = np.zeros((n_threads, width), dtype=dtype)
    count_array = np.zeros((n_threads, width), dtype=np.int64)
    touched_array = np.zeros((n_threads, width), dtype=np.int64)
    sums_array = np.zeros((5, n_threads, sums_width))
    cdef floating[:, ::1] acc = acc_array
    cdef int64_t[:, ::1] count = count_array
    cdef int64_t[:, ::1] touched = touched_array
    cdef double[:, :, ::1] sums = sums_array
    cdef Sums* scratch
    per_thread = np.zeros(n_threads * sizeof(Sums), dtype=np.uint8)
    cdef unsigned char[::1] per_thread_bytes = per_thread
    scratch = <Sums*>&per_thread_bytes[0]
    for t in range(n_threads):
        scratch[t].acc = &acc[t, 0]
        scratch[t].count = &count[t, 0]
        scratch[t].touched = &touched[t, 0]
        scratch[t].cross = &sums[0, t, 0]
        scratch[t].own = &sums[1, t, 0]
        scratch[t].other = &sums[2, t, 0]
        scratch[t].own_sum = &sums[3, t, 0]
        scratch[t].other_sum = &sums[4, t, 0]

    # Pointers of possibly empty arrays: never dereferenced when empty.
    cdef const index_t* indices_p = &indices[0] if indices.shape[0] else NULL
    cdef const floating* data_p = &data[0] if data.shape[0] else NULL
    cdef const index_t* t_indices_p = &t_indices[0] if t_indices.shape[0] else NULL
    cdef const floating* t_data_p = &t_data[0] if t_data.shape[0] else NULL
    cdef const floating* left_p = &left_scale[0] if n_rows else NULL
    cdef const floating* right_p = &right_scale[0] if n_rows else NULL
    cdef const int64_t* labels_p = &labels[0] if n_rows else NULL
    cdef int64_t[::1] out_counts
    cdef bint blocked = code == DOT and min_support <= 1 and shrinkage <= 0 and block > 1
    cdef Py_ssize_t n_blocks, blk
    block_acc_array = np.zeros((n_threads, block * width if blocked else 1), dtype=dtype)
    block_int_array = np.zeros((n_threads, 3 * block), dtype=np.int64)  # cursors, members, sharers
    block_weights_array = np.zeros((n_threads, 2 * block), dtype=dtype)  # weights, dense weights
    block_targets_array = np.zeros((n_threads, block), dtype=np.uintp)
    cdef floating[:, ::1] block_acc = block_acc_array
    cdef int64_t[:, ::1] block_int = block_int_array
    cdef floating[:, ::1] block_weights = block_weights_array
    cdef size_t[:, ::1] block_targets = block_targets_array
    cdef floating[:, ::1] out_values
    cdef int64_t[:, ::1] out_neighbours
    parts = []
    if blocked and n_rows > 0 and n_threads * n_rows * n_slots * (8 + sizeof(floating)) <= SYMMETRIC_BYTES:
        return _symmetric(
            n_rows, n_slots, block, dense_sharing, exclude_self, n_threads, &indptr[0], indices_p, data_p, &t_indptr[0],
            t_indices_p, t_data_p, left_p, right_p, labels_p, block_acc, block_int, block_weights, block_targets, scratch,
            dtype,
        )
    for first in range(0, n_rows, per_chunk):
        stop = min(first + per_chunk, n_rows)
        counts_array = np.zeros(stop - first, dtype=np.int64)
        values_array = np.zeros((stop - first, n_slots), dtype=dtype)
        neighbours_array = np.zeros((stop - first, n_slots), dtype=np.int64)
        out_counts, out_values, out_neighbours = counts_array, values_array, neighbours_array
        if blocked:
            n_blocks = (stop - first + block - 1) // block
            for blk in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
                t = threadid()
                _block_dot(
                    first + blk * block, min(first + (blk + 1) * block, stop), first, n_rows, exclude_self,
                    &indptr[0], indices_p, data_p, &t_indptr[0], t_indices_p, t_data_p, left_p, right_p, labels_p,
                    &block_acc[t, 0], &block_int[t, 0], <Py_ssize_t*>&block_int[t, block], &block_weights[t, 0],
                    <floating**>&block_targets[t, 0], &scratch[t], n_slots, &out_values[0, 0],
                    &out_neighbours[0, 0], &out_counts[0],
                )
            parts.append((counts_array, neighbours_array, values_array))
            continue
        for a in prange(first, stop, nogil=True, schedule="dynamic", chunksize=4, num_threads=n_threads):
            out_counts[a - first] = _row(
                a, n_rows, code, shrinkage, shrink_offset, min_support, exclude_self,
                &indptr[0], indices_p, data_p, &t_indptr[0], t_indices_p, t_data_p, left_p, right_p, labels_p,
                &scratch[threadid()], n_slots, &out_values[a - first, 0], &out_neighbours[a - first, 0],
            )
        parts.append((counts_array, neighbours_array, values_array))
    return assemble(n_rows, parts, dtype)
