"""Evaluate precision/recall/NDCG/MAP@10 for every test user: fastcf against implicit, same factors.

    python scripts/bench_evaluate.py [--preset ml10m] [--factors 64] [--threads 2] [--repeats 3]
                                     [--block-size 64] [--backends cython numba] [--auc]

Data: the synthetic preset (ml10m: 69,878 users x 10,677 items, 10M ratings), split at
random 80/20 (``fastcf.data.random_split``, seed 0). Model: random float32 factors (seed 0),
the same arrays for both libraries. fastcf runs ``fastcf.evaluate(model, train, test, 10,
metrics=[precision, recall, ndcg, map, precision_implicit])``; implicit runs
``ranking_metrics_at_k(model, train, test, K=10)`` (precision, map, ndcg and its AUC) with
single-threaded BLAS, its best setting. Runs alternate (fastcf, implicit, fastcf, ...) so
that machine noise falls on both; the table gives the median and the spread of --repeats
runs each, and the peak memory of one call: allocated through Python and NumPy
(tracemalloc, in an untimed run), and the growth of the resident set in a fresh process
(which also sees C/C++ allocations), beside the bound that fastcf's scratch obeys.
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

import _peers
import fastcf
from _peers import factor_model
from fastcf.data import random_split, synthetic
from fastcf.evaluation import evaluate

METRICS = ["precision", "recall", "ndcg", "map", "precision_implicit"]


def make_runners(args, model, train, test, names=None):
    """name -> callable running one evaluation. ``train``/``test``: Interactions or CSR."""
    runners = {}
    for backend in args.backends:
        runners[f"fastcf {backend}"] = lambda backend=backend: evaluate(
            model, train, test, args.k, metrics=METRICS, n_threads=args.threads, block_size=args.block_size,
            backend=backend,
        )
    if args.auc:
        runners["fastcf cython +auc"] = lambda: evaluate(
            model, train, test, args.k, metrics=METRICS + ["auc"], n_threads=args.threads,
            block_size=args.block_size, backend="cython",
        )
    if _peers.available("implicit"):
        runners["implicit"] = _peers.implicit_ranking_metrics_runner(model.user_factors_, model.item_factors_,
                                                                     train, test, args.k, args.threads)
    return runners


def numpy_peak(run):
    """Peak bytes allocated through Python and NumPy during one call (tracemalloc). In a run of
    its own: tracing slows allocation-heavy code (implicit's 6.7 s became 15.1 s)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args):
    """Run one runner once in this fresh process; print how far the peak RSS rose above the start.

    A fresh process, because inside a long one the allocator keeps freed pages resident and
    reuses them, so a later call's growth would not show.
    """
    import scipy.sparse as sp

    arrays = np.load(args.child_data)
    shape = tuple(arrays["shape"])
    train = sp.csr_matrix((arrays["train_data"], arrays["train_indices"], arrays["train_indptr"]), shape=shape)
    test = sp.csr_matrix((arrays["test_data"], arrays["test_indices"], arrays["test_indptr"]), shape=shape)
    model = factor_model(arrays["U"], arrays["V"], train)
    if args.child.startswith("fastcf numba"):  # compile on a sliver first: the compiler's memory is not ours
        small = factor_model(arrays["U"][:5], arrays["V"], train[:5])
        evaluate(small, train[:5], test[:5], args.k, metrics=METRICS, backend="numba")
    run = make_runners(args, model, train, test)[args.child]
    gc.collect()
    before = _rss()
    # Reset the resident-set high-water mark (VmHWM), so that it is this call's peak, not the
    # peak of loading the data (Linux >= 4.0; elsewhere fall back on the lifetime peak).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    run()
    peak = _high_water_mark()
    print(json.dumps({"rss_growth": max(peak - before, 0)}))


def _high_water_mark():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def rss_growth(name, path, args):
    """Peak RSS growth of one call of runner ``name``, in a fresh process (see ``child``)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", name, "--child-data", path,
               "--threads", str(args.threads), "--block-size", str(args.block_size), "-k", str(args.k),
               "--backends", *args.backends] + (["--auc"] if args.auc else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_growth"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml10m")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["cython"], choices=["cython", "numba", "reference"])
    parser.add_argument("--auc", action="store_true", help="also time fastcf with the full AUC")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    started = time.perf_counter()
    data = synthetic(args.preset)
    train, test = random_split(data, 0.2, seed=0)
    print(f"data: {args.preset} synthetic {data.n_users:,} users x {data.n_items:,} items; train {train.nnz:,}, "
          f"test {test.nnz:,} entries ({time.perf_counter() - started:.1f} s to build)")
    rng = np.random.default_rng(0)
    U = (0.1 * rng.standard_normal((data.n_users, args.factors))).astype(np.float32)
    V = (0.1 * rng.standard_normal((data.n_items, args.factors))).astype(np.float32)
    model = factor_model(U, V, train.matrix, train.users, train.items)
    runners = make_runners(args, model, train, test)
    if "implicit" not in runners:
        print("implicit is not installed: timing fastcf alone")

    # Memory, outside the timing: the NumPy peak in this process (these runs also warm up:
    # Numba compiles, pages are touched), and the RSS growth of one call in a fresh process.
    traced = {name: numpy_peak(run) for name, run in runners.items()}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "problem.npz")
        np.savez(path, shape=np.array(train.shape), U=U, V=V, train_indptr=train.matrix.indptr,
                 train_indices=train.matrix.indices, train_data=train.matrix.data.astype(np.float32),
                 test_indptr=test.matrix.indptr, test_indices=test.matrix.indices,
                 test_data=test.matrix.data.astype(np.float32))
        growth = {name: rss_growth(name, path, args) for name in runners}

    seconds = {name: [] for name in runners}
    outputs = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            outputs[name] = run()
            seconds[name].append(time.perf_counter() - start)

    n_eval = int(np.count_nonzero(np.diff(test.matrix.indptr)))
    scratch = args.threads * args.block_size * data.n_items * 4
    print(f"precision/recall/NDCG/MAP@{args.k} for {n_eval:,} test users, {args.factors} factors (float32), "
          f"{args.threads} threads, median of {args.repeats} alternating runs (fastcf {fastcf.__version__})")
    print(f"{'runner':<20} {'median s':>9} {'min s':>7} {'max s':>7} {'users/s':>11} {'NumPy peak MiB':>15} "
          f"{'RSS growth MiB':>15}")
    medians = {}
    for name, times in seconds.items():
        medians[name] = float(np.median(times))
        print(f"{name:<20} {medians[name]:9.3f} {min(times):7.3f} {max(times):7.3f} "
              f"{n_eval / medians[name]:11,.0f} {traced[name] / 2**20:15.1f} {growth[name] / 2**20:15.1f}")
    print(f"fastcf's score scratch: threads x block_size x n_items x 4 B = {scratch / 2**20:.1f} MiB; "
          f"its outputs: users x (k + 12) x 8 B = {n_eval * (args.k + 12) * 8 / 2**20:.1f} MiB")
    if "implicit" in medians:
        for name in runners:
            if name != "implicit":
                print(f"speed-up {name} vs implicit: {medians['implicit'] / medians[name]:.1f}x (median), "
                      f"{min(seconds['implicit']) / min(seconds[name]):.1f}x (fastest runs)")
        ours, theirs = outputs[f"fastcf {args.backends[0]}"], outputs["implicit"]
        print("agreement (fastcf name = implicit name):")
        for mine, peer_name in (("precision_implicit", "precision"), ("map", "map"), ("ndcg", "ndcg")):
            print(f"  {mine:<18} {ours[mine]:.10f}   {peer_name:<9} {theirs[peer_name]:.10f}")


if __name__ == "__main__":
    main()
