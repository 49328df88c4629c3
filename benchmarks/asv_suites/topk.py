"""select_topk on the recommend-all workload: 2,000 users x 26,744 items (the MovieLens 20M
catalogue), k = 10, 150 seen items excluded per user, 2 threads, per backend."""

from fastcf.kernels import select_topk
from fastcf.testing import topk_problem

N_ROWS, N_ITEMS, K, N_EXCLUDED, THREADS = 2_000, 26_744, 10, 150, 2


class SelectTopK:
    params = (["reference", "numba", "cython"], ["float32", "float64"])
    param_names = ["backend", "dtype"]
    timeout = 300

    def setup(self, backend, dtype):
        self.scores, self.indptr, self.indices = topk_problem(N_ROWS, N_ITEMS, N_EXCLUDED, dtype=dtype)
        self.run(backend)  # compiles the Numba twin outside the timing

    def run(self, backend):
        return select_topk(
            self.scores, K, exclude_indptr=self.indptr, exclude_indices=self.indices,
            n_threads=THREADS, backend=backend,
        )

    def time_select_topk(self, backend, dtype):
        self.run(backend)

    def peakmem_select_topk(self, backend, dtype):
        self.run(backend)
