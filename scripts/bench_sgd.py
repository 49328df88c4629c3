"""Seconds per epoch of biased MF by SGD: fastcf's BiasedMF against Surprise's SVD and LIBMF.

Same data for all (``fastcf.data.synthetic(--preset)``, default "ml1m": 6,040 users x 3,706
items, 1,000,209 ratings), same factors (100), fastcf and LIBMF at ``--threads`` threads (Surprise is
single-threaded). The peers run alternately, ``--repeats`` rounds, and the median is reported
with the spread (min..max) so that noise from other work on the machine shows.

What is timed, per epoch:

- fastcf: the time between consecutive epochs of one fit (callback timestamps), i.e. the
  kernel call with its input checks; the one-off setup (schedule, init) is reported apart.
- Surprise SVD: ``fit`` with ``n_epochs=1`` (its setup is a factor initialisation only).
- LIBMF (PyPI ``libmf`` binding, compiled without SIMD): (fit with 1 + N iterations - fit with
  1 iteration) / N, so that its data copy and grid building are left out as for fastcf. Its
  own L2 = 0.1 is passed (the binding's defaults, L1 = 0.04 / L2 = 0, overfit).
  ``--libmf-dir DIR`` times another LIBMF build through the same binding: DIR holds the
  binding's ``libmf`` package and, beside it, the compiled ``libmf*.so`` it loads (e.g. the
  sdist's sources compiled with ``g++ -std=c++11 -O3 -march=native -DUSEAVX -DUSEOMP -fopenmp
  -fPIC -shared src_cpp/libmf_interface.cpp src_cpp/mf.cpp``).
- fastcf's CPU use: process CPU time (user + system, all threads) over wall time between
  consecutive epochs of one more fit, median over its epochs: how many of the threads the
  epoch keeps busy.

- fastcf SVDpp: as for BiasedMF (an epoch includes the sparse products for the implicit sums
  and the y step); Surprise SVDpp only with ``--surprise-svdpp`` (minutes per epoch).
- fastcf ExplicitALS: seconds per iteration (two exact half-steps, items then users, each one
  (factors + 1)-dimensional Cholesky solve per row, plus the training RMSE), timed as for
  BiasedMF. No peer: no explicit-rating ALS-WR is on PyPI without Spark.

Distance to the machine's limit (BiasedMF, printed at the end): an SGD step on one rating costs
2f flops for p·q, 3f for each of the two updates p ← (1 − lr·reg) p + lr·e q (a multiply and a
fused multiply-add per column) and about 12 for the biases and the error, so one epoch is

    flops = nnz · (8 f + 12)          (0.80 GFLOP at f = 100 on ML-1M)

set against a float32 NumPy matmul (4096², BLAS, the same threads) timed in the same run; and
its memory traffic per rating is 2 · 2 · 4 f bytes of factor rows read and written (from L2:
a block's rows fit there) plus the streamed user, item (4 bytes each as int32) and rating.

Usage: python scripts/bench_sgd.py [--preset ml1m] [--threads 2] [--repeats 3] [--epochs 5] [--no-surprise]
                                   [--no-libmf] [--libmf-dir DIR] [--no-svdpp] [--no-als] [--surprise-svdpp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

import _peers
from _peers import fastcf_epoch, libmf_epoch, surprise_epoch
from fastcf.data import synthetic
from fastcf.data.interactions import entry_rows
from fastcf.models import ExplicitALS, SVDpp


def matmul_gflops(threads, n=4096, repeats=5):
    """GFLOP/s of a float32 n x n matmul on ``threads`` BLAS threads: the machine's dense ceiling."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    times = []
    with threadpool_limits(threads, user_api="blas"):
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def cpu_use(data, factors, threads, epochs, backend):
    """Median over epochs of (process CPU seconds) / (wall seconds) between consecutive epochs of a BiasedMF fit."""
    from fastcf.models import BiasedMF

    marks = []

    def callback(*_):
        now = os.times()
        marks.append((time.perf_counter(), now.user + now.system))

    BiasedMF(factors=factors, epochs=epochs + 1, n_threads=threads, random_state=0, backend=backend,
             callback=callback).fit(data)
    return statistics.median((c1 - c0) / (w1 - w0) for (w0, c0), (w1, c1) in zip(marks, marks[1:]))


def spread(values):
    return f"median {statistics.median(values):.4f} s (min {min(values):.4f}, max {max(values):.4f}, n = {len(values)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml1m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--factors", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fastcf / LIBMF timing run")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--no-surprise", action="store_true")
    parser.add_argument("--no-libmf", action="store_true")
    parser.add_argument("--libmf-dir", default=None, help="a folder with the libmf binding and another LIBMF build")
    parser.add_argument("--no-svdpp", action="store_true", help="skip fastcf SVDpp")
    parser.add_argument("--no-als", action="store_true", help="skip fastcf ExplicitALS")
    parser.add_argument("--surprise-svdpp", action="store_true",
                        help="also time Surprise SVDpp (minutes per epoch on this data)")
    args = parser.parse_args()
    libmf_name = "LIBMF (PyPI libmf)"
    if args.libmf_dir:
        sys.path.insert(0, os.path.abspath(args.libmf_dir))  # before the first import of libmf
        libmf_name = f"LIBMF ({args.libmf_dir})"

    data = synthetic(args.preset)
    users, items = entry_rows(data.matrix), data.matrix.indices
    print(f"data: synthetic({args.preset!r}), {data.n_users} users x {data.n_items} items, {data.nnz} ratings; "
          f"factors {args.factors}, threads {args.threads}")

    peers = {"fastcf BiasedMF": None}
    trainset = triples = None
    if not args.no_surprise:
        if _peers.available("Surprise"):
            trainset = _peers.surprise_trainset(users, items, data.matrix.data)
            peers["Surprise SVD (1 thread)"] = None
        else:
            print(f"Surprise not measured: {_peers.missing('Surprise')}")
    if not args.no_libmf:
        if _peers.available("LIBMF"):
            triples = np.column_stack([users, items, data.matrix.data]).astype(np.float32)
            peers[libmf_name] = None
        else:
            print(f"LIBMF not measured: {_peers.missing('LIBMF')}")

    if not args.no_svdpp:
        peers["fastcf SVDpp"] = None
    if not args.no_als:
        peers["fastcf ExplicitALS (per iteration)"] = None
    if args.surprise_svdpp and trainset is not None:
        peers["Surprise SVDpp (1 thread)"] = None
    times = {name: [] for name in peers}
    setups = []
    fastcf_epoch(data, args.factors, args.threads, 2, args.backend)  # compile / warm up
    if "fastcf SVDpp" in times:
        fastcf_epoch(data, args.factors, args.threads, 2, args.backend, SVDpp)
    if "fastcf ExplicitALS (per iteration)" in times:
        fastcf_epoch(data, args.factors, args.threads, 2, args.backend, ExplicitALS)
    matmuls = []
    for _ in range(args.repeats):  # peers alternate, so that slow spells hit all of them
        matmuls.append(matmul_gflops(args.threads, repeats=1))
        epoch, setup = fastcf_epoch(data, args.factors, args.threads, args.epochs, args.backend)
        times["fastcf BiasedMF"].append(epoch)
        setups.append(setup)
        if "Surprise SVD (1 thread)" in times:
            times["Surprise SVD (1 thread)"].append(surprise_epoch(trainset, args.factors))
        if libmf_name in times:
            times[libmf_name].append(libmf_epoch(triples, args.factors, args.threads, args.epochs))
        if "fastcf SVDpp" in times:
            times["fastcf SVDpp"].append(fastcf_epoch(data, args.factors, args.threads, args.epochs, args.backend, SVDpp)[0])
        if "fastcf ExplicitALS (per iteration)" in times:
            times["fastcf ExplicitALS (per iteration)"].append(
                fastcf_epoch(data, args.factors, args.threads, args.epochs, args.backend, ExplicitALS)[0])
        if "Surprise SVDpp (1 thread)" in times:
            times["Surprise SVDpp (1 thread)"].append(surprise_epoch(trainset, args.factors, svdpp=True))

    for name, values in times.items():
        ours = statistics.median(times["fastcf SVDpp" if "SVDpp" in name else "fastcf BiasedMF"])
        ratio = "" if name.startswith("fastcf") else f"   fastcf is {statistics.median(values) / ours:.1f}x faster"
        print(f"{name:26s} seconds per {'iteration' if 'ALS' in name else 'epoch'}: {spread(values)}{ratio}")
    print(f"fastcf one-off setup per fit (schedule, init): median {statistics.median(setups):.3f} s")
    print(f"fastcf BiasedMF CPU use during its epochs: {cpu_use(data, args.factors, args.threads, args.epochs, args.backend):.2f} "
          f"of {args.threads} threads (median over {args.epochs} epochs of one fit; load {os.getloadavg()[0]:.2f})")

    flops = data.nnz * (8 * args.factors + 12)
    ours = statistics.median(times["fastcf BiasedMF"])
    dense = statistics.median(matmuls)
    print(f"\nBiasedMF epoch: nnz (8 f + 12) = {flops / 1e9:.2f} GFLOP; at {ours:.4f} s that is "
          f"{flops / ours / 1e9:.1f} GFLOP/s; float32 matmul on {args.threads} threads: {dense:.1f} GFLOP/s "
          f"(median of {len(matmuls)}), so the epoch runs at {flops / ours / 1e9 / dense:.0%} of the dense ceiling")
    per_rating = 2 * 2 * 4 * args.factors + 3 * 4
    print(f"bytes per rating: {per_rating} ({2 * 2 * 4 * args.factors} of factor rows read and written, 12 streamed); "
          f"{per_rating * data.nnz / ours / 1e9:.0f} GB/s of L1/L2 traffic at this speed")
    for name in ("Surprise SVD (1 thread)", libmf_name):
        if name in times:
            target = statistics.median(times[name]) / (30 if "Surprise" in name else 3)
            print(f"target vs {name}: <= {target:.4f} s/epoch = {flops / target / 1e9:.1f} GFLOP/s "
                  f"({flops / target / 1e9 / dense:.0%} of the matmul ceiling)")


if __name__ == "__main__":
    main()
