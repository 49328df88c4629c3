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
