"""Every model passes the shared contract in fastcf.testing."""

import pytest

from fastcf.models import BPR, WARP, HybridMF, ImplicitALS
from fastcf.testing import check_recommender

MODELS = {
    "ImplicitALS-cg": lambda: ImplicitALS(factors=8, iterations=3, random_state=0),
    "ImplicitALS-cholesky": lambda: ImplicitALS(factors=8, iterations=3, solver="cholesky", random_state=0),
    # One thread: with more, Hogwild steps make two fits with one seed differ slightly.
    "BPR": lambda: BPR(factors=8, epochs=5, random_state=0, n_threads=1),
    "WARP": lambda: WARP(factors=8, epochs=5, random_state=0, n_threads=1),
    "HybridMF-bpr": lambda: HybridMF(factors=8, epochs=5, random_state=0, n_threads=1),
    "HybridMF-warp": lambda: HybridMF(factors=8, epochs=5, loss="warp", random_state=0, n_threads=1),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_contract(name):
    check_recommender(MODELS[name])
