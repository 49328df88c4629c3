"""Does a high BLAS thread setting slow a fit? (issue 11: "BLAS threads set high do not slow a
fit by more than 1.5x".)

    python scripts/bench_oversubscription.py [--users 6000] [--items 4000] [--density 0.01]
                                             [--threads 2] [--blas-threads 16] [--repeats 5]

Fits ImplicitALS (cg and cholesky) and BiasedMF with the BLAS pools at 1 thread and at
--blas-threads (threadpoolctl), alternating A B A B so that machine noise falls on both; the
table gives the median of --repeats fits each and the ratio high / one. fastcf holds BLAS at one
thread inside its kernels (fastcf.kernels._threads), so the ratio should stay near 1; the claim
holds where every ratio is below 1.5.
"""

import argparse
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from fastcf.models import BiasedMF, ImplicitALS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6_000)
    parser.add_argument("--items", type=int, default=4_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blas-threads", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    matrix = sp.random(args.users, args.items, density=args.density, random_state=0, format="csr")
    matrix.data = np.ceil(matrix.data * 5)
    models = {
        "ImplicitALS cg": lambda: ImplicitALS(factors=64, iterations=3, random_state=0, n_threads=args.threads),
        "ImplicitALS cholesky": lambda: ImplicitALS(factors=64, iterations=2, solver="cholesky", random_state=0,
                                                    n_threads=args.threads),
        "BiasedMF": lambda: BiasedMF(factors=64, epochs=3, random_state=0, n_threads=args.threads),
    }
    print(f"{args.users} x {args.items}, {matrix.nnz} entries; fastcf n_threads={args.threads}; "
          f"BLAS at 1 vs {args.blas_threads} threads; median of {args.repeats}")
    print(f"{'model':22s} {'BLAS=1 (s)':>11s} {'BLAS=high (s)':>14s} {'ratio':>7s}")
    worst = 0.0
    for name, make in models.items():
        make().fit(matrix)  # warm up: Numba compiles, caches fill
        seconds = {1: [], args.blas_threads: []}
        for _ in range(args.repeats):
            for blas in seconds:
                with threadpool_limits(limits=blas, user_api="blas"):
                    start = time.perf_counter()
                    make().fit(matrix)
                    seconds[blas].append(time.perf_counter() - start)
        one, high = np.median(seconds[1]), np.median(seconds[args.blas_threads])
        worst = max(worst, high / one)
        print(f"{name:22s} {one:11.3f} {high:14.3f} {high / one:7.2f}")
    print(f"worst ratio {worst:.2f}: {'within' if worst <= 1.5 else 'BEYOND'} the 1.5x claim")


if __name__ == "__main__":
    main()
