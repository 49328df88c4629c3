"""fastcf: fast collaborative filtering.

Models and data tools build on the compiled kernels in :mod:`fastcf.kernels`, each of which
runs on a Cython, a Numba or a NumPy reference twin (see ``fastcf.show_versions()``).
"""

import logging

from fastcf import kernels
from fastcf._version import __version__
from fastcf.config import get_num_threads, set_num_threads, show_versions
from fastcf.data import Interactions, from_arrays, read_movielens, read_ratings
from fastcf.evaluation import cross_validate, evaluate, evaluate_heldout, grid_search
from fastcf.persistence import load
from fastcf.progress import get_progress, set_progress

# A library logs and lets the application choose where to (the fastcf command logs to stderr).
logging.getLogger("fastcf").addHandler(logging.NullHandler())

__all__ = [
    "Interactions",
    "__version__",
    "cross_validate",
    "evaluate",
    "evaluate_heldout",
    "from_arrays",
    "get_num_threads",
    "get_progress",
    "grid_search",
    "kernels",
    "load",
    "read_movielens",
    "read_ratings",
    "set_num_threads",
    "set_progress",
    "show_versions",
]
