"""Seconds per epoch of ranking-loss MF: fastcf's BPR against implicit's CPU BPR, WARP and HybridMF against LightFM.

Same data for all: a synthetic MovieLens-shaped preset (``--preset``, default ml10m: 69,878
users x 10,677 items, 10M ratings), split 80/20 at random; every stored training entry is a
positive. Same factors (64), learning rate and regularisation, ``--threads`` threads (2).
The peers run alternately (fastcf, peer, fastcf, peer, ...) for ``--repeats`` rounds; the
median epoch of each fit is taken and the median over rounds reported, with min..max.

What is timed, per epoch: the time between consecutive epochs of one fit (fastcf callback,
implicit callback), and for LightFM one ``fit_partial(epochs=1)`` call (after a first one that
builds its data structures). HybridMF and its LightFM twin use the same features: identity
plus one-hot demographics (age group, gender, occupation) for users, identity plus genres for
items. Quality of each last fit: precision@10 and full AUC on the held-out 20%, one metric
code (fastcf.evaluate) for all.

fastcf's epochs run on its deterministic grid: the same bits at any thread count.

Usage: python scripts/bench_bpr.py [--preset ml10m] [--threads 2] [--repeats 3] [--epochs 3]
                                   [--only bpr,warp,hybrid] [--no-quality]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp

from fastcf.data import item_features, random_split, synthetic, user_features
from fastcf.evaluation import evaluate
from fastcf.models import BPR, WARP, FactorModel, HybridMF

FACTORS, LEARNING_RATE, REGULARIZATION = 64, 0.05, 0.01


def frozen(user_vectors, item_vectors, train):
    """A fitted FactorModel holding a peer's vectors, for fastcf.evaluate."""
    model = FactorModel()
    model.user_factors_ = np.ascontiguousarray(user_vectors, dtype=np.float32)
    model.item_factors_ = np.ascontiguousarray(item_vectors, dtype=np.float32)
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    return model


def fastcf_fit(cls, train, threads, epochs, **params):
    stamps = []

    def callback(epoch, model, ordered):
        stamps.append(time.perf_counter())

    started = time.perf_counter()
    model = cls(factors=FACTORS, learning_rate=LEARNING_RATE, regularization=REGULARIZATION, epochs=epochs,
                n_threads=threads, random_state=0, callback=callback, **params)
    model.fit(train)
    first = stamps[0] - started
    return statistics.median(np.diff([started] + stamps)[1:]) if epochs > 1 else first, model


def implicit_fit(train, threads, epochs):
    import threadpoolctl
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    stamps = []
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = BayesianPersonalizedRanking(factors=FACTORS, learning_rate=LEARNING_RATE,
                                            regularization=REGULARIZATION, iterations=epochs,
                                            num_threads=threads, random_state=0)
        started = time.perf_counter()
        model.fit(train.matrix, show_progress=False, callback=lambda *a: stamps.append(time.perf_counter()))
    times = np.diff([started] + stamps)
    return statistics.median(times[1:] if epochs > 1 else times), frozen(model.user_factors, model.item_factors, train)


def lightfm_fit(train, threads, epochs, loss, user_side=None, item_side=None):
    from lightfm import LightFM

    interactions = sp.coo_matrix(train.matrix, dtype=np.float32)
    interactions.data[:] = 1
    model = LightFM(no_components=FACTORS, loss=loss, learning_rate=LEARNING_RATE, item_alpha=0.0, user_alpha=0.0,
                    random_state=0)
    times = []
    for _ in range(epochs + 1):  # the first call also builds LightFM's feature structures
        started = time.perf_counter()
        model.fit_partial(interactions, user_features=user_side, item_features=item_side, epochs=1,
                          num_threads=threads)
        times.append(time.perf_counter() - started)
    user_bias, user_vectors = model.get_user_representations(user_side)
    item_bias, item_vectors = model.get_item_representations(item_side)
    # Scores u . i + b_i (+ b_u, the same for all of a user's items): [u, 1] . [i, b_i].
    users = np.hstack([user_vectors, np.ones((user_vectors.shape[0], 1), np.float32)])
    items = np.hstack([item_vectors, item_bias[:, None]])
    return statistics.median(times[1:]), frozen(users, items, train)


def quality(model, train, test):
    result = evaluate(model, train, test, k=10, metrics=["precision", "auc"])
    return f"precision@10 {result['precision']:.4f}, AUC {result['auc']:.4f}"


def compare(name, ours, theirs, repeats, train, test, show_quality):
    """Alternate the two fits ``repeats`` times; report medians, spreads, ratio and quality."""
    mine, peer = [], []
    for _ in range(repeats):
        seconds, our_model = ours()
        mine.append(seconds)
        try:
            seconds, their_model = theirs()
        except ImportError as missing:  # a peer not installed: fastcf's own times are still shown
            print(f"{name}: fastcf {statistics.median(mine):.3f} s/epoch; the peer is not installed ({missing})",
                  flush=True)
            return
        peer.append(seconds)
    a, b = statistics.median(mine), statistics.median(peer)
    print(f"{name}: fastcf {a:.3f} s/epoch ({min(mine):.3f}..{max(mine):.3f}), peer {b:.3f} s/epoch "
          f"({min(peer):.3f}..{max(peer):.3f}), ratio {a / b:.2f} (median of {repeats})", flush=True)
    if show_quality:
        print(f"    quality of the last fits: fastcf {quality(our_model, train, test)}; "
              f"peer {quality(their_model, train, test)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ml10m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", default="bpr,warp,hybrid")
    parser.add_argument("--no-quality", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    data = synthetic(args.preset)
    train, test = random_split(data, 0.2, seed=0)
    print(f"{args.preset}: {train} ({time.perf_counter() - started:.1f} s to build); {FACTORS} factors, "
          f"{args.threads} threads, {args.epochs} epochs a fit", flush=True)
    cases = args.only.split(",")
    show = not args.no_quality
    run_cases(cases, train, test, args, show)


def run_cases(cases, train, test, args, show):
    """The chosen comparisons."""
    if "bpr" in cases:
        compare("BPR vs implicit BPR",
                lambda: fastcf_fit(BPR, train, args.threads, args.epochs),
                lambda: implicit_fit(train, args.threads, args.epochs), args.repeats, train, test, show)
    if "warp" in cases:
        compare("WARP vs LightFM WARP",
                lambda: fastcf_fit(WARP, train, args.threads, args.epochs),
                lambda: lightfm_fit(train, args.threads, args.epochs, "warp"), args.repeats, train, test, show)
    if "hybrid" in cases:
        users, _ = user_features(train)
        items, _ = item_features(train)
        user_side = sp.hstack([sp.identity(train.n_users, format="csr"), users], format="csr", dtype=np.float32)
        item_side = sp.hstack([sp.identity(train.n_items, format="csr"), items], format="csr", dtype=np.float32)
        compare("HybridMF (WARP) vs LightFM WARP with features",
                lambda: fastcf_fit(HybridMF, train, args.threads, args.epochs, loss="warp"),
                lambda: lightfm_fit(train, args.threads, args.epochs, "warp", user_side, item_side),
                args.repeats, train, test, show)

if __name__ == "__main__":
    main()
