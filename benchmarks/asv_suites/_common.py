"""Data, problems and guards shared by the asv suites (and the pytest-benchmark files).

Sizes: ``ml100k`` is MovieLens 100K itself when the files are found (``FASTCF_DATA``, else
``shared/data/ml-100k`` in a parent folder of this checkout or of the working directory),
else the synthetic preset of that shape; ``ml1m`` and ``ml10m`` are the synthetic presets
(``fastcf.data.synthetic``), cached on disk after the first build (``FASTCF_ASV_CACHE``,
default ``benchmarks/.asv/data``) because asv runs every benchmark in a fresh process.

Guards: a benchmark of an API that this fastcf does not have yet (a model or kernel still
on another branch) raises ``NotImplementedError`` in ``setup``, which asv records as
skipped; it runs as soon as the API exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

THREADS = 2
# FASTCF_ASV_SIZES=ml100k restricts the grid for a smoke run (results are still keyed by size).
SIZES = [s for s in os.environ.get("FASTCF_ASV_SIZES", "ml100k,ml1m,ml10m").split(",") if s] or ["ml100k"]
HERE = Path(__file__).resolve()
CACHE = Path(os.environ.get("FASTCF_ASV_CACHE", HERE.parents[1] / ".asv" / "data"))
_memo = {}


def movielens_100k():
    """The MovieLens 100K folder, or None."""
    candidates = []
    if os.environ.get("FASTCF_DATA"):
        candidates.append(Path(os.environ["FASTCF_DATA"]) / "ml-100k")
    for start in (HERE, Path.cwd().resolve()):
        candidates += [parent / "shared" / "data" / "ml-100k" for parent in start.parents]
    return next((path for path in candidates if (path / "u.data").is_file()), None)


def data(size):
    """Interactions of one size (see the module docstring), memoised in the process."""
    if size not in _memo:
        _memo[size] = _load(size)
    return _memo[size]


def _load(size):
    from fastcf.data import IdMap, Interactions, read_movielens, synthetic

    if size == "ml100k" and movielens_100k() is not None:
        return read_movielens(movielens_100k(), metadata=False)
    path = CACHE / f"synthetic-{size}-seed0.npz"
    if path.is_file():
        matrix = sp.load_npz(path).tocsr()
        return Interactions(matrix, IdMap(np.arange(1, matrix.shape[0] + 1), "user"),
                            IdMap(np.arange(1, matrix.shape[1] + 1), "item"))
    generated = synthetic(size)
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        sp.save_npz(path, generated.matrix, compressed=False)
    except OSError:
        pass  # a read-only checkout: build it every time
    return generated


def split(size):
    """80/20 random split (seed 0) of ``data(size)``."""
    key = ("split", size)
    if key not in _memo:
        from fastcf.data import random_split

        _memo[key] = random_split(data(size), 0.2, seed=0)
    return _memo[key]


def confidence(size, dtype=np.float32):
    """users x items confidences 1 + 2 r (alpha = 2)."""
    matrix = data(size).matrix.astype(dtype)
    matrix.data = 1 + 2 * matrix.data
    return matrix


def random_factors(n_rows, f, seed, dtype=np.float32):
    return (0.1 * np.random.default_rng(seed).standard_normal((n_rows, f))).astype(dtype)


def sgd_problem(size, f, n_blocks=8, dtype=np.float32):
    """Arguments of ``sgd_epoch`` on the ratings of ``size``: (schedule arrays, state, params)."""
    from fastcf.data.interactions import entry_rows
    from fastcf.kernels import sgd_schedule

    matrix = data(size).matrix
    users, items = entry_rows(matrix), matrix.indices
    block_ptr, order = sgd_schedule(users, items, matrix.shape[0], matrix.shape[1], n_blocks, seed=0)
    arrays = (block_ptr, users[order], items[order], matrix.data[order].astype(dtype))
    state = dict(user_factors=random_factors(matrix.shape[0], f, 1, dtype),
                 item_factors=random_factors(matrix.shape[1], f, 2, dtype),
                 user_bias=np.zeros(matrix.shape[0], dtype), item_bias=np.zeros(matrix.shape[1], dtype))
    params = dict(global_mean=float(matrix.data.mean()), learning_rate=0.01, reg_factors=0.05, reg_bias=0.02)
    return arrays, state, params


def require(module, name=None):
    """``module.name`` (or the module), or NotImplementedError (asv: skipped) when absent."""
    if importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{module} is not in this fastcf")
    loaded = importlib.import_module(module)
    if name is None:
        return loaded
    if not hasattr(loaded, name):
        raise NotImplementedError(f"{module}.{name} is not in this fastcf")
    return getattr(loaded, name)


def check_grid(size, backend, kernel_reference_max="ml100k", numba_max="ml1m"):
    """Skip the slow corners of the grid: the NumPy reference above ml100k, Numba above ml1m."""
    order = {s: i for i, s in enumerate(["ml100k", "ml1m", "ml10m"])}
    if backend == "reference" and order[size] > order[kernel_reference_max]:
        raise NotImplementedError("the NumPy reference is timed on ml100k only")
    if backend == "numba" and order[size] > order[numba_max]:
        raise NotImplementedError("the Numba twin is timed up to ml1m")


def supported_params(model_class, **params):
    """The keyword arguments that ``model_class`` accepts (models still growing their API)."""
    accepted = inspect.signature(model_class).parameters
    return {name: value for name, value in params.items() if name in accepted}


def make_model(model_class, backend, **params):
    """``model_class`` with the given settings, its backend and thread count where it takes them,
    else through FASTCF_BACKEND (read by every kernel call)."""
    import fastcf

    params = supported_params(model_class, n_threads=THREADS, backend=backend, **params)
    if "backend" not in params:
        os.environ["FASTCF_BACKEND"] = backend
    if "n_threads" not in params:
        fastcf.set_num_threads(THREADS)  # process-wide: asv runs each benchmark in its own process
    return model_class(**params)


# --- flop counts (also used by scripts/compare_peers.py) --------------------------------------
# Symmetric products are counted once, as LAPACK's SYRK does: a rank-1 update of an f x f
# symmetric matrix is f^2 flops.

def als_half_step_flops(n_rows, n_columns, nnz, f, cg_steps=0):
    """Useful flops of one implicit-ALS half-step solving ``n_rows`` rows against ``n_columns``
    fixed ones with ``nnz`` stored confidences.

    Cholesky (cg_steps = 0): the Gram matrix of the fixed side (n_columns f^2), each row's
    confidence-weighted rank-1 updates (nnz f^2) and right-hand side (2 nnz f), factorisation
    and two triangular solves (n_rows (f^3 / 3 + 2 f^2)).
    CG with s steps: the Gram matrix, then per row the residual and s products with
    (Gram + the row's rated columns), (s + 1) (2 f^2 + 4 n_row f), the right-hand side 2 n_row f,
    and about 10 f of vector updates per step.
    """
    gram = n_columns * f**2
    if cg_steps == 0:
        return gram + nnz * f**2 + 2 * nnz * f + n_rows * (f**3 / 3 + 2 * f**2)
    return gram + (cg_steps + 1) * (2 * n_rows * f**2 + 4 * nnz * f) + 2 * nnz * f + 10 * cg_steps * n_rows * f


def als_iteration_flops(n_users, n_items, nnz, f, cg_steps=0):
    """Both half-steps: users against the items, then items against the users."""
    return (als_half_step_flops(n_users, n_items, nnz, f, cg_steps)
            + als_half_step_flops(n_items, n_users, nnz, f, cg_steps))


def recommend_flops(n_users, n_items, f):
    """Scoring every user against every item, 2 n_users n_items f (the selection is not counted)."""
    return 2 * n_users * n_items * f


# --- bytes moved and the roofline (also used by scripts/compare_peers.py) ----------------------
# The least traffic to and from memory a kernel needs when nothing it reads twice stays in
# cache between the two reads: every array is read (and every written array written) once,
# and every stored entry reads the other side's factor row it multiplies. Caches can only
# lower the real traffic, so time / roofline-bound is an upper bound on the share reached.
# Integers are int32 indices, int64 row pointers; ``itemsize`` is the factors' (4: float32).

def als_half_step_bytes(n_rows, n_columns, nnz, f, cg_steps=0, itemsize=4):
    """Bytes of one ALS half-step: the CSR (8 (n_rows + 1) + (4 + itemsize) nnz), the fixed
    side read once for its Gram matrix (n_columns f) and once per stored entry (nnz f), the
    solved side read (CG's warm start) and written (n_rows f each)."""
    factor_rows = n_columns * f + nnz * f + (2 if cg_steps else 1) * n_rows * f
    return 8 * (n_rows + 1) + (4 + itemsize) * nnz + itemsize * factor_rows


def als_iteration_bytes(n_users, n_items, nnz, f, cg_steps=0, itemsize=4):
    return (als_half_step_bytes(n_users, n_items, nnz, f, cg_steps, itemsize)
            + als_half_step_bytes(n_items, n_users, nnz, f, cg_steps, itemsize))


def recommend_bytes(n_users, n_items, f, k=10, nnz_seen=0, itemsize=4):
    """Bytes of top-k for every user: both factor matrices once, the seen items to exclude
    (4 nnz_seen + 8 n_users), and the k (index, score) pairs written per user."""
    return itemsize * (n_users + n_items) * f + 4 * nnz_seen + 8 * n_users + (8 + itemsize) * k * n_users


def sgd_epoch_bytes(nnz, f, itemsize=4, biases=True):
    """Bytes of one biased-MF SGD epoch: per rating its (user, item, value) triple (12 bytes),
    the user's and the item's factor rows (and biases) read and written."""
    return nnz * (12 + 4 * (f + (1 if biases else 0)) * itemsize)


def ranking_epoch_bytes(n_samples, f, itemsize=4):
    """Bytes of one BPR epoch of ``n_samples`` triples: the drawn entry (user, item: 8 bytes),
    and the user's, the positive's and the negative's rows read and written."""
    return n_samples * (8 + 6 * f * itemsize)


def sgd_epoch_flops(nnz, f):
    """Flops of one biased-MF SGD epoch: per rating the prediction (2 f) and both rows' updates (6 f)."""
    return nnz * 8 * f


def ranking_epoch_flops(n_samples, f):
    """Flops of one BPR epoch: two scores (4 f) and three rows' updates (9 f) per sample."""
    return n_samples * 13 * f


def triad_bandwidth(threads, n=1 << 25, repeats=5):
    """This machine's memory bandwidth in GB/s, STREAM's triad a = b + s c on float64 arrays of
    ``n`` (2**25: 256 MiB each, far beyond any cache) with ``threads`` Numba threads; median of
    ``repeats``. Counted as STREAM counts it, 3 x 8 bytes per element (the write-allocate read
    of ``a`` is not counted)."""
    import time

    import numba

    triad = _triad_kernel()
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        triad(a, b, c, 3.0)  # compile, touch the pages
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            triad(a, b, c, 3.0)
            seconds.append(time.perf_counter() - start)
    finally:
        numba.set_num_threads(previous)
    return 24 * n / float(np.median(seconds)) / 1e9


def _triad_kernel():
    if "triad" not in _memo:
        import numba

        @numba.njit(parallel=True, fastmath=False, cache=False)
        def triad(a, b, c, scalar):
            for i in numba.prange(a.shape[0]):
                a[i] = b[i] + scalar * c[i]

        _memo["triad"] = triad
    return _memo["triad"]


def sgemm_gflops(threads, size=2048, repeats=5):
    """This machine's fp32 matrix-multiply rate (NumPy's BLAS at ``threads``): median of ``repeats``."""
    import time

    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    with threadpool_limits(threads, "blas"):
        a @ b  # warm up the pool
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            seconds.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(seconds)) / 1e9


def machine_peaks(threads):
    """(sgemm GFLOP/s, triad GB/s) at ``threads``, measured once per process."""
    key = ("peaks", threads)
    if key not in _memo:
        _memo[key] = (sgemm_gflops(threads), triad_bandwidth(threads))
    return _memo[key]


def roofline_seconds(flops, n_bytes, peak_gflops, bandwidth_gbs):
    """(the least time the roofline allows, which bound binds: "compute" or "memory")."""
    compute = flops / (peak_gflops * 1e9) if flops else 0.0
    memory = n_bytes / (bandwidth_gbs * 1e9) if n_bytes else 0.0
    return (compute, "compute") if compute >= memory else (memory, "memory")
