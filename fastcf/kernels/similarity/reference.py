"""Top-k row similarity, the specification: scipy sparse products and dense selection.

Every twin computes one of four *core* measures between rows a and b of X (n_rows x
n_columns), from sums over the columns u both rows have (U_ab, n_ab = |U_ab|):

``"dot"``             s = (x_a . x_b * right[b]) * left[a], summed in X's dtype.
``"corated_cosine"``  s = S_ab / sqrt(S_aa' S_bb') with S_ab = sum_U_ab x_au x_bu,
                      S_aa' = sum_U_ab x_au^2, S_bb' = sum_U_ab x_bu^2 (float64); 0 if the
                      denominator is 0.
``"pearson"``         s = (n S_ab - A B) / (sqrt(n S_aa' - A^2) sqrt(n S_bb' - B^2)) with
                      A = sum_U_ab x_au, B = sum_U_ab x_bu, n = n_ab (float64; the one-pass
                      form Surprise uses); 0 unless the denominator is > 0.
``"jaccard"``         s = n_ab / (|U_a| + |U_b| - n_ab).

The float64 cores are cast to X's dtype. Then pairs with n_ab < min_support are dropped,
and with shrinkage λ > 0, s *= m / (m + λ) with m = n_ab - shrink_offset (cast to X's dtype
first). Row a keeps its pairs with s > 0 (not b = a if exclude_self), at most k, sorted by s
descending and label ascending among equal s, and lists them by label (``labels[b]``).

Every sum runs over u in increasing order, as scipy's CSR product does, and the fast twins
accumulate in the same order and apply the same operations, so their results match this one
bit for bit wherever the rounding of the input allows.
"""

import numpy as np
import scipy.sparse as sp

from fastcf.kernels.similarity._layout import assemble, slots

__all__ = ["similarity_topk"]


def similarity_topk(
    indptr, indices, data, t_indptr, t_indices, t_data, left_scale, right_scale, labels, k, measure, shrinkage,
    shrink_offset, min_support, exclude_self, n_threads,
):
    """The top-k similar rows of every row; see the module docstring.

    Parameters
    ----------
    indptr, indices, data : ndarrays of shapes (n_rows + 1,), (nnz,), (nnz,)
        X as a CSR with sorted, distinct indices; int32 or int64 (one dtype) and float32 or
        float64.
    t_indptr, t_indices, t_data : ndarrays of shapes (n_columns + 1,), (nnz,), (nnz,)
        X.T as a CSR (X by columns), sorted, same dtypes.
    left_scale, right_scale : ndarrays of shape (n_rows,), dtype of data
        The factors of the "dot" core (unused by the others).
    labels : int64 ndarray of shape (n_rows,)
        The name of each row in the output: row a is listed as neighbour ``labels[a]``, and
        ties are broken by the lower label (the caller's row index when it has reordered X).
    k : int >= 1
    measure : {"dot", "corated_cosine", "pearson", "jaccard"}
    shrinkage : float >= 0
    shrink_offset : int, 0 or 1
    min_support : int >= 1
    exclude_self : bool
    n_threads : int
        Unused here (the reference is serial); present so that all twins share one signature.

    Returns
    -------
    sim_indptr, sim_indices, sim_values : the CSR of shape (n_rows, n_rows)
    """
    n_rows = indptr.shape[0] - 1
    n_columns = t_indptr.shape[0] - 1
    dtype = data.dtype
    rows = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_columns))
    columns = sp.csr_matrix((t_data, t_indices, t_indptr), shape=(n_columns, n_rows))

    def product(a, b):
        return np.asarray((a @ b).todense())

    def ones(m):
        return sp.csr_matrix((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)

    rows64, columns64 = rows.astype(np.float64), columns.astype(np.float64)
    support = product(ones(rows), ones(columns))  # n_ab, exact in float64
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "dot":
            similarity = (product(rows, columns) * right_scale[None, :]) * left_scale[:, None]
        elif measure == "corated_cosine":
            cross = product(rows64, columns64)
            own = product(rows64.multiply(rows64), ones(columns))
            other = product(ones(rows), columns64.multiply(columns64))
            denominator = own * other
            similarity = np.where(denominator > 0, cross / np.sqrt(denominator), 0.0)
        elif measure == "pearson":
            cross = product(rows64, columns64)
            own_sum = product(rows64, ones(columns))
            other_sum = product(ones(rows), columns64)
            own = product(rows64.multiply(rows64), ones(columns))
            other = product(ones(rows), columns64.multiply(columns64))
            numerator = support * cross - own_sum * other_sum
            denominator = np.sqrt(support * own - own_sum * own_sum) * np.sqrt(support * other - other_sum * other_sum)
            similarity = np.where(denominator > 0, numerator / denominator, 0.0)
        elif measure == "jaccard":
            sizes = np.diff(indptr).astype(np.float64)
            union = sizes[:, None] + sizes[None, :] - support
            similarity = np.where(support > 0, support / union, 0.0)
        else:
            raise ValueError(f"similarity_topk: unknown core measure {measure!r}.")
        similarity = similarity.astype(dtype)
        if shrinkage > 0:
            shrunk = support - shrink_offset
            factor = np.where(support > 0, shrunk / (shrunk + shrinkage), 0.0).astype(dtype)
            similarity = similarity * factor

    keep = (similarity > 0) & (support >= min_support)
    if exclude_self:
        np.fill_diagonal(keep, False)
    n_slots = slots(k, n_rows)
    counts = np.zeros(n_rows, dtype=np.int64)
    neighbours = np.zeros((n_rows, n_slots), dtype=np.int64)
    values = np.zeros((n_rows, n_slots), dtype=dtype)
    for a in range(n_rows):
        candidates = np.flatnonzero(keep[a])
        best = candidates[np.lexsort((labels[candidates], -similarity[a, candidates]))][:n_slots]
        counts[a] = best.size
        neighbours[a, :best.size] = labels[best]
        values[a, :best.size] = similarity[a, best]
    return assemble(n_rows, [(counts, neighbours, values)], dtype)
