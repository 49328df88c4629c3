"""The kernels on one grid: size x backend (x solver), time_*, peakmem_*, track_gflops where the
work is counted in flops (ALS, fused recommend-all), and track_roofline_share: the share of the
roofline bound reached (max(flops / sgemm rate, least bytes / triad bandwidth), both measured in
the benchmark's process; see _common and docs/benchmarks.md).

ALS, SGD and metrics run on the data of each size (see _common); the NumPy reference only on
ml100k, Numba up to ml1m, Cython everywhere. 64 factors (SGD: 100), 2 threads.
"""

import time

import numpy as np

from ._common import (
    SIZES, THREADS, als_half_step_bytes, als_half_step_flops, check_grid, confidence, data, machine_peaks,
    random_factors, recommend_bytes, recommend_flops, require, roofline_seconds, sgd_epoch_bytes, sgd_epoch_flops,
    sgd_problem, split,
)

BACKENDS = ["reference", "numba", "cython"]
F = 64


def _median_seconds(run, repeats=3):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def _roofline_share(run, flops, n_bytes):
    gemm, bandwidth = machine_peaks(THREADS)
    return roofline_seconds(flops, n_bytes, gemm, bandwidth)[0] / _median_seconds(run)


class AlsHalfStep:
    """als_half_step for every user against fixed item factors (confidence 1 + 2 r)."""

    params = (SIZES, BACKENDS, ["cholesky", "cg"])
    param_names = ["size", "backend", "solver"]
    timeout = 900

    def setup(self, size, backend, solver):
        check_grid(size, backend)
        from fastcf.kernels import als_half_step

        self.kernel = als_half_step
        self.conf = confidence(size)
        self.items = random_factors(self.conf.shape[1], F, 0)
        self.users = random_factors(self.conf.shape[0], F, 1)
        self.cg_steps = 0 if solver == "cholesky" else 3
        self.backend = backend
        self.run()  # Numba compiles (or loads its cache) outside the timing

    def run(self):
        c = self.conf
        self.kernel(c.indptr, c.indices, c.data, self.items, self.users, regularization=0.01,
                    cg_steps=self.cg_steps, n_threads=THREADS, backend=self.backend)

    def time_half_step(self, size, backend, solver):
        self.run()

    def peakmem_half_step(self, size, backend, solver):
        self.run()

    def track_gflops(self, size, backend, solver):
        n_rows, n_columns = self.conf.shape
        flops = als_half_step_flops(n_rows, n_columns, self.conf.nnz, F, self.cg_steps)
        return flops / _median_seconds(self.run) / 1e9

    track_gflops.unit = "GFLOP/s"

    def track_roofline_share(self, size, backend, solver):
        n_rows, n_columns = self.conf.shape
        return _roofline_share(self.run, als_half_step_flops(n_rows, n_columns, self.conf.nnz, F, self.cg_steps),
                               als_half_step_bytes(n_rows, n_columns, self.conf.nnz, F, self.cg_steps))

    track_roofline_share.unit = "share of the roofline bound"


class RecommendAllFused:
    """select_topk_dot: top-10 of users @ items.T for every user, training items excluded."""

    params = (SIZES, BACKENDS)
    param_names = ["size", "backend"]
    timeout = 900

    def setup(self, size, backend):
        check_grid(size, backend)
        from fastcf.kernels import select_topk_dot

        self.kernel = select_topk_dot
        self.seen = data(size).matrix
        self.users = random_factors(self.seen.shape[0], F, 0)
        self.items = random_factors(self.seen.shape[1], F, 1)
        self.backend = backend
        self.run()

    def run(self):
        return self.kernel(self.users, self.items, 10, exclude_indptr=self.seen.indptr,
                           exclude_indices=self.seen.indices, n_threads=THREADS, backend=self.backend)

    def time_recommend_all(self, size, backend):
        self.run()

    def peakmem_recommend_all(self, size, backend):
        self.run()

    def track_gflops(self, size, backend):
        return recommend_flops(*self.seen.shape, F) / _median_seconds(self.run) / 1e9

    track_gflops.unit = "GFLOP/s"

    def track_roofline_share(self, size, backend):
        return _roofline_share(self.run, recommend_flops(*self.seen.shape, F),
                               recommend_bytes(*self.seen.shape, F, 10, self.seen.nnz))

    track_roofline_share.unit = "share of the roofline bound"


class SgdEpoch:
    """sgd_epoch: one epoch of biased MF over the block schedule (100 factors, 8 x 8 blocks)."""

    params = (SIZES, BACKENDS)
    param_names = ["size", "backend"]
    timeout = 900

    def setup(self, size, backend):
        check_grid(size, backend)
        from fastcf.kernels import sgd_epoch

        self.kernel = sgd_epoch
        self.arrays, self.state, self.params = sgd_problem(size, 100)
        self.backend = backend
        self.run()

    def run(self):
        return self.kernel(*self.arrays, **self.state, **self.params, n_threads=THREADS, backend=self.backend)

    def time_epoch(self, size, backend):
        self.run()

    def peakmem_epoch(self, size, backend):
        self.run()

    def track_ratings_per_second(self, size, backend):
        return self.arrays[1].size / _median_seconds(self.run)

    track_ratings_per_second.unit = "ratings/s"

    def track_roofline_share(self, size, backend):
        nnz = self.arrays[1].size
        return _roofline_share(self.run, sgd_epoch_flops(nnz, 100), sgd_epoch_bytes(nnz, 100))

    track_roofline_share.unit = "share of the roofline bound"


class FactorRankingMetrics:
    """factor_ranking_metrics: precision/recall/NDCG/MAP@10 of every test user (80/20 split)."""

    params = (SIZES, BACKENDS)
    param_names = ["size", "backend"]
    timeout = 900

    def setup(self, size, backend):
        check_grid(size, backend)
        from fastcf.kernels import factor_ranking_metrics

        self.kernel = factor_ranking_metrics
        train, test = split(size)
        self.train, self.test = train.matrix, test.matrix
        self.users = np.flatnonzero(np.diff(self.test.indptr))
        self.U = random_factors(train.n_users, F, 0)
        self.V = random_factors(train.n_items, F, 1)
        self.backend = backend
        self.run()

    def run(self):
        return self.kernel(self.U, self.V, self.users, self.train.indptr, self.train.indices, self.test.indptr,
                           self.test.indices, 10, n_threads=THREADS, backend=self.backend)

    def time_metrics(self, size, backend):
        self.run()

    def peakmem_metrics(self, size, backend):
        self.run()


class SimilarityTopK:
    """similarity_topk: item-item cosine, top-20 per item, on the items x users matrix."""

    params = (SIZES, BACKENDS)
    param_names = ["size", "backend"]
    timeout = 900

    def setup(self, size, backend):
        check_grid(size, backend)
        self.kernel = require("fastcf.kernels", "similarity_topk")
        self.item_users = data(size).matrix.T.tocsr().astype(np.float32)
        self.backend = backend
        self.run()

    def run(self):
        m = self.item_users
        return self.kernel(m.indptr, m.indices, m.data, m.shape[1], 20, measure="cosine", n_threads=THREADS,
                           backend=self.backend)

    def time_item_cosine_top20(self, size, backend):
        self.run()

    def peakmem_item_cosine_top20(self, size, backend):
        self.run()
