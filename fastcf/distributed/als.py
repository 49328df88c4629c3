"""Implicit ALS on a Dask cluster: the ``als_half_step`` kernel per row block, the same model as one machine's.

Kernel: ``fastcf/kernels/als/`` (each block task runs it with ``n_threads=1``). Model:
:class:`fastcf.models.ImplicitALS` (Hu, Koren & Volinsky 2008), whose parameters and result
this reproduces.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import scipy.sparse as sp

from fastcf.data.interactions import Interactions
from fastcf.distributed._blocks import RatingBlocks, confidence_block
from fastcf.distributed.worker import prepare_cluster
from fastcf.kernels import als_half_step, als_loss, als_subspace_half_step
from fastcf._validation import check_positive_int
from fastcf.kernels._threads import kernel_threads
from fastcf.models._factor_init import factor_seed, initial_factors
from fastcf.models.implicit_als import ITEMS, USERS, ImplicitALS, solver_penalties

__all__ = ["fit_als", "rating_blocks"]


def fit_als(client, data, *, model: Optional[ImplicitALS] = None, n_blocks: Optional[int] = None, **params) -> ImplicitALS:
    """Fit an :class:`~fastcf.models.ImplicitALS` on a Dask cluster; returns the fitted model.

    The result equals ``ImplicitALS(**params).fit(data)`` on one machine with the same
    ``random_state`` (the same kernel solves every row from the same inputs: the factors
    agree to the last bit where both runs use one BLAS, and to rounding otherwise), whatever
    the number of workers or blocks. The returned object *is* an ImplicitALS, so recommend,
    similar_items, fold-in, evaluate and save work on it as on any other.

    How it runs. Users and items are cut into ``n_blocks`` contiguous row blocks each, of
    about equal work (entries + factors per row), built once as tasks and kept on the
    workers. Each half-step (items, then users, as ImplicitALS) joins the fixed side's
    blocks into one array in one task, computes its Gram matrix YᵀY once in another, and
    runs one task per block of the side being solved: ``als_half_step`` on the block's rows
    with the full fixed factors, YᵀY and the block's previous factors (the CG warm start).
    Dask moves the fixed factors to every worker that runs a block: the broadcast. The new
    blocks stay where they were computed until the next half-step needs them; the client
    gathers the factors at the end (and after every iteration only when ``callback`` needs
    them). Initial factors are drawn per global row (fastcf.models._factor_init), so a block
    initialises itself on its worker and the layout cannot change them.

    Every task is a pure function of its inputs, and every input is a task result (never
    scattered data), so when a worker dies Dask recomputes what it held, from the ratings
    blocks on, and the fit completes with the same result.

    Parameters
    ----------
    client : distributed.Client
    data : Interactions, scipy sparse matrix (users x items), dask.dataframe.DataFrame, or
        the blocks ``rating_blocks`` returned (``n_blocks`` is then theirs)
        A Dask DataFrame needs columns ``user`` and ``item`` (raw IDs) and optionally
        ``rating`` (else every value is 1); its partitions are read by the workers. Its ID
        maps order the IDs as ``fastcf.data.IdMap.factorize`` does (sorted), repeated pairs
        are summed, and values are stored as float32, as Interactions stores them.
    model : ImplicitALS, optional
        An unfitted model whose parameters to use (it is fitted in place and returned);
        otherwise ``params`` are ImplicitALS's keyword parameters.
    n_blocks : int >= 1, optional
        Row blocks per side; default 2 per worker thread (so that a slow worker does not
        hold up a half-step).

    Returns
    -------
    model : ImplicitALS, fitted (``user_factors_``, ``item_factors_``, ``seen_``, ID maps,
        ``loss_history_``)
    """
    if model is None:
        model = ImplicitALS(**params)
    elif params:
        raise TypeError(f"fit_als: pass either 'model' or ImplicitALS parameters, not both; got {sorted(params)}.")
    if not isinstance(model, ImplicitALS):
        raise TypeError(f"fit_als: 'model' must be an ImplicitALS; got {type(model).__name__}.")
    model._check_params()
    if n_blocks is None:
        n_blocks = 2 * max(1, sum(client.nthreads().values()))
    n_blocks = check_positive_int(n_blocks, "n_blocks", "fit_als")
    prepare_cluster(client, model.backend)

    ratings = _rating_blocks(client, data, model, n_blocks)
    _Fit(client, model, ratings).run()
    return model


def rating_blocks(client, data, *, n_blocks: Optional[int] = None, factors: int = 64) -> RatingBlocks:
    """The ratings cut into row blocks on the cluster, for several ``fit_als`` calls.

    ``fit_als(client, blocks, ...)`` then skips reading and cutting the data (e.g. in a
    parameter search). ``factors`` only weighs rows against entries when balancing the
    blocks; any model may use them.
    """
    if n_blocks is None:
        n_blocks = 2 * max(1, sum(client.nthreads().values()))
    n_blocks = check_positive_int(n_blocks, "n_blocks", "rating_blocks")
    factors = check_positive_int(factors, "factors", "rating_blocks")
    return _rating_blocks(client, data, ImplicitALS(factors=factors), n_blocks)


def _rating_blocks(client, data, model: ImplicitALS, n_blocks: int) -> RatingBlocks:
    row_cost = float(model.factors)
    if isinstance(data, RatingBlocks):
        return data
    if _is_dask_frame(data):
        return RatingBlocks.from_dask_frame(client, data, n_blocks, row_cost)
    if isinstance(data, Interactions) or sp.issparse(data):
        matrix, users, items = model._training_data(data)
        return RatingBlocks.from_matrix(client, matrix, users, items, n_blocks, row_cost)
    raise TypeError(
        f"fit_als: 'data' must be fastcf Interactions, a users x items scipy sparse matrix or a Dask DataFrame "
        f"with columns user, item[, rating]; got {type(data).__name__}."
    )


def _is_dask_frame(data) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - dask[distributed] brings it
        return False
    return isinstance(data, dd.DataFrame)


class _Fit:
    """The client's side of one distributed fit: submits tasks, holds futures."""

    def __init__(self, client, model: ImplicitALS, ratings: RatingBlocks):
        self.client, self.model, self.ratings = client, model, ratings
        self.dtype = np.dtype(model.dtype)
        # The solver's λ (flat or per row) is worked out in each block's task from the block's rows
        # and the model's parameters, by the function ImplicitALS uses: the same λ_u to the bit.
        self.options = dict(penalty=model._penalty, cg_steps=model._cg, backend=model.backend)
        if model.solver == "subspace":  # _solve_block runs the subspace kernel when given a block size
            self.options = dict(penalty=model._penalty, block_size=model.block_size, backend=model.backend)
        self.loss_scale = float(model.unobserved_weight)

    def _submit(self, function, *args, key: str):
        return self.client.submit(function, *args, key=f"{self.ratings.tag}-{key}", pure=False)

    def run(self) -> None:
        model, ratings = self.model, self.ratings
        formulation, dtype, f = model._formulation(), self.dtype, model.factors
        confidence = {
            side: [self._submit(confidence_block, block, formulation, dtype, key=f"confidence-{side}-{b}")
                   for b, block in enumerate(getattr(ratings, side).blocks)]
            for side in ("users", "items")
        }
        seed = factor_seed(model.random_state)
        factors = {
            side: [self._submit(initial_factors, seed, code, start, stop, f, dtype, key=f"init-{side}-{b}")
                   for b, (start, stop) in enumerate(getattr(ratings, side).sizes())]
            for side, code in (("users", USERS), ("items", ITEMS))
        }
        model.loss_history_ = []
        with model._progress(model.iterations) as progress:
            for iteration in range(1, model.iterations + 1):
                factors["items"] = self._half_step(confidence["items"], factors["users"], factors["items"],
                                                   f"{iteration}-items")
                factors["users"] = self._half_step(confidence["users"], factors["items"], factors["users"],
                                                   f"{iteration}-users")
                loss = self._loss(confidence, factors, iteration) if model.track_loss else None
                # One iteration at a time: errors surface in the iteration that raised them, and
                # a lost worker costs at most the recomputation of its blocks' lineage.
                self._wait(factors["users"] + factors["items"])
                if loss is not None:
                    model.loss_history_.append(loss)
                progress.update(loss=loss)
                if model.callback is not None:
                    self._gather(factors)
                    if model.callback(iteration, model, loss) is False:
                        break
        self._gather(factors)
        model.users_, model.items_ = ratings.user_ids, ratings.item_ids
        model.seen_ = ratings.gather_matrix(self.client)

    def _half_step(self, confidence: List, fixed: List, solved: List, key: str) -> List:
        """New blocks of the solved side from the fixed side's blocks (see fit_als)."""
        full = self._submit(_concatenate, *fixed, key=f"{key}-fixed")
        gram = self._submit(_gram, full, key=f"{key}-gram")
        return [
            self._submit(_solve_block, block, full, gram, previous, self.options, key=f"{key}-{b}")
            for b, (block, previous) in enumerate(zip(confidence, solved))
        ]

    def _loss(self, confidence: dict, factors: dict, iteration: int) -> float:
        """ImplicitALS's loss, summed over user blocks (each block's λ‖Y‖² term counted once),
        plus, with per-row λ, Σ_i λ_i ‖y_i‖² summed over item blocks."""
        items = self._submit(_concatenate, *factors["items"], key=f"{iteration}-loss-items")
        penalty, backend = self.options["penalty"], self.options["backend"]
        parts = [
            self._submit(_block_loss, block, users, items, penalty, backend, key=f"{iteration}-loss-{b}")
            for b, (block, users) in enumerate(zip(confidence["users"], factors["users"]))
        ]
        n_users = self.ratings.shape[0]
        item_parts = [] if not penalty[1] else [
            self._submit(_block_item_penalty, block, rows, n_users, penalty, key=f"{iteration}-loss-items-{b}")
            for b, (block, rows) in enumerate(zip(confidence["items"], factors["items"]))
        ]
        values, item_values = self.client.gather([parts, item_parts])
        total = float(np.sum([value for value, _ in values])) + float(np.sum(item_values))
        return (total - (len(values) - 1) * values[0][1]) * self.loss_scale

    def _wait(self, futures) -> None:
        from distributed import wait

        wait(futures)
        failed = [future for future in futures if future.status == "error"]
        if failed:
            failed[0].result()  # raises the task's own exception

    def _gather(self, factors: dict) -> None:
        users, items = self.client.gather([factors["users"], factors["items"]])
        self.model.user_factors_ = np.concatenate(users)
        self.model.item_factors_ = np.concatenate(items)


# --- tasks (pure functions of their arguments) ---------------------------------------------

def _concatenate(*blocks: np.ndarray) -> np.ndarray:
    return np.concatenate(blocks)


def _gram(factors: np.ndarray) -> np.ndarray:
    # BLAS at one thread, as inside the kernel: the same YᵀY, to the bit, as ImplicitALS's.
    with kernel_threads(1, "fit_als"):
        return factors.T @ factors


def _solve_block(confidence: sp.csr_matrix, other: np.ndarray, gram: np.ndarray, previous: np.ndarray,
                 options: dict) -> np.ndarray:
    """The block's new factors; ``previous`` is read (the CG or subspace warm start), never written."""
    factors = previous.copy()
    # A block's rows are whole rows of the matrix, so their counts are the global ones.
    options = dict(options)
    penalty = options.pop("penalty")
    regularization, rows = solver_penalties(confidence.indptr, other.shape[0], *penalty)
    kernel = als_subspace_half_step if "block_size" in options else als_half_step
    kernel(confidence.indptr, confidence.indices, confidence.data, other, factors, gram=gram,
           regularization=regularization, row_regularization=rows, n_threads=1, **options)
    if not np.isfinite(factors).all():
        raise FloatingPointError(
            f"fit_als: factors became non-finite; raise 'regularization' (now {penalty[0]}) "
            f"or lower 'alpha'."
        )
    return factors


def _block_loss(confidence: sp.csr_matrix, users: np.ndarray, items: np.ndarray, penalty: tuple,
                backend) -> tuple:
    """(this block's share of the loss plus λ‖Y‖², λ‖Y‖²), of the problem divided by α0; with
    per-row λ, λ is 0 and the block's users carry their own λ_u (the items' are added apart)."""
    regularization, rows = solver_penalties(confidence.indptr, items.shape[0], *penalty)
    loss = als_loss(confidence.indptr, confidence.indices, confidence.data, users, items,
                    regularization=regularization, user_regularization=rows, n_threads=1, backend=backend)
    y = items.astype(np.float64)
    return loss, float(regularization * np.sum(y * y))


def _block_item_penalty(confidence: sp.csr_matrix, items: np.ndarray, n_users: int, penalty: tuple) -> float:
    """Σ λ_i ‖y_i‖² over one item block (its item x user CSR and factors), divided by α0."""
    rows = solver_penalties(confidence.indptr, n_users, *penalty)[1]
    y = items.astype(np.float64)
    return float(rows @ np.einsum("if,if->i", y, y))
