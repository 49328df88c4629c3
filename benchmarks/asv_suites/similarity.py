"""similarity_topk: item-item top-20 on the synthetic MovieLens 1M and 10M shapes, per measure and
backend, 2 threads: seconds and peak memory on one grid."""

import numpy as np

from fastcf.data import synthetic
from fastcf.kernels import similarity_topk

THREADS, K = 2, 20
_cache = {}


def _items_users(preset):
    if preset not in _cache:
        _cache[preset] = synthetic(preset).matrix.T.tocsr()
    return _cache[preset]


class SimilarityTopK:
    params = (["ml1m", "ml10m"], ["cosine", "bm25", "pearson"], ["cython", "numba"])
    param_names = ["preset", "measure", "backend"]
    timeout = 900

    def setup(self, preset, measure, backend):
        self.matrix = _items_users(preset)
        if backend == "numba":  # compile outside the timing, on a small slice
            small = self.matrix[:50]
            similarity_topk(small.indptr, small.indices, small.data, small.shape[1], K, measure=measure,
                            n_threads=THREADS, backend=backend)

    def run(self, measure, backend):
        m = self.matrix
        return similarity_topk(m.indptr, m.indices, m.data, m.shape[1], K, measure=measure, n_threads=THREADS,
                               backend=backend)

    def time_similarity_topk(self, preset, measure, backend):
        self.run(measure, backend)

    def peakmem_similarity_topk(self, preset, measure, backend):
        self.run(measure, backend)

    def track_neighbours_per_item(self, preset, measure, backend):
        indptr = self.run(measure, backend)[0]
        return float(np.diff(indptr).mean())

    track_neighbours_per_item.unit = "neighbours"
