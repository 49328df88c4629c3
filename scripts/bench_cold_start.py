"""Cold-start users on MovieLens 100K: HybridMF from demographics against popularity and LightFM 1.17.

Split (as tests/realdata/test_bpr_quality.py): 20% of the users, drawn with
``numpy.random.default_rng(seed)``, are held out entirely; the models train on the other 80%
(all their ratings, every rating a positive). A held-out user is known by its demographics
alone (age group, gender, occupation from u.user); all its ratings are its relevant items.
Scores: NDCG@10 and precision@10 of each method's top 10 for the held-out users, by fastcf's
``ranking_metrics`` for every method (no item is excluded: held-out users have no history).

Methods:
- popularity: the 10 most-rated training items, for everyone;
- popularity by group: the 10 most-rated items among training users of the same age group and
  gender (the whole training set for a group without training users);
- HybridMF and LightFM with exactly the same feature matrices, the ones HybridMF builds and
  hands to its kernel: users, demographics (with ``--user-identity``: [identity, w * demographics],
  w = side_weight); items, identity (with ``--genres``: [identity, w * genres]). A held-out user's
  row is its demographics (identity columns zero), so both score it from the demographic
  embeddings alone.

Each library runs its own sensible setting (stated in the table): LightFM its defaults
(Adagrad, learning rate 0.05) with WARP, which is what it recommends for top-k ranking;
HybridMF WARP with plain SGD and a decaying step. Same factors and epochs for both.

Usage: python scripts/bench_cold_start.py [--data ../shared/data/ml-100k] [--seeds 0,1,2]
       [--factors 32] [--epochs 30] [--genres] [--user-identity] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import _peers  # noqa: F401  (puts this checkout first on sys.path when it is built in place)
from fastcf.data import IdMap, item_features, read_movielens, user_features
from fastcf.evaluation import ranking_metrics
from fastcf.models import HybridMF

REPO = Path(__file__).resolve().parents[1]
METRICS = ["ndcg", "precision"]


def cold_split(data, seed, fraction=0.2):
    """(train Interactions of the warm users, indices of the cold users), as the realdata test."""
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(data.n_users, int(fraction * data.n_users), replace=False))
    warm = np.setdiff1d(np.arange(data.n_users), cold)
    train = data.replace(data.matrix[warm], users=IdMap(data.users.raw_ids[warm], "user"), timestamps=None)
    return train, cold


def top_k(scores, k=10):
    """Indices of the k best columns of each row, best first (ties: lower index first)."""
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.lexsort((part, -np.take_along_axis(scores, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def popularity_lists(train, n_cold, k=10):
    counts = np.bincount(train.matrix.indices, minlength=train.n_items)
    return np.tile(np.argsort(-counts, kind="stable")[:k], (n_cold, 1))


def group_popularity_lists(data, train, cold, k=10):
    """Most-rated items among training users with the cold user's age group and gender."""
    columns = ("age", "gender")
    warm_features, names = user_features(data, columns=columns, users=train.users.raw_ids)
    cold_features, _ = user_features(data, columns=columns, users=data.users.raw_ids[cold])
    # One key per (age group, gender) pair: the set of its feature columns.
    def keys(features):
        return [tuple(features.indices[features.indptr[r]:features.indptr[r + 1]]) for r in range(features.shape[0])]

    warm_keys, cold_keys = keys(warm_features), keys(cold_features)
    overall = np.bincount(train.matrix.indices, minlength=train.n_items)
    lists = np.empty((cold.size, k), dtype=np.int64)
    cache = {}
    for row, key in enumerate(cold_keys):
        if key not in cache:
            members = np.array([u for u, other in enumerate(warm_keys) if other == key], dtype=np.int64)
            counts = (np.bincount(train.matrix[members].indices, minlength=train.n_items) if members.size
                      else overall)
            # Overall popularity breaks ties between the group's counts.
            cache[key] = np.lexsort((-overall, -counts))[:k]
        lists[row] = cache[key]
    return lists


def kernel_matrices(model, n_users, n_items):
    """The (user, item) feature matrices HybridMF handed to its kernel, rebuilt from its attributes."""
    out = []
    for side, identity, n_rows in (("user", model.user_identity, n_users), ("item", model.item_identity, n_items)):
        features = getattr(model, f"{side}_features_")
        if identity:
            parts = [sp.identity(n_rows, dtype=np.float32, format="csr")]
            if features.shape[1]:
                parts.append(model.side_weight * features)
            out.append(sp.hstack(parts, format="csr", dtype=np.float32))
        else:
            out.append(sp.csr_matrix(features, dtype=np.float32))
    return out


def cold_rows(model, cold_features, n_train_users):
    """Cold users' rows in the user matrix's column space: identity columns zero, side columns weighted."""
    if not model.user_identity:
        return sp.csr_matrix(cold_features, dtype=np.float32)
    zeros = sp.csr_matrix((cold_features.shape[0], n_train_users), dtype=np.float32)
    return sp.hstack([zeros, model.side_weight * cold_features], format="csr", dtype=np.float32)


def run_seed(data, seed, args, fastcf_params, lightfm_params):
    train, cold = cold_split(data, seed)
    truth = data.matrix[cold]
    demographics = user_features(train)
    cold_features, names = user_features(data, users=data.users.raw_ids[cold])
    genres = item_features(train) if args.genres else None
    results = {}

    def score(name, lists, seconds=float("nan")):
        result = ranking_metrics(lists, truth, metrics=METRICS)
        assert result["n_users"] == cold.size
        results[name] = (result["ndcg"], result["precision"], seconds)

    score("popularity", popularity_lists(train, cold.size))
    score("popularity by age group x gender", group_popularity_lists(data, train, cold))

    started = time.perf_counter()
    model = HybridMF(**fastcf_params, random_state=seed, n_threads=args.threads).fit(
        train, user_features=demographics, item_features=genres)
    seconds = time.perf_counter() - started
    assert np.array_equal(names, model.user_feature_names_)
    top, _ = model.recommend_for_features(cold_features, 10)
    score("fastcf HybridMF", data.items.to_index(top.ravel()).reshape(top.shape), seconds)

    user_side, item_side = kernel_matrices(model, train.n_users, train.n_items)
    started = time.perf_counter()
    peer = _peers.lightfm_features_fit(train.matrix, user_side, item_side, **lightfm_params, seed=seed,
                                       threads=args.threads)
    seconds = time.perf_counter() - started
    users, items = _peers.lightfm_feature_vectors(peer, cold_rows(model, cold_features, train.n_users), item_side)
    score("LightFM 1.17", top_k(users @ items.T), seconds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ml-100k"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--genres", action="store_true", help="genres as item features beside the item identity")
    parser.add_argument("--user-identity", action="store_true",
                        help="training users keep an identity feature beside their demographics")
    parser.add_argument("--lightfm-lr", type=float, default=0.01)
    parser.add_argument("--lightfm-alpha", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import fastcf

    data = read_movielens(args.data)
    fastcf_params = dict(factors=args.factors, loss="warp", epochs=args.epochs, learning_rate=0.05,
                         learning_rate_decay=0.9, regularization=0.1, user_identity=args.user_identity,
                         item_identity=True)
    lightfm_params = dict(loss="warp", factors=args.factors, epochs=args.epochs, learning_rate=args.lightfm_lr,
                          learning_schedule="adagrad", user_alpha=args.lightfm_alpha, item_alpha=args.lightfm_alpha)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"fastcf {fastcf.__version__} from {fastcf.__file__}; LightFM {_peers.version('LightFM')}; "
          f"{data}; seeds {seeds}; items: identity{' + genres' if args.genres else ''}; users: "
          f"{'identity + ' if args.user_identity else ''}demographics", flush=True)
    per_seed = []
    for seed in seeds:
        per_seed.append(run_seed(data, seed, args, fastcf_params, lightfm_params))
        print(f"seed {seed}: " + "; ".join(f"{name} {v[0]:.4f}" for name, v in per_seed[-1].items()), flush=True)
    print()
    print(f"Cold-start users (20% held out), MovieLens 100K, mean over {len(seeds)} seed(s) ({args.seeds})")
    print()
    print("| method | NDCG@10 | precision@10 | NDCG@10 per seed | fit s |")
    print("|---|---|---|---|---|")
    for name in per_seed[0]:
        ndcg = [r[name][0] for r in per_seed]
        precision = [r[name][1] for r in per_seed]
        fit = [r[name][2] for r in per_seed]
        seconds = "" if np.isnan(fit[0]) else f"{statistics.median(fit):.1f}"
        print(f"| {name} | {np.mean(ndcg):.4f} | {np.mean(precision):.4f} | "
              f"{', '.join(f'{v:.4f}' for v in ndcg)} | {seconds} |")
    print()
    print("fastcf HybridMF:", fastcf_params)
    print("LightFM:", lightfm_params)


if __name__ == "__main__":
    main()
