"""Recommender models: thin estimators over the kernels, one file per model."""

from fastcf.models.base import FactorModel, Recommender
from fastcf.models.baseline import BaselineOnly
from fastcf.models.bpr import BPR, WARP
from fastcf.models.ease import EASE
from fastcf.models.explicit_als import ExplicitALS
from fastcf.models.explicit_mf import BiasedMF
from fastcf.models.hybrid import HybridMF
from fastcf.models.implicit_als import ImplicitALS
from fastcf.models.item_knn import ItemKNN, UserKNN
from fastcf.models.knn_explicit import KNNBaseline, KNNBasic, KNNWithMeans
from fastcf.models.popularity import Popularity
from fastcf.models.svdpp import SVDpp

__all__ = [
    "BPR", "BaselineOnly", "BiasedMF", "EASE", "ExplicitALS", "FactorModel", "HybridMF", "ImplicitALS", "ItemKNN",
    "KNNBaseline", "KNNBasic", "KNNWithMeans", "Popularity", "Recommender", "SVDpp", "UserKNN", "WARP",
]
