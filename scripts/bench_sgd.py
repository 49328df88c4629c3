"""Seconds per epoch of biased MF by SGD: fastcf's BiasedMF against Surprise's SVD and LIBMF.

Same data for all (``fastcf.data.synthetic("ml1m")``: 6,040 users x 3,706 items, 1,000,209
ratings), same factors (100), fastcf and LIBMF at ``--threads`` threads (Surprise is
single-threaded). The peers run alternately, ``--repeats`` rounds, and the median is reported
with the spread (min..max) so that noise from other work on the machine shows.

What is timed, per epoch:

- fastcf: the time between consecutive epochs of one fit (callback timestamps), i.e. the
  kernel call with its input checks; the one-off setup (schedule, init) is reported apart.
- Surprise SVD: ``fit`` with ``n_epochs=1`` (its setup is a factor initialisation only).
- LIBMF (PyPI ``libmf`` binding, compiled without SIMD): (fit with 1 + N iterations - fit with
  1 iteration) / N, so that its data copy and grid building are left out as for fastcf. Its
  own L2 = 0.1 is passed (the binding's defaults, L1 = 0.04 / L2 = 0, overfit).

- fastcf SVDpp: as for BiasedMF (an epoch includes the sparse products for the implicit sums
  and the y step); Surprise SVDpp only with ``--surprise-svdpp`` (minutes per epoch).

Usage: python scripts/bench_sgd.py [--threads 2] [--repeats 3] [--epochs 5] [--no-surprise] [--no-libmf]
                                   [--no-svdpp] [--surprise-svdpp]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import _peers
from _peers import fastcf_epoch, libmf_epoch, surprise_epoch
from fastcf.data import synthetic
from fastcf.data.interactions import entry_rows
from fastcf.models import SVDpp


def spread(values):
    return f"median {statistics.median(values):.4f} s (min {min(values):.4f}, max {max(values):.4f}, n = {len(values)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--factors", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fastcf / LIBMF timing run")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--no-surprise", action="store_true")
    parser.add_argument("--no-libmf", action="store_true")
    parser.add_argument("--no-svdpp", action="store_true", help="skip fastcf SVDpp")
    parser.add_argument("--surprise-svdpp", action="store_true",
                        help="also time Surprise SVDpp (minutes per epoch on this data)")
    args = parser.parse_args()

    data = synthetic("ml1m")
    users, items = entry_rows(data.matrix), data.matrix.indices
    print(f"data: synthetic('ml1m'), {data.n_users} users x {data.n_items} items, {data.nnz} ratings; "
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
            peers["LIBMF (PyPI libmf)"] = None
        else:
            print(f"LIBMF not measured: {_peers.missing('LIBMF')}")

    if not args.no_svdpp:
        peers["fastcf SVDpp"] = None
    if args.surprise_svdpp and trainset is not None:
        peers["Surprise SVDpp (1 thread)"] = None
    times = {name: [] for name in peers}
    setups = []
    fastcf_epoch(data, args.factors, args.threads, 2, args.backend)  # compile / warm up
    if "fastcf SVDpp" in times:
        fastcf_epoch(data, args.factors, args.threads, 2, args.backend, SVDpp)
    for _ in range(args.repeats):  # peers alternate, so that slow spells hit all of them
        epoch, setup = fastcf_epoch(data, args.factors, args.threads, args.epochs, args.backend)
        times["fastcf BiasedMF"].append(epoch)
        setups.append(setup)
        if "Surprise SVD (1 thread)" in times:
            times["Surprise SVD (1 thread)"].append(surprise_epoch(trainset, args.factors))
        if "LIBMF (PyPI libmf)" in times:
            times["LIBMF (PyPI libmf)"].append(libmf_epoch(triples, args.factors, args.threads, args.epochs))
        if "fastcf SVDpp" in times:
            times["fastcf SVDpp"].append(fastcf_epoch(data, args.factors, args.threads, args.epochs, args.backend, SVDpp)[0])
        if "Surprise SVDpp (1 thread)" in times:
            times["Surprise SVDpp (1 thread)"].append(surprise_epoch(trainset, args.factors, svdpp=True))

    for name, values in times.items():
        ours = statistics.median(times["fastcf SVDpp" if "SVDpp" in name else "fastcf BiasedMF"])
        ratio = "" if name.startswith("fastcf") else f"   fastcf is {statistics.median(values) / ours:.1f}x faster"
        print(f"{name:26s} seconds per epoch: {spread(values)}{ratio}")
    print(f"fastcf one-off setup per fit (schedule, init): median {statistics.median(setups):.3f} s")


if __name__ == "__main__":
    main()
