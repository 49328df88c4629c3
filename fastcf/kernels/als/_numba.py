"""Numba twin of the ALS half-steps (implicit and explicit) and loss; ``reference.py`` is the specification.

Plain loops, parallel over rows. The Cholesky path builds the upper triangle of
A_u = YᵀY + λI + Σ (c − 1) y yᵀ with rank-4 updates (four entries per pass over the triangle, so
A is loaded and stored a quarter as often as with rank-1 updates), factorises it in place
(right-looking, so that every inner loop is an axpy over a contiguous row) and solves by
forward and back substitution. The CG path never forms A_u.

No fastmath (the results are compared with the reference), so LLVM vectorises loops without
reductions only: products with the symmetric YᵀY are written as sums of its rows, and dot
products keep eight partial sums that it can pack into one vector. Every row runs the same
code whichever thread takes it, so results do not depend on the thread count.
"""

import numba
import numpy as np

from fastcf.kernels._numba_helpers import dot8 as _dot
from fastcf.kernels._threads import numba_threads
from fastcf.kernels.als._status import (
    NOT_FINITE,
    NOT_POSITIVE_DEFINITE,
    raise_failed_explicit_rows,
    raise_failed_rows,
)
from fastcf.kernels.als.reference import CG_TOLERANCE, item_penalty

__all__ = ["als_explicit_half_step", "als_half_step", "als_loss", "als_subspace_half_step"]


@numba.njit(inline="always")
def _axpy(alpha, x, y):
    """y += alpha x."""
    for j in range(x.shape[0]):
        y[j] += alpha * x[j]


@numba.njit(inline="always")
def _gram_times(gram, alpha, v, out):
    """out = alpha (YᵀY + λI) v, as a sum of rows: the matrix is symmetric."""
    out[:] = 0
    for k in range(gram.shape[0]):
        _axpy(alpha * v[k], gram[k], out)


# Inner loops run over 1-D views from 0 to their length: LLVM vectorises those, but not
# a[i, j] for j in range(i, f) (the index could be negative and wrap around, as far as it knows).

@numba.njit(inline="always")
def _rank_update(a, y0, w0, y1, w1, y2, w2, y3, w3):
    """Upper triangle of a += Σ_k w_k y_k y_kᵀ for four entries."""
    f = a.shape[0]
    for i in range(f):
        s0, s1, s2, s3 = w0 * y0[i], w1 * y1[i], w2 * y2[i], w3 * y3[i]
        row, t0, t1, t2, t3 = a[i, i:], y0[i:], y1[i:], y2[i:], y3[i:]
        for j in range(row.shape[0]):
            row[j] += s0 * t0[j] + s1 * t1[j] + s2 * t2[j] + s3 * t3[j]


@numba.njit(inline="always")
def _rank_update1(a, y, w):
    """Upper triangle of a += w y yᵀ (the entries left over after the groups of four)."""
    for i in range(a.shape[0]):
        _axpy(w * y[i], y[i:], a[i, i:])


@numba.njit
def _cholesky_solve(a, b, zero):
    """Solve a x = b in place (x in b) from a's upper triangle; False if a is not positive definite.

    a = UᵀU right-looking in panels of four rows: a panel is factorised row by row, then each
    trailing row takes one four-term update (a quarter of the loop overhead of rank-1 steps).
    """
    f = a.shape[0]
    for k0 in range(0, f, 4):
        k1 = min(k0 + 4, f)
        for k in range(k0, k1):
            d = a[k, k]
            if not d > 0:  # also catches NaN
                return False
            d = np.sqrt(d)
            a[k, k] = d
            row = a[k, k + 1:]
            for j in range(row.shape[0]):
                row[j] /= d
            for i in range(k + 1, k1):
                _axpy(-a[k, i], a[k, i:], a[i, i:])
        if k1 - k0 == 4:
            for i in range(k1, f):
                _rank_update_row(a[i, i:], a[k0, i:], a[k0 + 1, i:], a[k0 + 2, i:], a[k0 + 3, i:])
        else:
            for k in range(k0, k1):
                for i in range(k1, f):
                    _axpy(-a[k, i], a[k, i:], a[i, i:])
    for k in range(f):  # Uᵀ z = b
        b[k] /= a[k, k]
        _axpy(-b[k], a[k, k + 1:], b[k + 1:])
    for i in range(f - 1, -1, -1):  # U x = z
        b[i] = (b[i] - _dot(a[i, i + 1:], b[i + 1:], zero)) / a[i, i]
    return True


@numba.njit(inline="always")
def _rank_update_row(row, u0, u1, u2, u3):
    """row −= u0[0] u0 + u1[0] u1 + u2[0] u2 + u3[0] u3 (one trailing row of a rank-4 step)."""
    s0, s1, s2, s3 = u0[0], u1[0], u2[0], u3[0]
    for j in range(row.shape[0]):
        row[j] -= s0 * u0[j] + s1 * u1[j] + s2 * u2[j] + s3 * u3[j]


@numba.njit
def _row_cholesky(gram, other, items, c_u, one, per_row, lam, a, b):
    """Exact solve of one row into b; returns a status code. ``lam`` is the row's λ_u, added
    (if ``per_row``) to the diagonal of YᵀY + λI before the entries, as in the reference."""
    f = gram.shape[0]
    zero = one - one
    b[:] = zero
    a[:, :] = gram
    if per_row:
        for k in range(f):
            a[k, k] += lam
    n_u = items.shape[0]
    for q in range(n_u):  # b = Σ c y
        _axpy(c_u[q], other[items[q]], b)
    for q in range(0, n_u - n_u % 4, 4):
        _rank_update(
            a,
            other[items[q]], c_u[q] - one, other[items[q + 1]], c_u[q + 1] - one,
            other[items[q + 2]], c_u[q + 2] - one, other[items[q + 3]], c_u[q + 3] - one,
        )
    for q in range(n_u - n_u % 4, n_u):
        _rank_update1(a, other[items[q]], c_u[q] - one)
    if not _cholesky_solve(a, b, zero):
        return NOT_POSITIVE_DEFINITE
    return 0


@numba.njit
def _times_a(gram, other, items, c_u, one, per_row, lam, v, residual, out):
    """out = A_u v, or b − A_u v if residual, without forming A_u (the reference's order)."""
    zero = one - one
    sign = -one if residual else one
    _gram_times(gram, sign, v, out)
    if per_row:
        _axpy(sign * lam, v, out)
    for q in range(items.shape[0]):
        y = other[items[q]]
        h = (c_u[q] - one) * _dot(y, v, zero)
        _axpy(c_u[q] - h if residual else h, y, out)


@numba.njit
def _row_cg(gram, other, items, c_u, one, per_row, lam, x, cg_steps, r, p, ap):
    """``cg_steps`` CG steps on one row from x (updated in place); returns a status code."""
    zero = one - one
    # r = b − A x = Σ (c − (c − 1)(y·x)) y − (YᵀY + λI) x − λ_u x
    _times_a(gram, other, items, c_u, one, per_row, lam, x, True, r)
    p[:] = r
    rs = _dot(r, r, zero)
    for _ in range(cg_steps):
        if rs < CG_TOLERANCE:
            break
        _times_a(gram, other, items, c_u, one, per_row, lam, p, False, ap)
        pap = _dot(p, ap, zero)
        if not pap > 0:  # also catches NaN: A is not positive definite along p
            return NOT_POSITIVE_DEFINITE
        alpha = rs / pap
        _axpy(alpha, p, x)
        _axpy(-alpha, ap, r)
        rs_new = _dot(r, r, zero)
        beta = rs_new / rs
        for j in range(p.shape[0]):
            p[j] = r[j] + beta * p[j]
        rs = rs_new
    return 0


@numba.njit
def _all_finite(v):
    for j in range(v.shape[0]):
        if not np.isfinite(v[j]):
            return False
    return True


@numba.njit(parallel=True, nogil=True, cache=True)
def _half_step(indptr, indices, confidence, other, factors, gram, row_regularization, one, cg_steps, mats, vecs,
               status):
    # ``one`` is 1 in the factors' dtype: a bare 1 would turn float32 arithmetic into float64.
    per_row = row_regularization.shape[0] > 0
    for u in numba.prange(factors.shape[0]):
        start, end = indptr[u], indptr[u + 1]
        x = factors[u]
        if start == end:
            x[:] = 0
            continue
        # Scratch of the thread that runs this row, allocated once by the caller.
        t = numba.get_thread_id()
        solution = vecs[t, 0]
        items, c_u = indices[start:end], confidence[start:end]
        lam = row_regularization[u] if per_row else one - one
        if cg_steps == 0:
            code = _row_cholesky(gram, other, items, c_u, one, per_row, lam, mats[t], solution)
        else:
            solution[:] = x
            code = _row_cg(gram, other, items, c_u, one, per_row, lam, solution, cg_steps, vecs[t, 1], vecs[t, 2],
                           vecs[t, 3])
        if code == 0 and not _all_finite(solution):
            code = NOT_FINITE
        if code == 0:
            x[:] = solution
        status[u] = code


def als_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization, cg_steps,
                  gram, n_threads):
    """Solve every row's normal equations in place; see ``reference.als_half_step``."""
    dtype = factors.dtype
    n_rows, f = factors.shape
    # Y is fixed during this half-step, so YᵀY (+ λI) is computed once, as in the reference.
    if gram is None:
        gram = other_factors.T @ other_factors
    gram = gram + dtype.type(regularization) * np.eye(f, dtype=dtype)
    status = np.zeros(n_rows, dtype=np.uint8)
    with numba_threads(n_threads):
        n = numba.get_num_threads()
        mats = np.empty((n, f, f) if cg_steps == 0 else (n, 1, 1), dtype=dtype)
        vecs = np.empty((n, 4, f), dtype=dtype)
        _half_step(
            indptr, indices, confidence, other_factors, factors, gram, row_regularization, dtype.type(1), cg_steps,
            mats, vecs, status,
        )
    raise_failed_rows("als_half_step", status, regularization, cg_steps, row_regularization=row_regularization)
    return factors


@numba.njit(inline="always")
def _augmented_row(other, other_bias, ratings, items, q, global_mean, one, row, z):
    """row = ỹ_j = (y_j, 1) for entry q of the row, and z += (r_uj − μ − c_j) ỹ_j."""
    j = items[q]
    f = other.shape[1]
    row[:f] = other[j]
    row[f] = one
    _axpy(ratings[q] - global_mean - other_bias[j], row, z)


@numba.njit
def _row_explicit(other, other_bias, items, ratings, global_mean, reg_factors, reg_bias, one, a, g, z):
    """Exact solve of one row's weighted-λ ridge system into z = (x_u, b_u); returns a status code."""
    m = a.shape[0]
    zero = one - one
    n_u = items.shape[0]
    a[:, :] = zero
    for k in range(m - 1):
        a[k, k] = n_u * reg_factors
    a[m - 1, m - 1] = n_u * reg_bias
    z[:] = zero
    for q in range(0, n_u - n_u % 4, 4):
        for k in range(4):
            _augmented_row(other, other_bias, ratings, items, q + k, global_mean, one, g[k], z)
        _rank_update(a, g[0], one, g[1], one, g[2], one, g[3], one)
    for q in range(n_u - n_u % 4, n_u):
        _augmented_row(other, other_bias, ratings, items, q, global_mean, one, g[0], z)
        _rank_update1(a, g[0], one)
    if not _cholesky_solve(a, z, zero):
        return NOT_POSITIVE_DEFINITE
    return 0


@numba.njit(parallel=True, nogil=True, cache=True)
def _explicit_half_step(indptr, indices, ratings, other, other_bias, factors, bias, global_mean, reg_factors,
                        reg_bias, one, mats, vecs, status):
    f = factors.shape[1]
    for u in numba.prange(factors.shape[0]):
        start, end = indptr[u], indptr[u + 1]
        if start == end:
            factors[u] = 0
            bias[u] = 0
            continue
        t = numba.get_thread_id()
        z = vecs[t, 4]
        code = _row_explicit(other, other_bias, indices[start:end], ratings[start:end], global_mean, reg_factors,
                             reg_bias, one, mats[t], vecs[t, :4], z)
        if code == 0 and not _all_finite(z):
            code = NOT_FINITE
        if code == 0:
            factors[u] = z[:f]
            bias[u] = z[f]
        status[u] = code


def als_explicit_half_step(indptr, indices, ratings, other_factors, other_bias, factors, bias, global_mean,
                           reg_factors, reg_bias, n_threads):
    """Every row's weighted-λ ridge solve, in place; see ``reference.als_explicit_half_step``."""
    dtype = factors.dtype
    n_rows, f = factors.shape
    status = np.zeros(n_rows, dtype=np.uint8)
    with numba_threads(n_threads):
        n = numba.get_num_threads()
        # Per thread: the (f + 1)² system, four rows ỹ_j and the solution z.
        mats = np.empty((n, f + 1, f + 1), dtype=dtype)
        vecs = np.empty((n, 5, f + 1), dtype=dtype)
        scalar = dtype.type
        _explicit_half_step(indptr, indices, ratings, other_factors, other_bias, factors, bias, scalar(global_mean),
                            scalar(reg_factors), scalar(reg_bias), scalar(1), mats, vecs, status)
    raise_failed_explicit_rows(status, reg_factors, reg_bias)
    return factors, bias


@numba.njit(parallel=True, nogil=True, cache=True)
def _loss_rows(indptr, indices, confidence, user_factors, item_factors, gram, regularization, user_regularization,
               out):
    f = gram.shape[0]
    per_row = user_regularization.shape[0] > 0
    for u in numba.prange(user_factors.shape[0]):
        x = user_factors[u]
        # x_uᵀ (YᵀY) x_u + λ‖x_u‖² (+ λ_u‖x_u‖²): every pair as if unstored, plus the row's
        # regularisation.
        total = 0.0
        norm = 0.0
        for i in range(f):
            xi = np.float64(x[i])
            s = 0.0
            for j in range(f):
                s += gram[i, j] * np.float64(x[j])
            total += xi * s + regularization * xi * xi
            norm += xi * xi
        if per_row:
            total += user_regularization[u] * norm
        for q in range(indptr[u], indptr[u + 1]):
            y = item_factors[indices[q]]
            score = 0.0
            for j in range(f):
                score += np.float64(x[j]) * np.float64(y[j])
            c = np.float64(confidence[q])
            total += c * (1.0 - score) ** 2 - score * score
        out[u] = total


def als_loss(indptr, indices, confidence, user_factors, item_factors, regularization, user_regularization,
             item_regularization, n_threads):
    """The implicit-ALS objective in float64; see ``reference.als_loss``."""
    y = item_factors.astype(np.float64)
    gram = y.T @ y
    rows = np.empty(user_factors.shape[0], dtype=np.float64)
    with numba_threads(n_threads):
        _loss_rows(indptr, indices, confidence, user_factors, item_factors, gram, regularization, user_regularization,
                   rows)
    # Per-row sums added in a fixed order: the same total at every thread count.
    return float(np.sum(rows) + regularization * np.trace(gram) + item_penalty(y, item_regularization))


# --- iALS++: block coordinate descent over subspaces ----------------------------------------

@numba.njit
def _subspace_row(gram, penalty, other, items, c_u, one, block_size, sweeps, x, s, a, g):
    """``sweeps`` sweeps of exact block steps on one row from x (in place); a status code.

    s (n_u,) holds the predictions x·y_i; a (b, b) and g (b,) are the block's system.
    """
    f = x.shape[0]
    zero = one - one
    n_u = items.shape[0]
    for q in range(n_u):
        s[q] = _dot(other[items[q]], x, zero)
    for _ in range(sweeps):
        for k in range(0, f, block_size):
            end = min(k + block_size, f)
            b = end - k
            a_b, g_b = a[:b, :b], g[:b]
            # g = −(G x)_B − λ_u x_B, G = YᵀY + λI symmetric: a sum of its rows, as in _gram_times.
            g_b[:] = zero
            for j in range(f):
                _axpy(-x[j], gram[j, k:end], g_b)
            _axpy(-penalty, x[k:end], g_b)
            a_b[:, :] = gram[k:end, k:end]
            for j in range(b):
                a_b[j, j] += penalty
            for q in range(n_u):
                _axpy(c_u[q] - (c_u[q] - one) * s[q], other[items[q], k:end], g_b)
            for q in range(0, n_u - n_u % 4, 4):
                _rank_update(
                    a_b,
                    other[items[q], k:end], c_u[q] - one, other[items[q + 1], k:end], c_u[q + 1] - one,
                    other[items[q + 2], k:end], c_u[q + 2] - one, other[items[q + 3], k:end], c_u[q + 3] - one,
                )
            for q in range(n_u - n_u % 4, n_u):
                _rank_update1(a_b, other[items[q], k:end], c_u[q] - one)
            if not _cholesky_solve(a_b, g_b, zero):
                return NOT_POSITIVE_DEFINITE
            _axpy(one, g_b, x[k:end])
            for q in range(n_u):
                s[q] += _dot(other[items[q], k:end], g_b, zero)
    return 0


@numba.njit(parallel=True, nogil=True, cache=True)
def _subspace_half_step(indptr, indices, confidence, other, factors, gram, row_regularization, one, block_size,
                        sweeps, mats, vecs, predictions, status):
    for u in numba.prange(factors.shape[0]):
        start, end = indptr[u], indptr[u + 1]
        x = factors[u]
        if start == end:
            x[:] = 0
            continue
        t = numba.get_thread_id()
        solution = vecs[t, 0]
        solution[:] = x
        penalty = row_regularization[u] if row_regularization.shape[0] else one - one
        code = _subspace_row(gram, penalty, other, indices[start:end], confidence[start:end], one, block_size,
                             sweeps, solution, predictions[t, :end - start], mats[t], vecs[t, 1])
        if code == 0 and not _all_finite(solution):
            code = NOT_FINITE
        if code == 0:
            x[:] = solution
        status[u] = code


def als_subspace_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization,
                           block_size, sweeps, gram, n_threads):
    """iALS++ block coordinate descent per row, in place; see ``reference.als_subspace_half_step``."""
    dtype = factors.dtype
    n_rows, f = factors.shape
    if gram is None:
        gram = other_factors.T @ other_factors
    gram = gram + dtype.type(regularization) * np.eye(f, dtype=dtype)
    b = min(block_size, f)
    longest = int(np.diff(indptr).max()) if n_rows else 0
    status = np.zeros(n_rows, dtype=np.uint8)
    with numba_threads(n_threads):
        n = numba.get_num_threads()
        # Per thread: the block's system, the row's solution and right-hand side, its predictions.
        mats = np.empty((n, b, b), dtype=dtype)
        vecs = np.empty((n, 2, f), dtype=dtype)
        predictions = np.empty((n, longest), dtype=dtype)
        _subspace_half_step(indptr, indices, confidence, other_factors, factors, gram, row_regularization,
                            dtype.type(1), b, sweeps, mats, vecs, predictions, status)
    raise_failed_rows("als_subspace_half_step", status, regularization, 0, row_regularization=row_regularization)
    return factors
