"""Workers ready for fastcf's kernels: twins loaded and warm, BLAS at one thread, Numba thread-safe.

A Dask worker runs one task per thread, and each fastcf task calls its kernel with
``n_threads=1``: the parallelism is the cluster's. :class:`KernelWarmup`, a worker plugin
that :func:`prepare_cluster` registers (the distributed functions call it for you), does on
every worker, at start and on every worker that joins later:

* picks Numba's thread-safe threading layer (fastcf.kernels._threads.configure_numba), so
  that several task threads may run Numba twins at once;
* in a worker process of its own, limits the BLAS pools to one thread for the process's
  life (inside a client's process, with ``processes=False``, each fastcf task limits them
  only while it runs, leaving the client's own BLAS alone). Dask's nanny also starts workers
  with OMP_NUM_THREADS=1, MKL_NUM_THREADS=1 and OPENBLAS_NUM_THREADS=1;
* calls every kernel the distributed functions use once on tiny data, in float32 and
  float64, so that no task pays for importing a twin or loading Numba's compiled code.

:func:`prepare_cluster` warms the client's own process first: the Numba twins are compiled
with ``cache=True``, so the first compilation lands in Numba's on-disk cache and the workers
load it from there instead of all compiling the same functions at once.
"""

from __future__ import annotations

import os
import time
from typing import Optional

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["KernelWarmup", "prepare_cluster", "warm_up_kernels"]


def warm_up_kernels(backend: Optional[str] = None) -> float:
    """Call ALS, top-k and metrics kernels once on tiny data; returns the seconds it took."""
    from fastcf.kernels import als_half_step, als_loss, als_subspace_half_step, factor_ranking_metrics, select_topk_dot
    from fastcf.kernels._threads import configure_numba

    started = time.perf_counter()
    configure_numba()
    indptr = np.array([0, 2, 3], dtype=np.int32)
    indices = np.array([0, 1, 1], dtype=np.int32)
    for dtype in (np.float32, np.float64):
        other = np.full((2, 2), 0.5, dtype=dtype) + np.eye(2, dtype=dtype)
        confidence = np.full(3, 2.0, dtype=dtype)
        for cg_steps in (0, 2):
            factors = np.full((2, 2), 0.1, dtype=dtype)
            als_half_step(indptr, indices, confidence, other, factors, regularization=0.1, cg_steps=cg_steps,
                          gram=other.T @ other, n_threads=1, backend=backend)
        als_subspace_half_step(indptr, indices, confidence, other, factors, regularization=0.1, block_size=1,
                               gram=other.T @ other, n_threads=1, backend=backend)
        als_loss(indptr, indices, confidence, factors, other, regularization=0.1, n_threads=1, backend=backend)
        select_topk_dot(factors, other, 1, exclude_indptr=indptr, exclude_indices=indices, n_threads=1,
                        backend=backend)
        factor_ranking_metrics(factors, other, np.arange(2), indptr, indices, indptr, indices, 1,
                               n_threads=1, backend=backend)
    return time.perf_counter() - started


class KernelWarmup(WorkerPlugin):
    """Dask worker plugin: see the module docstring. ``backend`` as the kernels take it."""

    def __init__(self, backend: Optional[str] = None):
        if backend is not None:
            from fastcf._validation import check_choice
            from fastcf.kernels._backend import BACKENDS

            check_choice(backend, "backend", "KernelWarmup", ("auto",) + BACKENDS)
        self.backend = backend
        self.name = f"fastcf-kernels-{backend or 'auto'}"
        self._client_pid = os.getpid()

    def setup(self, worker=None):
        if os.getpid() != self._client_pid:
            import threadpoolctl

            # Kept for the process's life: every task here calls BLAS from one thread.
            self._blas_limit = threadpoolctl.threadpool_limits(limits=1, user_api="blas")
        self.warm_up_seconds = warm_up_kernels(self.backend)

    def teardown(self, worker=None):
        limit = getattr(self, "_blas_limit", None)
        if limit is not None:
            limit.restore_original_limits()


def prepare_cluster(client, backend: Optional[str] = None) -> None:
    """Warm the kernels here, then on every worker (now and later); once per client and backend."""
    plugin = KernelWarmup(backend)
    prepared = client.__dict__.setdefault("_fastcf_prepared", set())
    if plugin.name in prepared:
        return
    warm_up_kernels(backend)
    client.register_plugin(plugin, name=plugin.name)
    prepared.add(plugin.name)
