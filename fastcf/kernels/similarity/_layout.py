"""Output layout shared by the twins: per-row neighbour buffers -> one CSR.

The fast twins fill, for a chunk of rows at a time, a buffer of ``min(k, n_rows)`` slots per
row and a count per row; the chunk bounds the buffer's memory whatever k is, so a huge k does
not allocate the dense n_rows x n_rows matrix. The CSR is assembled once all chunks are done.
"""

import numpy as np

__all__ = ["BUFFER_BYTES", "assemble", "chunk_rows", "index_dtype", "slots"]

#: Bytes of neighbour buffers (index + value per slot) one chunk of rows may hold.
BUFFER_BYTES = 64 << 20
_INT32_MAX = np.iinfo(np.int32).max


def index_dtype(n_rows: int, nnz: int) -> np.dtype:
    """int32 when the row indices and the entry count fit it, else int64."""
    return np.dtype(np.int32 if max(n_rows, nnz) <= _INT32_MAX else np.int64)


def slots(k: int, n_rows: int) -> int:
    """Neighbour slots per row: no row can have more than n_rows neighbours."""
    return max(1, min(k, n_rows))


def chunk_rows(n_rows: int, n_slots: int, itemsize: int) -> int:
    """Rows per chunk so that a chunk's buffers stay within BUFFER_BYTES (at least one row)."""
    return max(1, min(max(n_rows, 1), BUFFER_BYTES // (n_slots * (8 + itemsize))))


def assemble(n_rows: int, parts, dtype):
    """The CSR (indptr, indices, values) from ``parts``: (counts, neighbours, values) per chunk
    of consecutive rows, where row r of a chunk holds its neighbours in
    ``neighbours[r, :counts[r]]`` and their similarities in ``values[r, :counts[r]]``."""
    counts = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    nnz = int(counts.sum())
    out_dtype = index_dtype(n_rows, nnz)
    indptr = np.zeros(n_rows + 1, dtype=out_dtype)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=out_dtype)
    values = np.empty(nnz, dtype=dtype)
    start = 0
    for chunk_counts, neighbours, chunk_values in parts:
        filled = np.arange(neighbours.shape[1]) < chunk_counts[:, None]
        stop = start + int(chunk_counts.sum())
        indices[start:stop] = neighbours[filled]  # row-major: row by row, best first
        values[start:stop] = chunk_values[filled]
        start = stop
    return indptr, indices, values
