"""Callbacks of every iterative model: EvaluationCallback learning curves, early stops, failed fits."""

import numpy as np
import pytest

import fastcf.models as models
from fastcf.data import random_split, synthetic
from fastcf.evaluation import EvaluationCallback, evaluate
from fastcf.exceptions import NotFittedError


def iterative_models():
    """Every public model whose constructor takes a callback, with the name of its length parameter."""
    found = []
    for name in models.__all__:
        cls = getattr(models, name)
        params = cls().get_params(deep=False)
        if "callback" in params:
            found.append((cls, "iterations" if "iterations" in params else "epochs"))
    return found


ITERATIVE = iterative_models()
IDS = [cls.__name__ for cls, _ in ITERATIVE]


@pytest.fixture(scope="module")
def split():
    return random_split(synthetic(n_users=60, n_items=40, n_ratings=900, seed=2), 0.2, seed=0)


def make(cls, length_name, length, **params):
    quick = {"factors": 4, "random_state": 0, "n_threads": 1}
    names = cls().get_params(deep=False)
    return cls(**{name: value for name, value in quick.items() if name in names}, **{length_name: length}, **params)


def test_every_iterative_model_is_found():
    names = set(IDS)
    assert {"ImplicitALS", "BPR", "WARP", "HybridMF", "BiasedMF", "SVDpp", "ExplicitALS", "BaselineOnly"} <= names


@pytest.mark.parametrize(("cls", "length_name"), ITERATIVE, ids=IDS)
def test_evaluation_callback_records_every_iteration(cls, length_name, split):
    train, test = split
    callback = EvaluationCallback(train, test, 5, ["ndcg", "precision", "coverage"])
    model = make(cls, length_name, 3, callback=callback).fit(train)
    assert [row["iteration"] for row in callback.history] == [1, 2, 3]
    values = np.array([[row[m] for m in ("ndcg", "precision", "coverage")] for row in callback.history])
    assert np.isfinite(values).all() and (values > 0).all()
    assert all(row["loss"] is None or np.isfinite(row["loss"]) for row in callback.history)
    # The last row measured the final model: the same figures as evaluate after the fit.
    final = evaluate(model, train, test, 5, metrics=["ndcg", "precision", "coverage"])
    assert callback.history[-1]["ndcg"] == pytest.approx(final["ndcg"], rel=1e-6)
    assert callback.history[-1]["precision"] == pytest.approx(final["precision"], rel=1e-6)
    assert callback.to_frame().index.tolist() == [1, 2, 3]


@pytest.mark.parametrize(("cls", "length_name"), ITERATIVE, ids=IDS)
def test_a_callback_returning_false_stops_the_fit(cls, length_name, split):
    train, _ = split
    calls = []

    def stop_after_two(iteration, model, loss):
        calls.append(iteration)
        model.recommend(train.users.raw_ids[0], 3)  # the model serves inside the callback
        return False if iteration == 2 else None

    model = make(cls, length_name, 6, callback=stop_after_two).fit(train)
    assert calls == [1, 2]
    if getattr(model, "loss_history_", None):  # ImplicitALS keeps losses with track_loss only, BaselineOnly none
        assert len(model.loss_history_) == 2
    assert model.recommend(train.users.raw_ids[0], 3)[0].shape == (3,)


@pytest.mark.parametrize(("cls", "length_name"), ITERATIVE, ids=IDS)
def test_a_fit_that_raises_leaves_the_fitted_state_as_it_was(cls, length_name, split):
    train, _ = split

    def fail_in_the_second(iteration, model, loss):
        if iteration == 2:
            raise RuntimeError("stop here")

    fresh = make(cls, length_name, 3, callback=fail_in_the_second)
    with pytest.raises(RuntimeError, match="stop here"):
        fresh.fit(train)
    with pytest.raises(NotFittedError):
        fresh.recommend(train.users.raw_ids[0], 3)
    fitted = make(cls, length_name, 2).fit(train)
    before = {name: value for name, value in vars(fitted).items() if name.endswith("_")}
    fitted.set_params(callback=fail_in_the_second, **{length_name: 3})
    with pytest.raises(RuntimeError, match="stop here"):
        fitted.fit(train)
    after = {name: value for name, value in vars(fitted).items() if name.endswith("_")}
    assert after.keys() == before.keys() and all(after[name] is before[name] for name in before)
