"""Every model passes the shared contract in fastcf.testing."""

import pytest

from fastcf.models import BPR, EASE, WARP, HybridMF, ImplicitALS, ItemKNN, Popularity, UserKNN
from fastcf.testing import check_recommender

MODELS = {
    "ImplicitALS-cg": lambda: ImplicitALS(factors=8, iterations=3, random_state=0),
    "ImplicitALS-cholesky": lambda: ImplicitALS(factors=8, iterations=3, solver="cholesky", random_state=0),
    "Popularity": lambda: Popularity(),
    "Popularity-values": lambda: Popularity(by="values"),
    "EASE": lambda: EASE(regularization=10.0),
    "EASE-float64-values": lambda: EASE(regularization=10.0, binarize=False, dtype="float64"),
    "ItemKNN": lambda: ItemKNN(k=20),
    "ItemKNN-bm25-normalized": lambda: ItemKNN(k=10, measure="bm25", normalize=True, exponent=2.0),
    "ItemKNN-asymmetric-float64": lambda: ItemKNN(k=15, measure="asymmetric_cosine", alpha=0.2, dtype="float64"),
    "UserKNN": lambda: UserKNN(k=20),
    "UserKNN-jaccard-binarized": lambda: UserKNN(k=20, measure="jaccard", binarize=True, shrinkage=5.0),
    # One thread: with more, Hogwild steps make two fits with one seed differ slightly.
    "BPR": lambda: BPR(factors=8, epochs=5, random_state=0, n_threads=1),
    "WARP": lambda: WARP(factors=8, epochs=5, random_state=0, n_threads=1),
    "HybridMF-bpr": lambda: HybridMF(factors=8, epochs=5, random_state=0, n_threads=1),
    "HybridMF-warp": lambda: HybridMF(factors=8, epochs=5, loss="warp", random_state=0, n_threads=1),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_contract(name):
    check_recommender(MODELS[name])
