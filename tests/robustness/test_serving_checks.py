"""Factor models check their factors once (fit, partial_fit, load), then recommend serves them
through the unchecked top-k core, without a per-call scan of the whole catalogue."""

from __future__ import annotations

import numpy as np
import pytest

import fastcf
from fastcf.exceptions import DataError, ModelFileError
from fastcf.models import ImplicitALS


@pytest.fixture
def fitted(ratings_matrix):
    return ImplicitALS(factors=3, iterations=2, random_state=0).fit(ratings_matrix)


def test_recommend_does_not_rescan_the_item_factors(fitted, monkeypatch):
    import fastcf.models.base as base

    scanned = []
    real = base.check_finite
    monkeypatch.setattr(base, "check_finite", lambda arr, name, owner, **kw: scanned.append(name) or real(arr, name, owner, **kw))
    expected = fitted.recommend(np.arange(5), 4)
    assert scanned == ["queries"]  # the 5 users' factors only
    monkeypatch.undo()
    import fastcf.kernels as K

    reference = K.select_topk_dot(fitted.user_factors_[:5], fitted.item_factors_, 4,
                                  exclude_indptr=fitted.seen_[:5].indptr, exclude_indices=fitted.seen_[:5].indices)
    np.testing.assert_array_equal(expected[0], reference[0])


def test_a_loaded_model_with_infinite_factors_is_refused(fitted, tmp_path):
    fitted.item_factors_[2, 1] = np.inf
    path = fitted.save(tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match=r"'item_factors_' must be finite; got inf at row 2, column 1"):
        fastcf.load(path)


def test_fit_refuses_factors_that_diverged(ratings_matrix, monkeypatch):
    import fastcf.models.implicit_als as module

    real = module.ImplicitALS._fit

    def diverged(self, matrix, **kwargs):
        real(self, matrix, **kwargs)
        self.user_factors_[0, 0] = np.nan

    monkeypatch.setattr(module.ImplicitALS, "_fit", diverged)
    with pytest.raises(DataError, match=r"ImplicitALS.fit: 'user_factors_' must be finite; got nan at row 0, column 0"):
        ImplicitALS(factors=3, iterations=1, random_state=0).fit(ratings_matrix)
