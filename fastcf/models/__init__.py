"""Recommender models: thin estimators over the kernels, one file per model."""

from fastcf.models.base import FactorModel, Recommender
from fastcf.models.baseline import BaselineOnly
from fastcf.models.explicit_als import ExplicitALS
from fastcf.models.explicit_mf import BiasedMF
from fastcf.models.implicit_als import ImplicitALS
from fastcf.models.svdpp import SVDpp

__all__ = ["BaselineOnly", "BiasedMF", "ExplicitALS", "FactorModel", "ImplicitALS", "Recommender", "SVDpp"]
