"""The error every ALS twin raises, after its parallel loop, for rows it could not solve."""

import numpy as np

#: Per-row status codes written by the twins (uint8): 0 solved.
SOLVED = 0
#: Cholesky: the factorisation met a pivot <= 0. CG: a search direction with p·Ap <= 0.
NOT_POSITIVE_DEFINITE = 1
#: The solve finished but gave inf or NaN (overflow on an ill-conditioned system).
NOT_FINITE = 2


def raise_failed_rows(owner: str, status: np.ndarray, regularization: float, cg_steps: int,
                      advice: str = "", row_regularization=None) -> None:
    """Raise ValueError naming how many rows failed and the first one; return if none did.

    ``advice`` replaces the default hint (raise the penalty, check 'confidence'). With
    per-row penalties (``row_regularization``, non-empty) the hint gives the first failed
    row's whole penalty, since 'regularization' alone may be 0 there.
    """
    failed = np.flatnonzero(status)
    if failed.size == 0:
        return
    first = int(failed[0])
    solver = f"conjugate gradient ({cg_steps} steps)" if cg_steps else "the Cholesky solve"
    cause = (
        "gave a non-finite result"
        if status[first] == NOT_FINITE
        else "met normal equations that are not positive definite"
    )
    if not advice and row_regularization is not None and len(row_regularization):
        own = float(row_regularization[first])
        advice = (f"Row {first}'s penalty is {float(regularization) + own!r} ('regularization' {regularization!r} "
                  f"+ its 'row_regularization' {own!r}; in ImplicitALS both come from 'regularization' and "
                  f"'regularization_exp'): raise it, or check 'confidence': values below 1 subtract from YᵀY.")
    elif not advice:
        advice = (f"Raise 'regularization' (now {regularization!r}), or check 'confidence': "
                  f"values below 1 subtract from YᵀY.")
    raise ValueError(
        f"{owner}: {solver} failed on {failed.size} of {status.size} row(s) (first: row {first}): "
        f"it {cause}. {advice} Failed rows keep their previous factors."
    )


def raise_failed_explicit_rows(status: np.ndarray, reg_factors: float, reg_bias: float) -> None:
    """raise_failed_rows for ``als_explicit_half_step``, whose penalties are two."""
    raise_failed_rows(
        "als_explicit_half_step", status, reg_factors, 0,
        f"Raise 'reg_factors' (now {reg_factors!r}) and 'reg_bias' (now {reg_bias!r}): with both "
        f"above 0 every row's system is positive definite.",
    )
