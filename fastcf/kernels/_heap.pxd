# The binary heap of top-k selection, shared by the Cython twins of topk, metrics and
# similarity: the root is the worst kept entry, so a candidate that does not beat it costs one comparison. Entry a ranks below entry
# b when its score is lower, or equal with a higher item index.
from cython cimport floating
from libc.stdint cimport int64_t


cdef inline bint heap_worse(const floating* scores, const int64_t* items, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return scores[a] < scores[b] or (scores[a] == scores[b] and items[a] > items[b])


cdef inline void heap_swap(floating* scores, int64_t* items, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    cdef floating score = scores[a]
    cdef int64_t item = items[a]
    scores[a] = scores[b]
    items[a] = items[b]
    scores[b] = score
    items[b] = item


cdef inline void heap_sift_up(floating* scores, int64_t* items, Py_ssize_t pos) noexcept nogil:
    cdef Py_ssize_t parent
    while pos > 0:
        parent = (pos - 1) // 2
        if not heap_worse(scores, items, pos, parent):
            break
        heap_swap(scores, items, pos, parent)
        pos = parent


cdef inline void heap_sift_down(floating* scores, int64_t* items, Py_ssize_t pos, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and heap_worse(scores, items, child + 1, child):
            child += 1
        if not heap_worse(scores, items, child, pos):
            break
        heap_swap(scores, items, pos, child)
        pos = child


cdef inline Py_ssize_t heap_offer(floating* scores, int64_t* items, Py_ssize_t size, Py_ssize_t capacity,
                                  floating score, int64_t item) noexcept nogil:
    """Offer (score, item) to a heap of ``size`` <= ``capacity`` entries; returns the new size."""
    if size < capacity:
        scores[size] = score
        items[size] = item
        heap_sift_up(scores, items, size)
        return size + 1
    if score > scores[0] or (score == scores[0] and item < items[0]):
        scores[0] = score
        items[0] = item
        heap_sift_down(scores, items, 0, size)
    return size


cdef inline void heap_sort(floating* scores, int64_t* items, Py_ssize_t size) noexcept nogil:
    """Sort a heap best-first in place (the worst entry moves to the end first)."""
    cdef Py_ssize_t end
    for end in range(size - 1, 0, -1):
        heap_swap(scores, items, 0, end)
        heap_sift_down(scores, items, 0, end)
