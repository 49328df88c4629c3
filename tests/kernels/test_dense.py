"""The tiled SPD inverse behind EASE: against NumPy, the same bits at any thread count and tile size split."""

import numpy as np
import pytest

from fastcf.kernels._dense import NotPositiveDefinite, spd_inverse_in_place
from fastcf.kernels._threads import kernel_threads


def _spd(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + 3, n))
    return (x.T @ x + n * np.eye(n)).astype(dtype)


def _inverse(matrix, n_threads, block_size):
    out = matrix.copy()
    with kernel_threads(n_threads, "test") as n:
        spd_inverse_in_place(out, n, block_size)
    return out


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("n, block_size", [(1, 4), (4, 4), (5, 4), (9, 4), (64, 7), (403, 64), (130, 256)])
def test_equals_numpy_inverse(n, block_size, dtype, tolerance):
    matrix = _spd(n, dtype)
    inverse = _inverse(matrix, 2, block_size)
    expected = np.linalg.inv(matrix.astype(np.float64))
    assert inverse.dtype == dtype
    np.testing.assert_allclose(inverse, expected, rtol=0, atol=tolerance * np.abs(expected).max())
    assert np.array_equal(inverse, inverse.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_at_any_thread_count(dtype):
    matrix = _spd(403, dtype, seed=3)
    one = _inverse(matrix, 1, 64)
    for n_threads in (2, 3, 4):
        assert np.array_equal(_inverse(matrix, n_threads, 64), one)
    assert np.array_equal(_inverse(matrix, 2, 64), one)  # and on a second run


def test_reads_only_the_lower_triangle():
    matrix = _spd(50, np.float64)
    garbage = matrix.copy()
    garbage[np.triu_indices(50, 1)] = np.nan
    assert np.array_equal(_inverse(garbage, 2, 8), _inverse(matrix, 2, 8))


def test_empty_matrix():
    assert _inverse(np.zeros((0, 0)), 2, 4).shape == (0, 0)


@pytest.mark.parametrize("block_size", [3, 64])
def test_not_positive_definite_raises(block_size):
    matrix = _spd(20, np.float64)
    matrix[12, 12] = -1e6
    with pytest.raises(NotPositiveDefinite, match="not positive definite"):
        _inverse(matrix, 2, block_size)
    assert issubclass(NotPositiveDefinite, np.linalg.LinAlgError)
