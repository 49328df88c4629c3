"""ALS half-steps (implicit feedback; explicit ratings with biases) and the implicit loss: the public
entry points and their checks.

Twins: ``reference.py`` (the specification, with the math), ``_numba.py``, ``_cython.pyx``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from fastcf import _validation
from fastcf.kernels import _backend
from fastcf.kernels._threads import kernel_threads

__all__ = ["als_explicit_half_step", "als_half_step", "als_loss", "als_subspace_half_step"]


def als_half_step(
    indptr: ArrayLike,
    indices: ArrayLike,
    confidence: ArrayLike,
    other_factors: ArrayLike,
    factors: np.ndarray,
    *,
    regularization: float,
    row_regularization: Optional[ArrayLike] = None,
    cg_steps: int = 0,
    gram: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> np.ndarray:
    """One ALS half-step: new factors for every row of a CSR with the other side's factors fixed.

    Row u's factors x_u solve (Hu, Koren & Volinsky 2008)

        (YᵀY + Σ_{i∈u} (c_ui − 1) y_i y_iᵀ + (λ + λ_u) I) x_u = Σ_{i∈u} c_ui y_i,

    where the sums run over row u's stored entries (a duplicated index counts twice), c_ui is
    their confidence, Y is ``other_factors``, λ is ``regularization`` and λ_u is
    ``row_regularization[u]`` (0 without it). Unstored pairs have
    confidence 1 and preference 0. Give the user x item CSR to update the users and its
    transpose (item x user, e.g. ``csr.T.tocsr()``) to update the items. A row with no entries
    gets x_u = 0. Each row is solved on its own, so the result does not depend on
    ``n_threads``.

    Parameters
    ----------
    indptr, indices : int arrays of shape (n_rows + 1,) and (nnz,)
        The CSR structure; row u's entries are ``indices[indptr[u]:indptr[u + 1]]``, each in
        [0, n_other). Unsorted and duplicate indices are allowed.
    confidence : array of shape (nnz,)
        c_ui of each stored entry, finite (e.g. 1 + alpha * rating); cast to the factors'
        dtype. Values below 1 subtract from YᵀY and can make a system indefinite.
    other_factors : array of shape (n_other, f), float32 or float64
        Y, read only; same dtype as ``factors`` (a non-contiguous array is copied).
    factors : ndarray of shape (n_rows, f), float32 or float64, C-contiguous and writable
        X, updated in place. With ``cg_steps > 0`` its rows are the warm start and must be
        finite; with ``cg_steps == 0`` its values are not read.
    regularization : float >= 0
        λ, keyword only.
    row_regularization : array of shape (n_rows,), optional
        λ_u of each row, finite and >= 0, added to λ (e.g. the frequency-scaled
        λ (n_u + α0 n_other)^ν of Rendle et al. 2021, see
        ``fastcf.models.implicit_als.frequency_regularization``); cast to the factors' dtype.
        None (default): λ alone, the same result to the bit as before it existed.
    cg_steps : int >= 0
        0 (default): exact solve by Cholesky factorisation, O(n_u f² + f³) per row.
        k > 0: k conjugate-gradient steps warm-started from the current factors (Takács et
        al. 2011), O(k (n_u f + f²)) per row; stops early once the residual's squared norm
        is below 1e-20.
    gram : ndarray of shape (f, f), optional
        YᵀY, i.e. ``other_factors.T @ other_factors``, in the factors' dtype, computed once by
        a caller that solves the rows in blocks (``fastcf.distributed``): each call would
        otherwise spend O(n_other f²) on it. Not checked against ``other_factors``; computed
        here when omitted.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at the number of rows.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    factors : ndarray of shape (n_rows, f)
        The array passed as ``factors``, updated.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument: dtypes that differ or are not float,
        shapes that do not fit, a malformed CSR, non-finite values, ``factors`` not
        C-contiguous or not writable.
    ValueError
        After all rows are done, if some rows' systems are not positive definite (possible
        with a small ``regularization`` and confidences below 1): names how many rows
        failed and the first one; those rows keep their previous values.
    """
    owner = "als_half_step"
    cg_steps = _validation.check_positive_int(cg_steps, "cg_steps", owner, minimum=0)
    indptr, indices, confidence, other_factors, factors, regularization = _checked_half_step_inputs(
        indptr, indices, confidence, other_factors, factors, regularization, owner
    )
    row_regularization = _row_penalties(row_regularization, factors, owner)
    if cg_steps:
        _validation.check_finite(factors, "factors (the conjugate-gradient warm start)", owner)
    if gram is not None:
        gram = _gram(gram, factors, owner)
    return als_half_step_unchecked(indptr, indices, confidence, other_factors, factors, regularization, cg_steps,
                                   gram, n_threads, backend, row_regularization)


def als_half_step_unchecked(indptr, indices, confidence, other_factors, factors, regularization, cg_steps=0,
                            gram=None, n_threads=None, backend=None, row_regularization=None) -> np.ndarray:
    """:func:`als_half_step` without its checks, for a caller that checked its arrays once
    (a model in its iteration loop, after one checked call on the same arrays).

    The arrays must be what the checked call leaves: indptr and indices of one int32/int64
    dtype with a valid structure, confidence, factors and other_factors finite, C-contiguous,
    of one float dtype, ``row_regularization`` None or n_rows finite values >= 0 (cast here
    to the factors' dtype); anything else reads out of bounds or gives garbage, without an error.
    """
    twin = _backend.twin("als", backend)
    row_regularization = _twin_penalties(row_regularization, factors.dtype)
    with kernel_threads(n_threads, "als_half_step", n_tasks=factors.shape[0]) as n:
        twin.als_half_step(indptr, indices, confidence, other_factors, factors, regularization, row_regularization,
                           cg_steps, gram, n)
    return factors


def als_explicit_half_step(
    indptr: ArrayLike,
    indices: ArrayLike,
    ratings: ArrayLike,
    other_factors: ArrayLike,
    other_bias: ArrayLike,
    factors: np.ndarray,
    bias: np.ndarray,
    *,
    global_mean: float,
    reg_factors: float,
    reg_bias: float,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """One explicit-rating ALS half-step: every row's bias and factors with the other side's fixed.

    Biased ALS with weighted-λ regularisation (Zhou, Wilkinson, Schreiber & Pan 2008): row u's
    bias b_u and factors x_u minimise, over the row's stored ratings only,

        Σ_{j∈u} (r_uj − μ − c_j − b_u − x_uᵀ y_j)² + n_u (λ_b b_u² + λ_f ‖x_u‖²),

    one exact (f + 1)-dimensional ridge solve per row (Cholesky), where n_u is the row's number
    of entries (a duplicated index counts twice), Y is ``other_factors``, c is ``other_bias`` and
    μ is ``global_mean``. Give the user x item CSR of ratings to update the users and its
    transpose to update the items. A row with no entries gets b_u = 0 and x_u = 0. Each row is
    solved on its own, so the result does not depend on ``n_threads``.

    Parameters
    ----------
    indptr, indices : int arrays of shape (n_rows + 1,) and (nnz,)
        The CSR structure, as for ``als_half_step``. Unsorted and duplicate indices are allowed.
    ratings : array of shape (nnz,)
        r_uj of each stored entry, finite; cast to the factors' dtype.
    other_factors : array of shape (n_other, f), float32 or float64
        Y, read only; same dtype as ``factors``.
    other_bias : array of shape (n_other,)
        c, read only, finite; cast to the factors' dtype.
    factors : ndarray of shape (n_rows, f), float32 or float64, C-contiguous and writable
        X, overwritten (its values are not read).
    bias : ndarray of shape (n_rows,), same dtype, C-contiguous and writable
        b, overwritten (its values are not read).
    global_mean : float
        μ, keyword only.
    reg_factors, reg_bias : float >= 0
        λ_f and λ_b, keyword only; each is multiplied by the row's number of entries.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at the number of rows.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    (factors, bias) : ndarrays of shape (n_rows, f) and (n_rows,)
        The arrays passed in, updated.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument.
    ValueError
        After all rows are done, if some rows' systems are not positive definite (possible
        only with a penalty of 0): names how many rows failed and the first one; those rows
        keep their previous values.
    """
    owner = "als_explicit_half_step"
    factors = _writable_factors(factors, "factors", owner)
    other_factors = _factors_like(other_factors, "other_factors", factors, "factors", owner)
    bias = _writable_bias(bias, factors, owner)
    global_mean = _validation.check_number(global_mean, "global_mean", owner, None)
    reg_factors = _validation.check_number(reg_factors, "reg_factors", owner)
    reg_bias = _validation.check_number(reg_bias, "reg_bias", owner)
    indptr, indices, ratings = _csr(
        indptr, indices, ratings, factors.shape[0], other_factors.shape[0], factors.dtype, owner, "ratings"
    )
    other_bias = _values(other_bias, "other_bias", other_factors.shape[0], "row of 'other_factors' ({n})",
                         factors.dtype, owner)
    arrays = {"factors": factors, "bias": bias, "other_factors": other_factors, "other_bias": other_bias}
    for written in ("factors", "bias"):
        for other in arrays:
            if other != written and np.may_share_memory(arrays[written], arrays[other]):
                raise ValueError(
                    f"{owner}: '{written}' and '{other}' must not share memory: '{written}' is written "
                    f"while '{other}' is used. Pass a copy of one of them."
                )
    _validation.check_finite(other_factors, "other_factors", owner)
    twin = _backend.twin("als", backend)
    with kernel_threads(n_threads, owner, n_tasks=factors.shape[0]) as n:
        twin.als_explicit_half_step(indptr, indices, ratings, other_factors, other_bias, factors, bias,
                                    global_mean, reg_factors, reg_bias, n)
    return factors, bias


def als_loss(
    indptr: ArrayLike,
    indices: ArrayLike,
    confidence: ArrayLike,
    user_factors: ArrayLike,
    item_factors: ArrayLike,
    *,
    regularization: float,
    user_regularization: Optional[ArrayLike] = None,
    item_regularization: Optional[ArrayLike] = None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> float:
    """The implicit-ALS objective over all user–item pairs, without the dense matrix.

        Σ_u Σ_i c_ui (p_ui − x_uᵀ y_i)² + λ (‖X‖²_F + ‖Y‖²_F) + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²

    with p_ui = 1 and c_ui = ``confidence`` for stored entries, p_ui = 0 and c_ui = 1 for all
    other pairs. Accumulated in float64; the per-row sums are added in a fixed order, so the
    result does not depend on ``n_threads``. Exact ALS half-steps never increase it.

    Parameters
    ----------
    indptr, indices, confidence : arrays of shape (n_users + 1,), (nnz,), (nnz,)
        The user x item CSR (rows match ``user_factors``), as for ``als_half_step``.
    user_factors : array of shape (n_users, f), float32 or float64
        X.
    item_factors : array of shape (n_items, f), same dtype
        Y.
    regularization : float >= 0
        λ, keyword only.
    user_regularization, item_regularization : arrays of shape (n_users,) and (n_items,), optional
        λ_u and λ_i, finite and >= 0: the ``row_regularization`` of the users' and the items'
        half-steps (None: 0). Used in float64.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at the number of rows.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    loss : float

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument.
    """
    owner = "als_loss"
    user_factors = _factors_like(user_factors, "user_factors", None, None, owner)
    item_factors = _factors_like(item_factors, "item_factors", user_factors, "user_factors", owner)
    regularization = _validation.check_number(regularization, "regularization", owner)
    indptr, indices, confidence = _csr(
        indptr, indices, confidence, user_factors.shape[0], item_factors.shape[0],
        user_factors.dtype, owner,
    )
    user_regularization = _penalties(user_regularization, "user_regularization", user_factors.shape[0],
                                     "row of 'user_factors' ({n})", np.float64, owner)
    item_regularization = _penalties(item_regularization, "item_regularization", item_factors.shape[0],
                                     "row of 'item_factors' ({n})", np.float64, owner)
    _validation.check_finite(user_factors, "user_factors", owner)
    _validation.check_finite(item_factors, "item_factors", owner)
    return als_loss_unchecked(indptr, indices, confidence, user_factors, item_factors, regularization, n_threads,
                              backend, user_regularization, item_regularization)


def als_loss_unchecked(indptr, indices, confidence, user_factors, item_factors, regularization, n_threads=None,
                       backend=None, user_regularization=None, item_regularization=None) -> float:
    """:func:`als_loss` without its checks; the arrays as :func:`als_half_step_unchecked` needs them."""
    twin = _backend.twin("als", backend)
    user_regularization = _twin_penalties(user_regularization, np.float64)
    item_regularization = _twin_penalties(item_regularization, np.float64)
    with kernel_threads(n_threads, "als_loss", n_tasks=user_factors.shape[0]) as n:
        return float(twin.als_loss(indptr, indices, confidence, user_factors, item_factors, regularization,
                                   user_regularization, item_regularization, n))


# --- checks -----------------------------------------------------------------------------

def _check_factor_matrix(arr: np.ndarray, name: str, owner: str) -> None:
    """2-D, float32 or float64 in the machine's byte order, at least one column."""
    if arr.ndim != 2:
        raise ValueError(
            f"{owner}: '{name}' must be a 2-D array (rows x factors); got {arr.ndim}-D with shape {arr.shape}."
        )
    if arr.dtype.newbyteorder("=") not in _validation.FLOAT_DTYPES:
        raise TypeError(f"{owner}: '{name}' must hold float32 or float64 numbers; got dtype {arr.dtype}.")
    if not arr.dtype.isnative:
        raise ValueError(
            f"{owner}: '{name}' must be in the machine's byte order; got dtype {arr.dtype.str}. "
            f"Convert it with {name}.astype({name}.dtype.newbyteorder('='))."
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{owner}: '{name}' must have at least one column (factor); got shape {arr.shape}.")


def _writable_factors(factors, name: str, owner: str) -> np.ndarray:
    """The array updated in place: never copied, so everything about it must already be right."""
    if not isinstance(factors, np.ndarray):
        raise TypeError(
            f"{owner}: '{name}' must be a NumPy array (it is updated in place); got {type(factors).__name__}."
        )
    _check_factor_matrix(factors, name, owner)
    if not factors.flags.c_contiguous:
        raise ValueError(
            f"{owner}: '{name}' must be C-contiguous, since it is updated in place; got a "
            f"non-contiguous array of shape {factors.shape}. Pass np.ascontiguousarray({name}) "
            f"and keep the array returned."
        )
    if not factors.flags.writeable:
        raise ValueError(f"{owner}: '{name}' must be writable, since it is updated in place; it is read-only.")
    return factors


def _writable_bias(bias, factors: np.ndarray, owner: str) -> np.ndarray:
    """The bias vector updated in place: 1-D, one per row of ``factors``, same dtype, contiguous, writable."""
    if not isinstance(bias, np.ndarray):
        raise TypeError(f"{owner}: 'bias' must be a NumPy array (it is updated in place); got {type(bias).__name__}.")
    if bias.ndim != 1 or bias.shape[0] != factors.shape[0]:
        raise ValueError(
            f"{owner}: 'bias' must be a 1-D array with one value per row of 'factors' ({factors.shape[0]}); "
            f"got shape {bias.shape}."
        )
    if bias.dtype != factors.dtype:
        raise TypeError(
            f"{owner}: 'bias' and 'factors' must have the same dtype; got {bias.dtype} and {factors.dtype}."
        )
    if not bias.flags.c_contiguous or not bias.flags.writeable:
        raise ValueError(
            f"{owner}: 'bias' must be C-contiguous and writable, since it is updated in place; "
            f"pass np.ascontiguousarray(bias) and keep the array returned."
        )
    return bias


def _factors_like(arr, name: str, like: Optional[np.ndarray], like_name: Optional[str], owner: str) -> np.ndarray:
    """A read-only C-contiguous float matrix matching ``like``'s dtype and width.

    Copied only if it is not contiguous or not in the machine's byte order.
    """
    arr = np.asarray(arr)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    _check_factor_matrix(arr, name, owner)
    if like is not None:
        if arr.dtype != like.dtype:
            raise TypeError(
                f"{owner}: '{name}' and '{like_name}' must have the same dtype; got {arr.dtype} and "
                f"{like.dtype}. Convert one of them (e.g. {name}.astype(np.{like.dtype}))."
            )
        if arr.shape[1] != like.shape[1]:
            raise ValueError(
                f"{owner}: '{name}' and '{like_name}' must have the same number of columns (factors); "
                f"got shapes {arr.shape} and {like.shape}."
            )
    return np.ascontiguousarray(arr)


def _gram(gram, factors: np.ndarray, owner: str) -> np.ndarray:
    """A given YᵀY: (f, f), the factors' dtype, finite, C-contiguous (copied if not)."""
    gram = np.asarray(gram)
    f = factors.shape[1]
    if gram.shape != (f, f):
        raise ValueError(f"{owner}: 'gram' must have shape ({f}, {f}) (factors x factors); got {gram.shape}.")
    if gram.dtype != factors.dtype:
        raise TypeError(
            f"{owner}: 'gram' and 'factors' must have the same dtype; got {gram.dtype} and {factors.dtype}."
        )
    _validation.check_finite(gram, "gram", owner)
    return np.ascontiguousarray(gram)


def _csr(indptr, indices, values, n_rows: int, n_cols: int, dtype, owner: str, values_name: str = "confidence"):
    """The checked CSR: (indptr, indices) in one index dtype, the values in ``dtype``."""
    indptr, indices = _validation.as_csr_structure(indptr, indices, n_rows, n_cols, ("indptr", "indices"), owner)
    values = _values(values, values_name, indices.shape[0], "stored entry (len('indices') = {n})", dtype, owner)
    return indptr, indices, values


def _penalties(values, name: str, n: int, per: str, dtype, owner: str) -> Optional[np.ndarray]:
    """None, or a per-row λ: n finite values >= 0, as a contiguous array of ``dtype``."""
    if values is None:
        return None
    values = _values(values, name, n, per, dtype, owner)
    if values.size and not values.min() >= 0:
        position = int(np.argmin(values))
        raise ValueError(_validation.message(owner, name, "made of values >= 0 (a penalty per row)",
                                             f"{values[position]} at position {position}"))
    return values


def _twin_penalties(values, dtype) -> np.ndarray:
    """What the twins take for a per-row λ: a contiguous array of ``dtype``, of shape (0,) for none
    (plain arrays of one type, which Numba compiles once, rather than an Optional)."""
    if values is None:
        return np.zeros(0, dtype=dtype)
    return np.ascontiguousarray(values, dtype=dtype)


def _values(values, name: str, n: int, per: str, dtype, owner: str) -> np.ndarray:
    """A finite 1-D array of n real numbers, as a contiguous array of ``dtype`` (copied if needed)."""
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(
            f"{owner}: '{name}' must be a 1-D array with one value per {per.format(n=n)}; got shape {values.shape}."
        )
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: '{name}' must hold real numbers; got dtype {values.dtype}.")
    _validation.check_finite(values, name, owner)
    with np.errstate(over="ignore"):  # checked just below, with a clearer message
        cast = np.ascontiguousarray(values, dtype=dtype)
    if cast is not values and not np.isfinite(cast).all():
        position = int(np.flatnonzero(~np.isfinite(cast))[0])
        raise ValueError(
            f"{owner}: '{name}' holds {values[position]} at position {position}, beyond the "
            f"range of {dtype}, the factors' dtype."
        )
    return cast


# --- iALS++: block coordinate descent over subspaces ------------------------------------------

def als_subspace_half_step(
    indptr: ArrayLike,
    indices: ArrayLike,
    confidence: ArrayLike,
    other_factors: ArrayLike,
    factors: np.ndarray,
    *,
    regularization: float,
    block_size: int,
    row_regularization: Optional[ArrayLike] = None,
    sweeps: int = 1,
    gram: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
    backend: Optional[str] = None,
) -> np.ndarray:
    """One iALS++ half-step: every row's factors by block coordinate descent from the current ones.

    Row u minimises the same objective as in :func:`als_half_step`, with λ_u = ``regularization``
    + ``row_regularization[u]``, but over ``block_size`` consecutive dimensions at a time, the
    others fixed (Rendle, Krichene, Zhang & Koren 2021, "iALS++: Speeding up Matrix
    Factorization with Subspace Optimization"). Each block's step is its exact minimiser, the
    solution of a block_size x block_size system

        (YᵀY + λ_u I + Σ_{i∈u} (c_ui − 1) y_i y_iᵀ)_BB δ = Σ_{i∈u} (c_ui − (c_ui − 1) s_ui) y_iB − ((YᵀY + λ_u I) x_u)_B,

    x_uB += δ, and the row's predictions s_ui = x_u · y_i are updated (s_ui += y_iB · δ), so the
    next block sees them without a pass over all f dimensions. One sweep takes every block in
    order (the last one shorter when ``block_size`` does not divide f); ``sweeps`` sweeps per
    row. A sweep costs O(n_u f b + f² + f b²) per row with b = ``block_size``, against
    O(n_u f² + f³) for an exact solve, and never increases the objective. With
    ``block_size >= f`` one step is the exact solve (:func:`als_half_step` with ``cg_steps=0``,
    up to rounding). A row with no entries gets x_u = 0. Each row is solved on its own, so the
    result does not depend on ``n_threads``.

    Parameters
    ----------
    indptr, indices, confidence, other_factors
        As for :func:`als_half_step`.
    factors : ndarray of shape (n_rows, f), float32 or float64, C-contiguous and writable
        X: its rows are the warm start (they must be finite) and are updated in place.
    regularization : float >= 0
        λ, keyword only.
    block_size : int >= 1
        b, the dimensions per block, keyword only; values above f mean f.
    row_regularization : array of shape (n_rows,), optional
        Added to λ row by row (finite, >= 0; cast to the factors' dtype); default none.
    sweeps : int >= 1
        Passes over all blocks per row (default 1, the paper's epoch).
    gram : ndarray of shape (f, f), optional
        YᵀY, as for :func:`als_half_step`.
    n_threads : int >= 1, optional
        Threads for this call; default ``fastcf.get_num_threads()``. Capped at the usable
        cores and at the number of rows.
    backend : {"auto", "cython", "numba", "reference"}, optional
        Which twin runs; default ``FASTCF_BACKEND`` or "auto". A named backend is required.

    Returns
    -------
    factors : ndarray of shape (n_rows, f)
        The array passed as ``factors``, updated.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, each error naming the argument (as for :func:`als_half_step`).
    ValueError
        After all rows are done, if some block's system is not positive definite (possible
        with a small λ_u and confidences below 1): names how many rows failed and the first
        one; those rows keep their previous values. The blocks are diagonal blocks of the
        row's normal equations, so a failed block means those are not positive definite
        either; the converse need not hold.
    """
    owner = "als_subspace_half_step"
    block_size = _validation.check_positive_int(block_size, "block_size", owner)
    sweeps = _validation.check_positive_int(sweeps, "sweeps", owner)
    indptr, indices, confidence, other_factors, factors, regularization = _checked_half_step_inputs(
        indptr, indices, confidence, other_factors, factors, regularization, owner
    )
    _validation.check_finite(factors, "factors (the warm start)", owner)
    row_regularization = _row_penalties(row_regularization, factors, owner)
    if gram is not None:
        gram = _gram(gram, factors, owner)
    return als_subspace_half_step_unchecked(indptr, indices, confidence, other_factors, factors, regularization,
                                            block_size, sweeps, gram, n_threads, backend, row_regularization)


def als_subspace_half_step_unchecked(indptr, indices, confidence, other_factors, factors, regularization, block_size,
                                     sweeps=1, gram=None, n_threads=None, backend=None,
                                     row_regularization=None) -> np.ndarray:
    """:func:`als_subspace_half_step` without its checks; the arrays as :func:`als_half_step_unchecked`
    needs them, ``row_regularization`` None or a C-contiguous (n_rows,) array in the factors' dtype."""
    row_regularization = _twin_penalties(row_regularization, factors.dtype)
    twin = _backend.twin("als", backend)
    with kernel_threads(n_threads, "als_subspace_half_step", n_tasks=factors.shape[0]) as n:
        twin.als_subspace_half_step(indptr, indices, confidence, other_factors, factors, regularization,
                                    row_regularization, int(block_size), int(sweeps), gram, n)
    return factors


def _checked_half_step_inputs(indptr, indices, confidence, other_factors, factors, regularization, owner: str):
    """The arrays and λ of an implicit half-step, checked as ``als_half_step`` checks them
    (``factors`` itself not for finiteness: whether it is read depends on the solver)."""
    factors = _writable_factors(factors, "factors", owner)
    other_factors = _factors_like(other_factors, "other_factors", factors, "factors", owner)
    if np.may_share_memory(factors, other_factors):
        raise ValueError(
            f"{owner}: 'factors' and 'other_factors' must not share memory: 'factors' is written "
            f"while 'other_factors' is read. Pass a copy of one of them."
        )
    regularization = _validation.check_number(regularization, "regularization", owner)
    indptr, indices, confidence = _csr(
        indptr, indices, confidence, factors.shape[0], other_factors.shape[0], factors.dtype, owner
    )
    _validation.check_finite(other_factors, "other_factors", owner)
    return indptr, indices, confidence, other_factors, factors, regularization


def _row_penalties(values, factors: np.ndarray, owner: str) -> Optional[np.ndarray]:
    """A half-step's ``row_regularization``: None, or one value >= 0 per row of ``factors``."""
    return _penalties(values, "row_regularization", factors.shape[0], "row of 'factors' ({n})", factors.dtype, owner)
