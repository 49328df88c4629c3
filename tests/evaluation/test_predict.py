"""evaluate's RMSE and MAE are those of ``predict``, and ``predict`` of one pair is a number, for every model."""

import numpy as np
import pytest

import fastcf.models as models
from fastcf.data import random_split, synthetic
from fastcf.evaluation import evaluate
from fastcf.models import Recommender
from fastcf.models.baseline import RatingPredictor


def public_models():
    return [getattr(models, name) for name in models.__all__
            if issubclass(getattr(models, name), Recommender) and getattr(models, name).__init__ is not object.__init__]


def small(cls, **params):
    """A quick model: few factors and iterations where it has them; a narrow rating scale for
    the explicit models, so that clipping changes many predictions."""
    names = cls().get_params(deep=False)
    chosen = {"factors": 4, "iterations": 3, "epochs": 3, "random_state": 0, "n_threads": 1, "k": 10,
              "rating_scale": (3.0, 3.8)}
    return cls(**{name: value for name, value in chosen.items() if name in names}, **params)


@pytest.fixture(scope="module")
def split():
    return random_split(synthetic(n_users=60, n_items=40, n_ratings=900, seed=5), 0.25, seed=0)


def pairs_of(split):
    test = split[1]
    coo = test.matrix.tocoo()
    return test.users.to_raw(coo.row), test.items.to_raw(coo.col), coo.data.astype(np.float64)


@pytest.mark.parametrize("cls", public_models(), ids=lambda cls: cls.__name__)
def test_evaluate_rmse_is_that_of_predict(cls, split):
    train, test = split
    model = small(cls).fit(train)
    users, items, truth = pairs_of(split)
    predicted = np.asarray(model.predict(users, items), dtype=np.float64)
    result = evaluate(model, train, test, metrics=["rmse", "mae"])
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean((truth - predicted) ** 2)), rel=1e-12, abs=0)
    assert result["mae"] == pytest.approx(np.mean(np.abs(truth - predicted)), rel=1e-12, abs=0)
    if issubclass(cls, RatingPredictor):
        unclipped = model.predict(users, items, clip=False)
        assert (unclipped != predicted).any()  # the narrow scale clips
        assert result["rmse"] != pytest.approx(np.sqrt(np.mean((truth - unclipped) ** 2)), rel=1e-9)


@pytest.mark.parametrize("cls", public_models(), ids=lambda cls: cls.__name__)
def test_predict_of_one_pair_is_a_number(cls, split):
    train, _ = split
    model = small(cls).fit(train)
    user, item = train.users.raw_ids[3], train.items.raw_ids[7]
    one = model.predict(user, item)
    assert np.ndim(one) == 0 and isinstance(one, (float, np.floating))
    batch = model.predict(np.array([user]), np.array([item]))
    assert batch.shape == (1,) and float(batch[0]) == float(one)
    if issubclass(cls, RatingPredictor):
        value, fallback = model.predict(user, item, return_fallback=True)
        assert np.ndim(value) == 0 and float(value) == float(one) and isinstance(fallback, (bool, np.bool_))
