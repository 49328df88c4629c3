"""als_half_step with a precomputed YᵀY (``gram=``): the result of computing it inside, in every twin."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.kernels import BACKENDS, als_half_step


def _problem(dtype, seed=5, n_rows=37, n_other=23, f=5):
    rng = np.random.default_rng(seed)
    csr = sp.random(n_rows, n_other, density=0.2, format="csr", random_state=seed)
    csr.data = (1 + 3 * rng.random(csr.nnz))
    other = rng.standard_normal((n_other, f)).astype(dtype)
    start = (0.1 * rng.standard_normal((n_rows, f))).astype(dtype)
    return csr, other, start


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cg_steps", [0, 3])
def test_a_given_gram_gives_the_factors_computed_without_it(backend, dtype, cg_steps):
    csr, other, start = _problem(dtype)
    inside, given = start.copy(), start.copy()
    options = dict(regularization=0.3, cg_steps=cg_steps, n_threads=2, backend=backend)
    als_half_step(csr.indptr, csr.indices, csr.data, other, inside, **options)
    als_half_step(csr.indptr, csr.indices, csr.data, other, given, gram=other.T @ other, **options)
    np.testing.assert_array_equal(given, inside)


def test_the_gram_is_the_one_used():
    csr, other, start = _problem(np.float64)
    scaled, plain = start.copy(), start.copy()
    als_half_step(csr.indptr, csr.indices, csr.data, other, plain, regularization=0.3)
    als_half_step(csr.indptr, csr.indices, csr.data, other, scaled, regularization=0.3, gram=4 * (other.T @ other))
    assert not np.allclose(scaled, plain)


@pytest.mark.parametrize("gram, error, match", [
    (np.eye(4), ValueError, r"'gram' must have shape \(5, 5\)"),
    (np.eye(5, dtype=np.float32), TypeError, "'gram' and 'factors' must have the same dtype"),
    (np.full((5, 5), np.nan), ValueError, "'gram' must be finite"),
])
def test_a_bad_gram_is_refused_by_name(gram, error, match):
    csr, other, start = _problem(np.float64)
    with pytest.raises(error, match=match):
        als_half_step(csr.indptr, csr.indices, csr.data, other, start, regularization=0.3, gram=gram)
