"""What the benchmark scripts run: fastcf's side and every peer's side of each task, in one place.

``scripts/bench_*.py`` and ``scripts/compare_peers.py`` import these functions, so that a peer
is set up, timed and scored the same way wherever it appears. A peer's function imports the
peer inside, so this module imports without any of them; ``available(name)`` says whether a
peer imports, and ``missing(name)`` why not.

Conventions:

- ``*_runner(...)`` returns a callable running one unit of work (an iteration, an epoch, a
  call). The callable may return the seconds the peer measured itself (implicit ALS reports
  its iteration time); ``None`` means "use the wall time".
- ``*_fit(...)`` fits to convergence for the quality column and returns arrays that fastcf's
  own metric code scores (``factor_model`` wraps user and item factors as a fastcf model).
- BLAS runs single-threaded for implicit (it warns otherwise, and it is its best setting).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]


def _checkout_is_built() -> bool:
    return any(p.suffix in (".so", ".pyd") for p in (REPO / "fastcf" / "kernels" / "topk").glob("_cython.*"))


# The scripts time this checkout when it is built in place (python setup.py build_ext
# --inplace), else the installed fastcf; each script prints which (fastcf.__file__).
if _checkout_is_built() and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Peer name -> the module that must import for it to run.
PEER_MODULES = {
    "implicit": "implicit",
    "Surprise": "surprise",
    "LensKit": "lenskit",
    "LightFM": "lightfm",
    "LIBMF": "libmf",
    "sparse_dot_topn": "sparse_dot_topn",
}
_import_errors: Dict[str, str] = {}


def missing(peer: str) -> Optional[str]:
    """None when ``peer`` imports, else the reason (kept, so each peer is imported once)."""
    if peer not in _import_errors:
        try:
            importlib.import_module(PEER_MODULES[peer])
            _import_errors[peer] = ""
        except Exception as exc:  # ImportError, or a peer that breaks on import
            _import_errors[peer] = f"{type(exc).__name__}: {exc}"
    return _import_errors[peer] or None


def available(peer: str) -> bool:
    return missing(peer) is None


def version(peer: str) -> str:
    if not available(peer):
        return "absent"
    module = importlib.import_module(PEER_MODULES[peer])
    return getattr(module, "__version__", "") or _distribution_version(peer)


def _distribution_version(peer: str) -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version

    for name in (PEER_MODULES[peer], peer, "scikit-surprise", "sparse-dot-topn"):
        try:
            return dist_version(name)
        except PackageNotFoundError:
            continue
    return "?"


def _single_threaded_blas():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


# --- fastcf factors as a fastcf model, so that one metric code scores every library ---------

def factor_model(user_factors, item_factors, seen, users=None, items=None):
    """A fitted fastcf factor model holding given factors (scores: user_factors @ item_factors.T)."""
    from fastcf.models import ImplicitALS

    model = ImplicitALS(factors=user_factors.shape[1])
    model.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
    model.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
    model.seen_, model.users_, model.items_ = seen, users, items
    return model


def ndcg_at_10(user_factors, item_factors, train, test, threads: int) -> float:
    """NDCG@10 over every test user, by ``fastcf.evaluate`` (train items excluded)."""
    from fastcf.evaluation import evaluate

    model = factor_model(user_factors, item_factors, train.matrix, train.users, train.items)
    return float(evaluate(model, train, test, 10, metrics=["ndcg"], n_threads=threads)["ndcg"])


def rmse(y_true, y_pred) -> float:
    from fastcf.evaluation.metrics import rmse as fastcf_rmse

    return float(fastcf_rmse(np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)))


# --- implicit ALS: fastcf's kernel, implicit, LensKit ------------------------------------------

def fastcf_als_iteration_runner(user_items, init_users, init_items, *, regularization, cg_steps, threads,
                                backend) -> Callable[[], None]:
    """One iteration (users, then items) of ``als_half_step`` on confidences ``user_items``.

    The item x user transpose is built here, once, as a model builds it once per fit. The
    factors carry over from call to call, so that CG warm-starts as it does inside a fit.
    """
    from fastcf.kernels import als_half_step

    item_users = user_items.T.tocsr()
    users, items = init_users.copy(), init_items.copy()

    def iteration():
        als_half_step(user_items.indptr, user_items.indices, user_items.data, items, users,
                      regularization=regularization, cg_steps=cg_steps, n_threads=threads, backend=backend)
        als_half_step(item_users.indptr, item_users.indices, item_users.data, users, items,
                      regularization=regularization, cg_steps=cg_steps, n_threads=threads, backend=backend)

    return iteration


def implicit_als_fit(user_items, *, factors, regularization, use_cg, cg_steps, iterations, threads, seed=0,
                     dtype=np.float32):
    """implicit.cpu.als.AlternatingLeastSquares fitted on the confidences ``user_items``.

    implicit takes the stored values as the confidences c_ui themselves, so giving it
    1 + alpha * r poses fastcf's problem. Returns (model, seconds of each iteration as implicit
    reported them to its fit_callback).
    """
    from implicit.cpu.als import AlternatingLeastSquares

    with _single_threaded_blas():
        model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, alpha=1.0, use_cg=use_cg, iterations=iterations,
            num_threads=threads, calculate_training_loss=False, random_state=seed, dtype=np.dtype(dtype),
        )
        model.cg_steps = cg_steps  # an attribute in implicit 0.7, not a parameter
        seconds = []
        model.fit_callback = lambda index, elapsed, loss: seconds.append(elapsed)
        model.fit(user_items, show_progress=False)
    return model, seconds


def implicit_als_runner(user_items, *, factors, regularization, cg_steps, threads, seed=0, dtype=np.float32):
    """{solver: one fit(iterations=1)}, each returning the iteration time implicit measured."""

    def fit(use_cg):
        seconds = implicit_als_fit(user_items, factors=factors, regularization=regularization, use_cg=use_cg,
                                   cg_steps=cg_steps, iterations=1, threads=threads, seed=seed, dtype=dtype)[1]
        return seconds[0] if seconds else None

    return {"cholesky": lambda: fit(False), "cg": lambda: fit(True)}


def _lenskit_dataset(matrix, values):
    import pandas as pd
    from lenskit.data import from_interactions_df

    coo = matrix.tocoo()
    frame = pd.DataFrame({"user_id": coo.row, "item_id": coo.col, "rating": values(coo.data)})
    return from_interactions_df(frame)


def lenskit_implicit_scorer(factors, regularization, epochs):
    """LensKit's ImplicitMFScorer posed as fastcf's problem (see ``lenskit_als_runner``)."""
    from lenskit.als import ImplicitMFScorer

    return ImplicitMFScorer(embedding_size=factors, epochs=epochs, weight=2.0, use_ratings=True,
                            regularization=regularization)


def lenskit_als_runner(user_items, *, factors, regularization):
    """One training epoch of LensKit's ImplicitMFScorer (its only solver is Cholesky).

    LensKit decomposes 1 + weight * r; with r = (c - 1) / 2 and weight 2 it solves the same
    problem as fastcf with confidence c. The trainer is made once, outside the timing, as
    fastcf's transposed matrix is.
    """
    from lenskit.training import TrainingOptions

    dataset = _lenskit_dataset(user_items, lambda c: (c - 1) / 2)
    trainer = lenskit_implicit_scorer(factors, regularization, 1).create_trainer(dataset, TrainingOptions())
    return lambda: (trainer.train_epoch(), None)[1]  # it returns its metrics, not a time


def lenskit_factors(scorer, n_users, n_items):
    """A trained LensKit scorer's embeddings in fastcf's row order (absent rows stay zero)."""
    users = np.zeros((n_users, scorer.user_embeddings.shape[1]), dtype=np.float32)
    items = np.zeros((n_items, scorer.item_embeddings.shape[1]), dtype=np.float32)
    users[np.asarray(scorer.users.ids(), dtype=np.int64)] = scorer.user_embeddings
    items[np.asarray(scorer.items.ids(), dtype=np.int64)] = scorer.item_embeddings
    return users, items


def lenskit_als_fit(user_items, *, factors, regularization, iterations):
    from lenskit.training import TrainingOptions

    scorer = lenskit_implicit_scorer(factors, regularization, iterations)
    scorer.train(_lenskit_dataset(user_items, lambda c: (c - 1) / 2), TrainingOptions())
    return lenskit_factors(scorer, *user_items.shape)


def lenskit_biased_runner(ratings, *, factors, regularization):
    """One epoch of LensKit's BiasedMFScorer (explicit biased ALS) on the ratings CSR."""
    from lenskit.als import BiasedMFScorer
    from lenskit.training import TrainingOptions

    scorer = BiasedMFScorer(embedding_size=factors, epochs=1, regularization=regularization)
    trainer = scorer.create_trainer(_lenskit_dataset(ratings, lambda r: r), TrainingOptions())
    return lambda: (trainer.train_epoch(), None)[1]


def lenskit_biased_predict(ratings, test_users, test_items, *, factors, regularization, iterations):
    """Predictions of a trained BiasedMFScorer for the test pairs (indices into ``ratings``)."""
    from lenskit.als import BiasedMFScorer
    from lenskit.training import TrainingOptions

    scorer = BiasedMFScorer(embedding_size=factors, epochs=iterations, regularization=regularization)
    scorer.train(_lenskit_dataset(ratings, lambda r: r), TrainingOptions())
    users, items = lenskit_factors(scorer, *ratings.shape)
    bias = scorer.bias
    user_bias = np.zeros(ratings.shape[0])
    item_bias = np.zeros(ratings.shape[1])
    if bias.user_biases is not None:
        user_bias[np.asarray(bias.users.ids(), dtype=np.int64)] = bias.user_biases
    if bias.item_biases is not None:
        item_bias[np.asarray(bias.items.ids(), dtype=np.int64)] = bias.item_biases
    return (bias.global_bias + user_bias[test_users] + item_bias[test_items]
            + np.einsum("ij,ij->i", users[test_users], items[test_items]))


# --- SGD matrix factorisation: fastcf, Surprise, LIBMF -----------------------------------------

def callback_epoch_seconds(make_model, data):
    """(median seconds between consecutive epochs of one fit, one-off setup seconds).

    ``make_model(callback)`` returns an unfitted model that calls ``callback`` after every
    epoch. Epoch times come from those timestamps: the kernel call with its input checks,
    without the schedule and initialisation that a fit does once.
    """
    stamps = []
    started = time.perf_counter()
    make_model(lambda *_: stamps.append(time.perf_counter())).fit(data)
    if len(stamps) < 2:
        raise ValueError("callback_epoch_seconds needs a fit of at least 2 epochs")
    setup = stamps[0] - started - (stamps[1] - stamps[0])  # first epoch's start minus fit start, about
    return float(np.median(np.diff(stamps))), setup


def difference_epoch_seconds(make_model, data, epochs):
    """(fit with 1 + N epochs - fit with 1 epoch) / N, for models without a callback:
    ``make_model(n)`` returns an unfitted model that runs n epochs."""

    def fit(n):
        model = make_model(n)
        start = time.perf_counter()
        model.fit(data)
        return time.perf_counter() - start

    return (fit(1 + epochs) - fit(1)) / epochs


def fastcf_epoch(data, factors, threads, epochs, backend, model=None, **params):
    """``callback_epoch_seconds`` of a fastcf SGD model (default BiasedMF)."""
    if model is None:
        from fastcf.models import BiasedMF as model
    length = {"iterations" if "iterations" in model().get_params() else "epochs": epochs}
    return callback_epoch_seconds(
        lambda callback: model(factors=factors, n_threads=threads, random_state=0, backend=backend,
                               callback=callback, **length, **params), data)


def surprise_trainset(users, items, ratings, scale=(1, 5)):
    import pandas as pd
    import surprise

    frame = pd.DataFrame({"u": users, "i": items, "r": np.asarray(ratings, dtype=np.float64)})
    return surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=scale)).build_full_trainset()


def surprise_fit(trainset, factors, epochs, svdpp=False):
    import surprise

    if svdpp:
        algo = surprise.SVDpp(n_factors=factors, n_epochs=epochs, random_state=0, cache_ratings=True)
    else:
        algo = surprise.SVD(n_factors=factors, n_epochs=epochs, random_state=0)
    return algo.fit(trainset)


def surprise_epoch(trainset, factors, svdpp=False):
    """Seconds of ``fit`` with one epoch (Surprise's setup is a factor initialisation only)."""
    start = time.perf_counter()
    surprise_fit(trainset, factors, 1, svdpp)
    return time.perf_counter() - start


def surprise_predict(algo, trainset, users, items):
    """Surprise's estimates for pairs of raw ids, computed from its arrays (its predict is a
    Python call per pair), clipped to the rating scale as its ``predict`` does."""
    inner_u, inner_i = _inner_ids(trainset.to_inner_uid, users), _inner_ids(trainset.to_inner_iid, items)
    known_u, known_i = inner_u >= 0, inner_i >= 0
    estimate = np.full(users.shape, trainset.global_mean)
    estimate += np.where(known_u, algo.bu[np.maximum(inner_u, 0)], 0.0)
    estimate += np.where(known_i, algo.bi[np.maximum(inner_i, 0)], 0.0)
    both = known_u & known_i
    estimate[both] += np.einsum("ij,ij->i", algo.pu[inner_u[both]], algo.qi[inner_i[both]])
    low, high = trainset.rating_scale
    return np.clip(estimate, low, high)


def _inner_ids(to_inner, raw_ids):
    """Surprise's inner index of every raw id (-1 where unknown), one lookup per distinct id."""
    distinct, position = np.unique(raw_ids, return_inverse=True)

    def inner(raw):
        try:
            return to_inner(raw)
        except ValueError:  # Surprise raises ValueError for an unknown raw id
            return -1

    return np.array([inner(raw) for raw in distinct.tolist()], dtype=np.int64)[position]


def libmf_engine(factors, threads, iterations):
    """The PyPI ``libmf`` binding with LIBMF's own L2 = 0.1 (the binding's defaults,
    L1 = 0.04 / L2 = 0, overfit)."""
    from libmf import mf

    return mf.MF(k=factors, nr_threads=threads, nr_iters=iterations, lambda_p1=0.0, lambda_q1=0.0,
                 lambda_p2=0.1, lambda_q2=0.1, quiet=True)


def libmf_epoch(triples, factors, threads, epochs):
    """``difference_epoch_seconds``: its data copy and grid building are left out."""
    return difference_epoch_seconds(lambda n: libmf_engine(factors, threads, n), triples, epochs)


def libmf_predict(triples, users, items, factors, threads, iterations):
    engine = libmf_engine(factors, threads, iterations)
    engine.fit(triples)
    # The binding reads the pairs as a Fortran-ordered (n, 2) array.
    pairs = np.asfortranarray(np.column_stack([users, items]).astype(np.float32))
    return engine.predict(pairs)


# --- BPR / WARP: implicit, LightFM --------------------------------------------------------------

def implicit_bpr_fit(user_items, *, factors, learning_rate, regularization, iterations, threads, seed=0):
    """(model, seconds between consecutive epochs) of implicit's CPU BPR."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    stamps = [time.perf_counter()]
    with _single_threaded_blas():
        model = BayesianPersonalizedRanking(factors=factors, learning_rate=learning_rate,
                                            regularization=regularization, iterations=iterations,
                                            num_threads=threads, random_state=seed)
        model.fit(user_items, show_progress=False, callback=lambda *_: stamps.append(time.perf_counter()))
    return model, np.diff(stamps[1:]) if len(stamps) > 2 else np.diff(stamps)


def implicit_bpr_factors(model):
    """implicit keeps the item bias as the last item column and a 1 as the last user column."""
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


def lightfm_model(loss, factors, learning_rate, regularization, seed=0):
    from lightfm import LightFM

    return LightFM(no_components=factors, loss=loss, learning_rate=learning_rate, item_alpha=regularization,
                   user_alpha=regularization, random_state=seed)


def lightfm_epoch_runner(user_items, *, loss, factors, learning_rate, regularization, threads):
    """One ``fit_partial`` epoch; the first (untimed) call initialises the embeddings."""
    model = lightfm_model(loss, factors, learning_rate, regularization)
    interactions = user_items.tocoo()
    model.fit_partial(interactions, epochs=1, num_threads=threads)
    return lambda: model.fit_partial(interactions, epochs=1, num_threads=threads) and None


def lightfm_factors(user_items, *, loss, factors, learning_rate, regularization, epochs, threads):
    """LightFM's score u.v + b_i (+ b_u, equal for one user's items) as plain factors [u, 1] . [v, b_i]."""
    model = lightfm_model(loss, factors, learning_rate, regularization)
    model.fit(user_items.tocoo(), epochs=epochs, num_threads=threads)
    users = np.column_stack([model.user_embeddings, np.ones(user_items.shape[0], dtype=np.float32)])
    items = np.column_stack([model.item_embeddings, model.item_biases])
    return users, items


def lightfm_features_fit(user_items, user_side, item_side, *, loss, factors, learning_rate, epochs, threads,
                         user_alpha=0.0, item_alpha=0.0, learning_schedule="adagrad", max_sampled=10, seed=0):
    """LightFM fitted with given user and item feature matrices (rows: users / items of
    ``user_items``; columns: LightFM's features, identity columns included when wanted).

    The matrices go in as they are: LightFM itself does not normalise feature rows (only its
    ``Dataset`` helper does), so giving it the matrices fastcf builds poses one problem.
    """
    from lightfm import LightFM

    interactions = sp.coo_matrix(user_items, dtype=np.float32)
    interactions.data[:] = 1  # every stored entry is a positive, as in fastcf's ranking models
    model = LightFM(no_components=factors, loss=loss, learning_rate=learning_rate, user_alpha=user_alpha,
                    item_alpha=item_alpha, learning_schedule=learning_schedule, max_sampled=max_sampled,
                    random_state=seed)
    model.fit(interactions, user_features=sp.csr_matrix(user_side, dtype=np.float32),
              item_features=sp.csr_matrix(item_side, dtype=np.float32), epochs=epochs, num_threads=threads)
    return model


def lightfm_feature_vectors(model, user_rows, item_side):
    """([user vectors, 1], [item vectors, item bias]) of a LightFM model for feature rows
    ``user_rows`` (new users: their side columns, identity columns zero) and ``item_side``;
    the user bias is dropped (equal for all of one user's items, so no ranking changes)."""
    _, users = model.get_user_representations(sp.csr_matrix(user_rows, dtype=np.float32))
    item_bias, items = model.get_item_representations(sp.csr_matrix(item_side, dtype=np.float32))
    return (np.column_stack([users, np.ones(users.shape[0], np.float32)]),
            np.column_stack([items, item_bias]))


# --- item-item similarity: implicit, sparse_dot_topn ------------------------------------------

def implicit_cosine_runner(user_items, k, threads):
    from implicit.nearest_neighbours import CosineRecommender

    def fit():
        model = CosineRecommender(K=k, num_threads=threads)
        model.fit(user_items, show_progress=False)
        return model.similarity

    return lambda: (fit(), None)[1]


def implicit_cosine_neighbours(user_items, k, threads):
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=k, num_threads=threads)
    model.fit(user_items, show_progress=False)
    return model.similarity.tocsr()


def row_normalised(item_users):
    norms = np.sqrt(np.asarray(item_users.multiply(item_users).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    return sp.diags(1 / norms).astype(item_users.dtype) @ item_users


def sparse_dot_topn_neighbours(normalised_item_users, k, threads):
    from sparse_dot_topn import sp_matmul_topn

    return sp_matmul_topn(normalised_item_users, normalised_item_users.T.tocsr(), top_n=k, sort=True,
                          n_threads=threads)


# --- recommend and evaluate with given factors: implicit ---------------------------------------

def implicit_als_with_factors(user_factors, item_factors, threads):
    from implicit.cpu.als import AlternatingLeastSquares

    with _single_threaded_blas():  # implicit warns about a BLAS pool otherwise
        peer = AlternatingLeastSquares(factors=user_factors.shape[1], num_threads=threads)
    peer.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    peer.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    return peer


def implicit_recommend_runner(user_factors, item_factors, seen, k, threads):
    """implicit's ``recommend`` for every user on the same factors, seen items filtered."""
    peer = implicit_als_with_factors(user_factors, item_factors, threads)
    seen32 = seen.astype(np.float32)
    user_index = np.arange(seen.shape[0])

    def recommend():
        with _single_threaded_blas():
            return peer.recommend(user_index, seen32, N=k, filter_already_liked_items=True)[0]

    return recommend


def implicit_ranking_metrics_runner(user_factors, item_factors, train, test, k, threads):
    """implicit's ``ranking_metrics_at_k`` (precision, map, ndcg, auc) on the same factors.

    Single-threaded BLAS is its best setting: measured 4.8-6.7 s against 9-19 s with
    OpenBLAS's default pool of 2 threads on the ml10m shape.
    """
    from implicit.evaluation import ranking_metrics_at_k

    peer = implicit_als_with_factors(user_factors, item_factors, threads)
    train_m = train.matrix if hasattr(train, "matrix") else train
    test_m = test.matrix if hasattr(test, "matrix") else test
    train32, test32 = train_m.astype(np.float32), test_m.astype(np.float32)

    def metrics():
        with _single_threaded_blas():
            return ranking_metrics_at_k(peer, train32, test32, K=k, show_progress=False, num_threads=threads)

    return metrics


# --- reading a ratings file: fastcf against pandas + scipy, each in a fresh process ------------

# The peak is VmHWM (this process's own high-water mark; Linux), else ru_maxrss, which Linux
# carries over from the parent through fork and exec and so would show the parent's peak.
_PEAK_KIB = """
def peak_kib():
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""
READ_FASTCF = _PEAK_KIB + """
import sys, time
if sys.argv[2]:
    sys.path.insert(0, sys.argv[2])
import fastcf
# pandas is imported outside the timer, as in the baseline: fastcf imports it on first use,
# and the task is reading, not importing.
import pandas
t = time.perf_counter()
data = fastcf.read_ratings(sys.argv[1], user_col="userId", item_col="movieId", timestamp_col="timestamp")
seconds = time.perf_counter() - t
print(seconds, peak_kib(), data.nnz)
"""
READ_BASELINE = _PEAK_KIB + """
import sys, time, numpy as np, pandas as pd, scipy.sparse as sp
t = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
matrix = sp.coo_matrix((frame["rating"].to_numpy(np.float32), (frame["userId"].to_numpy(), frame["movieId"].to_numpy()))).tocsr()
seconds = time.perf_counter() - t
print(seconds, peak_kib(), matrix.nnz)
"""


def write_ratings_csv(preset: str, path: Path, shuffled: bool = False) -> None:
    """The synthetic preset as a MovieLens-style ratings.csv (userId, movieId, rating, timestamp)."""
    from fastcf.data.synthetic import synthetic

    frame = synthetic(preset).to_frame().rename(columns={"user": "userId", "item": "movieId"})
    if shuffled:  # the worst case for CSR building: no order at all
        frame = frame.sample(frac=1.0, random_state=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.1f")  # else sorted by user, item, as MovieLens


def timed_read(script: str, csv: Path) -> Tuple[float, float, int]:
    """(seconds, peak resident MiB, entries) of one read in a fresh process (so peaks compare).

    fastcf is imported from the same place as in this process (the checkout when built in place).
    """
    checkout = str(REPO) if _checkout_is_built() else ""
    out = subprocess.run([sys.executable, "-c", script, str(csv), checkout], capture_output=True, text=True,
                         cwd="/", env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    seconds, maxrss_kib, nnz = out.stdout.split()
    return float(seconds), int(maxrss_kib) / 1024, int(nnz)
