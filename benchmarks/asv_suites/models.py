"""Every model on one grid: size x backend, with time_* and peakmem_* of one fit iteration (or
epoch) on the whole data, and track_* of the quality of a full fit on an 80/20 random split
(seed 0), scored by fastcf.evaluate: NDCG@10 (all test users, train items excluded) for
ranking models, RMSE for rating models.

Sizes and guards: see _common (ml100k is MovieLens 100K when the files are found). Numba is
timed up to ml1m, Cython everywhere. A model missing from the fastcf being timed (asv
times older commits too) is skipped by asv, with the reason.
"""

from fastcf.evaluation import evaluate

from ._common import SIZES, check_grid, data, make_model, require, split

BACKENDS = ["numba", "cython"]


class _ModelSuite:
    """Subclasses name the model and its settings; the benchmarks are shared."""

    model = ""  # name in fastcf.models
    params_ = {}  # settings of every fit
    one_step = {}  # what makes a fit one iteration / epoch
    full_fit = {}  # what makes the quality fit
    metric = "ndcg"
    param_names = ["size", "backend"]
    params = (SIZES, BACKENDS)
    timeout = 1800

    def setup(self, size, *extra):
        backend = extra[0] if extra else "cython"
        check_grid(size, backend)
        self.model_class = require("fastcf.models", self.model)
        self.backend = backend
        self.settings = dict(self.params_, random_state=0, **self.extra_settings(*extra[1:]))
        self.data = data(size)
        if backend == "numba":  # compile (or load the cache) outside the timing
            make_model(self.model_class, backend, **self.settings, **self.one_step).fit(data("ml100k"))

    def extra_settings(self, *extra):
        return {}

    def fit_one_step(self):
        make_model(self.model_class, self.backend, **self.settings, **self.one_step).fit(self.data)

    def quality(self, size):
        train, test = split(size)
        model = make_model(self.model_class, self.backend, **self.settings, **self.full_fit).fit(train)
        return float(evaluate(model, train, test, 10, metrics=[self.metric])[self.metric])


class _Ranking(_ModelSuite):
    def time_fit_one_iteration(self, size, *extra):
        self.fit_one_step()

    def peakmem_fit_one_iteration(self, size, *extra):
        self.fit_one_step()

    def track_ndcg_at_10(self, size, *extra):
        return self.quality(size)

    track_ndcg_at_10.unit = "NDCG@10"


class _Rating(_ModelSuite):
    metric = "rmse"

    def time_fit_one_epoch(self, size, *extra):
        self.fit_one_step()

    def peakmem_fit_one_epoch(self, size, *extra):
        self.fit_one_step()

    def track_rmse(self, size, *extra):
        return self.quality(size)

    track_rmse.unit = "RMSE"


class ImplicitALS(_Ranking):
    model = "ImplicitALS"
    params = (SIZES, BACKENDS, ["cg", "cholesky"])
    param_names = ["size", "backend", "solver"]
    params_ = dict(factors=64, regularization=0.01, alpha=2.0)
    one_step = dict(iterations=1)
    full_fit = dict(iterations=10)

    def extra_settings(self, solver):
        return dict(solver=solver)


class BPR(_Ranking):
    model = "BPR"
    params_ = dict(factors=64, learning_rate=0.05, regularization=0.01)
    one_step = dict(iterations=1, epochs=1)  # whichever the model takes (see make_model)
    full_fit = dict(iterations=20, epochs=20)


class WARP(BPR):
    model = "WARP"


class HybridMF(BPR):
    model = "HybridMF"


class ItemKNN(_Ranking):
    model = "ItemKNN"
    params_ = dict(k=20)


class EASE(_Ranking):
    model = "EASE"
    params = ([s for s in SIZES if s != "ml10m"], BACKENDS)  # dense item Gram: ml10m is a long inversion


class BiasedMF(_Rating):
    model = "BiasedMF"
    params_ = dict(factors=100)
    one_step = dict(epochs=1)
    full_fit = dict(epochs=20)


class SVDpp(_Rating):
    model = "SVDpp"
    params_ = dict(factors=100)
    one_step = dict(epochs=1)
    full_fit = dict(epochs=20)


class ExplicitALS(_Rating):
    model = "ExplicitALS"
    params_ = dict(factors=64)
    one_step = dict(iterations=1)
    full_fit = dict(iterations=10)


class BaselineOnly(_Rating):
    model = "BaselineOnly"
    params = (SIZES,)
    param_names = ["size"]
    one_step = dict(epochs=1)
    full_fit = dict(epochs=10)
