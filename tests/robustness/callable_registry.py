"""The registry of every public callable of fastcf and how to call it (issue 19, deliverable 3).

``public_callables()`` walks the package (``__all__`` of fastcf and of every public submodule,
found with pkgutil; names starting with "_" skipped) and expands each class into its
constructor and its public methods, as defined by fastcf (not those inherited from dict or
object). Every name it yields must have either an :class:`Entry` in ``ENTRIES`` (a builder of
one small valid call, and the *role* of each argument: which catalogue of malformations in
``malformed.py`` it gets) or a reason in ``EXCLUDED``; ``missing()`` lists the names with
neither, and the registry test fails on any. So a new public function or method cannot be
forgotten: it fails the test until someone says how to call it, or why it takes nothing
malformed.

The registry lives in tests/robustness/, not in fastcf/testing.py: its entries are built from
the suite's own fixtures (``conftest.KERNEL_CALLS``, ``conftest.MODELS``) and from tiny data
made here, and it drives a subprocess harness; ``fastcf.testing`` ships to users the
contract a *model* passes, which needs none of that.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import scipy.sparse as sp

import fastcf
from malformed import ERROR, FINITE_OR_ERROR, SAME_OR_ERROR, malformations


@dataclass
class Entry:
    """How to call one public callable, and which catalogue each argument gets.

    ``build()`` returns a fresh ``(function, kwargs)`` of a valid call. ``roles`` maps an
    argument name to a kind of ``malformed.CATALOGUE`` (``"kind:<bound>"`` where the kind
    needs one, ``a+b`` for an argument pair such as a kernel's indptr and indices);
    ``expect`` overrides a malformation's expectation, keyed by its name or by
    ``"<argument>: <name>"``. ``observe`` turns a result into what is compared (default: the
    arrays in it). Entries of one ``group`` run in one child process; ``twins`` runs the
    group under every kernel twin that imports.
    """

    build: Callable[[], Tuple[Callable, dict]]
    roles: Dict[str, str]
    expect: Dict[str, str] = field(default_factory=dict)
    observe: Optional[Callable] = None
    group: str = ""
    twins: bool = False

    def cases(self):
        """(case id, argument, kind, malformation, expectation) of every malformed call."""
        out = []
        for argument, kind in self.roles.items():
            for bad in malformations(_kind_of(kind)):
                expect = self.expect.get(f"{argument}: {bad.name}", self.expect.get(bad.name, bad.expect))
                if bad.name == "None" and argument in OPTIONAL:
                    expect = FINITE_OR_ERROR
                out.append((f"{argument}: {bad.name}", argument, kind, bad, expect))
        return out


#: Arguments whose documented default is None: passing None is the valid default call.
OPTIONAL = {"items", "exclude_items", "item_features", "user_features", "timestamps", "row_regularization",
            "user_regularization", "item_regularization"}


# --- discovery ------------------------------------------------------------------------

def _public_modules():
    names = ["fastcf"]
    for info in pkgutil.walk_packages(fastcf.__path__, "fastcf."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    modules = []
    for name in sorted(names):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # an optional extra (dask) not installed: its module has nothing to test
            continue
    return modules


def _methods(cls) -> List[str]:
    """The constructor (as "") and the public methods fastcf defines on ``cls`` or its bases."""
    names = {""}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("fastcf"):
            continue
        for name, value in vars(klass).items():
            if name == "__init__" or name == "__call__":
                names.add("" if name == "__init__" else name)
            elif not name.startswith("_") and isinstance(value, (staticmethod, classmethod)) or (
                    not name.startswith("_") and inspect.isfunction(value)):
                names.add(name)
    # A subclass hides an inherited method with a property raising AttributeError (UserKNN has
    # no recommend_for_history): what hasattr says is what the class offers.
    return sorted(name for name in names if not name or not isinstance(inspect.getattr_static(cls, name), property))


@functools.lru_cache(maxsize=None)
def public_callables() -> Dict[str, object]:
    """Public name -> object, each object once under its shortest public name; a class
    contributes itself (its constructor) and ``Class.method`` for each public method."""
    found: Dict[int, Tuple[str, object]] = {}
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            qualified = f"{module.__name__}.{name}"
            best = found.get(id(obj))
            if best is None or (len(qualified), qualified) < (len(best[0]), best[0]):
                found[id(obj)] = (qualified, obj)
    out = {}
    for qualified, obj in sorted(found.values(), key=lambda pair: pair[0]):
        if inspect.isclass(obj):
            for method in _methods(obj):
                out[f"{qualified}.{method}" if method else qualified] = obj
        else:
            out[qualified] = obj
    return out


# --- tiny, good data -------------------------------------------------------------------

N_USERS, N_ITEMS = 12, 10


@functools.lru_cache(maxsize=None)
def _ratings() -> sp.csr_matrix:
    """12 x 10 explicit ratings 1..5; every user has at least 3 and every item at least 1."""
    rng = np.random.default_rng(19)
    dense = np.where(rng.random((N_USERS, N_ITEMS)) < 0.4, rng.integers(1, 6, (N_USERS, N_ITEMS)), 0).astype(float)
    for user in range(N_USERS):
        dense[user, [user % N_ITEMS, (user + 3) % N_ITEMS, (user + 7) % N_ITEMS]] = 1 + user % 5
    return sp.csr_matrix(dense)


def ratings() -> sp.csr_matrix:
    return _ratings().copy()


def train_test():
    m = ratings()
    test_mask = np.arange(m.nnz) % 4 == 0
    keep = m.copy()
    keep.data = np.where(test_mask, 0, keep.data)
    keep.eliminate_zeros()
    test = m.copy()
    test.data = np.where(test_mask, test.data, 0)
    test.eliminate_zeros()
    return keep, test


def interactions(with_timestamps: bool = True):
    from fastcf.data import IdMap, Interactions

    m = ratings()
    stamps = np.arange(m.nnz, dtype=np.int64) * 1000 if with_timestamps else None
    return Interactions(m, IdMap(np.arange(N_USERS)), IdMap(np.arange(N_ITEMS)), timestamps=stamps)


def item_feature_matrix(n_features: int = 4) -> sp.csr_matrix:
    rows = np.arange(N_ITEMS)
    dense = np.zeros((N_ITEMS, n_features))
    dense[rows, rows % n_features] = 1.0
    dense[rows, (rows + 1) % n_features] = 0.5
    return sp.csr_matrix(dense)


def user_feature_matrix(n_users: int = N_USERS, n_features: int = 3) -> sp.csr_matrix:
    rows = np.arange(n_users)
    dense = np.zeros((n_users, n_features))
    dense[rows, rows % n_features] = 1.0
    dense[rows, (rows + 1) % n_features] = 0.5  # two per row: the duplicate-index case needs them
    return sp.csr_matrix(dense)


# --- models ----------------------------------------------------------------------------

def _model_factories():
    from conftest import MODELS

    return {name: make for name, make in MODELS.items() if "-" not in name}


def _model_class(name):
    import fastcf.models as models

    return getattr(models, name)


def _fit_kwargs(name) -> dict:
    if name == "HybridMF":
        return {"item_features": item_feature_matrix(), "user_features": user_feature_matrix()}
    return {}


@functools.lru_cache(maxsize=None)
def fitted(name: str, user_based: bool = False):
    """A model of class ``name`` fitted on the tiny ratings (on Interactions, so that
    partial_fit has ID maps to extend); shared by the cases of methods that do not change it.
    ``user_based`` fits the explicit kNN models on user neighbours (for similar_users)."""
    extra = {"user_based": True} if user_based else {}
    return _model_factories()[name](**extra).fit(interactions(), **_fit_kwargs(name))


IMPLICIT = {"ImplicitALS", "ItemKNN", "UserKNN", "BPR", "WARP", "HybridMF"}
_USERS = np.array([0, 3, 5])
_ITEMS = np.array([1, 2, 4, 6, 8, 9])
_HISTORY = {1: 4.0, 2: 3.0, 6: 5.0}


def _observe_model(model):
    return {key: value for key, value in vars(model).items() if key.endswith("_") and not key.startswith("_")}


def _model_entries(name) -> Dict[str, Entry]:
    cls = _model_class(name)
    make = _model_factories()[name]
    params = make().get_params()
    implicit = {"negative value": ERROR} if name in IMPLICIT else {}
    prefix = f"fastcf.models.{name}"

    def bound(method, **kwargs):
        user_based = method == "similar_users" and "user_based" in params
        return lambda: (getattr(fitted(name, user_based), method), dict(kwargs))

    entries: Dict[str, Entry] = {}
    hyper = {p: kind for p, kind in (("n_threads", "n_threads"), ("n_blocks", "n_blocks"), ("k", "k")) if p in params}

    def construct_and_fit(**kw):
        return make(**kw).fit(ratings(), **_fit_kwargs(name))

    entries[prefix] = Entry(lambda: (construct_and_fit, {p: params[p] for p in hyper}), hyper, observe=_observe_model)
    fit_roles = {"data": "sparse"}
    if name == "HybridMF":
        fit_roles.update(item_features="sparse", user_features="sparse")
    entries[f"{prefix}.fit"] = Entry(lambda: (make().fit, {"data": ratings(), **_fit_kwargs(name)}), fit_roles,
                                     expect={**implicit, "item_features: negative value": FINITE_OR_ERROR,
                                             "user_features: negative value": FINITE_OR_ERROR},
                                     observe=_observe_model)
    serve = {"users": "ids", "k": "k", "items": "ids", "exclude_items": "ids", "n_threads": "n_threads",
             "block_bytes": "count"}
    entries[f"{prefix}.recommend"] = Entry(
        bound("recommend", users=_USERS, k=3, items=_ITEMS, exclude_items=np.array([2]), n_threads=1,
              block_bytes=1 << 20), serve)
    from fastcf.models.baseline import RatingPredictor

    # Rating predictors answer an ID they do not know with the baseline (documented, as
    # Surprise does), so an unknown ID there is a valid call; elsewhere it is a KeyError.
    fallback = ({f"{arg}: {bad}": FINITE_OR_ERROR for arg in ("users", "items")
                 for bad in ("unknown ID", "negative ID", "ID 2**63 - 1")}
                if issubclass(cls, RatingPredictor) else {})
    entries[f"{prefix}.predict"] = Entry(bound("predict", users=np.array([0, 1, 2]), items=np.array([3, 4, 5])),
                                         {"users": "ids", "items": "ids"}, expect=fallback)
    entries[f"{prefix}.get_params"] = Entry(lambda: (make().get_params, {"deep": True}), {"deep": "flag"})
    methods = _methods(cls)
    if "similar_items" in methods:
        entries[f"{prefix}.similar_items"] = Entry(bound("similar_items", items=np.array([1, 2]), k=3, n_threads=1),
                                                   {"items": "ids", "k": "k", "n_threads": "n_threads"})
    if "similar_users" in methods:
        entries[f"{prefix}.similar_users"] = Entry(bound("similar_users", users=np.array([1, 2]), k=3, n_threads=1),
                                                   {"users": "ids", "k": "k", "n_threads": "n_threads"})
    if "recommend_for_history" in methods:
        entries[f"{prefix}.recommend_for_history"] = Entry(
            bound("recommend_for_history", history=dict(_HISTORY), k=3, items=_ITEMS, exclude_items=np.array([4]),
                  n_threads=1),
            {"history": "history", "k": "k", "items": "ids", "exclude_items": "ids", "n_threads": "n_threads"},
            expect=implicit)
    for method in ("fold_in", "user_factors_for"):
        if method in methods:
            entries[f"{prefix}.{method}"] = Entry(bound(method, history=dict(_HISTORY)), {"history": "history"},
                                                  expect=implicit)
    if "predict_for_history" in methods:
        entries[f"{prefix}.predict_for_history"] = Entry(
            bound("predict_for_history", history=dict(_HISTORY), items=np.array([0, 3, 5])),
            {"history": "history", "items": "ids"}, expect=implicit)
    if "explain" in methods:
        entries[f"{prefix}.explain"] = Entry(bound("explain", user=3, item=4, k=2),
                                             {"user": "id", "item": "id", "k": "k"})
    if "partial_fit" in methods:
        def partial_fit(data):
            return _model_factories()[name]().fit(interactions()).partial_fit(data)

        entries[f"{prefix}.partial_fit"] = Entry(lambda: (partial_fit, {"data": interactions()}),
                                                 {"data": "interactions"}, expect=implicit, observe=_observe_model)
    if "required_memory" in methods:
        entries[f"{prefix}.required_memory"] = Entry(lambda: (cls.required_memory, {"n_items": 50}),
                                                     {"n_items": "count"})
    if name == "HybridMF":
        user_rows = user_feature_matrix(2)
        entries[f"{prefix}.cold_user_factors"] = Entry(bound("cold_user_factors", features=user_rows),
                                                       {"features": "sparse"},
                                                       expect={"negative value": FINITE_OR_ERROR})
        entries[f"{prefix}.recommend_for_features"] = Entry(
            bound("recommend_for_features", features=user_rows, k=3, items=_ITEMS, n_threads=1),
            {"features": "sparse", "k": "k", "items": "ids", "n_threads": "n_threads"},
            expect={"negative value": FINITE_OR_ERROR})
        entries[f"{prefix}.score_new_items"] = Entry(
            bound("score_new_items", features=item_feature_matrix()[:2], users=np.array([0, 1])),
            {"features": "sparse", "users": "ids"},
            expect={"negative value": FINITE_OR_ERROR, "users: None": FINITE_OR_ERROR})
    for entry in entries.values():
        entry.group = prefix
    return entries


# --- kernels ---------------------------------------------------------------------------

#: Malformations that are valid calls of the kernels: None is the documented default of the
#: gains, the WARP weights and the per-row regularisation; one block fewer of random streams is a schedule of fewer
#: blocks; and the fixtures leave the last item without entries (an adversarial empty
#: column), so item-side factors one row short still cover every index the call reads.
_KERNEL_VALID_VARIANTS = ("test_gains: None", "rank_weights: None", "row_regularization: None", "rng_state: one row fewer",
                          "other_factors: one element fewer", "item_factors: one element fewer",
                          "items: one element fewer")


def _kernel_entries() -> Dict[str, Entry]:
    import fastcf.kernels as K
    from conftest import KERNEL_CALLS

    entries = {}
    for name, call in KERNEL_CALLS.items():
        sample = call.build()
        roles = {f"{indptr}+{indices}": f"csr_pair:{n}" for indptr, indices, n in call.csr}
        roles.update({arg: "dense" for arg in call.floats})
        roles.update({arg: f"index:{bound}" for arg, bound in call.indices})
        roles.update({arg: "written" for arg in call.written})
        for arg, kind in (("k", "k"), ("n_blocks", "n_blocks"), ("n_items", "count"), ("n_users", "count"),
                          ("n_columns", "count"), ("block_size", "count")):
            if arg in sample:
                roles[arg] = kind
        takes_threads = "n_threads" in inspect.signature(call.function).parameters
        if takes_threads:
            roles["n_threads"] = "n_threads"
        expect = {f"{arg}: {bad}": FINITE_OR_ERROR for arg in call.inf_ok for bad in ("+inf", "-inf")}
        expect.update({case: FINITE_OR_ERROR for case in _KERNEL_VALID_VARIANTS})

        def build(call=call, takes_threads=takes_threads):
            kwargs = call.build()
            if takes_threads:
                kwargs.setdefault("n_threads", 1)
            return (lambda **kw: call.run(kw)), kwargs

        entries[f"fastcf.kernels.{name}"] = Entry(build, roles, expect=expect, group="fastcf.kernels", twins=True)
    entries["fastcf.kernels.harmonic_rank_weights"] = Entry(lambda: (K.harmonic_rank_weights, {"n_items": 9}),
                                                            {"n_items": "count"}, group="fastcf.kernels")
    entries["fastcf.kernels.ranking_rng_state"] = Entry(lambda: (K.ranking_rng_state, {"seed": 0, "n_blocks": 3}),
                                                        {"n_blocks": "n_blocks"}, group="fastcf.kernels")
    return entries


# --- evaluation ------------------------------------------------------------------------

def _top_items():
    return fitted("ItemKNN").recommend(np.arange(N_USERS), 3)[0]


def _evaluation_entries() -> Dict[str, Entry]:
    import fastcf.evaluation as E

    def split_call(function, model="ItemKNN", **kwargs):
        def build():
            train, test = train_test()
            return function, {"model": fitted(model), "train": train, "test": test, **kwargs}
        return build

    sparse_pair = {"train": "sparse", "test": "sparse"}
    rating_pair = lambda: (lambda: (E.rmse, {"y_true": np.array([1.0, 3, 4, 5]), "y_pred": np.array([1.5, 2, 4, 4])}))
    entries = {
        "fastcf.evaluate": Entry(split_call(E.evaluate, k=3, n_threads=1, block_size=4),
                                 {**sparse_pair, "k": "k", "n_threads": "n_threads", "block_size": "count"}),
        "fastcf.evaluate[ImplicitALS]": Entry(split_call(E.evaluate, "ImplicitALS", k=3, n_threads=1),
                                              {**sparse_pair, "k": "k", "n_threads": "n_threads"}),
        "fastcf.evaluate[diversity]": Entry(
            split_call(E.evaluate, k=3, metrics=("ndcg", "diversity", "novelty"), item_features=item_feature_matrix()),
            {"item_features": "sparse"}, expect={"negative value": FINITE_OR_ERROR}),
        "fastcf.evaluation.metrics_at_k": Entry(split_call(E.metrics_at_k, ks=(1, 3), n_threads=1),
                                                {**sparse_pair, "ks": "ks", "n_threads": "n_threads"}),
        "fastcf.evaluation.metrics_at_k[ImplicitALS]": Entry(split_call(E.metrics_at_k, "ImplicitALS", ks=(1, 3)),
                                                             {**sparse_pair, "ks": "ks"}),
        "fastcf.evaluation.compare_at_k": Entry(
            lambda: (E.compare_at_k, {"models": {"knn": fitted("ItemKNN")}, "train": train_test()[0],
                                      "test": train_test()[1], "ks": (1, 3)}),
            {**sparse_pair, "ks": "ks"}),
        "fastcf.evaluation.ranking_metrics": Entry(
            lambda: (E.ranking_metrics, {"recommended": _top_items(), "test": train_test()[1],
                                         "train": train_test()[0], "item_features": item_feature_matrix(),
                                         "metrics": ("ndcg", "recall", "diversity", "novelty"), "n_threads": 1}),
            {"recommended": f"top_items:{N_ITEMS}", "test": "sparse", "train": "sparse", "item_features": "sparse",
             "n_threads": "n_threads"},
            expect={"item_features: negative value": FINITE_OR_ERROR, "train: None": FINITE_OR_ERROR}),
        "fastcf.evaluation.rating_metrics": Entry(
            lambda: (E.rating_metrics, rating_pair()()[1]), {"y_true": "dense", "y_pred": "dense"}),
        "fastcf.evaluation.rmse": Entry(rating_pair(), {"y_true": "dense", "y_pred": "dense"}),
        "fastcf.evaluation.mae": Entry(lambda: (E.mae, rating_pair()()[1]), {"y_true": "dense", "y_pred": "dense"}),
        "fastcf.evaluation.catalog_coverage": Entry(
            lambda: (E.catalog_coverage, {"recommended": _top_items(), "n_items": N_ITEMS}),
            {"recommended": f"top_items:{N_ITEMS}", "n_items": "count"}),
        "fastcf.evaluation.novelty": Entry(lambda: (E.novelty, {"recommended": _top_items(), "train": ratings()}),
                                           {"recommended": f"top_items:{N_ITEMS}", "train": "sparse"}),
        "fastcf.evaluation.intra_list_diversity": Entry(
            lambda: (E.intra_list_diversity, {"recommended": _top_items(), "item_features": item_feature_matrix()}),
            {"recommended": f"top_items:{N_ITEMS}", "item_features": "sparse"},
            expect={"negative value": FINITE_OR_ERROR}),
    }

    def heldout_call(model="ItemKNN", **kwargs):
        def build():
            from fastcf.data import heldout_user_split

            split = heldout_user_split(interactions(), 0, 4, seed=0)
            return E.evaluate_heldout, {"model": _model_factories()[model]().fit(split.train), "part": split.test,
                                        **kwargs}
        return build

    entries["fastcf.evaluate_heldout"] = Entry(
        heldout_call(k=3, n_threads=1, block_size=4),
        {"part": "heldout_part", "k": "k", "n_threads": "n_threads", "block_size": "count"})
    entries["fastcf.evaluate_heldout[ImplicitALS]"] = Entry(
        heldout_call("ImplicitALS", k=(1, 3), metrics=("calibrated_recall", "ndcg", "auc"), n_threads=1),
        {"part": "heldout_part", "k": "ks", "n_threads": "n_threads"},
        observe=lambda results: [np.array([value for key, value in sorted(r.items())]) for r in results.values()])
    entries["fastcf.evaluate_heldout[EASE, diversity]"] = Entry(
        heldout_call("EASE", k=3, metrics=("ndcg", "diversity", "novelty"), item_features=item_feature_matrix()),
        {"item_features": "sparse"}, expect={"negative value": FINITE_OR_ERROR})

    def callback(**kwargs):
        cb = E.EvaluationCallback(**kwargs)
        cb(1, fitted("ItemKNN"))
        return cb.history

    entries["fastcf.evaluation.EvaluationCallback"] = Entry(
        lambda: (callback, {"train": train_test()[0], "test": train_test()[1], "k": 3, "n_threads": 1}),
        {**sparse_pair, "k": "k", "n_threads": "n_threads"})

    def make_model(**params):
        return _model_factories()["ItemKNN"](**params)

    entries["fastcf.cross_validate"] = Entry(
        lambda: (E.cross_validate, {"make_model": make_model, "data": interactions(), "folds": 2, "k": 3}),
        {"data": "interactions", "folds": "count", "k": "k"})
    entries["fastcf.grid_search"] = Entry(
        lambda: (E.grid_search, {"make_model": make_model, "data": interactions(), "param_grid": {"k": [2, 3]},
                                 "folds": 2, "k": 3, "refit": True}),
        {"data": "interactions", "folds": "count", "k": "k", "refit": "flag"})
    for entry in entries.values():
        entry.group = "fastcf.evaluation"
    return entries


# --- data, config, progress, testing ---------------------------------------------------

def _observe_interactions(result):
    """The arrays of an Interactions (or of a tuple/list of them), item_user included: its
    transpose is where a column index out of range used to crash."""
    from fastcf.data import Interactions

    if isinstance(result, Interactions):
        return [result.matrix, result.item_user, result.timestamps, result.users.raw_ids, result.items.raw_ids]
    if isinstance(result, (tuple, list)):
        return [_observe_interactions(part) for part in result]
    return result


def _data_entries() -> Dict[str, Entry]:
    import fastcf.data as D
    from fastcf.data.interactions import index_dtype_for

    def on_data(function, roles=None, expect=None, **kwargs):
        return Entry(lambda: (function, {"data": interactions(), **kwargs}), {"data": "interactions", **(roles or {})},
                     observe=_observe_interactions, expect=expect or {})

    def construct(matrix, users, items, timestamps):
        return D.Interactions(matrix, users, items, timestamps=timestamps)

    entries = {
        "fastcf.Interactions": Entry(
            lambda: (construct, {"matrix": ratings(), "users": D.IdMap(np.arange(N_USERS)),
                                 "items": D.IdMap(np.arange(N_ITEMS)),
                                 "timestamps": np.arange(ratings().nnz, dtype=np.int64)}),
            {"matrix": "sparse", "timestamps": "dense"}, observe=_observe_interactions),
        "fastcf.Interactions.replace": Entry(lambda: (interactions().replace, {"matrix": ratings()}),
                                             {"matrix": "sparse"}, observe=_observe_interactions,
                                             expect={"matrix: None": FINITE_OR_ERROR}),  # None: keep the matrix
        "fastcf.Interactions.select_entries": Entry(
            lambda: (interactions().select_entries, {"mask": np.arange(ratings().nnz) % 3 > 0}), {"mask": "mask"},
            observe=_observe_interactions),
        "fastcf.Interactions.reindex": Entry(
            lambda: (interactions().reindex, {"users": D.IdMap(np.arange(N_USERS + 2)),
                                              "items": D.IdMap(np.arange(N_ITEMS)[::-1])}),
            {"users": "id_map", "items": "id_map"}, observe=_observe_interactions),
        "fastcf.data.IdMap": Entry(lambda: (D.IdMap, {"raw_ids": np.array([5, 3, 9, 1])}), {"raw_ids": "raw_ids"},
                                   observe=lambda m: m.raw_ids),
        "fastcf.data.IdMap.factorize": Entry(lambda: (D.IdMap.factorize, {"values": np.array([5, 3, 5, 1, 3])}),
                                             {"values": "id_column"},
                                             expect={"one element short": FINITE_OR_ERROR},
                                             observe=lambda r: (r[0].raw_ids, r[1])),
        "fastcf.data.IdMap.to_index": Entry(lambda: (D.IdMap(np.arange(6)).to_index, {"raw_ids": np.array([1, 4])}),
                                            {"raw_ids": "ids"}),
        "fastcf.data.IdMap.to_raw": Entry(lambda: (D.IdMap(np.arange(6) * 10).to_raw, {"indices": np.array([1, 4, 5])}),
                                          {"indices": "index:6"}),
        "fastcf.data.IdMap.extend": Entry(lambda: (D.IdMap(np.arange(4)).extend, {"raw_ids": np.array([2, 7, 9])}),
                                          {"raw_ids": "raw_ids"}, expect={"duplicate IDs": FINITE_OR_ERROR},
                                          observe=lambda m: m.raw_ids),
        "fastcf.from_arrays": Entry(
            lambda: (D.from_arrays, {"users": np.array([1, 1, 2, 5, 5, 7]), "items": np.array([3, 4, 3, 9, 4, 3]),
                                     "ratings": np.array([4.0, 3, 5, 1, 2, 4]),
                                     "timestamps": np.arange(6, dtype=np.int64) * 10, "on_bad_row": "error"}),
            {"users": "id_column", "items": "id_column", "ratings": "dense", "timestamps": "dense"},
            observe=_observe_interactions,
            # None: implicit feedback (every rating 1); numbers in an object array are numbers.
            expect={"ratings: None": FINITE_OR_ERROR, "ratings: object dtype": SAME_OR_ERROR,
                    "timestamps: object dtype": SAME_OR_ERROR}),
        "fastcf.data.binarize": on_data(D.binarize, {"threshold": "number"}, threshold=3.0),
        "fastcf.data.bm25": on_data(D.bm25, {"k1": "number", "b": "number"}, k1=1.2, b=0.75),
        "fastcf.data.compact": on_data(D.compact),
        "fastcf.data.confidence": on_data(D.confidence, {"alpha": "number"}, alpha=40.0),
        "fastcf.data.log_confidence": on_data(D.log_confidence, {"alpha": "number", "epsilon": "number"}, alpha=1.0,
                                              epsilon=1.0),
        "fastcf.data.tfidf": on_data(D.tfidf),
        "fastcf.data.k_core": on_data(D.k_core, {"min_user_entries": "count", "min_item_entries": "count"},
                                      min_user_entries=1, min_item_entries=1),
        "fastcf.data.kfold": on_data(D.kfold, {"n_folds": "count"}, n_folds=2),
        "fastcf.data.leave_k_out": on_data(D.leave_k_out, {"k": "k"}, k=1),
        "fastcf.data.random_split": on_data(D.random_split, {"test_fraction": "fraction"}, test_fraction=0.25),
        "fastcf.data.temporal_split": on_data(D.temporal_split, {"test_fraction": "fraction"}, test_fraction=0.25),
        "fastcf.data.user_fraction_split": on_data(D.user_fraction_split, {"test_fraction": "fraction"},
                                                   test_fraction=0.25),
        "fastcf.data.heldout_user_split": on_data(
            D.heldout_user_split, {"n_validation": "count", "n_test": "count", "fold_in_fraction": "fraction"},
            expect={"n_validation: 0": FINITE_OR_ERROR},  # no validation users: a valid split
            n_validation=2, n_test=3, fold_in_fraction=0.8),
        "fastcf.data.align_test": Entry(lambda: (D.align_test, {"train": interactions(), "test": interactions()}),
                                        {"train": "interactions", "test": "interactions"},
                                        observe=_observe_interactions),
        "fastcf.data.synthetic": Entry(lambda: (D.synthetic, {"n_users": 20, "n_items": 15, "n_ratings": 100}),
                                       {"n_users": "count", "n_items": "count", "n_ratings": "count"},
                                       observe=_observe_interactions),
        "fastcf.data.interactions.index_dtype_for": Entry(
            lambda: (index_dtype_for, {"n_rows": 10, "n_cols": 10, "nnz": 30}),
            {"n_rows": "count", "n_cols": "count", "nnz": "count"},
            observe=lambda dtype: np.array([np.dtype(dtype).itemsize]),
            expect={f"{arg}: 0": SAME_OR_ERROR for arg in ("n_rows", "n_cols", "nnz")}),  # empty: int32
    }
    for entry in entries.values():
        entry.group = "fastcf.data"
    return entries


def _misc_entries() -> Dict[str, Entry]:
    from fastcf.config import get_num_threads, set_num_threads
    from fastcf.models.item_knn import pruned_similarity
    from fastcf.progress import FitProgress, get_progress, set_progress
    from fastcf.testing import topk_problem

    def threads(n):
        try:
            set_num_threads(n)
            return np.array([get_num_threads()])
        finally:
            set_num_threads(None)

    def progress(show):
        before = get_progress()
        try:
            set_progress(show)
            return np.array([bool(get_progress())])
        finally:
            set_progress(before)

    def fit_progress(**kwargs):
        with FitProgress(**kwargs, show=False) as bar:
            bar.update()
        return np.array([1])

    entries = {
        "fastcf.set_num_threads": Entry(lambda: (threads, {"n": 1}), {"n": "n_threads"}),
        "fastcf.set_progress": Entry(lambda: (progress, {"show": False}), {"show": "flag"}),
        "fastcf.progress.FitProgress": Entry(lambda: (fit_progress, {"owner": "Test", "total": 3, "unit": "it"}),
                                             {"total": "count"}),
        "fastcf.testing.topk_problem": Entry(lambda: (topk_problem, {"n_rows": 3, "n_items": 8, "n_excluded": 2}),
                                             {"n_rows": "count", "n_items": "count"},
                                             expect={"n_rows: 0": FINITE_OR_ERROR}),  # an empty block
        "fastcf.models.item_knn.pruned_similarity": Entry(
            lambda: (pruned_similarity, {"rows": ratings().T.tocsr(), "k": 3, "measure": "cosine", "shrinkage": 0.0,
                                         "min_support": 1, "alpha": 0.5, "bm25_k1": 1.2, "bm25_b": 0.75,
                                         "n_threads": 1, "backend": None}),
            {"rows": "sparse", "k": "k", "n_threads": "n_threads", "backend": "backend"}),
    }
    for entry in entries.values():
        entry.group = "fastcf.misc"
    return entries


# --- distributed (dask) ----------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def dask_client():
    """One in-process cluster (threads) for the child's distributed cases: starting one per case
    would cost seconds each."""
    from distributed import Client

    return Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)


def _distributed_entries() -> Dict[str, Entry]:
    try:
        import fastcf.distributed as dist
    except ImportError:
        return {}

    def with_client(function, **kwargs):
        return lambda: (functools.partial(function, dask_client()), kwargs() if callable(kwargs) else kwargs)

    als = {"factors": 3, "iterations": 1, "random_state": 0}
    entries = {
        "fastcf.distributed.fit_als": Entry(
            lambda: (functools.partial(dist.fit_als, dask_client(), **als), {"data": ratings(), "n_blocks": 2}),
            {"data": "sparse", "n_blocks": "n_blocks"}, expect={"negative value": ERROR}, observe=_observe_model),
        "fastcf.distributed.rating_blocks": Entry(
            lambda: (functools.partial(dist.rating_blocks, dask_client()), {"data": ratings(), "n_blocks": 2,
                                                                            "factors": 3}),
            {"data": "sparse", "n_blocks": "n_blocks", "factors": "count"}, expect={"negative value": ERROR},
            observe=lambda blocks: np.array([1])),
        "fastcf.distributed.recommend_all": Entry(
            lambda: (functools.partial(dist.recommend_all, dask_client()), {"model": fitted("ImplicitALS"), "k": 3,
                                                                            "n_blocks": 2}),
            {"k": "k", "n_blocks": "n_blocks"}),
        "fastcf.distributed.evaluate": Entry(
            lambda: (functools.partial(dist.evaluate, dask_client()),
                     {"model": fitted("ImplicitALS"), "train": train_test()[0], "test": train_test()[1], "k": 3,
                      "n_blocks": 2}),
            {"train": "sparse", "test": "sparse", "k": "k", "n_blocks": "n_blocks"}),
        "fastcf.distributed.warm_up_kernels": Entry(lambda: (dist.warm_up_kernels, {"backend": None}),
                                                    {"backend": "backend"}, observe=lambda seconds: np.array([1])),
        "fastcf.distributed.KernelWarmup": Entry(lambda: (dist.KernelWarmup, {"backend": None}),
                                                 {"backend": "backend"}, observe=lambda warmup: np.array([1])),
        "fastcf.distributed.prepare_cluster": Entry(
            lambda: (functools.partial(dist.prepare_cluster, dask_client()), {"backend": None}),
            {"backend": "backend"}, observe=lambda _: np.array([1])),
    }
    for entry in entries.values():
        entry.group = "fastcf.distributed"
    return entries


# --- exclusions ------------------------------------------------------------------------

_FILES = ("reads files: malformed files are fuzzed by tests/robustness/test_loader_fuzz.py and "
          "tests/data/test_readers.py (errors name the file and line)")
_MODEL_FILES = "model files: corrupt, truncated and foreign files -> ModelFileError, tests/test_persistence.py"
_NO_ARGUMENTS = "takes no argument that could be malformed"
_REFERENCE = ("the NumPy specification twin, an unchecked core by design: its checked edge is fastcf.kernels.{name}, "
              "run here under FASTCF_BACKEND=reference")
_ABSTRACT = "abstract base class: its methods are registered through every concrete model"
_SPLIT_PARTS = "a named tuple of Interactions that heldout_user_split builds; evaluate_heldout checks what it holds"
_RESULTS = "a result container fastcf builds from checked arrays (evaluate, cross_validate, grid_search)"

#: Public callables that take nothing malformed, or are covered elsewhere; name -> why.
EXCLUDED: Dict[str, str] = {
    "fastcf.cli.main": "command line: argv strings, exit codes and messages tested in tests/test_cli.py",
    "fastcf.show_versions": _NO_ARGUMENTS, "fastcf.get_num_threads": _NO_ARGUMENTS,
    "fastcf.get_progress": _NO_ARGUMENTS, "fastcf.config.usable_cores": _NO_ARGUMENTS,
    "fastcf.data.download.default_cache": _NO_ARGUMENTS,
    "fastcf.data.download_movielens": "network download (checksummed); tests/data/test_download.py",
    "fastcf.read_ratings": _FILES, "fastcf.read_movielens": _FILES, "fastcf.data.read_movielens_folds": _FILES,
    "fastcf.data.read_movielens_items": _FILES, "fastcf.data.read_movielens_users": _FILES,
    "fastcf.data.detect_movielens": _FILES,
    "fastcf.data.item_features": "reads the item_info frame of a MovieLens Interactions; tests/data/test_readers.py",
    "fastcf.data.user_features": "reads the user_info frame of a MovieLens Interactions; tests/data/test_readers.py",
    "fastcf.data.CleaningReport": "a report fastcf fills while reading; no arrays",
    "fastcf.data.CleaningReport.rows": "a report fastcf fills while reading; no arrays",
    "fastcf.Interactions.to_frame": _NO_ARGUMENTS,
    "fastcf.load": _MODEL_FILES, "fastcf.persistence.save": _MODEL_FILES, "fastcf.persistence.read_header": _MODEL_FILES,
    "fastcf.evaluation.plot_history": "matplotlib drawing of a history fastcf produced; tests/evaluation",
    "fastcf.evaluation.plot_metric_at_k": "matplotlib drawing of curves fastcf produced; tests/evaluation",
    "fastcf.evaluation.Evaluation": _RESULTS,
    "fastcf.data.HeldoutPart": _SPLIT_PARTS, "fastcf.data.HeldoutSplit": _SPLIT_PARTS,
    "fastcf.evaluation.CrossValidation": _RESULTS,
    "fastcf.evaluation.CrossValidation.summary": _NO_ARGUMENTS, "fastcf.evaluation.GridSearch": _RESULTS,
    "fastcf.evaluation.EvaluationCallback.__call__": "its arrays are the constructor's (registered, called there)",
    "fastcf.evaluation.EvaluationCallback.to_frame": _NO_ARGUMENTS,
    "fastcf.exceptions.DataError": "an exception type", "fastcf.exceptions.ModelFileError": "an exception type",
    "fastcf.exceptions.NotFittedError": "an exception type", "fastcf.exceptions.IndexOutOfRangeError": "an exception type",
    "fastcf.kernels.BackendFallbackWarning": "a warning type",
    "fastcf.testing.check_recommender": "a test helper: raises AssertionError by design (tests/models/test_contract.py)",
    "fastcf.testing.check_round_trip": "a test helper: raises AssertionError by design (tests/models/test_contract.py)",
    "fastcf.progress.FitProgress.update": "advances a bar fastcf owns; the total is checked by the constructor",
}
#: Methods every model has that take nothing malformed, or are covered elsewhere.
EXCLUDED_METHODS = {
    "save": _MODEL_FILES, "load": _MODEL_FILES,
    "set_params": ("stores constructor parameters verbatim, as the constructor does (scikit-learn's convention): "
                   "fit checks the values, an unknown name is a ValueError (tests/models/test_params.py)"),
}
_ABSTRACT_BASES = ("fastcf.models.Recommender", "fastcf.models.FactorModel", "fastcf.models.baseline.RatingPredictor",
                   "fastcf.models.bpr.RankingFactorModel")


def exclusion(name: str) -> Optional[str]:
    """Why ``name`` has no entry, or None."""
    if name in EXCLUDED:
        return EXCLUDED[name]
    if any(name == base or name.startswith(base + ".") for base in _ABSTRACT_BASES):
        return _ABSTRACT
    if ".reference." in name:
        return _REFERENCE.format(name=name.rsplit(".", 1)[1])
    owner, _, method = name.rpartition(".")
    if owner.startswith("fastcf.models.") and method in EXCLUDED_METHODS:
        return EXCLUDED_METHODS[method]
    if owner.startswith("fastcf.distributed.") and method in ("setup", "teardown"):
        return "a worker plugin's hook, called by dask with its own worker"
    return None


@functools.lru_cache(maxsize=None)
def entries() -> Dict[str, Entry]:
    import fastcf.models as models

    out: Dict[str, Entry] = {}
    for name in models.__all__:
        if name in _model_factories():
            out.update(_model_entries(name))
    out.update(_kernel_entries())
    out.update(_evaluation_entries())
    out.update(_data_entries())
    out.update(_misc_entries())
    out.update(_distributed_entries())
    return out


def registered_callable(entry_name: str) -> str:
    """The public callable an entry calls (an entry name may add a variant: ``name[variant]``)."""
    return entry_name.split("[", 1)[0]


def missing() -> List[str]:
    """Public callables with neither an entry nor an exclusion."""
    covered = {registered_callable(name) for name in entries()}
    return [name for name in public_callables() if name not in covered and exclusion(name) is None]


def stale() -> List[str]:
    """Entries or exclusions naming something that is no longer public."""
    public = set(public_callables())
    names = [registered_callable(n) for n in entries()] + list(EXCLUDED)
    return sorted({n for n in names if n not in public})


def _kind_of(kind: str) -> str:
    return WRAPPED_KINDS[kind][0] if kind in WRAPPED_KINDS else kind


def _ks_wrap(valid, bad):
    return (1, bad)


def _heldout_part_wrap(valid, bad):
    """The valid held-out part with the malformed matrix as its fold-in items; a non-matrix
    stands for the whole argument."""
    if not sp.issparse(bad):
        return bad
    return type(valid)(_interactions_wrap(valid.fold_in, bad), valid.targets)


def _interactions_wrap(valid, bad):
    """A copy of the valid Interactions holding the malformed matrix, as a caller who mutated
    ``.matrix`` would pass it; a non-matrix stands for the whole argument."""
    if not sp.issparse(bad):
        return bad
    import copy

    out = copy.copy(valid)
    out.matrix = bad
    out._item_user = None
    if out.timestamps is not None and len(out.timestamps) != bad.nnz:
        out.timestamps = None
    return out


#: Kinds built from another kind's catalogue: kind -> (inner kind, valid -> inner valid,
#: (valid, malformed inner) -> malformed value).
WRAPPED_KINDS = {
    "ks": ("k", lambda valid: valid[-1], _ks_wrap),
    "interactions": ("sparse", lambda valid: valid.matrix, _interactions_wrap),
    "heldout_part": ("sparse", lambda valid: valid.fold_in.matrix, _heldout_part_wrap),
}


def apply(kind: str, valid, bad):
    """The malformed argument: ``bad.make`` on the valid value (through a wrapper kind)."""
    base, _, parameter = kind.partition(":")
    if base in WRAPPED_KINDS:
        _, unwrap, wrap = WRAPPED_KINDS[base]
        return wrap(valid, bad.make(unwrap(valid), parameter))
    return bad.make(valid, parameter)
