"""Every model passes the shared contract in fastcf.testing."""

import pytest

from fastcf.models import ImplicitALS
from fastcf.testing import check_recommender

MODELS = {
    "ImplicitALS-cg": lambda: ImplicitALS(factors=8, iterations=3, random_state=0),
    "ImplicitALS-cholesky": lambda: ImplicitALS(factors=8, iterations=3, solver="cholesky", random_state=0),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_contract(name):
    check_recommender(MODELS[name])
