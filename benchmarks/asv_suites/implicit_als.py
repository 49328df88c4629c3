"""ImplicitALS: seconds per iteration, recommend-all throughput and memory, and NDCG@10, on one grid.

Data: the synthetic presets with the shapes of MovieLens 100K and 1M (real MovieLens 100K is
used for quality when ../shared/data is present).
"""

from pathlib import Path

import numpy as np

from fastcf.data import leave_k_out, read_movielens, synthetic
from fastcf.evaluation import evaluate
from fastcf.models import ImplicitALS

THREADS = 2
_ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k"
_cache = {}


def _data(preset):
    if preset not in _cache:
        _cache[preset] = synthetic(preset)
    return _cache[preset]


class FitIteration:
    params = (["ml100k", "ml1m"], ["cg", "cholesky"], ["cython", "numba"])
    param_names = ["preset", "solver", "backend"]
    timeout = 600

    def setup(self, preset, solver, backend):
        self.data = _data(preset)
        self.model = ImplicitALS(factors=64, iterations=1, solver=solver, backend=backend, n_threads=THREADS,
                                 random_state=0)
        self.model.fit(self.data)  # compiles Numba and warms caches outside the timing

    def time_one_iteration(self, preset, solver, backend):
        self.model.fit(self.data)

    def peakmem_one_iteration(self, preset, solver, backend):
        self.model.fit(self.data)


class RecommendAll:
    params = (["ml100k", "ml1m"], ["cython", "numba"])
    param_names = ["preset", "backend"]
    timeout = 600

    def setup(self, preset, backend):
        self.data = _data(preset)
        self.model = ImplicitALS(factors=64, iterations=1, backend=backend, n_threads=THREADS, random_state=0)
        self.model.fit(self.data)
        self.users = self.data.users.raw_ids
        self.model.recommend(self.users[:10], 10)

    def time_recommend_all(self, preset, backend):
        self.model.recommend(self.users, 10, n_threads=THREADS)

    def peakmem_recommend_all(self, preset, backend):
        self.model.recommend(self.users, 10, n_threads=THREADS)


class Quality:
    params = (["cg", "cholesky"],)
    param_names = ["solver"]
    timeout = 600

    def setup(self, solver):
        if _ML100K.exists():
            data = read_movielens(_ML100K, metadata=False)
        else:
            data = _data("ml100k")
        self.train, self.test = leave_k_out(data, 5, seed=0)

    def track_ndcg_at_10(self, solver):
        model = ImplicitALS(factors=64, regularization=0.01, alpha=1.0, iterations=15, solver=solver,
                            n_threads=THREADS, random_state=0).fit(self.train)
        return evaluate(model, self.train, self.test, 10)["ndcg"]

    track_ndcg_at_10.unit = "NDCG@10"
