"""Evaluation: precision/recall/NDCG/MAP@10 for every test user, speed and memory, and the
speed-up over implicit's ranking_metrics_at_k on the same factors, on one grid.

Data: synthetic presets with the shapes of MovieLens 1M and 10M, split at random 80/20;
random float32 factors (64), the same for fastcf and implicit.
"""

import numpy as np

from fastcf.evaluation import evaluate
from fastcf.models import ImplicitALS

from ._common import THREADS, split

METRICS = ["precision", "recall", "ndcg", "map"]
_cache = {}


def _problem(preset):
    if preset not in _cache:
        train, test = split(preset)  # the synthetic preset, cached on disk
        rng = np.random.default_rng(0)
        model = ImplicitALS(factors=64)
        model.user_factors_ = (0.1 * rng.standard_normal((train.n_users, 64))).astype(np.float32)
        model.item_factors_ = (0.1 * rng.standard_normal((train.n_items, 64))).astype(np.float32)
        model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
        _cache[preset] = model, train, test
    return _cache[preset]


class Evaluate:
    params = (["ml1m", "ml10m"], ["cython", "numba"], [False, True])
    param_names = ["preset", "backend", "auc"]
    timeout = 900

    def setup(self, preset, backend, auc):
        if preset == "ml10m" and backend == "numba":
            raise NotImplementedError  # asv skips: the Numba twin is timed on ml1m
        self.model, self.train, self.test = _problem(preset)
        self.metrics = METRICS + (["auc"] if auc else [])
        self.run(backend)  # compiles Numba, touches pages

    def run(self, backend):
        return evaluate(self.model, self.train, self.test, 10, metrics=self.metrics, n_threads=THREADS,
                        backend=backend)

    def time_evaluate(self, preset, backend, auc):
        self.run(backend)

    def peakmem_evaluate(self, preset, backend, auc):
        self.run(backend)


class SpeedupOverImplicit:
    """fastcf (Cython) against implicit 0.7.3 on the same factors and split, in one process."""

    params = (["ml1m", "ml10m"],)
    param_names = ["preset"]
    timeout = 900

    def setup(self, preset):
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError:
            raise NotImplementedError
        self.model, self.train, self.test = _problem(preset)
        self.peer = AlternatingLeastSquares(factors=64, num_threads=THREADS)
        self.peer.user_factors, self.peer.item_factors = self.model.user_factors_, self.model.item_factors_
        self.train32, self.test32 = self.train.matrix.astype(np.float32), self.test.matrix.astype(np.float32)

    def track_speedup_vs_implicit(self, preset):
        import time

        import threadpoolctl
        from implicit.evaluation import ranking_metrics_at_k

        ours, theirs = [], []
        for _ in range(3):  # alternating, median of 3
            start = time.perf_counter()
            evaluate(self.model, self.train, self.test, 10, metrics=METRICS, n_threads=THREADS, backend="cython")
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            with threadpoolctl.threadpool_limits(1, "blas"):
                ranking_metrics_at_k(self.peer, self.train32, self.test32, K=10, show_progress=False,
                                     num_threads=THREADS)
            theirs.append(time.perf_counter() - start)
        return float(np.median(theirs) / np.median(ours))

    track_speedup_vs_implicit.unit = "x faster than implicit"
