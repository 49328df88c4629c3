"""Implicit-feedback ALS, the specification: plain NumPy that the Numba and Cython twins must match.

Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008;
conjugate gradient as in Takács, Pilászy & Tikk, "Applications of the conjugate gradient
method for implicit feedback collaborative filtering", RecSys 2011.

The rows of a CSR (indptr, indices, confidence) are the side being solved: users, or items
when given the transposed matrix. A stored entry (u, i) has confidence c_ui = ``confidence[p]``
and preference p_ui = 1; every pair that is not stored has c_ui = 1 and p_ui = 0. With the other
side's factors Y fixed, row u's factors x_u solve the normal equations

    A_u x_u = b_u,   A_u = YᵀY + Σ_{i∈u} (c_ui − 1) y_i y_iᵀ + (λ + λ_u) I,   b_u = Σ_{i∈u} c_ui y_i,

summing over the row's stored entries: a duplicated index counts as two entries. λ_u is the
row's own penalty (``row_regularization``; 0 without one), e.g. Rendle et al. 2021's
frequency-scaled λ (n_u + α0 n_other)^ν. A row with no entries gets x_u = 0, the solution of
A_u x_u = 0 (also when A_u is singular).

The objective these steps minimise, over all user–item pairs, is

    Σ_u Σ_i c_ui (p_ui − x_uᵀ y_i)² + λ (‖X‖²_F + ‖Y‖²_F) + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²,

computed without the dense matrix: Σ over all pairs of (x_uᵀ y_i)² = trace((XᵀX)(YᵀY)), and
each stored entry replaces its (x_uᵀ y_i)² by c_ui (1 − x_uᵀ y_i)².

Explicit ratings (``als_explicit_half_step``): biased ALS with weighted-λ regularisation, Zhou,
Wilkinson, Schreiber & Pan, "Large-scale Parallel Collaborative Filtering for the Netflix Prize",
AAIM 2008. Only the stored entries count. With the other side's factors Y and biases c fixed, row
u's bias b_u and factors x_u minimise

    Σ_{j∈u} (r_uj − μ − c_j − b_u − x_uᵀ y_j)² + n_u (λ_b b_u² + λ_f ‖x_u‖²),

n_u being the row's number of entries. Written with z_u = (x_u, b_u) and ỹ_j = (y_j, 1), that is
one (f + 1)-dimensional ridge system,

    (Σ_{j∈u} ỹ_j ỹ_jᵀ + n_u diag(λ_f, …, λ_f, λ_b)) z_u = Σ_{j∈u} (r_uj − μ − c_j) ỹ_j.

A row with no entries gets b_u = 0 and x_u = 0.
"""

import numpy as np

from fastcf.kernels.als._status import (
    NOT_FINITE,
    NOT_POSITIVE_DEFINITE,
    raise_failed_explicit_rows,
    raise_failed_rows,
)

__all__ = ["als_explicit_half_step", "als_half_step", "als_loss", "als_subspace_half_step"]

#: CG stops once r·r falls below this (also keeps rs_new / rs away from 0 / 0).
CG_TOLERANCE = 1e-20


def als_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization, cg_steps,
                  gram, n_threads):
    """Solve every row's normal equations with the other side fixed; updates ``factors`` in place.

    Parameters
    ----------
    indptr : ndarray of shape (n_rows + 1,), int32 or int64
    indices : ndarray of shape (nnz,), same dtype as indptr, values in [0, n_other)
    confidence : ndarray of shape (nnz,), dtype of the factors
    other_factors : ndarray of shape (n_other, f), float32 or float64, C-contiguous (Y, read)
    factors : ndarray of shape (n_rows, f), same dtype, C-contiguous (X, written)
        With ``cg_steps > 0`` its rows are the warm start.
    regularization : float >= 0 (λ)
    row_regularization : ndarray of shape (n_rows,) or (0,), dtype of the factors
        λ_u of each row, added to the diagonal after λ; shape (0,): none (λ alone, exactly as
        without the argument).
    cg_steps : int >= 0
        0: exact solve (Cholesky as the positive-definiteness test, then ``np.linalg.solve``).
        k > 0: k conjugate-gradient steps from the current row of ``factors``.
    gram : ndarray of shape (f, f), same dtype, or None
        YᵀY of ``other_factors`` computed by the caller (once for many calls on row blocks);
        None: computed here.
    n_threads : int
        Unused here (the reference is serial); present so that all twins share one signature.

    Returns
    -------
    factors : the array passed in, updated.

    Raises
    ------
    ValueError
        After all rows are done, if some could not be solved (see ``_status.raise_failed_rows``);
        those rows keep their previous values.
    """
    dtype = factors.dtype
    n_rows, f = factors.shape
    # Y is fixed during this half-step, so YᵀY (+ λI) is computed once.
    if gram is None:
        gram = other_factors.T @ other_factors
    gram = gram + dtype.type(regularization) * np.eye(f, dtype=dtype)
    per_row = row_regularization.shape[0] > 0
    status = np.zeros(n_rows, dtype=np.uint8)
    for u in range(n_rows):
        start, end = indptr[u], indptr[u + 1]
        if start == end:
            factors[u] = 0
            continue
        y_u = other_factors[indices[start:end]]  # (n_u, f)
        c_u = confidence[start:end]  # (n_u,)
        lam_u = row_regularization[u] if per_row else None
        if cg_steps == 0:
            x, status[u] = _solve_exactly(gram, y_u, c_u, lam_u)
        else:
            x, status[u] = _conjugate_gradient(gram, y_u, c_u, factors[u].copy(), cg_steps, lam_u)
        if status[u] == 0 and not np.isfinite(x).all():
            status[u] = NOT_FINITE
        if status[u] == 0:
            factors[u] = x
    raise_failed_rows("als_half_step", status, regularization, cg_steps, row_regularization=row_regularization)
    return factors


def _solve_exactly(gram, y_u, c_u, lam_u):
    """x solving A_u x = b_u, A_u built as the formula reads; (x, status).

    λ_u (None: none) goes onto the diagonal of YᵀY + λI before the entries' terms are added,
    the order in which the twins build A_u.
    """
    if lam_u is not None:
        gram = gram + lam_u * np.eye(gram.shape[0], dtype=gram.dtype)
    a = gram + y_u.T @ ((c_u - 1)[:, None] * y_u)
    b = y_u.T @ c_u
    try:
        np.linalg.cholesky(a)  # the twins solve by Cholesky, so they fail exactly where it does
    except np.linalg.LinAlgError:
        return None, NOT_POSITIVE_DEFINITE
    return np.linalg.solve(a, b), 0


def _conjugate_gradient(gram, y_u, c_u, x, cg_steps, lam_u):
    """``cg_steps`` CG steps on A_u x = b_u from x, never forming A_u; (x, status).

    A_u p = (YᵀY + λI) p + λ_u p + Y_uᵀ ((c_u − 1) ⊙ (Y_u p)) costs O(f² + n_u f) (the λ_u
    term only with a per-row λ: None here). The twins follow this order of updates exactly.
    """
    w_u = c_u - 1

    def times_gram(v):  # (YᵀY + λI) v + λ_u v
        out = gram @ v
        return out if lam_u is None else out + lam_u * v

    # r = b − A x = Y_uᵀ (c_u − (c_u − 1) ⊙ (Y_u x)) − ((YᵀY + λI) x + λ_u x)
    r = y_u.T @ (c_u - w_u * (y_u @ x)) - times_gram(x)
    p = r.copy()
    rs = r @ r
    for _ in range(cg_steps):
        if rs < CG_TOLERANCE:
            break
        ap = times_gram(p) + y_u.T @ (w_u * (y_u @ p))
        pap = p @ ap
        if not pap > 0:  # also catches NaN: A is not positive definite along p
            return x, NOT_POSITIVE_DEFINITE
        alpha = rs / pap
        x += alpha * p
        r -= alpha * ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, 0


def als_loss(indptr, indices, confidence, user_factors, item_factors, regularization, user_regularization,
             item_regularization, n_threads):
    """Σ_u Σ_i c_ui (p_ui − x_uᵀ y_i)² + λ(‖X‖²_F + ‖Y‖²_F) + Σ_u λ_u‖x_u‖² + Σ_i λ_i‖y_i‖²
    over all pairs, in float64.

    Parameters
    ----------
    indptr, indices, confidence : the user x item CSR (rows = users, as ``user_factors``)
    user_factors : ndarray of shape (n_users, f), float32 or float64 (X)
    item_factors : ndarray of shape (n_items, f), same dtype (Y)
    regularization : float >= 0 (λ)
    user_regularization, item_regularization : float64 ndarrays of shape (n_users,) and (n_items,)
        λ_u and λ_i; shape (0,): none.
    n_threads : int
        Unused here; present so that all twins share one signature.

    Returns
    -------
    loss : float
    """
    x = user_factors.astype(np.float64)
    y = item_factors.astype(np.float64)
    c = confidence.astype(np.float64)
    gram = y.T @ y
    rows = np.repeat(np.arange(x.shape[0]), np.diff(indptr))
    scores = np.einsum("pf,pf->p", x[rows], y[indices])  # x_uᵀ y_i of every stored entry
    # Every pair as if unstored, then each stored entry swaps (x_uᵀy_i)² for c (1 − x_uᵀy_i)².
    loss = np.einsum("uf,fg,ug->", x, gram, x)
    loss += np.sum(c * (1 - scores) ** 2 - scores**2)
    loss += regularization * (np.sum(x * x) + np.trace(gram))
    if user_regularization.shape[0]:
        loss += user_regularization @ np.einsum("uf,uf->u", x, x)
    return float(loss + item_penalty(y, item_regularization))


def item_penalty(y, item_regularization):
    """Σ_i λ_i ‖y_i‖² of float64 item factors (0.0 for no λ_i), outside any parallel loop: the
    loss's item term, the same in every twin and at every thread count."""
    if not item_regularization.shape[0]:
        return 0.0
    return float(item_regularization @ np.einsum("if,if->i", y, y))


def als_explicit_half_step(indptr, indices, ratings, other_factors, other_bias, factors, bias, global_mean,
                           reg_factors, reg_bias, n_threads):
    """Every row's exact weighted-λ ridge solve for (x_u, b_u); updates ``factors`` and ``bias`` in place.

    Parameters
    ----------
    indptr : ndarray of shape (n_rows + 1,), int32 or int64
    indices : ndarray of shape (nnz,), same dtype as indptr, values in [0, n_other)
    ratings : ndarray of shape (nnz,), dtype of the factors (r_uj)
    other_factors : ndarray of shape (n_other, f), float32 or float64, C-contiguous (Y, read)
    other_bias : ndarray of shape (n_other,), same dtype (c, read)
    factors : ndarray of shape (n_rows, f), same dtype, C-contiguous (X, written; not read)
    bias : ndarray of shape (n_rows,), same dtype (b, written; not read)
    global_mean : float (μ)
    reg_factors, reg_bias : float >= 0 (λ_f, λ_b)
    n_threads : int
        Unused here (the reference is serial); present so that all twins share one signature.

    Returns
    -------
    (factors, bias) : the arrays passed in, updated.

    Raises
    ------
    ValueError
        After all rows are done, if some systems are not positive definite (only possible with
        a penalty of 0); those rows keep their previous values.
    """
    dtype = factors.dtype
    n_rows, f = factors.shape
    penalty = np.append(np.full(f, reg_factors), reg_bias).astype(dtype)
    status = np.zeros(n_rows, dtype=np.uint8)
    for u in range(n_rows):
        start, end = indptr[u], indptr[u + 1]
        if start == end:
            factors[u], bias[u] = 0, 0
            continue
        items = indices[start:end]
        y_u = np.hstack([other_factors[items], np.ones((end - start, 1), dtype=dtype)])  # rows ỹ_j
        target = ratings[start:end] - dtype.type(global_mean) - other_bias[items]
        a = y_u.T @ y_u + np.diag(dtype.type(end - start) * penalty)
        try:
            np.linalg.cholesky(a)  # the twins solve by Cholesky, so they fail exactly where it does
        except np.linalg.LinAlgError:
            status[u] = NOT_POSITIVE_DEFINITE
            continue
        z = np.linalg.solve(a, y_u.T @ target)
        if not np.isfinite(z).all():
            status[u] = NOT_FINITE
            continue
        factors[u], bias[u] = z[:f], z[f]
    raise_failed_explicit_rows(status, reg_factors, reg_bias)
    return factors, bias


# --- iALS++: block coordinate descent over subspaces ----------------------------------------

def als_subspace_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization,
                           block_size, sweeps, gram, n_threads):
    """iALS++ (Rendle, Krichene, Zhang & Koren 2021): every row's factors by block coordinate
    descent from the current ones; updates ``factors`` in place.

    Row u minimises the half-step's objective, with λ_u = λ + ``row_regularization[u]``,

        L(x) = xᵀ(YᵀY + λ_u I) x + Σ_{i∈u} [c_ui (1 − s_i)² − s_i²],   s_i = x·y_i,

    (the Cholesky solver's minimiser) over one block B of ``block_size`` consecutive
    dimensions at a time, the others fixed; a last block is shorter when ``block_size`` does
    not divide f. Setting the gradient over x_B to zero gives, with G = YᵀY + λ_u I,

        (G_BB + Σ_{i∈u} (c_ui − 1) y_iB y_iBᵀ) x_B = −(G_B,: x − G_BB x_B) + Σ_{i∈u} [c_ui − (c_ui − 1) r_i] y_iB,

    r_i = s_i − y_iB·x_B the part of s_i the block does not change. Written for the step
    δ = x_B,new − x_B, the same system reads A_BB δ = g_B with the negative half-gradient

        g_B = Σ_{i∈u} [c_ui − (c_ui − 1) s_i] y_iB − (G x)_B,

    which is what the twins solve (A_BB by Cholesky): near convergence g_B is small, so δ
    carries the rounding of a small number rather than x_B that of a large one. Then
    x_B += δ and s_i += y_iB·δ, so every block sees the predictions of the blocks before it
    without recomputing x·y_i. One sweep takes every block in order; ``sweeps`` sweeps per
    row. With ``block_size >= f`` one step solves the whole row exactly (the Cholesky
    solver's result, up to rounding). Each step is the exact minimiser over its block, so L
    never increases.

    Parameters
    ----------
    indptr, indices, confidence, other_factors : as for ``als_half_step``
    factors : ndarray of shape (n_rows, f), same dtype, C-contiguous (X: the warm start, then the result)
    regularization : float >= 0 (λ)
    row_regularization : ndarray of shape (n_rows,) or (0,), the factors' dtype
        Added to λ per row; shape (0,): none.
    block_size : int >= 1
    sweeps : int >= 1
    gram : ndarray of shape (f, f), same dtype, or None (YᵀY; None: computed here)
    n_threads : int
        Unused here (the reference is serial); present so that all twins share one signature.

    Returns
    -------
    factors : the array passed in, updated.

    Raises
    ------
    ValueError
        After all rows are done, if some block's system was not positive definite (possible
        only with confidences below 1 and a small λ_u); those rows keep their previous values.
        (The blocks are diagonal blocks of A_u: one that fails means A_u is not positive definite.)
    """
    dtype = factors.dtype
    n_rows, f = factors.shape
    if gram is None:
        gram = other_factors.T @ other_factors
    gram = gram + dtype.type(regularization) * np.eye(f, dtype=dtype)
    blocks = [(k, min(k + block_size, f)) for k in range(0, f, block_size)]
    status = np.zeros(n_rows, dtype=np.uint8)
    for u in range(n_rows):
        start, end = indptr[u], indptr[u + 1]
        if start == end:
            factors[u] = 0
            continue
        penalty = dtype.type(row_regularization[u]) if row_regularization.size else dtype.type(0)
        y_u = other_factors[indices[start:end]]  # (n_u, f)
        c_u = confidence[start:end]
        x, status[u] = _subspace_row(gram, penalty, y_u, c_u, factors[u].copy(), blocks, sweeps)
        if status[u] == 0 and not np.isfinite(x).all():
            status[u] = NOT_FINITE
        if status[u] == 0:
            factors[u] = x
    raise_failed_rows("als_subspace_half_step", status, regularization, 0, row_regularization=row_regularization)
    return factors


def _subspace_row(gram, penalty, y_u, c_u, x, blocks, sweeps):
    """``sweeps`` sweeps of exact block steps on one row from x (updated in place); (x, status)."""
    w_u = c_u - 1
    s = y_u @ x  # the predictions of the row's entries, kept up to date below
    for _ in range(sweeps):
        for k, end in blocks:
            y_b = y_u[:, k:end]  # (n_u, b)
            a = gram[k:end, k:end] + penalty * np.eye(end - k, dtype=x.dtype) + y_b.T @ (w_u[:, None] * y_b)
            g = y_b.T @ (c_u - w_u * s) - gram[k:end] @ x - penalty * x[k:end]
            try:
                np.linalg.cholesky(a)  # the twins solve by Cholesky, so they fail exactly where it does
            except np.linalg.LinAlgError:
                return x, NOT_POSITIVE_DEFINITE
            step = np.linalg.solve(a, g)
            x[k:end] += step
            s += y_b @ step
    return x, 0
