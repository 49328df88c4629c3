"""fastcf: fast collaborative filtering.

Models and data tools build on the compiled kernels in :mod:`fastcf.kernels`, each of which
runs on a Cython, a Numba or a NumPy reference twin (see ``fastcf.show_versions()``).
"""

from fastcf import kernels
from fastcf._version import __version__
from fastcf.config import get_num_threads, set_num_threads, show_versions
from fastcf.data import Interactions, from_arrays, read_movielens, read_ratings
from fastcf.evaluation import cross_validate, evaluate, grid_search
from fastcf.persistence import load

__all__ = [
    "Interactions",
    "__version__",
    "cross_validate",
    "evaluate",
    "from_arrays",
    "get_num_threads",
    "grid_search",
    "kernels",
    "load",
    "read_movielens",
    "read_ratings",
    "set_num_threads",
    "show_versions",
]
