"""scikit-learn's estimator conventions for every registered model: get_params, set_params, clone.

The models are taken from ``Recommender._registry`` (every public class of fastcf.models with a
constructor of its own), so a new model is covered without editing this file.
"""

import inspect

import numpy as np
import pytest

import fastcf.models as models
from fastcf.data import synthetic
from fastcf.models import ImplicitALS, Recommender


def public_models():
    """Every registered fastcf model that is public in fastcf.models and has a constructor."""
    found = {cls for (module, name), cls in Recommender._registry.items()
             if module.startswith("fastcf.") and getattr(models, name, None) is cls
             and cls.__init__ is not object.__init__}
    return sorted(found, key=lambda cls: cls.__name__)


MODELS = public_models()


class Token:
    """A distinct parameter value that deep copies (as clone does) into an equal token."""

    def __init__(self, label):
        self.label = label

    def __eq__(self, other):
        return isinstance(other, Token) and other.label == self.label

    def __hash__(self):
        return hash(self.label)


def test_the_registry_holds_every_public_model():
    listed = {getattr(models, name) for name in models.__all__}
    concrete = {cls for cls in listed if isinstance(cls, type) and issubclass(cls, Recommender)
                and cls.__init__ is not object.__init__}
    assert concrete and concrete == set(MODELS)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_get_params_lists_the_constructor_parameters(cls):
    model = cls()
    names = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    shallow = model.get_params(deep=False)
    assert list(shallow) == names
    assert all(shallow[name] is getattr(model, name) for name in names)
    # No fastcf model holds another model as a parameter: deep adds nothing.
    assert model.get_params() == shallow and model.get_params(deep=True) == shallow
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.get_params: 'deep' must be True or False"):
        model.get_params(deep="yes")


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_set_params_round_trips_and_returns_the_model(cls):
    model = cls()
    defaults = model.get_params(deep=False)
    tokens = {name: Token(name) for name in defaults}
    assert model.set_params(**tokens) is model
    assert all(model.get_params(deep=False)[name] is token for name, token in tokens.items())
    assert model.set_params(**defaults).get_params(deep=False) == defaults
    assert model.set_params() is model


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_set_params_refuses_an_unknown_name_and_sets_nothing(cls):
    model = cls()
    before = model.get_params(deep=False)
    first = next(iter(before))
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.set_params: 'no_such_param' is not a parameter of "
                                         rf"{cls.__name__}; valid parameters: {', '.join(before)}\.$"):
        model.set_params(**{first: Token("changed"), "no_such_param": 1})
    assert model.get_params(deep=False) == before
    with pytest.raises(ValueError, match=rf"{first!r} holds .*no parameters of its own; got {first}__inner"):
        model.set_params(**{f"{first}__inner": 1})


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_clone_gives_an_unfitted_model_with_the_same_parameters(cls):
    base = pytest.importorskip("sklearn.base", reason="scikit-learn is not installed (it is in the test extra)")
    model = cls(**{name: Token(name) for name in cls().get_params(deep=False)})
    copy = base.clone(model)
    assert type(copy) is cls and copy is not model
    assert copy.get_params(deep=False) == model.get_params(deep=False)
    assert all(copy.get_params(deep=False)[name] is not value for name, value in model.get_params(deep=False).items())


def tiny():
    return synthetic(n_users=40, n_items=30, n_ratings=400, seed=1)


def test_clone_of_a_fitted_model_is_unfitted_and_fits_alike():
    base = pytest.importorskip("sklearn.base", reason="scikit-learn is not installed (it is in the test extra)")
    data = tiny()
    fitted = ImplicitALS(factors=4, iterations=2, random_state=3).fit(data)
    copy = base.clone(fitted)
    assert not hasattr(copy, "seen_") and not hasattr(copy, "user_factors_")
    np.testing.assert_array_equal(copy.fit(data).user_factors_, fitted.user_factors_)


def test_set_params_takes_effect_at_the_next_fit_which_checks_it():
    data = tiny()
    model = ImplicitALS(factors=2, iterations=1, random_state=0).fit(data)
    model.set_params(factors=5)
    assert model.user_factors_.shape[1] == 2  # the fitted state waits for fit
    assert model.fit(data).user_factors_.shape[1] == 5
    with pytest.raises(ValueError, match=r"ImplicitALS: 'factors' must be an int >= 1"):
        model.set_params(factors=0).fit(data)


@pytest.fixture
def nesting_model():
    """A model holding another as a parameter (as a user's ensemble might), unregistered afterwards."""

    class Blend(Recommender):
        def __init__(self, *, inner=None, weight=1.0):
            self.inner = inner
            self.weight = weight

    yield Blend
    Recommender._registry.pop((Blend.__module__, Blend.__qualname__), None)


def test_nested_parameters_are_named_with_double_underscores(nesting_model):
    blend = nesting_model(inner=ImplicitALS(factors=3), weight=0.5)
    deep = blend.get_params()
    assert deep["inner__factors"] == 3 and deep["weight"] == 0.5 and "inner__factors" not in blend.get_params(deep=False)
    assert blend.set_params(inner__factors=7, weight=2.0) is blend
    assert blend.inner.factors == 7 and blend.weight == 2.0
    # A nested name reaches the model set in the same call.
    blend.set_params(inner=ImplicitALS(factors=1), inner__alpha=9.0)
    assert (blend.inner.factors, blend.inner.alpha) == (1, 9.0)
    with pytest.raises(ValueError, match=r"ImplicitALS\.set_params: 'factorz' is not a parameter of ImplicitALS"):
        blend.set_params(inner__factorz=1)
    base = pytest.importorskip("sklearn.base", reason="scikit-learn is not installed (it is in the test extra)")
    copy = base.clone(blend)
    assert copy.inner is not blend.inner and copy.get_params() == {**blend.get_params(), "inner": copy.inner}
