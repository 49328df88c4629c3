"""The serving API every fastcf model shares: recommend, recommend_for_history, predict, similar items/users.

A model fits on :class:`~fastcf.data.Interactions` (raw IDs in and out) or on a users x items
scipy CSR matrix (dense indices in and out). Subclasses provide the math:

- ``_fit(matrix)`` from a validated CSR;
- how they score, declared by ``_scoring``:

  - ``"dot"``: score(u, i) = queries_u · items_i + offset_u. ``_item_vectors()`` gives the
    item side (built once per fitted state, biases folded in as a column), and
    ``_query_vectors(state)`` the user side and offset (the global mean and user bias of
    rating models, which do not change a user's ranking) from a *user state*.
    recommend, fold-in and evaluate then run the fused score-and-select kernels.
  - ``"rows"``: ``_scores_of_state(state, block, items)`` gives a dense block of scores
    (neighbour and history models, rating grids).

- the user state of training users, ``_user_state(user_indices)``, and the one fold-in
  hook, ``_fold_in(rows)``: the state of new users from their histories (a CSR over the
  fitted items), in the same form. ``recommend`` and ``recommend_for_history`` are then the
  same code on two kinds of state.

Fitted state lives in attributes ending in ``_`` (numpy arrays, scipy CSR, IdMaps, plain
values), which ``save`` writes generically (:mod:`fastcf.persistence`); ``_state_shapes``
declares the shapes a loaded state must have, so that a damaged file is refused at load.

Recommendation scores users in blocks of at most ``block_bytes`` of scores at a time, so
memory stays bounded (a block of users x items, never all users x items), and selects the
top k of each block with the :func:`fastcf.kernels.select_topk` kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from fastcf.data.id_map import IdMap
from fastcf.data.interactions import Interactions
from fastcf.exceptions import DataError, IndexOutOfRangeError, NotFittedError
from fastcf.kernels import select_topk
from fastcf.kernels.topk import select_topk_dot_unchecked
from fastcf.kernels._backend import resolve_backend
from fastcf._validation import (IMPLICIT_FEEDBACK, as_canonical_csr, check_interactions, as_float_vector, check_finite, check_flag,
                                check_float_dtype, check_n_threads, check_nonnegative, check_optional_flag,
                                check_positive_int, check_representable, check_seed, check_squarable, check_summable,
                                empty_csr_structure, message)
from fastcf.kernels._threads import single_threaded_blas
from fastcf.models._pairs import pair_answer

__all__ = ["FactorModel", "Recommender"]

DEFAULT_BLOCK_BYTES = 64 << 20


class Recommender:
    """Base class: fitted state, ID handling and the recommend / similar / fold-in API."""

    #: Fitted attributes whose presence marks a fitted model (subclasses extend).
    _fitted_attributes: Tuple[str, ...] = ("seen_",)
    #: The only attributes ``fastcf.load`` sets from a file (merged over the class hierarchy, each
    #: class naming what it adds); a file holding any other is refused. See fastcf.persistence.
    _restorable_: Tuple[str, ...] = ("seen_", "users_", "items_", "drift_")
    #: Shapes of fitted arrays, checked when a model is loaded: one name per axis, where
    #: "n_users" and "n_items" are the fitted matrix's and any other name must be the same
    #: length wherever it appears (merged over the class hierarchy; subclasses add theirs).
    _state_shapes: Dict[str, Tuple[str, ...]] = {}
    #: Every Recommender subclass by (module, qualified name): how ``fastcf.load`` finds a
    #: model's class without importing anything a file names.
    _registry: Dict[Tuple[str, str], type] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Recommender._registry[(cls.__module__, cls.__qualname__)] = cls

    @classmethod
    def _registered_class(cls, name: str, module: Optional[str] = None) -> Optional[type]:
        """The registered class of that name (from ``module`` where several share it)."""
        if (module, name) in cls._registry:
            return cls._registry[(module, name)]
        matches = [klass for (_, qualname), klass in cls._registry.items() if qualname == name]
        return matches[0] if len(matches) == 1 else None

    # --- parameters (scikit-learn conventions) --------------------------------------------

    @classmethod
    def _param_names(cls) -> Tuple[str, ...]:
        """The constructor's parameters, in signature order (none for a class without a constructor)."""
        import inspect

        if cls.__init__ is object.__init__:
            return ()
        parameters = inspect.signature(cls.__init__).parameters.values()
        return tuple(p.name for p in parameters
                     if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters and their values, as scikit-learn's ``get_params``.

        Parameters
        ----------
        deep : bool
            Also list the parameters of any parameter that has ``get_params`` itself (a model
            inside a model), as ``name__parameter``.

        Returns
        -------
        dict {name: value}, the constructor's parameters first, in its order
        """
        deep = check_flag(deep, "deep", f"{type(self).__name__}.get_params")
        params = {}
        for name in self._param_names():
            value = getattr(self, name)
            params[name] = value
            # A class has an unbound get_params: only instances are nested models.
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", inner) for key, inner in value.get_params().items())
        return params

    def set_params(self, **params) -> "Recommender":
        """Set constructor parameters by name (``name__parameter`` for a nested model's); returns self.

        As scikit-learn's ``set_params``: the values are stored as given and checked by the
        next ``fit``, as the constructor's are; a fitted model keeps its fitted state until
        then. An unknown name raises ValueError listing the valid ones, before anything is set.
        """
        name = type(self).__name__
        valid = self._param_names()
        direct, nested = {}, {}
        for key, value in params.items():
            param, nests, inner = key.partition("__")
            if param not in valid:
                raise ValueError(f"{name}.set_params: {key!r} is not a parameter of {name}; valid parameters: "
                                 f"{', '.join(valid) if valid else 'none'}.")
            if nests:
                nested.setdefault(param, {})[inner] = value
            else:
                direct[param] = value
        for param in nested:
            # A nested name reaches the model the parameter holds once the direct names are set.
            holder = direct.get(param, getattr(self, param))
            if not hasattr(holder, "set_params") or isinstance(holder, type):
                raise ValueError(f"{name}.set_params: {param!r} holds {type(holder).__name__}, which has no "
                                 f"parameters of its own; got {', '.join(f'{param}__{k}' for k in nested[param])}.")
        for param, value in direct.items():
            setattr(self, param, value)
        for param, inner_params in nested.items():
            getattr(self, param).set_params(**inner_params)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({params})"

    # --- fitting --------------------------------------------------------------------------

    def fit(self, data, **kwargs) -> "Recommender":
        """Fit on ``data``: Interactions, or a users x items scipy sparse matrix (any format).

        The matrix is checked in full first (see ``_training_data``): a malformed structure,
        out-of-range indices, non-real or non-finite values raise ValueError or TypeError
        naming the problem; duplicate (user, item) entries are summed and explicit zeros
        kept as entries, on a copy. The input is never modified. Models of implicit feedback
        (ImplicitALS, BPR, WARP, HybridMF, ItemKNN, UserKNN) also refuse negative values,
        naming the first one: they read a stored entry as evidence for the item.

        The training matrix and ID maps (``seen_``, ``users_``, ``items_``) are set before the
        model's own fit runs, so that a ``callback`` sees a model it can evaluate or recommend
        with after every iteration (models set their factors before calling it). A fit that
        raises, in a callback too, leaves the model's fitted state as it was before the call.
        """
        matrix, users, items = self._training_data(data)
        self._forget_item_vectors()
        before = self._fitted_state()
        try:
            self.users_, self.items_, self.seen_ = users, items, matrix
            self._fit(matrix, **kwargs)
            self._check_fitted_values(f"{type(self).__name__}.fit")
            self.drift_ = 0.0
        except BaseException:
            self._restore(before)
            raise
        return self

    def _fitted_state(self) -> dict:
        return {name: value for name, value in vars(self).items() if name.endswith("_") and not name.startswith("_")}

    def _restore(self, before: dict) -> None:
        # Half-set state would pass _check_fitted and serve a half-fitted model.
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("_") and n not in before]:
            delattr(self, name)
        vars(self).update(before)
        self._forget_item_vectors()

    # --- incremental updates --------------------------------------------------------------

    def partial_fit(self, data) -> "Recommender":
        """Add interactions, new users and new items, without a full refit.

        ``data`` (Interactions) may hold users and items the model has not seen; their IDs
        must be of the fitted kind (integers for a model fitted on integer IDs, strings for
        strings). They are appended to the ID maps; ``seen_`` takes the new entries (where a
        (user, item) was already there, the new value replaces the old). Then the model
        updates what the new entries touch, as its ``_update`` documents: ALS models re-solve
        the touched users, then the touched items, then those users again, each exactly
        against the current other side, so untouched rows do not move at all; SGD models run
        their fold-in passes over the touched users' entries; neighbour, history, popularity
        and baseline models recompute their statistics from the merged data. The global
        mean and rating scale of rating models stay those of the full fit.

        ``drift_`` is then the share of ``seen_``'s entries added or changed by updates since
        the last full ``fit`` (0 after it): the part of the data the model has only folded in.
        Refit when it grows large (say above 0.2) or when quality on fresh data falls.
        """
        owner = f"{type(self).__name__}.partial_fit"
        self._check_fitted("partial_fit")
        if getattr(self, "users_", None) is None:
            raise TypeError(f"{owner}: the model was fitted on a bare matrix, which has no IDs to extend; fit it on "
                            f"Interactions to update it.")
        if not isinstance(data, Interactions):
            raise TypeError(message(owner, "data", "fastcf Interactions (new users, items and entries by raw ID)",
                                    type(data).__name__))
        data = check_interactions(data, "data", owner)
        users = _extended(self.users_, data.users, "users", owner)
        items = _extended(self.items_, data.items, "items", owner)
        new = data.reindex(users, items).matrix
        new = self._check_values(new, "data", owner)
        seen = _merged(self.seen_, new)
        before = self._fitted_state()
        try:
            self._forget_item_vectors()
            old_shape = self.seen_.shape
            self.users_, self.items_, self.seen_ = users, items, seen
            self._update(seen, new, old_shape)
            self._check_fitted_values(owner)
            changed = getattr(self, "drift_", 0.0) * before["seen_"].nnz + new.nnz
            self.drift_ = float(min(1.0, changed / max(seen.nnz, 1)))
        except BaseException:
            self._restore(before)
            raise
        return self

    def _update(self, seen: sp.csr_matrix, new: sp.csr_matrix, old_shape) -> None:
        """Bring the fitted state to ``seen`` (``new``: the entries just added, both over the
        grown ID maps; ``old_shape``: the fitted shape before). By default the statistics are
        recomputed from the merged data (neighbour, history, popularity and baseline models:
        their fit *is* the statistics); factor models override with incremental solves."""
        self._fit(seen)

    def _check_fitted_values(self, owner: str) -> None:
        """Refuse a fitted state that is not finite (a diverged fit); models with factors override."""

    def _fit(self, matrix: sp.csr_matrix, **kwargs) -> None:
        raise NotImplementedError

    def _progress(self, total: int, unit: str = "iteration"):
        """Reports the steps of a fit: bar and log lines (see :mod:`fastcf.progress`)."""
        from fastcf.progress import FitProgress

        return FitProgress(type(self).__name__, total, unit, getattr(self, "show_progress", None))

    #: Models whose math needs values >= 0 (implicit feedback: counts, clicks) set this.
    _nonnegative_data = False
    #: Models that fit squared errors of the stored values (explicit ratings) set this.
    _squared_error_data = False

    def _training_data(self, data):
        """(canonical CSR, user IdMap or None, item IdMap or None), validated once here.

        The shared parameters are checked first (``_check_common_params``), so that every
        model refuses a bad ``dtype``, seed or flag with one message, before any work.
        """
        self._check_common_params()
        name = type(self).__name__
        owner = f"{name}.fit"
        if isinstance(data, Interactions):
            data = check_interactions(data, "data", owner)  # the matrix against its ID maps too
            matrix, users, items = data.matrix, data.users, data.items
        elif sp.issparse(data):
            matrix, users, items = data, None, None
        else:
            raise TypeError(
                f"{owner}: 'data' must be fastcf Interactions or a users x items scipy sparse matrix; "
                f"got {type(data).__name__}."
                + (" Wrap a dense array in scipy.sparse.csr_matrix(...)." if isinstance(data, np.ndarray) else "")
            )
        if matrix.shape[0] == 0 or matrix.shape[1] == 0:
            raise ValueError(f"{owner}: 'data' has shape {matrix.shape}; it needs users and items.")
        matrix = as_canonical_csr(matrix, "data", owner)
        if matrix.nnz == 0:
            raise ValueError(f"{owner}: 'data' of shape {matrix.shape} holds no interactions (nnz = 0).")
        return self._check_values(matrix, "data", owner), users, items

    def _check_values(self, matrix: sp.csr_matrix, name: str, owner: str) -> sp.csr_matrix:
        """The value checks of a checked CSR that every way of training shares (fit, partial_fit)."""
        if self._nonnegative_data:
            check_nonnegative(matrix, name, owner, IMPLICIT_FEEDBACK)
        if hasattr(self, "dtype"):
            check_representable(matrix, self.dtype, name, owner)
            if self._squared_error_data:
                check_squarable(matrix, self.dtype, name, owner, "squared errors")
        check_summable(matrix, name, owner)
        return matrix

    def _check_common_params(self) -> None:
        """The parameters many models share, where the model has them: one check, one message."""
        name = type(self).__name__
        if hasattr(self, "dtype"):
            check_float_dtype(self.dtype, "dtype", name)
        if hasattr(self, "random_state"):
            check_seed(self.random_state, "random_state", name)
        for flag in ("shuffle", "track_loss"):
            if hasattr(self, flag):
                check_flag(getattr(self, flag), flag, name)
        if hasattr(self, "show_progress"):
            check_optional_flag(self.show_progress, "show_progress", name)  # None: it follows fastcf.set_progress
        if getattr(self, "n_threads", None) is not None:
            check_n_threads(self.n_threads, "n_threads", name)
        if getattr(self, "backend", None) is not None:
            resolve_backend(self.backend)
        if getattr(self, "callback", None) is not None and not callable(self.callback):
            raise TypeError(f"{name}: 'callback' must be callable or None; got {type(self.callback).__name__}.")

    def _check_fitted(self, action: str) -> None:
        if not all(hasattr(self, attribute) for attribute in self._fitted_attributes):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit before {action}.")

    # --- persistence ----------------------------------------------------------------------

    def save(self, path, *, metadata: Optional[dict] = None) -> Path:
        """Write the fitted model to ``path`` (.npz arrays + JSON header, no pickle); see :mod:`fastcf.persistence`."""
        from fastcf.persistence import save

        return save(self, path, metadata=metadata)

    @classmethod
    def load(cls, path, *, mmap: bool = False, verify: bool = True) -> "Recommender":
        """Load a model saved by ``save``; it must be this class (or a subclass). See ``fastcf.load``."""
        from fastcf.exceptions import ModelFileError
        from fastcf.persistence import load

        model = load(path, mmap=mmap, verify=verify)
        if not isinstance(model, cls):
            raise ModelFileError(f"{path}: holds a {type(model).__name__}, not a {cls.__name__}; use fastcf.load.")
        return model

    def _check_state(self) -> None:
        """Raise ValueError naming the attribute if the fitted state is inconsistent.

        Run on every loaded model: the ID maps must match the fitted matrix, and every array
        in ``_state_shapes`` must have its declared shape.
        """
        name = type(self).__name__
        missing = [a for a in self._fitted_attributes if not hasattr(self, a)]
        if missing:
            raise ValueError(f"{name}: fitted attribute {missing[0]!r} is missing.")
        seen = self.seen_
        if not (sp.issparse(seen) and seen.format == "csr" and seen.ndim == 2):
            raise ValueError(f"{name}: 'seen_' must be a CSR matrix; got {type(seen).__name__}.")
        sizes = {"n_users": seen.shape[0], "n_items": seen.shape[1]}
        for attribute, axis in (("users_", "n_users"), ("items_", "n_items")):
            id_map = getattr(self, attribute, None)
            if id_map is not None and not isinstance(id_map, IdMap):
                raise ValueError(f"{name}: {attribute!r} must be an IdMap or None; got {type(id_map).__name__}.")
            if id_map is not None and len(id_map) != sizes[axis]:
                raise ValueError(f"{name}: {attribute!r} holds {len(id_map)} IDs but 'seen_' has {sizes[axis]} "
                                 f"{axis[2:]}.")
        shapes = {}
        for klass in reversed(type(self).__mro__):
            shapes.update(vars(klass).get("_state_shapes", {}))
        for attribute, axes in shapes.items():
            if not hasattr(self, attribute):
                continue
            value = getattr(self, attribute)
            if not isinstance(value, np.ndarray) or value.ndim != len(axes):
                raise ValueError(f"{name}: {attribute!r} must be a {len(axes)}-D array ({', '.join(axes)}); got "
                                 f"{type(value).__name__} of shape {np.shape(value)}.")
            for axis, size in zip(axes, value.shape):
                expected = sizes.setdefault(axis, size)
                if size != expected:
                    raise ValueError(f"{name}: {attribute!r} has shape {value.shape}; expected "
                                     f"({', '.join(str(sizes.get(a, a)) for a in axes)}) = ({', '.join(axes)}).")

    @property
    def n_users(self) -> int:
        self._check_fitted("n_users")
        return self.seen_.shape[0]

    @property
    def n_items(self) -> int:
        self._check_fitted("n_items")
        return self.seen_.shape[1]

    # --- IDs ------------------------------------------------------------------------------

    def _indices(self, ids, id_map: Optional[IdMap], count: int, what: str, owner: str) -> np.ndarray:
        """Dense indices for raw IDs (or for indices, when fitted on a bare matrix), checked."""
        if np.ndim(ids) > 1:
            raise ValueError(
                f"{type(self).__name__}.{owner}: {what}s must be one ID or a 1-D array of IDs; got shape {np.shape(ids)}."
            )
        if np.size(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        if id_map is not None:
            return np.atleast_1d(id_map._lookup(ids, "raise", f"{type(self).__name__}.{owner}", None))
        indices = np.atleast_1d(np.asarray(ids))
        if indices.dtype.kind not in "iu":
            raise TypeError(
                f"{type(self).__name__}.{owner}: {what}s must be integer indices (the model was fitted on a "
                f"matrix, without ID maps); got dtype {indices.dtype}."
            )
        if indices.size and (indices.min() < 0 or indices.max() >= count):
            bad = indices[(indices < 0) | (indices >= count)][0]
            raise IndexOutOfRangeError(f"{type(self).__name__}.{owner}: {what} index {bad} is outside [0, {count}).")
        return indices.astype(np.int64)

    def _one_index(self, raw_id, id_map: Optional[IdMap], count: int, what: str, owner: str) -> int:
        """The dense index of one ID (explain): an array of IDs is refused, not read as its first."""
        if np.ndim(raw_id) != 0:
            raise ValueError(message(f"{type(self).__name__}.{owner}", what, "one ID", f"shape {np.shape(raw_id)}"))
        return self._indices(raw_id, id_map, count, what, owner)[0]

    def _check_similar_call(self, owner: str, n_threads) -> None:
        """Fitted, and a valid thread count: checked up front, as some similarity paths run no kernel."""
        self._check_fitted(owner)
        if n_threads is not None:
            check_n_threads(n_threads, "n_threads", f"{type(self).__name__}.{owner}")

    def _history_rows(self, history, owner: str):
        """(CSR of histories over the fitted items, whether one history was given).

        ``history``: a dict {item ID: value}, a sequence of item IDs (value 1), or a scipy
        sparse matrix with one history per row over the fitted items (dense indices).
        """
        name = f"{type(self).__name__}.{owner}"
        if history is None:  # else read as one unknown item ID, None
            raise TypeError(message(name, "history", "a dict {item ID: value}, a sequence of item IDs or a "
                                    "sparse matrix", "None"))
        if sp.issparse(history):
            if history.shape[1] != self.n_items:
                raise ValueError(f"{name}: 'history' must have {self.n_items} columns (items); got {history.shape[1]}.")
            rows = as_canonical_csr(history, "history", name).astype(np.float64)
            single = False
        else:
            if isinstance(history, dict):
                ids = list(history.keys())
                values = as_float_vector(list(history.values()), "history", name).astype(np.float64, copy=False)
            else:
                ids = list(history) if np.ndim(history) else [history]
                values = np.ones(len(ids))
            index = (self._indices(np.asarray(ids), self.items_, self.n_items, "item", owner)
                     if ids else np.zeros(0, dtype=np.int64))
            rows = sp.csr_matrix((values, (np.zeros(index.size, dtype=np.int64), index)), shape=(1, self.n_items))
            rows.sum_duplicates()
            single = True
        check_finite(rows.data, "history", name)
        if hasattr(self, "dtype"):
            check_representable(rows, self.dtype, "history", name, what="history")
        check_summable(rows, "history", name, what="history")
        if self._nonnegative_data:  # as fit refuses them: a dislike must not score as a like
            check_nonnegative(rows, "history", name, IMPLICIT_FEEDBACK, what="history")
        return rows, single


    def _item_ids(self, indices: np.ndarray):
        """Raw item IDs for dense indices (pads of -1 become -1 for integer IDs, else None)."""
        if self.items_ is None:
            return indices
        raw = self.items_.raw_ids
        if raw.dtype.kind in "iu":
            out = np.full(indices.shape, -1, dtype=np.int64 if raw.dtype.kind == "u" else raw.dtype)
        else:
            out = np.full(indices.shape, None, dtype=object)
        valid = indices >= 0
        out[valid] = raw[indices[valid]]
        return out

    def _user_ids(self, indices: np.ndarray):
        if self.users_ is None:
            return indices
        raw = self.users_.raw_ids
        out = np.full(indices.shape, -1 if raw.dtype.kind in "iu" else None,
                      dtype=raw.dtype if raw.dtype.kind in "iu" else object)
        valid = indices >= 0
        out[valid] = raw[indices[valid]]
        return out

    # --- recommendation -------------------------------------------------------------------

    def recommend(
        self,
        users,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items=None,
        exclude_items=None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        n_threads: Optional[int] = None,
    ):
        """The top-k items for one user or a batch of users, best first.

        Parameters
        ----------
        users : raw user ID, or array of them (dense indices if fitted on a bare matrix)
        k : int >= 1
            Items per user; at most the number of candidate items.
        exclude_seen : bool
            Leave out the items each user had in training.
        items : array of item IDs, optional
            Recommend only among these candidates.
        exclude_items : array of item IDs, optional
            Never recommend these.
        block_bytes : int
            Upper bound on the memory of one block of scores (users x candidates).

        Returns
        -------
        ids : ndarray of shape (k,) for one user, (n_users, k) for a batch
            Raw item IDs, best first; where a user has fewer admissible items than k the row
            is padded with -1 (integer IDs) or None, with score -inf.
        scores : ndarray of the same shape, float
        """
        self._check_fitted("recommend")
        owner = "recommend"
        single = np.ndim(users) == 0
        user_index = self._indices(users, self.users_, self.n_users, "user", owner)
        exclude_seen = check_flag(exclude_seen, "exclude_seen", f"{type(self).__name__}.{owner}")
        return self._recommend_state(self._user_state(user_index), user_index.size, self.seen_ if exclude_seen else None,
                                     user_index, single, k, items, exclude_items, block_bytes, n_threads, owner)

    def recommend_for_history(self, history, k: int = 10, *, exclude_seen: bool = True, items=None,
                              exclude_items=None, block_bytes: int = DEFAULT_BLOCK_BYTES,
                              n_threads: Optional[int] = None):
        """Recommend for users not seen in training, from their histories; nothing is refitted.

        The history is folded in with the items fixed, as the model's fold-in defines it (an
        exact solve for ALS and rating models, SGD passes for ranking models, the history
        itself for neighbour and history models), then scored as ``recommend`` scores.

        Parameters
        ----------
        history : dict {item ID: value}, sequence of item IDs (value 1), or a scipy sparse
            matrix of shape (n, n_items) with one history per row (dense item indices)
        k, exclude_seen, items, exclude_items, block_bytes, n_threads
            As for ``recommend``; ``exclude_seen`` leaves out the history's own items.

        Returns (ids, scores) shaped like ``recommend``'s: one row for a dict or sequence.
        """
        owner = "recommend_for_history"
        self._check_fitted(owner)
        rows, single = self._history_rows(history, owner)
        exclude_seen = check_flag(exclude_seen, "exclude_seen", f"{type(self).__name__}.{owner}")
        return self._recommend_state(self._fold_in(rows), rows.shape[0], rows if exclude_seen else None,
                                     np.arange(rows.shape[0]), single, k, items, exclude_items, block_bytes,
                                     n_threads, owner)

    def _recommend_state(self, state, n_rows, seen, seen_rows, single, k, items, exclude_items, block_bytes,
                         n_threads, owner):
        """recommend's answer for users given by their state (``seen``: their exclusions, its rows
        ``seen_rows``)."""
        name = f"{type(self).__name__}.{owner}"
        candidates = self._candidates(items, exclude_items, owner)
        k = min(check_positive_int(k, "k", name), max(candidates.size, 1))
        block_bytes = check_positive_int(block_bytes, "block_bytes", name)
        if n_threads is not None:
            check_n_threads(n_threads, "n_threads", name)
        top, top_scores = self._top_k_state(state, n_rows, candidates, seen, seen_rows, k, block_bytes, n_threads)
        ids = self._item_ids(top)
        return (ids[0], top_scores[0]) if single else (ids, top_scores)

    # --- how a model scores (see the module docstring) ------------------------------------

    _scoring = "rows"

    def _user_state(self, user_indices: np.ndarray):
        """The state of training users that ``_scores_of_state`` / ``_query_vectors`` read."""
        return user_indices

    def _fold_in(self, rows: sp.csr_matrix):
        """The state of new users from their histories (a CSR over the fitted items)."""
        raise NotImplementedError(f"{type(self).__name__} has no fold-in: refit with the new users.")

    def _scores_of_state(self, state, block, item_indices: np.ndarray) -> np.ndarray:
        """Dense scores of the users ``state[block]`` for ``item_indices``."""
        if self._scoring == "dot":
            queries, offset = self._query_vectors(state)
            items = self._item_vectors()
            queries = queries[block]
            with single_threaded_blas():  # the same bits whatever other Python threads are doing
                scores = queries @ (items if item_indices.size == items.shape[0] else items[item_indices]).T
            return scores if offset is None else scores.astype(np.float64) + offset[block, None]
        return self._score(state[block], item_indices)

    def _score(self, user_indices: np.ndarray, item_indices: np.ndarray) -> np.ndarray:
        """Dense scores of training users for candidate items."""
        if self._scoring == "dot":
            return self._scores_of_state(self._user_state(user_indices), slice(None), item_indices)
        raise NotImplementedError

    def _score_pairs(self, user_indices, item_indices) -> np.ndarray:
        """Scores of (user, item) pairs of training users, element-wise."""
        if self._scoring != "dot":
            raise NotImplementedError
        queries, offset = self._query_vectors(self._user_state(user_indices))
        scores = np.einsum("ij,ij->i", queries.astype(np.float64), self._item_vectors()[item_indices].astype(np.float64))
        return scores if offset is None else scores + offset

    def _query_vectors(self, state):
        """(queries, offset or None) of a user state, for dot-product models."""
        raise NotImplementedError

    def _item_vectors(self) -> np.ndarray:
        """The item side of dot-product scores, one row per item (see ``_cached_item_vectors``)."""
        raise NotImplementedError

    def _cached_item_vectors(self, build, *sources, key: str = "items"):
        """``build()``, kept while the fitted arrays it was built from (``sources``) are the same
        objects: built once per fit, load or update, not on every call (``key`` names the
        derived array: the item side of scores, the unit vectors of similar_*)."""
        cache = self.__dict__.setdefault("_item_vector_cache", {})
        cached = cache.get(key)
        if cached is None or len(cached[0]) != len(sources) or any(a is not b for a, b in zip(cached[0], sources)):
            cached = (sources, np.ascontiguousarray(build()))
            cache[key] = cached
        return cached[1]

    def _forget_item_vectors(self) -> None:
        """Drop the cached derived arrays: fits that update the factors in place call this
        whenever they set a new state (the arrays stay the same objects, so identity cannot tell)."""
        self.__dict__.pop("_item_vector_cache", None)

    def _ranking_vectors(self):
        """(queries of every training user, item vectors) whose dot products rank as the model
        does, for the fused evaluation kernels; None for a model that does not score by dot
        products."""
        if self._scoring != "dot":
            return None
        queries, _ = self._query_vectors(self._user_state(slice(None)))  # no n_users: a fit's callbacks ask too
        items = self._item_vectors()
        return np.ascontiguousarray(queries, dtype=items.dtype), items

    def _top_k_state(self, state, n_rows, candidates, seen, seen_rows, k, block_bytes, n_threads):
        """Each user's top k candidates (dense indices, -1 pads) and scores; see recommend."""
        if self._scoring == "dot":
            # The fused kernel multiplies and selects a small block of users at a time per
            # thread, so ``block_bytes`` has nothing left to bound.
            queries, offset = self._query_vectors(state)
            items = self._item_vectors()
            items = items if candidates.size == items.shape[0] else items[candidates]
            top, scores = self._top_k_dot(queries, items, candidates, seen, seen_rows, k, n_threads)
            if offset is not None:  # -inf pads stay -inf
                scores = scores.astype(np.float64) + offset[:, None]
            return top, scores

        def scores_of(block):
            return self._scores_of_state(state, block, candidates)

        return self._top_k_blocks(scores_of, seen_rows, candidates, self.n_items, seen, k, block_bytes, n_threads)

    def _candidates(self, items, exclude_items, owner: str) -> np.ndarray:
        """Sorted dense indices of the items that may be recommended."""
        if items is None:
            candidates = np.arange(self.n_items, dtype=np.int64)
        else:
            candidates = np.unique(self._indices(items, self.items_, self.n_items, "item", owner))
        if exclude_items is not None:
            excluded = self._indices(exclude_items, self.items_, self.n_items, "item", owner)
            candidates = candidates[~np.isin(candidates, excluded)]
        return candidates

    def _top_k_dot(self, queries, items, candidates, seen, seen_rows, k, n_threads):
        """Top k of queries @ items.T (items = the candidates' vectors), as dense candidate indices."""
        n_columns = seen.shape[1] if seen is not None else candidates.size
        if candidates.size == 0:  # every item filtered out: all padding, as documented in recommend
            return (np.full((queries.shape[0], k), -1, dtype=np.int64),
                    np.full((queries.shape[0], k), -np.inf, dtype=queries.dtype))
        position = None if candidates.size == n_columns else np.full(n_columns, -1, dtype=np.int64)
        if position is not None:
            position[candidates] = np.arange(candidates.size)
        if seen is not None:
            indptr, indices = _exclusions(seen, seen_rows, position)
            indptr, indices = indptr.astype(np.int64, copy=False), indices.astype(np.int64, copy=False)
        else:
            indptr, indices = empty_csr_structure(queries.shape[0])
        # The item vectors derive from factors that fit or load checked once, so the whole
        # catalogue is not scanned again per call; the queries (fold-in results among them) are.
        queries = check_finite(np.ascontiguousarray(queries), "queries", f"{type(self).__name__}.recommend")
        top, scores = select_topk_dot_unchecked(queries, np.ascontiguousarray(items, dtype=queries.dtype), k,
                                                indptr, indices, n_threads, self._backend())
        return np.where(top >= 0, candidates[np.maximum(top, 0)], -1), scores

    def _top_k_blocks(self, scores_of, row_index, candidates, n_columns, seen, k, block_bytes, n_threads):
        """Score rows block by block and keep each row's top k among the candidates.

        ``candidates`` are sorted column indices out of ``n_columns``; ``seen`` (a CSR with
        ``n_columns`` columns, its rows indexed by ``row_index``) lists per-row exclusions.
        """
        n_rows = row_index.shape[0]
        top = np.full((n_rows, k), -1, dtype=np.int64)
        top_scores = np.full((n_rows, k), -np.inf, dtype=np.float64)
        if candidates.size == 0 or n_rows == 0:
            return top, top_scores.astype(np.float32)
        position = None
        if candidates.size != n_columns:
            position = np.full(n_columns, -1, dtype=np.int64)
            position[candidates] = np.arange(candidates.size)
        block = max(1, int(block_bytes // (8 * candidates.size)))
        dtype = None
        for start in range(0, n_rows, block):
            rows = slice(start, min(start + block, n_rows))
            scores = scores_of(rows)
            dtype = scores.dtype
            kwargs = {}
            if seen is not None:
                kwargs = dict(zip(("exclude_indptr", "exclude_indices"), _exclusions(seen, row_index[rows], position)))
            block_top, block_scores = select_topk(scores, k, n_threads=n_threads, backend=self._backend(), **kwargs)
            valid = block_top >= 0
            top[rows] = np.where(valid, candidates[np.maximum(block_top, 0)], -1)
            top_scores[rows] = block_scores
        return top, top_scores.astype(dtype)

    def _backend(self) -> Optional[str]:
        return getattr(self, "backend", None)

    def predict(self, users, items) -> np.ndarray:
        """Scores of (user, item) pairs, element-wise: arrays of the same length (a float for one
        user and one item given as scalars)."""
        self._check_fitted("predict")
        u = self._indices(users, self.users_, self.n_users, "user", "predict")
        i = self._indices(items, self.items_, self.n_items, "item", "predict")
        if u.shape != i.shape:
            raise ValueError(f"{type(self).__name__}.predict: 'users' and 'items' must have one length; "
                             f"got {u.shape[0]} and {i.shape[0]}.")
        return pair_answer(self._score_pairs(u, i), users, items)

    # --- explanation ----------------------------------------------------------------------

    def explain(self, user, item, k: int = 5):
        """Which of the user's training items make up their score for ``item``, largest first.

        Every model answers in one form: the score is base + Σ_j term_j, the sum over the
        user's training items j (their neighbours, for user-based neighbour models), base
        being the part the terms leave out (0 for the implicit-feedback models, μ + b_i for
        BaselineOnly and the rating factor models). Each model's ``explain`` says what its
        terms and base are, and whether the decomposition is exact (docs/models.md has a table).

        Parameters
        ----------
        user, item : one raw ID each (dense indices if fitted on a bare matrix)
        k : int >= 1
            Terms to return; fewer when the user has fewer.

        Returns
        -------
        ids : ndarray of shape (min(k, n_terms),), raw IDs of the items (or neighbours),
            largest term first (ties: the smaller index first)
        contributions : ndarray of the same shape, float64, their terms
        total : float, the sum of all the terms, not only the k returned (0 for a user
            without training items)
        """
        owner = "explain"
        self._check_fitted(owner)
        u = self._one_index(user, self.users_, self.n_users, "user", owner)
        i = self._one_index(item, self.items_, self.n_items, "item", owner)
        k = check_positive_int(k, "k", f"{type(self).__name__}.{owner}")
        indices, terms = self._explain_terms(u, i)
        terms = np.asarray(terms, dtype=np.float64)
        order = np.argsort(-terms, kind="stable")[:k]
        return self._explain_ids(np.asarray(indices, dtype=np.int64)[order]), terms[order], float(terms.sum())

    def _explain_terms(self, user: int, item: int):
        """(indices j, term_j) of the score of dense ``item`` for training ``user``; see explain."""
        raise NotImplementedError(f"{type(self).__name__} does not decompose its scores.")

    def _explain_ids(self, indices: np.ndarray):
        """The raw IDs of what the terms of ``_explain_terms`` belong to (items, unless a model
        explains by neighbours)."""
        return self._item_ids(indices)

    def _training_row(self, user: int):
        """(item indices, values as float64) of a training user's row of ``seen_``."""
        lo, hi = self.seen_.indptr[user], self.seen_.indptr[user + 1]
        return self.seen_.indices[lo:hi].astype(np.int64), self.seen_.data[lo:hi].astype(np.float64)


def _extended(fitted: IdMap, given: IdMap, name: str, owner: str) -> IdMap:
    """The fitted ID map with the new IDs of ``given`` appended; IDs of another kind than the
    fitted ones (a string among integer IDs) are refused, since the map could not be saved
    or looked up consistently."""
    def kind(raw):
        return "integer" if raw.dtype.kind in "iu" else ("float" if raw.dtype.kind == "f" else "string or other")

    new = given.raw_ids[fitted._lookup(given.raw_ids, "ignore", owner, name) < 0]
    if new.size and len(fitted) and kind(new) != kind(fitted.raw_ids):
        raise TypeError(message(owner, name, f"IDs of the fitted kind ({kind(fitted.raw_ids)}, dtype "
                                f"{fitted.raw_ids.dtype})", f"new IDs of dtype {new.dtype}, e.g. {new[0]!r}"))
    if new.size and len(fitted):
        cast = new.astype(fitted.raw_ids.dtype)
        if not np.array_equal(cast, new):  # e.g. a uint64 ID beyond the fitted int64 ones
            raise DataError(message(owner, name, f"IDs that fit the fitted dtype {fitted.raw_ids.dtype}",
                                    f"{new[cast != new][0]!r}"))
        new = cast
    return fitted.extend(new)


def _merged(old: sp.csr_matrix, new: sp.csr_matrix) -> sp.csr_matrix:
    """``old`` grown to ``new``'s shape with ``new``'s entries added; where both hold a (user,
    item), ``new``'s value (explicit zeros included) replaces the old one."""
    old = sp.csr_matrix((old.data, old.indices, old.indptr), shape=old.shape)
    old.resize(new.shape)
    old_rows = np.repeat(np.arange(old.shape[0], dtype=np.int64), np.diff(old.indptr))
    new_rows = np.repeat(np.arange(new.shape[0], dtype=np.int64), np.diff(new.indptr))
    width = np.int64(max(new.shape[1], 1))
    old_keys = old_rows * width + old.indices
    new_keys = new_rows * width + new.indices
    # Both key arrays are sorted (canonical rows): a binary search finds the replaced entries.
    found = np.searchsorted(new_keys, old_keys)
    keep = new_keys[np.minimum(found, max(new_keys.size - 1, 0))] != old_keys if new_keys.size else np.ones(
        old_keys.size, dtype=bool)
    keys = np.concatenate([old_keys[keep], new_keys])
    values = np.concatenate([old.data[keep].astype(np.result_type(old.dtype, new.dtype)),
                             new.data.astype(np.result_type(old.dtype, new.dtype))])
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    rows, cols = keys // width, keys % width
    indptr = np.zeros(new.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=new.shape[0]), out=indptr[1:])
    index_dtype = np.int32 if max(keys.size, *new.shape) < np.iinfo(np.int32).max else np.int64
    return sp.csr_matrix((values, cols.astype(index_dtype), indptr.astype(index_dtype)), shape=new.shape)


def _exclusions(seen: sp.csr_matrix, rows: np.ndarray, position: Optional[np.ndarray]):
    """(indptr, indices) of the seen items of ``rows``, as positions among the candidates."""
    if rows.size and rows[-1] - rows[0] == rows.size - 1 and (np.diff(rows) == 1).all():
        lo, hi = seen.indptr[rows[0]], seen.indptr[rows[-1] + 1]
        indptr = seen.indptr[rows[0]: rows[-1] + 2] - lo
        indices = seen.indices[lo:hi]
    else:
        part = seen[rows]
        indptr, indices = part.indptr, part.indices
    if position is None:
        return indptr, indices
    mapped = position[indices]
    kept = mapped >= 0
    entry_row = np.repeat(np.arange(rows.size), np.diff(indptr))
    counts = np.bincount(entry_row[kept], minlength=rows.size)
    new_indptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(counts, out=new_indptr[1:])
    return new_indptr, mapped[kept]


class FactorModel(Recommender):
    """A model whose scores are dot products of user and item factors (ALS, MF, BPR, ...).

    Fitted attributes: ``user_factors_`` (n_users, f) and ``item_factors_`` (n_items, f).
    """

    _fitted_attributes = ("seen_", "user_factors_", "item_factors_")
    _restorable_ = ("user_factors_", "item_factors_", "loss_history_")
    _state_shapes = {"user_factors_": ("n_users", "factors"), "item_factors_": ("n_items", "factors")}

    def _check_state(self) -> None:
        super()._check_state()
        kinds = {self.user_factors_.dtype, self.item_factors_.dtype}
        if len(kinds) != 1 or self.user_factors_.dtype not in (np.float32, np.float64):
            raise ValueError(f"{type(self).__name__}: 'user_factors_' and 'item_factors_' must share one float dtype; "
                             f"got {self.user_factors_.dtype} and {self.item_factors_.dtype}.")
        self._check_fitted_values(type(self).__name__)

    def _check_fitted_values(self, owner: str) -> None:
        """Once per fit and load: recommend then serves the factors without scanning them."""
        for name in ("user_factors_", "item_factors_"):
            check_finite(getattr(self, name), name, owner)

    # Scores are user factors · item factors: the user state is the factors themselves.
    _scoring = "dot"

    def _user_state(self, user_indices):
        return self.user_factors_[user_indices]

    def _query_vectors(self, state):
        return state, None

    def _item_vectors(self):
        return self.item_factors_

    def user_factors_for(self, history) -> np.ndarray:
        """Factors of users not seen in training, from their histories, the item side fixed
        (by the model's fold-in; see ``recommend_for_history``).

        Returns an ndarray of shape (factors,) for one history, (n, factors) for a matrix.
        """
        self._check_fitted("user_factors_for")
        rows, single = self._history_rows(history, "user_factors_for")
        factors = self._fold_in_factors(rows)
        return factors[0] if single else factors

    def _fold_in_factors(self, rows: sp.csr_matrix) -> np.ndarray:
        """The factors part of the fold-in state (the state itself unless a model has more)."""
        return self._fold_in(rows)

    # --- similarity -----------------------------------------------------------------------

    def similar_items(self, items, k: int = 10, *, n_threads: Optional[int] = None):
        """The k items most similar to each given item (cosine of item factors), itself excluded.

        Returns (ids, similarities), shaped like ``recommend``'s.
        """
        self._check_similar_call("similar_items", n_threads)
        index = self._indices(items, self.items_, self.n_items, "item", "similar_items")
        top, scores = self._similar(self.item_factors_, index, k, n_threads, "similar_items")
        ids = self._item_ids(top)
        return (ids[0], scores[0]) if np.ndim(items) == 0 else (ids, scores)

    def similar_users(self, users, k: int = 10, *, n_threads: Optional[int] = None):
        """The k users most similar to each given user (cosine of user factors), itself excluded."""
        self._check_similar_call("similar_users", n_threads)
        index = self._indices(users, self.users_, self.n_users, "user", "similar_users")
        top, scores = self._similar(self.user_factors_, index, k, n_threads, "similar_users")
        ids = self._user_ids(top)
        return (ids[0], scores[0]) if np.ndim(users) == 0 else (ids, scores)

    def _similar(self, vectors, index, k, n_threads, owner):
        k = min(check_positive_int(k, "k", f"{type(self).__name__}.{owner}"), max(vectors.shape[0] - 1, 1))
        def normalised():
            norms = np.linalg.norm(vectors, axis=1)
            return (vectors / np.where(norms > 0, norms, 1)[:, None]).astype(vectors.dtype)

        unit = self._cached_item_vectors(normalised, vectors, key=f"unit {owner}")
        candidates = np.arange(vectors.shape[0], dtype=np.int64)
        # Each query excludes itself: a CSR with one entry per row.
        self_exclusion = sp.csr_matrix(
            (np.ones(index.size), index, np.arange(index.size + 1)), shape=(index.size, vectors.shape[0])
        )
        return self._top_k_dot(unit[index], unit, candidates, self_exclusion, np.arange(index.size), k, n_threads)
