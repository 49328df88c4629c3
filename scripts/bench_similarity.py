"""Item-item cosine top-k: fastcf against implicit and sparse_dot_topn, same data, same run.

    python scripts/bench_similarity.py [--presets ml1m ml10m ml20m] [--k 20] [--threads 2]
                                       [--repeats 3] [--backends cython] [--cache DIR]

Data: ``fastcf.data.synthetic(preset)`` (users x items, float32 ratings). Each round runs, in
alternation so that machine noise falls on all of them alike:

* fastcf: ``similarity_topk`` on items x users, timed from the users x items CSR (the
  transposes and the cosine normalisation are inside the timing);
* implicit: ``CosineRecommender(K=k, num_threads=threads).fit(user_items)``;
* sparse_dot_topn: ``sp_matmul_topn(N, N.T, top_n=k, n_threads=threads)`` on the row-
  normalised items x users matrix N, which is built outside its timing.

The table gives medians of --repeats rounds, each peer's time over fastcf's, and the peak
resident memory each call added (sampled every 2 ms; it includes memory that C++ code
allocates, which tracemalloc would miss). Agreement: the share of each peer's neighbours
(self excluded: both peers list every item as its own best neighbour) that fastcf lists too.
"""

import argparse
import os
import threading
import time

import numpy as np
import scipy.sparse as sp

import fastcf
from fastcf.data import synthetic
from fastcf.kernels import similarity_topk


class PeakRss:
    """Peak resident set size above the level at entry, sampled on a background thread."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.peak = 0

    @staticmethod
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        self.base = self.rss()
        self.peak = self.base
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.rss())
        self.added = self.peak - self.base


def load(preset, cache):
    path = os.path.join(cache, f"synthetic_{preset}.npz") if cache else None
    if path and os.path.exists(path):
        return sp.load_npz(path).tocsr()
    user_items = synthetic(preset).matrix
    if path:
        os.makedirs(cache, exist_ok=True)
        sp.save_npz(path, user_items)
    return user_items


def neighbour_sets(indptr, indices, drop_self):
    rows = []
    for r in range(indptr.shape[0] - 1):
        found = set(indices[indptr[r]:indptr[r + 1]].tolist())
        if drop_self:
            found.discard(r)
        rows.append(found)
    return rows


def overlap(ours, theirs):
    """Share of the peer's neighbours that fastcf lists too, over all rows."""
    shared = sum(len(a & b) for a, b in zip(ours, theirs))
    total = sum(len(b) for b in theirs)
    return shared / total if total else 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["ml1m", "ml10m", "ml20m"])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["cython"], choices=["cython", "numba"])
    parser.add_argument("--cache", default=None, help="directory to keep the generated matrices in")
    args = parser.parse_args()

    from implicit.nearest_neighbours import CosineRecommender
    from sparse_dot_topn import sp_matmul_topn

    print(f"item-item cosine top-{args.k}, {args.threads} threads, median of {args.repeats} alternating "
          f"rounds (fastcf {fastcf.__version__})")
    for preset in args.presets:
        user_items = load(preset, args.cache)
        items_users = user_items.T.tocsr()
        norms = np.sqrt(np.asarray(items_users.multiply(items_users).sum(axis=1)).ravel())
        normalised = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32) @ items_users
        normalised = normalised.tocsr().astype(np.float32)
        normalised_t = normalised.T.tocsr()

        def fastcf_run(backend):
            by_items = user_items.T.tocsr()
            return similarity_topk(by_items.indptr, by_items.indices, by_items.data, by_items.shape[1], args.k,
                                   n_threads=args.threads, backend=backend)

        def implicit_run():
            model = CosineRecommender(K=args.k, num_threads=args.threads)
            model.fit(user_items, show_progress=False)
            return model.similarity

        def sdtn_run():
            return sp_matmul_topn(normalised, normalised_t, top_n=args.k, sort=True, n_threads=args.threads)

        runs = {f"fastcf {b}": (lambda b=b: fastcf_run(b)) for b in args.backends}
        runs["implicit"] = implicit_run
        runs["sparse_dot_topn"] = sdtn_run
        results = {name: run() for name, run in runs.items()}  # warm-up (Numba compiles)
        seconds = {name: [] for name in runs}
        memory = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                with PeakRss() as peak:
                    start = time.perf_counter()
                    run()
                    seconds[name].append(time.perf_counter() - start)
                memory[name].append(peak.added)

        first = f"fastcf {args.backends[0]}"
        ours = neighbour_sets(*results[first][:2], drop_self=True)
        agreement = {}
        for name in ("implicit", "sparse_dot_topn"):
            theirs = results[name].tocsr()
            theirs.sort_indices()
            agreement[name] = overlap(ours, neighbour_sets(theirs.indptr, theirs.indices, drop_self=True))

        base = np.median(seconds[first])
        print(f"\n{preset}: {user_items.shape[0]:,} users x {user_items.shape[1]:,} items, {user_items.nnz:,} ratings")
        print(f"{'':<18} {'median s':>9} {'runs (s)':>24} {'x fastcf':>9} {'peak +MB':>9} {'overlap':>8}")
        for name in runs:
            median = np.median(seconds[name])
            runs_text = " ".join(f"{s:.2f}" for s in seconds[name])
            share = f"{agreement[name]:.4f}" if name in agreement else ""
            print(f"{name:<18} {median:>9.3f} {runs_text:>24} {median / base:>9.2f} "
                  f"{np.median(memory[name]) / 2**20:>9.0f} {share:>8}")


if __name__ == "__main__":
    main()
