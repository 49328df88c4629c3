"""Recommender models: thin estimators over the kernels, one file per model."""

from fastcf.models.base import FactorModel, Recommender
from fastcf.models.implicit_als import ImplicitALS

__all__ = ["FactorModel", "ImplicitALS", "Recommender"]
