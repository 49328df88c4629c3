"""Every public model passes the shared contract in fastcf.testing, taken from the model
registry (``Recommender._registry``), so that a new model cannot be left out. ``VARIANTS``
only adds settings worth their own run and small sizes; a model missing from it runs with
its defaults."""

import numpy as np
import pytest

import fastcf.models as models
from fastcf.models import (BPR, EASE, WARP, BaselineOnly, BiasedMF, ExplicitALS, HybridMF, ImplicitALS, ItemKNN,
                           KNNBaseline, KNNBasic, KNNWithMeans, Popularity, SVDpp, UserKNN)
from fastcf.models.base import Recommender
from fastcf.testing import check_recommender

VARIANTS = {
    "ImplicitALS-cg": lambda: ImplicitALS(factors=8, iterations=3, random_state=0),
    "ImplicitALS-cholesky": lambda: ImplicitALS(factors=8, iterations=3, solver="cholesky", random_state=0),
    "ImplicitALS-rendle": lambda: ImplicitALS(factors=8, iterations=3, solver="cholesky", regularization=0.003,
                                              regularization_exp=1.0, unobserved_weight=0.1, random_state=0),
    "ImplicitALS-subspace": lambda: ImplicitALS(factors=8, iterations=3, solver="subspace", block_size=3,
                                                random_state=0),
    "Popularity": lambda: Popularity(),
    "Popularity-values": lambda: Popularity(by="values"),
    "EASE": lambda: EASE(regularization=10.0),
    "EASE-float64-values": lambda: EASE(regularization=10.0, binarize=False, dtype="float64"),
    "ItemKNN": lambda: ItemKNN(k=20),
    "ItemKNN-bm25-normalized": lambda: ItemKNN(k=10, measure="bm25", normalize=True, exponent=2.0),
    "ItemKNN-asymmetric-float64": lambda: ItemKNN(k=15, measure="asymmetric_cosine", alpha=0.2, dtype="float64"),
    "UserKNN": lambda: UserKNN(k=20),
    "UserKNN-jaccard-binarized": lambda: UserKNN(k=20, measure="jaccard", binarize=True, shrinkage=5.0),
    # Two threads: the grid schedule gives one seed's bits at any thread count.
    "BPR": lambda: BPR(factors=8, epochs=5, random_state=0, n_threads=2),
    "WARP": lambda: WARP(factors=8, epochs=5, random_state=0, n_threads=2),
    "HybridMF-bpr": lambda: HybridMF(factors=8, epochs=5, random_state=0, n_threads=2),
    "HybridMF-warp": lambda: HybridMF(factors=8, epochs=5, loss="warp", random_state=0, n_threads=2),
    "BaselineOnly": lambda: BaselineOnly(),
    "BiasedMF": lambda: BiasedMF(factors=8, epochs=5, random_state=0),
    "BiasedMF-float64-numba": lambda: BiasedMF(factors=8, epochs=5, random_state=0, dtype=np.float64, backend="numba"),
    "SVDpp": lambda: SVDpp(factors=8, epochs=5, random_state=0),
    "ExplicitALS": lambda: ExplicitALS(factors=8, iterations=3, random_state=0),
    "KNNBasic": lambda: KNNBasic(k=10),
    "KNNWithMeans-cosine": lambda: KNNWithMeans(k=10, measure="cosine"),
    "KNNBaseline": lambda: KNNBaseline(k=10),
    "KNNBaseline-pruned": lambda: KNNBaseline(k=5, max_neighbours=20, min_k=2),
}


def _public_models():
    return sorted((cls for cls in Recommender._registry.values()
                   if cls.__module__.startswith("fastcf.models") and cls.__name__ in models.__all__
                   and cls._fit is not Recommender._fit), key=lambda cls: cls.__name__)


def _defaults(cls):
    def make():
        params = cls().get_params()
        return cls(**{k: v for k, v in (("random_state", 0), ("n_threads", 1)) if k in params})
    return make


def _runs():
    runs = dict(VARIANTS)
    for cls in _public_models():
        if not any(type(make()) is cls for make in VARIANTS.values()):
            runs[cls.__name__] = _defaults(cls)
    return runs


RUNS = _runs()


def test_every_public_model_has_a_run():
    covered = {type(make()).__name__ for make in RUNS.values()}
    assert covered == {cls.__name__ for cls in _public_models()}


@pytest.mark.parametrize("name", list(RUNS))
def test_model_contract(name):
    check_recommender(RUNS[name])
