"""The inverse of a symmetric positive definite matrix, in place, with the same bits at any thread count.

LAPACK's ``potrf``/``potri`` in a multithreaded BLAS split their work by the number of threads,
so the sums behind each entry, and with them the last bits, follow the thread count (EASE's
weights differed by 3e-7 between 1 and 2 threads). Here the matrix is cut into fixed tiles of
``block_size`` rows and columns, every tile is computed by one fixed sequence of BLAS calls on
one thread, and the tiles of a step are shared among ``n_threads`` Python threads (BLAS releases
the GIL). Which thread computes a tile changes nothing, so the result is a function of the
matrix and ``block_size`` only.

Three blocked, in-place passes over the lower triangle, each about n³/3 flops, as LAPACK's:

1. Cholesky, right-looking: A = L Lᵀ.
2. Triangular inverse, bottom-up: W = L⁻¹.
3. The product Wᵀ W = A⁻¹, top-down (each step reads only rows of W not yet overwritten).

The upper triangle is then mirrored from the lower one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import numpy as np
from scipy.linalg import get_lapack_funcs

from fastcf.kernels._threads import single_threaded_blas

__all__ = ["BLOCK_SIZE", "spd_inverse_in_place"]

#: Tile size: large enough for BLAS to run near its peak, small enough to share among threads.
BLOCK_SIZE = 256


class NotPositiveDefinite(np.linalg.LinAlgError):
    """The matrix's Cholesky factorisation failed at a diagonal tile."""


def spd_inverse_in_place(matrix: np.ndarray, n_threads: int, block_size: int = BLOCK_SIZE) -> np.ndarray:
    """matrix ← matrix⁻¹ for a symmetric positive definite C-contiguous float matrix (only its
    lower triangle is read); returns ``matrix``. Raises :class:`NotPositiveDefinite` (a
    ``LinAlgError``) if it is not positive definite; ``matrix`` is then garbage.

    The caller holds BLAS at one thread (``kernel_threads``); ``n_threads`` Python threads share
    the tiles of each step.
    """
    n = matrix.shape[0]
    if n == 0:
        return matrix
    starts = list(range(0, n, block_size))
    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
        def run(tasks: List[Callable[[], object]]) -> list:
            """Every task's result, in order, once all are done."""
            if n_threads <= 1 or len(tasks) <= 1:
                return [task() for task in tasks]
            return [future.result() for future in [pool.submit(_single_threaded, task) for task in tasks]]

        _cholesky(matrix, starts, run)
        _triangular_inverse(matrix, starts, run)
        _lower_gram(matrix, starts, run)
    _mirror_lower(matrix, block_size)
    return matrix


def _single_threaded(task: Callable[[], object]) -> object:
    # BLAS pools whose limit is per thread (MKL, OpenBLAS on OpenMP) need the limit in this thread too.
    with single_threaded_blas():
        return task()


def _span(starts: List[int], k: int, n: int) -> slice:
    return slice(starts[k], starts[k + 1] if k + 1 < len(starts) else n)


def _cholesky(a: np.ndarray, starts: List[int], run) -> None:
    """Lower triangle of a ← L, A = L Lᵀ (right-looking: factor a diagonal tile, solve the
    panel below it, update the trailing tile columns)."""
    n = a.shape[0]
    potrf, trtrs = get_lapack_funcs(("potrf", "trtrs"), (a,))
    for k in range(len(starts)):
        kk = _span(starts, k, n)
        factor, info = potrf(a[kk, kk], lower=1, clean=1)
        if info != 0:
            raise NotPositiveDefinite(f"leading minor at row {kk.start + info - 1} is not positive definite")
        a[kk, kk] = factor
        if kk.stop == n:
            break

        def solve(i: int) -> Callable[[], None]:
            ii = _span(starts, i, n)

            def task() -> None:
                # A[ii, k] ← A[ii, k] L_kk⁻ᵀ, i.e. solve L_kk Xᵀ = A[ii, k]ᵀ.
                solution, _ = trtrs(factor, np.ascontiguousarray(a[ii, kk].T), lower=1)
                a[ii, kk] = solution.T
            return task

        def update(j: int) -> Callable[[], None]:
            jj = _span(starts, j, n)

            def task() -> None:
                # A[jj.start:, jj] −= A[jj.start:, k] A[jj, k]ᵀ (the tile column's lower part).
                rows = slice(jj.start, n)
                a[rows, jj] -= a[rows, kk] @ a[jj, kk].T
            return task

        run([solve(i) for i in range(k + 1, len(starts))])
        run([update(j) for j in range(k + 1, len(starts))])


def _triangular_inverse(a: np.ndarray, starts: List[int], run) -> None:
    """Lower triangle of a (L) ← W = L⁻¹, a tile column at a time from the last.

    Column j of W below its diagonal tile is −W[below, below] L[below, j] L_jj⁻¹, with
    W[below, below] already inverted. Each row tile of that column reads column j of L, so the
    new column is built beside it and written back once all its row tiles are done.
    """
    n = a.shape[0]
    trtri, = get_lapack_funcs(("trtri",), (a,))
    for j in reversed(range(len(starts))):
        jj = _span(starts, j, n)
        inverse, info = trtri(a[jj, jj], lower=1)
        if info != 0:
            raise NotPositiveDefinite(f"diagonal tile at row {jj.start} is singular")
        if jj.stop < n:
            column = np.empty((n - jj.stop, jj.stop - jj.start), dtype=a.dtype)

            def solve(i: int) -> Callable[[], None]:
                ii = _span(starts, i, n)

                def task() -> None:
                    # W[ii, j] = −(Σ_{jj.stop <= m < ii.stop} W[ii, m] L[m, j]) L_jj⁻¹; W[ii, m] = 0 beyond ii.
                    inner = slice(jj.stop, ii.stop)
                    column[ii.start - jj.stop:ii.stop - jj.stop] = -(a[ii, inner] @ a[inner, jj]) @ inverse
                return task

            run([solve(i) for i in range(j + 1, len(starts))])
            a[jj.stop:, jj] = column
        a[jj, jj] = np.tril(inverse)


def _lower_gram(a: np.ndarray, starts: List[int], run) -> None:
    """Lower triangle of a (W, lower triangular) ← Wᵀ W, a tile row at a time from the first.

    Row tile i of Wᵀ W left of the diagonal is (Wᵀ W)[i, j] = Σ_{m >= i} W[m, i]ᵀ W[m, j]: it
    reads only rows of W from tile i down, which are not yet overwritten. The diagonal tile is
    written last, after every tile of the row has read W[i, i].
    """
    n = a.shape[0]
    for i in range(len(starts)):
        ii = _span(starts, i, n)
        rows = slice(ii.start, n)

        def product(j: int) -> Callable[[], np.ndarray]:
            jj = _span(starts, j, n)
            return lambda: a[rows, ii].T @ a[rows, jj]

        # Every tile of the row is computed before any is written: they all read W[ii, ii].
        for j, tile in enumerate(run([product(j) for j in range(i + 1)])):
            a[ii, _span(starts, j, n)] = tile
        a[ii, ii] = np.tril(a[ii, ii])


def _mirror_lower(a: np.ndarray, block_size: int) -> None:
    """Upper triangle ← lower triangle's transpose, a band of rows at a time (no n² temporary)."""
    n = a.shape[0]
    for lo in range(0, n, block_size):
        hi = min(lo + block_size, n)
        square = a[lo:hi, lo:hi]
        upper = np.triu_indices(hi - lo, 1)
        square[upper] = square.T[upper]
        a[lo:hi, hi:] = a[hi:, lo:hi].T
