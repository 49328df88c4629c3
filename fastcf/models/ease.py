"""EASE: the closed-form shallow autoencoder of Steck (2019), "Embarrassingly Shallow Autoencoders
for Sparse Data" (WWW 2019).

The fit is one Gram matrix (sparse products, block by block) and one in-place inverse by
tiles shared among fastcf's threads (``fastcf/kernels/_dense.py``), which gives the same bits
at any thread count; scoring is a sparse history block times the dense weights.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import scipy.sparse as sp
from fastcf.kernels._dense import spd_inverse_in_place
from fastcf.kernels._threads import kernel_threads
from fastcf._validation import check_flag, check_n_threads, check_number, check_positive_int
from fastcf.models._history import HistoryFoldIn, binarized
from fastcf.models.base import Recommender

__all__ = ["EASE"]

#: Bytes of the sparse product that fills one block of rows of the Gram matrix.
_GRAM_BLOCK_BYTES = 64 << 20


def available_memory() -> Optional[int]:
    """Bytes the OS says can be allocated now (MemAvailable on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


class EASE(HistoryFoldIn, Recommender):
    """Embarrassingly Shallow AutoEncoder (Steck 2019): score = x_u B, B items x items, diag(B) = 0.

    B minimises |X − XB|² + λ|B|² subject to diag(B) = 0, in closed form:

        P = (XᵀX + λI)⁻¹,    B = I − P · diag(1 / diag(P)),  i.e.  B_ij = −P_ij / P_jj (i ≠ j).

    Memory, stated up front: B is a dense n_items x n_items matrix, computed in place in one
    buffer, so the fit needs ``EASE.required_memory(n_items)`` = n_items² x 4 bytes in float32
    (10,000 items: 0.37 GiB; 20,000: 1.49 GiB; 50,000: 9.3 GiB) plus a block of at most
    64 MiB. ``fit`` checks that against ``max_memory`` and against the memory the OS reports
    as available *before* allocating, and raises MemoryError naming the size otherwise. The
    time is one Cholesky factorisation and inverse, about n_items³ / 1.5 flops.

    Users are scored by their history alone, so a new user folds in exactly
    (``recommend_for_history``) and ``explain`` lists the history items whose terms
    x_uj B_ji make up a score. Seen items score like any other (B's zero diagonal only
    stops an item predicting itself); ``recommend`` leaves them out.

    Parameters
    ----------
    regularization : float > 0
        λ. Steck uses 500 on MovieLens 20M (the default), 1000 on Netflix, 200 on the Million
        Song Data; on MovieLens 100K u1, NDCG@10 is 0.505 / 0.538 / 0.559 / 0.565 for λ = 50 /
        100 / 200 / 500.
    binarize : bool
        Use 1 for every stored entry (the paper's X), rather than the stored values.
    dtype : float32 or float64
        Of the Gram matrix, its inverse and B (float32 halves the memory).
    max_memory : int or None
        Upper bound in bytes on the dense matrix; None: only what the OS reports available.
    n_threads : int or None
        Threads for the inverse (None: ``fastcf.get_num_threads()``). The inverse is cut into
        fixed tiles, each computed on one thread with BLAS at one thread, so the weights are the
        same bits at any thread count.

    Attributes
    ----------
    weights_ : ndarray of shape (n_items, n_items), ``dtype``
        B; row j holds what item j contributes to every item's score.
    users_, items_ : IdMap or None
    """

    _fitted_attributes = ("seen_", "weights_")
    _restorable_ = ("weights_",)

    def __init__(self, *, regularization: float = 500.0, binarize: bool = True, dtype=np.float32,
                 max_memory: Optional[int] = None, n_threads: Optional[int] = None):
        self.regularization = regularization
        self.binarize = binarize
        self.dtype = dtype
        self.max_memory = max_memory
        self.n_threads = n_threads

    @staticmethod
    def required_memory(n_items: int, dtype=np.float32) -> int:
        """Bytes of the dense items x items matrix EASE holds: n_items² x itemsize."""
        return check_positive_int(n_items, "n_items", "EASE.required_memory") ** 2 * np.dtype(dtype).itemsize

    # --- fit ------------------------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        check_number(self.regularization, "regularization", name, strict=True)
        check_flag(self.binarize, "binarize", name)
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"{name}: 'dtype' must be float32 or float64; got {np.dtype(self.dtype)}.")
        if self.max_memory is not None:
            if isinstance(self.max_memory, bool) or not isinstance(self.max_memory, (int, np.integer)) \
                    or self.max_memory < 1:
                raise ValueError(f"{name}: 'max_memory' must be None or an int >= 1 (bytes); got {self.max_memory!r}.")
        if self.n_threads is not None:
            check_n_threads(self.n_threads, "n_threads", name)

    def _check_memory(self, n_items: int) -> None:
        name = type(self).__name__
        dtype = np.dtype(self.dtype)
        needed = self.required_memory(n_items, dtype)
        what = f"the dense item-item matrix needs {_gib(needed)} ({n_items:,} x {n_items:,} {dtype.name})"
        if self.max_memory is not None and needed > self.max_memory:
            raise MemoryError(f"{name}: {what}, above max_memory={self.max_memory:,} bytes ({_gib(self.max_memory)}). "
                              f"Raise 'max_memory' or fit on fewer items (e.g. fastcf.data.k_core).")
        available = available_memory()
        if available is not None and needed + _GRAM_BLOCK_BYTES > available:
            raise MemoryError(f"{name}: {what}, but only {_gib(available)} is available. Fit on fewer items "
                              f"(e.g. fastcf.data.k_core){' or use dtype=float32' if dtype.itemsize > 4 else ''}.")

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self._check_params()
        n_items = matrix.shape[1]
        self._check_memory(n_items)
        dtype = np.dtype(self.dtype)
        X = self._history_query(matrix)
        weights = self._gram(X, dtype)
        weights.flat[:: n_items + 1] += dtype.type(self.regularization)
        # BLAS at one thread, fastcf's threads over fixed tiles: the same weights at any thread count.
        with kernel_threads(self.n_threads, type(self).__name__) as n_threads:
            self._invert_in_place(weights, n_threads)
        # B_ij = −P_ij / P_jj, in place: P becomes B without a second n² buffer.
        diagonal = weights.diagonal().copy()
        weights /= -diagonal[None, :]
        weights.flat[:: n_items + 1] = 0
        self.weights_ = weights

    @staticmethod
    def _gram(X: sp.csr_matrix, dtype) -> np.ndarray:
        """Dense XᵀX, filled a block of rows at a time from sparse products (never XᵀX sparse whole)."""
        n_items = X.shape[1]
        gram = np.empty((n_items, n_items), dtype=dtype)
        Xt = X.T.tocsr()
        # A block's sparse product holds at most rows x n_items entries of 12 bytes.
        rows = max(1, _GRAM_BLOCK_BYTES // (12 * max(n_items, 1)))
        for lo in range(0, n_items, rows):
            hi = min(lo + rows, n_items)
            (Xt[lo:hi] @ X).toarray(out=gram[lo:hi])
        return gram

    def _invert_in_place(self, gram: np.ndarray, n_threads: int) -> None:
        """gram ← gram⁻¹ (blocked Cholesky, triangular inverse and product), in its own buffer."""
        try:
            spd_inverse_in_place(gram, n_threads)
        except np.linalg.LinAlgError as error:
            raise np.linalg.LinAlgError(
                f"{type(self).__name__}: the Cholesky inverse of XᵀX + λI failed ({error}); "
                f"raise 'regularization' (now {self.regularization}) or use dtype=float64."
            ) from None

    # --- scores (HistoryScorer) -----------------------------------------------------------

    def _history_query(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        dtype = np.dtype(self.dtype)
        return binarized(rows, dtype) if self.binarize else sp.csr_matrix(rows, dtype=dtype)

    def _query_rows(self, user_indices):
        return self._history_query(self.seen_[user_indices])

    def _weights(self):
        return self.weights_

    def explain(self, user, item, k: int = 5):
        """Which of the user's training items make up their score for ``item``.

        score(u, i) = Σ_j x_uj B_ji over the user's items j, exactly.

        Returns
        -------
        ids : the top k contributing items (raw IDs), largest term first
        contributions : their terms x_uj B_ji
        total : the sum over all the user's items, i.e. the score
        """
        return super().explain(user, item, k)

    def similar_items(self, items, k: int = 10, *, n_threads: Optional[int] = None):
        """For each given item j, the k items i with the largest weight B_ji (what j predicts most).

        Returns (ids, weights), shaped like ``recommend``'s.
        """
        self._check_similar_call("similar_items", n_threads)
        index = self._indices(items, self.items_, self.n_items, "item", "similar_items")
        top, scores = self._top_of_rows(self.weights_, index, k, "similar_items", n_threads)
        ids = self._item_ids(top)
        return (ids[0], scores[0]) if np.ndim(items) == 0 else (ids, scores)
