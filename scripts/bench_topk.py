"""Time select_topk per backend on the recommend-all workload and print the ratios.

    python scripts/bench_topk.py [--rows 2000] [--items 26744] [--k 10] [--excluded 150]
                                 [--threads 2] [--repeats 7] [--dtype float32]

Backends run in alternation (reference, numba, cython, reference, ...) so that machine noise
falls on all of them alike; the table gives the median of --repeats runs of each.
"""

import argparse
import time

import numpy as np

import fastcf
from fastcf.kernels import select_topk
from fastcf.testing import topk_problem

BACKENDS = ("reference", "numba", "cython")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--items", type=int, default=26_744)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--excluded", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()

    scores, indptr, indices = topk_problem(args.rows, args.items, args.excluded, dtype=args.dtype)

    def run(backend):
        return select_topk(
            scores, args.k, exclude_indptr=indptr, exclude_indices=indices,
            n_threads=args.threads, backend=backend,
        )

    expected = run("reference")
    for backend in BACKENDS[1:]:  # warm up (Numba compiles) and check agreement before timing
        got = run(backend)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]), backend

    seconds = {backend: [] for backend in BACKENDS}
    for _ in range(args.repeats):
        for backend in BACKENDS:
            start = time.perf_counter()
            run(backend)
            seconds[backend].append(time.perf_counter() - start)

    print(
        f"select_topk: {args.rows} rows x {args.items} items, k={args.k}, {args.excluded} excluded per row, "
        f"{args.dtype}, {args.threads} threads, median of {args.repeats} alternating runs "
        f"(fastcf {fastcf.__version__})"
    )
    reference = np.median(seconds["reference"])
    print(f"{'backend':<10} {'median ms':>10} {'rows/s':>12} {'vs reference':>13}")
    for backend in BACKENDS:
        median = np.median(seconds[backend])
        print(f"{backend:<10} {median * 1e3:>10.2f} {args.rows / median:>12,.0f} {reference / median:>12.1f}x")


if __name__ == "__main__":
    main()
