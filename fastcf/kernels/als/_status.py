"""The error every ALS twin raises, after its parallel loop, for rows it could not solve."""

import numpy as np

#: Per-row status codes written by the twins (uint8): 0 solved.
SOLVED = 0
#: Cholesky: the factorisation met a pivot <= 0. CG: a search direction with p·Ap <= 0.
NOT_POSITIVE_DEFINITE = 1
#: The solve finished but gave inf or NaN (overflow on an ill-conditioned system).
NOT_FINITE = 2


def raise_failed_rows(owner: str, status: np.ndarray, regularization: float, cg_steps: int) -> None:
    """Raise ValueError naming how many rows failed and the first one; return if none did."""
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
    raise ValueError(
        f"{owner}: {solver} failed on {failed.size} of {status.size} row(s) (first: row {first}): "
        f"it {cause}. Raise 'regularization' (now {regularization!r}), or check 'confidence': "
        f"values below 1 subtract from YᵀY. Failed rows keep their previous factors."
    )
