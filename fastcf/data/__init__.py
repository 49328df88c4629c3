"""Ratings -> clean, indexed CSR: readers, ID maps, cleaning with a report, filters, weighting, splits."""

from fastcf.data.cleaning import CleaningReport
from fastcf.data.download import download_movielens
from fastcf.data.features import item_features, user_features
from fastcf.data.filters import binarize, compact, k_core
from fastcf.data.id_map import IdMap
from fastcf.data.interactions import Interactions
from fastcf.data.movielens import (
    detect_movielens,
    read_movielens,
    read_movielens_folds,
    read_movielens_items,
    read_movielens_users,
)
from fastcf.data.readers import from_arrays, read_ratings
from fastcf.data.synthetic import synthetic
from fastcf.data.weighting import bm25, confidence, log_confidence, tfidf
from fastcf.data.splits import (
    HeldoutPart,
    HeldoutSplit,
    align_test,
    heldout_user_split,
    kfold,
    leave_k_out,
    random_split,
    temporal_split,
    user_fraction_split,
)

__all__ = [
    "CleaningReport",
    "HeldoutPart",
    "HeldoutSplit",
    "IdMap",
    "Interactions",
    "align_test",
    "binarize",
    "bm25",
    "compact",
    "confidence",
    "detect_movielens",
    "download_movielens",
    "from_arrays",
    "heldout_user_split",
    "item_features",
    "k_core",
    "kfold",
    "leave_k_out",
    "log_confidence",
    "random_split",
    "read_movielens",
    "read_movielens_folds",
    "read_movielens_items",
    "read_movielens_users",
    "read_ratings",
    "synthetic",
    "temporal_split",
    "tfidf",
    "user_features",
    "user_fraction_split",
]
