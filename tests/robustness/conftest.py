"""The registries the robustness suite runs over: every public model and kernel, one entry each.

A new model is one line in MODELS (a small, fast, seeded configuration) and, optionally, its
own bad hyperparameters in BAD_PARAMS. A new kernel function is one entry in KERNEL_CALLS: a
builder for one small valid call and which of its arguments are CSR pairs, read-only float
inputs, index arrays and arrays written in place. Tests take the fixtures ``model_name`` /
``make_model`` and ``kernel_name`` / ``kernel_call``, parametrised here over the registries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

import numpy as np
import pytest

import fastcf.kernels as K
from fastcf.models import (BPR, EASE, WARP, BaselineOnly, BiasedMF, ExplicitALS, HybridMF, ImplicitALS, ItemKNN,
                           KNNBaseline, KNNBasic, KNNWithMeans, Popularity, SVDpp, UserKNN)

# --- models -------------------------------------------------------------------------------

#: name -> factory(**overrides) of a small seeded model; ``implicit`` marks implicit-feedback
#: models (they need values >= 0). One line per model.
MODELS: Dict[str, Callable] = {
    "ImplicitALS": lambda **kw: ImplicitALS(**{"factors": 4, "iterations": 2, "random_state": 0, "n_threads": 2, **kw}),
    "ImplicitALS-cholesky": lambda **kw: ImplicitALS(**{"factors": 4, "iterations": 2, "solver": "cholesky",
                                                        "random_state": 0, "n_threads": 2, **kw}),
    "ImplicitALS-subspace": lambda **kw: ImplicitALS(**{"factors": 4, "iterations": 2, "solver": "subspace",
                                                        "block_size": 3, "random_state": 0, "n_threads": 2, **kw}),
    "BaselineOnly": lambda **kw: BaselineOnly(**{"epochs": 3, **kw}),
    "BiasedMF": lambda **kw: BiasedMF(**{"factors": 4, "epochs": 3, "n_blocks": 3, "random_state": 0, "n_threads": 2, **kw}),
    "SVDpp": lambda **kw: SVDpp(**{"factors": 4, "epochs": 3, "n_blocks": 3, "random_state": 0, "n_threads": 2, **kw}),
    "ExplicitALS": lambda **kw: ExplicitALS(**{"factors": 4, "iterations": 2, "random_state": 0, **kw}),
    "Popularity": lambda **kw: Popularity(**kw),
    "EASE": lambda **kw: EASE(**{"regularization": 10.0, "n_threads": 2, **kw}),
    "ItemKNN": lambda **kw: ItemKNN(**{"k": 5, "n_threads": 2, **kw}),
    "UserKNN": lambda **kw: UserKNN(**{"k": 5, "n_threads": 2, **kw}),
    "KNNBasic": lambda **kw: KNNBasic(**{"k": 5, "n_threads": 2, **kw}),
    "KNNWithMeans": lambda **kw: KNNWithMeans(**{"k": 5, "n_threads": 2, **kw}),
    "KNNBaseline": lambda **kw: KNNBaseline(**{"k": 5, "baseline_params": {"epochs": 3}, "n_threads": 2, **kw}),
    "BPR": lambda **kw: BPR(**{"factors": 4, "epochs": 2, "n_blocks": 2, "random_state": 0, "n_threads": 2, **kw}),
    "WARP": lambda **kw: WARP(**{"factors": 4, "epochs": 2, "n_blocks": 2, "random_state": 0, "n_threads": 2, **kw}),
    "HybridMF": lambda **kw: HybridMF(**{"factors": 4, "epochs": 2, "n_blocks": 2, "random_state": 0, "n_threads": 2,
                                         **kw}),
}
#: Models for implicit feedback, which refuse negative values (the ranking and implicit kNN models
#: too: they read every stored entry as a positive).
IMPLICIT_MODELS = {"ImplicitALS", "ImplicitALS-cholesky", "ImplicitALS-subspace", "ItemKNN", "UserKNN", "BPR", "WARP", "HybridMF"}
_CO_OCCURRENCE = "similar_items come from co-occurrence: an item nobody had has none (documented: all padding)"
_ITEM_BASED = "item-based (the default) holds item-item similarities only; user_based=True has similar_users"
#: What a model legitimately cannot do, and why (its docs say so): model -> {capability: reason}.
#: Capabilities: "thread_count" (fitted state independent of it), "similar_items_of_unseen"
#: (finite similar items for an item without interactions), "similar_users".
LIMITATIONS: Dict[str, Dict[str, str]] = {
    "Popularity": {"similar_items_of_unseen": _CO_OCCURRENCE},
    "ItemKNN": {"similar_items_of_unseen": _CO_OCCURRENCE}, "UserKNN": {"similar_items_of_unseen": _CO_OCCURRENCE},
    **{name: {"similar_items_of_unseen": _CO_OCCURRENCE, "similar_users": _ITEM_BASED}
       for name in ("KNNBasic", "KNNWithMeans", "KNNBaseline")},
}

#: Bad values every model must refuse for the parameters it has, each error naming the parameter.
COMMON_BAD_PARAMS = {
    "factors": [0, -1, True, 2.5, "8", None],
    "iterations": [0, True, 1.5],
    "epochs": [0, True, 1.5],
    "n_blocks": [0, 2.0],
    "regularization": [-1.0, np.nan, np.inf, "x"],
    "alpha": [-1.0, np.nan],
    "reg_factors": [-0.1, np.nan], "reg_bias": [-0.1, np.inf], "reg_user": [-1, np.nan], "reg_item": [-1, "x"],
    "reg_implicit": [-1.0],
    "learning_rate": [0, -0.1, np.nan],
    "learning_rate_decay": [0, 1.5],
    "init_std": [-1.0, np.nan],
    "cg_steps": [0, 1.5],
    "solver": ["lu", None],
    "dtype": [np.float16, np.int32, "garbage", None],
    "random_state": [-1, 2.5, "seed", True],
    "shuffle": ["yes", None, 1],
    "track_loss": ["yes", None],
    "show_progress": ["no", 0],
    "rating_scale": [(5, 1), (1, np.inf), "1-5", (1, 2, 3)],
    "n_threads": [0, -1, 1.5],
    "backend": ["fortran", 3],
    "callback": [3, "print"],
}
#: Per-model additions to COMMON_BAD_PARAMS (a new model's own parameters).
_NEIGHBOURS = {"k": [0, True, 2.5, None], "measure": ["euclid", None], "shrinkage": [-1.0, np.nan],
               "min_support": [0, 1.5]}
_ITEM_KNN = {**_NEIGHBOURS, "alpha": [-0.1, 1.5], "bm25_k1": [-1.0, np.inf], "bm25_b": [1.5], "exponent": [0, np.nan],
             "normalize": ["yes", 1], "binarize": [None]}
_EXPLICIT_KNN = {**_NEIGHBOURS, "measure": ["euclid", 3], "shrinkage": [-1.0, np.inf, "x"], "min_k": [0, 1.5], "user_based": ["no", None],
                 "max_neighbours": [0, 2.5], "baseline_params": ["fast", [("epochs", 3)], {"epochs": 0}, {"bogus": 1}]}
_RANKING = {"max_sampled": [0, 1.5], "samples_per_epoch": [0, 2.5], "bias_regularization": [-1.0, np.nan],
            "item_bias": ["yes", None], "fold_in_epochs": [0, True],
            "n_blocks": [0, 2.0, 1025]}
_IMPLICIT_ALS = {"regularization_exp": [-1.0, np.nan, np.inf, "x", None], "unobserved_weight": [0.0, -1.0, np.nan],
                 "confidence": ["square", None], "confidence_epsilon": [0.0, np.inf],
                 "block_size": [0, -1, 1.5, True, None]}
BAD_PARAMS: Dict[str, Dict[str, list]] = {
    "ImplicitALS": _IMPLICIT_ALS, "ImplicitALS-cholesky": _IMPLICIT_ALS, "ImplicitALS-subspace": _IMPLICIT_ALS,
    "Popularity": {"by": ["items", None, 3]},
    "ImplicitALS": _IMPLICIT_ALS, "ImplicitALS-cholesky": _IMPLICIT_ALS,
    "EASE": {"regularization": [0, -1.0, np.nan], "binarize": ["yes", None], "max_memory": [0, -1, 1.5, "1GB"]},
    "ItemKNN": _ITEM_KNN, "UserKNN": _ITEM_KNN,
    "KNNBasic": _EXPLICIT_KNN, "KNNWithMeans": _EXPLICIT_KNN, "KNNBaseline": _EXPLICIT_KNN,
    "BPR": _RANKING, "WARP": _RANKING,
    "HybridMF": {**_RANKING, "loss": ["hinge", None], "side_weight": [-1.0, np.nan, "x"], "user_identity": ["no"],
                 "item_identity": [1]},
}


def bad_params(model_name: str):
    """(parameter, bad value) pairs for the parameters this model has."""
    params = MODELS[model_name]().get_params()
    table = {**COMMON_BAD_PARAMS, **BAD_PARAMS.get(model_name, {})}
    return [(p, v) for p, values in table.items() if p in params for v in values]


# --- kernels ------------------------------------------------------------------------------

@dataclass
class KernelCall:
    """One public kernel function, how to build a small valid call, and its argument roles."""

    function: Callable
    build: Callable[[], dict]  # fresh keyword arguments of a valid call
    csr: Tuple[Tuple[str, str, int], ...] = ()  # (indptr name, indices name, number of columns)
    floats: Tuple[str, ...] = ()  # float arrays read, never written
    inf_ok: Tuple[str, ...] = ()  # floats where +-inf is an ordinary value (documented)
    indices: Tuple[Tuple[str, int], ...] = ()  # 1-D index arrays and their exclusive upper bound
    written: Tuple[str, ...] = ()  # arrays updated in place
    bad_scalars: Tuple[Tuple[str, object], ...] = field(default_factory=tuple)

    def run(self, kwargs):
        """(return value, the written arrays after the call)."""
        result = self.function(**kwargs)
        return result, {name: kwargs[name].copy() for name in self.written}


N_USERS, N_ITEMS, F = 7, 9, 3
_SCALARS = (("n_threads", 0), ("n_threads", 1.5), ("backend", "fortran"))


def _csr(rng, n_rows, n_cols, per_row=3, unique=False):
    rows = []
    for r in range(n_rows):
        count = 0 if r == n_rows - 1 else int(rng.integers(1, per_row + 1))  # the last row is empty
        rows.append(np.sort(rng.choice(n_cols - 1, count, replace=not unique)))  # the last column too
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])].astype(np.int64)
    return indptr, np.concatenate(rows).astype(np.int64)


def _factors(rng, n, dtype=np.float64):
    return rng.standard_normal((n, F)).astype(dtype)


def _als_call():
    rng = np.random.default_rng(1)
    indptr, indices = _csr(rng, N_USERS, N_ITEMS)
    return dict(indptr=indptr, indices=indices, confidence=1 + rng.random(indices.size) * 3,
                other_factors=_factors(rng, N_ITEMS), factors=np.zeros((N_USERS, F)), regularization=0.1,
                row_regularization=rng.random(N_USERS))


def _als_subspace_call():
    call = _als_call()
    rng = np.random.default_rng(14)
    call.update(factors=_factors(rng, N_USERS) * 0.1, block_size=2, row_regularization=rng.random(N_USERS) * 0.1)
    return call


def _als_loss_call():
    call = _als_call()
    rng = np.random.default_rng(2)
    return dict(indptr=call["indptr"], indices=call["indices"], confidence=call["confidence"],
                user_factors=_factors(rng, N_USERS), item_factors=call["other_factors"], regularization=0.1,
                user_regularization=call["row_regularization"], item_regularization=rng.random(N_ITEMS))


def _topk_call():
    rng = np.random.default_rng(3)
    indptr, indices = _csr(rng, N_USERS, N_ITEMS)
    scores = rng.integers(0, 4, (N_USERS, N_ITEMS)).astype(np.float64)  # ties
    scores[0, 2] = np.inf
    return dict(scores=scores, k=4, exclude_indptr=indptr, exclude_indices=indices)


def _topk_dot_call():
    rng = np.random.default_rng(4)
    indptr, indices = _csr(rng, N_USERS, N_ITEMS)
    return dict(queries=_factors(rng, N_USERS), items=_factors(rng, N_ITEMS), k=4,
                exclude_indptr=indptr, exclude_indices=indices)


def _metrics_parts(rng):
    train_indptr, train_indices = _csr(rng, N_USERS, N_ITEMS)
    test_indptr, test_indices = _csr(rng, N_USERS, N_ITEMS, unique=True)
    return dict(users=np.array([0, 2, 5, 6, 1]), train_indptr=train_indptr, train_indices=train_indices,
                test_indptr=test_indptr, test_indices=test_indices, test_gains=1 + rng.random(test_indices.size),
                graded=True)


def _factor_metrics_call():
    rng = np.random.default_rng(5)
    return dict(user_factors=_factors(rng, N_USERS), item_factors=_factors(rng, N_ITEMS), k=4, auc=True,
                **_metrics_parts(rng))


def _score_metrics_call():
    rng = np.random.default_rng(6)
    parts = _metrics_parts(rng)
    return dict(scores=rng.standard_normal((parts["users"].size, N_ITEMS)), k=4, auc=True, **parts)


def _list_metrics_call():
    rng = np.random.default_rng(7)
    parts = _metrics_parts(rng)
    top = np.array([rng.permutation(N_ITEMS)[:4] for _ in parts["users"]])
    top[1, 3] = -1
    return dict(top_items=top, users=parts["users"], test_indptr=parts["test_indptr"],
                test_indices=parts["test_indices"], test_gains=parts["test_gains"], graded=True, n_items=N_ITEMS)


def _ratings(rng, nnz=30):
    users = rng.integers(0, N_USERS, nnz)
    items = rng.integers(0, N_ITEMS, nnz)
    return users, items, rng.integers(1, 6, nnz).astype(np.float64)


def _sgd_call():
    rng = np.random.default_rng(8)
    users, items, ratings = _ratings(rng)
    block_ptr, order = K.sgd_schedule(users, items, N_USERS, N_ITEMS, 2, seed=0)
    return dict(block_ptr=block_ptr, users=users[order], items=items[order], ratings=ratings[order],
                user_factors=_factors(rng, N_USERS) * 0.1, item_factors=_factors(rng, N_ITEMS) * 0.1,
                user_bias=np.zeros(N_USERS), item_bias=np.zeros(N_ITEMS), global_mean=3.0, learning_rate=0.01,
                reg_factors=0.02, reg_bias=0.02)


def _svdpp_call():
    call = _sgd_call()
    rng = np.random.default_rng(9)
    call.update(implicit_sums=_factors(rng, N_USERS) * 0.1, gradient_sums=np.zeros((N_USERS, F)))
    return call


def _schedule_call():
    users, items, _ = _ratings(np.random.default_rng(10))
    return dict(users=users, items=items, n_users=N_USERS, n_items=N_ITEMS, n_blocks=2, seed=3)


def _explicit_als_call():
    rng = np.random.default_rng(11)
    indptr, indices = _csr(rng, N_USERS, N_ITEMS)
    return dict(indptr=indptr, indices=indices, ratings=rng.integers(1, 6, indices.size).astype(np.float64),
                other_factors=_factors(rng, N_ITEMS), other_bias=rng.standard_normal(N_ITEMS),
                factors=np.zeros((N_USERS, F)), bias=np.zeros(N_USERS), global_mean=3.0, reg_factors=0.1,
                reg_bias=0.1)


def _similarity_call():
    rng = np.random.default_rng(12)
    indptr, indices = _csr(rng, N_USERS, N_ITEMS, per_row=5)
    # Rows reversed, the empty one first: the CSR alone defines the row count here, so a
    # shortened indptr must be caught by its last entry no longer matching len(indices).
    lengths = np.diff(indptr)[::-1]
    indices = np.concatenate([indices[indptr[r]:indptr[r + 1]] for r in range(N_USERS)][::-1])
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    return dict(indptr=indptr, indices=indices, data=rng.integers(1, 4, indices.size).astype(np.float64),
                n_columns=N_ITEMS, k=3, measure="pearson", shrinkage=1.0)


def _ranking_call():
    rng = np.random.default_rng(13)
    indptr, indices = _csr(rng, N_USERS, N_ITEMS, unique=True)  # the positives: canonical rows
    return dict(indptr=indptr, indices=indices, entry_users=np.repeat(np.arange(N_USERS), np.diff(indptr)),
                user_embeddings=_factors(rng, N_USERS) * 0.1, item_embeddings=_factors(rng, N_ITEMS) * 0.1,
                item_bias=np.zeros(N_ITEMS), rng_state=K.ranking_rng_state(0, 2), loss="warp",
                rank_weights=K.harmonic_rank_weights(N_ITEMS), learning_rate=0.05, reg_user=0.01, reg_item=0.01,
                n_threads=1)


_METRIC_CSR = (("train_indptr", "train_indices", N_ITEMS), ("test_indptr", "test_indices", N_ITEMS))
_EPOCH_SCALARS = (("learning_rate", 0.0), ("learning_rate", np.nan), ("reg_factors", -1.0),
                  ("reg_bias", np.inf), ("global_mean", np.nan), ("global_mean", "3"))

#: Every public kernel function. One entry per function.
KERNEL_CALLS: Dict[str, KernelCall] = {
    "select_topk": KernelCall(
        K.select_topk, _topk_call, csr=(("exclude_indptr", "exclude_indices", N_ITEMS),), floats=("scores",),
        inf_ok=("scores",), bad_scalars=(("k", 0), ("k", True), ("k", 2.0)) + _SCALARS),
    "select_topk_dot": KernelCall(
        K.select_topk_dot, _topk_dot_call, csr=(("exclude_indptr", "exclude_indices", N_ITEMS),),
        floats=("queries", "items"), bad_scalars=(("k", 0), ("k", -3)) + _SCALARS),
    "als_half_step": KernelCall(
        K.als_half_step, _als_call, csr=(("indptr", "indices", N_ITEMS),),
        floats=("confidence", "other_factors", "row_regularization"), written=("factors",),
        bad_scalars=(("regularization", -1.0), ("regularization", np.nan), ("regularization", "x"),
                     ("row_regularization", -np.ones(N_USERS)), ("row_regularization", "x"),
                     ("cg_steps", -1), ("cg_steps", 1.5)) + _SCALARS),
    "als_subspace_half_step": KernelCall(
        K.als_subspace_half_step, _als_subspace_call, csr=(("indptr", "indices", N_ITEMS),),
        floats=("confidence", "other_factors", "row_regularization"), written=("factors",),
        bad_scalars=(("regularization", -1.0), ("regularization", np.nan), ("sweeps", 0), ("sweeps", 2.5))
        + _SCALARS),
    "als_loss": KernelCall(
        K.als_loss, _als_loss_call, csr=(("indptr", "indices", N_ITEMS),),
        floats=("confidence", "user_factors", "item_factors", "user_regularization", "item_regularization"),
        bad_scalars=(("regularization", -0.5), ("regularization", True), ("user_regularization", -np.ones(N_USERS)),
                     ("item_regularization", np.ones(N_ITEMS + 1))) + _SCALARS),
    "factor_ranking_metrics": KernelCall(
        K.factor_ranking_metrics, _factor_metrics_call, csr=_METRIC_CSR,
        floats=("user_factors", "item_factors", "test_gains"), indices=(("users", N_USERS),),
        bad_scalars=(("k", 0), ("block_size", 0), ("block_size", 2.5)) + _SCALARS),
    "score_ranking_metrics": KernelCall(
        K.score_ranking_metrics, _score_metrics_call, csr=_METRIC_CSR, floats=("scores", "test_gains"),
        inf_ok=("scores",), indices=(("users", N_USERS),), bad_scalars=(("k", 0), ("k", None)) + _SCALARS),
    "list_ranking_metrics": KernelCall(
        K.list_ranking_metrics, _list_metrics_call, csr=(("test_indptr", "test_indices", N_ITEMS),),
        floats=("test_gains",), indices=(("users", N_USERS),),
        bad_scalars=(("n_items", -1), ("n_items", 2.5)) + _SCALARS),
    "sgd_epoch": KernelCall(
        K.sgd_epoch, _sgd_call, floats=("ratings",), indices=(("users", N_USERS), ("items", N_ITEMS)),
        written=("user_factors", "item_factors", "user_bias", "item_bias"), bad_scalars=_EPOCH_SCALARS + _SCALARS),
    "svdpp_epoch": KernelCall(
        K.svdpp_epoch, _svdpp_call, floats=("ratings", "implicit_sums"),
        indices=(("users", N_USERS), ("items", N_ITEMS)),
        written=("user_factors", "item_factors", "user_bias", "item_bias", "gradient_sums"),
        bad_scalars=_EPOCH_SCALARS + _SCALARS),
    "als_explicit_half_step": KernelCall(
        K.als_explicit_half_step, _explicit_als_call, csr=(("indptr", "indices", N_ITEMS),),
        floats=("ratings", "other_factors", "other_bias"), written=("factors", "bias"),
        bad_scalars=(("global_mean", np.nan), ("global_mean", "3"), ("reg_factors", -1.0), ("reg_bias", np.inf))
        + _SCALARS),
    "similarity_topk": KernelCall(
        K.similarity_topk, _similarity_call, csr=(("indptr", "indices", N_ITEMS),), floats=("data",),
        bad_scalars=(("k", 0), ("k", 1.5), ("n_columns", -1), ("n_columns", 2.5), ("measure", "euclid"),
                     ("shrinkage", -1.0), ("shrinkage", np.nan), ("min_support", 0), ("alpha", 1.5),
                     ("exclude_self", "yes")) + _SCALARS),
    "ranking_epoch": KernelCall(
        K.ranking_epoch, _ranking_call, csr=(("indptr", "indices", N_ITEMS),), floats=("rank_weights",),
        indices=(("entry_users", N_USERS),), written=("user_embeddings", "item_embeddings", "item_bias", "rng_state"),
        bad_scalars=(("loss", "hinge"), ("n_samples", -1), ("max_sampled", 0), ("learning_rate", 0.0),
                     ("learning_rate", np.nan), ("reg_user", -1.0), ("reg_item", np.inf), ("reg_bias", "x"),
                     ("learn_bias", "yes"), ("update_items", None)) + _SCALARS),
    "sgd_schedule": KernelCall(
        K.sgd_schedule, _schedule_call, indices=(("users", N_USERS), ("items", N_ITEMS)),
        bad_scalars=(("n_blocks", 0), ("n_users", 0), ("n_items", True))),
}


# --- fixtures -----------------------------------------------------------------------------

def pytest_generate_tests(metafunc):
    if "model_name" in metafunc.fixturenames:
        names = list(MODELS)
        if "implicit_only" in metafunc.fixturenames:
            names = [n for n in names if n in IMPLICIT_MODELS]
        metafunc.parametrize("model_name", names)
    if "kernel_name" in metafunc.fixturenames:
        # @pytest.mark.kernel_role("csr") runs a test only over the calls that have such arguments.
        marker = metafunc.definition.get_closest_marker("kernel_role")
        role = marker.args[0] if marker else None
        names = [n for n, call in KERNEL_CALLS.items()
                 if role is None or (call.csr or call.indices if role == "index_arrays" else getattr(call, role))]
        metafunc.parametrize("kernel_name", names)


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel_role(role): run over the KERNEL_CALLS that have arguments of this role")


@pytest.fixture
def implicit_only():
    """Request it to run a model test over the implicit-feedback models only."""
    return True


@pytest.fixture
def is_implicit(model_name):
    """Whether the model is listed in IMPLICIT_MODELS (for a test that runs over every model)."""
    return model_name in IMPLICIT_MODELS


@pytest.fixture
def make_model(model_name):
    return MODELS[model_name]


@pytest.fixture
def limitation(model_name):
    """limitation(capability): why the model cannot do it (LIMITATIONS), or None."""
    return lambda capability: LIMITATIONS.get(model_name, {}).get(capability)


@pytest.fixture
def kernel_call(kernel_name):
    return KERNEL_CALLS[kernel_name]


@pytest.fixture
def model_bad_params(model_name):
    return bad_params(model_name)


@pytest.fixture(scope="session")
def ratings_matrix():
    """A small explicit-ratings CSR (1..5) with an empty last user and an empty last item."""
    import scipy.sparse as sp

    rng = np.random.default_rng(42)
    dense = np.where(rng.random((30, 20)) < 0.3, rng.integers(1, 6, (30, 20)), 0).astype(np.float64)
    dense[-1, :] = 0
    dense[:, -1] = 0
    dense[0, :3] = [5, 4, 1]  # user 0 has ratings whatever the draw
    return sp.csr_matrix(dense)


class KernelSpy:
    """Wraps every twin that ``fastcf.kernels._backend.twin`` hands out, recording each call.

    ``calls`` holds (kernel, function, index dtypes of the array arguments, BLAS thread counts
    seen while the call ran); the call itself runs unchanged.
    """

    def __init__(self):
        self.calls = []

    def wrap(self, kernel, module):
        spy = self

        class Proxy:
            def __getattr__(self, name):
                function = getattr(module, name)
                if not callable(function):
                    return function

                def recorded(*args):
                    from threadpoolctl import threadpool_info

                    index_dtypes = {str(a.dtype) for a in args if isinstance(a, np.ndarray) and a.dtype.kind in "iu"}
                    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
                    spy.calls.append((kernel, name, index_dtypes, blas))
                    return function(*args)

                return recorded

        return Proxy()


@pytest.fixture
def kernel_spy(monkeypatch):
    from fastcf.kernels import _backend

    spy = KernelSpy()
    real = _backend.twin
    monkeypatch.setattr(_backend, "twin", lambda kernel, backend=None: spy.wrap(kernel, real(kernel, backend)))
    return spy
