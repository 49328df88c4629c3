"""Seconds per ImplicitALS iteration inside ``fit`` (the model's own loop, checks included).

    python scripts/time_als_fit.py [--preset ml10m] [--factors 64] [--iterations 6]
                                   [--threads 2] [--cache /tmp/fastcf-ml10m.npz]

Fits on the synthetic MovieLens-shaped preset (built once and cached as a CSR .npz, so that
two checkouts time the same matrix) and prints one JSON line: the fastcf it imported, the
time of the whole fit, and the median time between consecutive iteration callbacks (the
first iteration, which also holds the fit's one-off validation and transpose, is left out).
Run it alternately against two checkouts (``PYTHONPATH=checkout``) to compare them.
"""

import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp


def load_matrix(preset: str, cache: str) -> sp.csr_matrix:
    if os.path.exists(cache):
        return sp.load_npz(cache).tocsr()
    from fastcf.data import synthetic

    matrix = synthetic(preset).matrix.tocsr()
    sp.save_npz(cache, matrix)
    return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml10m")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()

    import fastcf
    from fastcf.models import ImplicitALS

    matrix = load_matrix(args.preset, args.cache or f"/tmp/fastcf-{args.preset}.npz")
    stamps = []
    model = ImplicitALS(
        factors=args.factors, iterations=args.iterations, random_state=0, n_threads=args.threads,
        callback=lambda iteration, model, loss: stamps.append(time.perf_counter()),
    )
    start = time.perf_counter()
    model.fit(matrix)
    total = time.perf_counter() - start
    per_iteration = np.diff(stamps)
    print(json.dumps({
        "fastcf": os.path.dirname(fastcf.__file__),
        "preset": args.preset, "shape": list(matrix.shape), "nnz": int(matrix.nnz),
        "fit_s": round(total, 4),
        "first_iteration_s": round(stamps[0] - start, 4),
        "median_iteration_s": round(float(np.median(per_iteration)), 4),
        "iterations_s": [round(float(t), 4) for t in per_iteration],
    }))


if __name__ == "__main__":
    main()
