"""Initial ALS factors depend on the seed and the global row only, never on how the rows are split."""

import numpy as np
import pytest

from fastcf.models._factor_init import INIT_SCALE, factor_seed, initial_factors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_block_of_rows_equals_that_slice_of_all_rows(dtype):
    full = initial_factors(11, 0, 0, 503, 7, dtype)
    assert full.shape == (503, 7) and full.dtype == dtype
    for start, stop in [(0, 1), (1, 2), (17, 250), (250, 503), (502, 503), (5, 5)]:
        np.testing.assert_array_equal(initial_factors(11, 0, start, stop, 7, dtype), full[start:stop])


def test_sides_and_seeds_give_different_streams_of_the_documented_scale():
    users, items, other = (initial_factors(s, side, 0, 4000, 16, np.float64) for s, side in ((3, 0), (3, 1), (4, 0)))
    assert not np.array_equal(users[:100], items[:100]) and not np.array_equal(users, other)
    assert users.std() == pytest.approx(INIT_SCALE, rel=0.02)
    assert abs(users.mean()) < 0.05 * INIT_SCALE
    assert np.abs(users).max() <= INIT_SCALE * np.sqrt(3)


def test_a_seed_of_none_is_fresh_entropy_and_an_int_is_kept():
    assert factor_seed(5) == 5
    assert factor_seed(None) != factor_seed(None)
