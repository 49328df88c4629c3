"""Time reading a ratings CSV into CSR + ID maps: fastcf.read_ratings against pandas + scipy.

    python scripts/bench_read.py [--preset ml20m] [--repeats 3] [--workdir /tmp/fastcf-bench]

The baseline is what users write by hand: ``pandas.read_csv`` of the file, then
``scipy.sparse.coo_matrix((ratings, (users, items))).tocsr()`` using the raw IDs as indices
(no ID mapping, no cleaning, duplicates summed silently). fastcf does more (ID maps, cleaning
report, duplicate policy, int32/int64 choice). Each run is a fresh subprocess, so the peak
resident memory (ru_maxrss) of each is comparable; runs alternate fastcf and baseline.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RUN_FASTCF = """
import resource, sys, time, numpy as np
import fastcf
t = time.perf_counter()
data = fastcf.read_ratings(sys.argv[1], user_col="userId", item_col="movieId", timestamp_col="timestamp")
seconds = time.perf_counter() - t
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, data.nnz)
"""
RUN_BASELINE = """
import resource, sys, time, numpy as np, pandas as pd, scipy.sparse as sp
t = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
matrix = sp.coo_matrix((frame["rating"].to_numpy(np.float32), (frame["userId"].to_numpy(), frame["movieId"].to_numpy()))).tocsr()
seconds = time.perf_counter() - t
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, matrix.nnz)
"""


def write_csv(preset: str, path: Path, shuffled: bool) -> None:
    from fastcf.data.synthetic import synthetic

    data = synthetic(preset)
    frame = data.to_frame().rename(columns={"user": "userId", "item": "movieId"})
    if shuffled:  # the worst case for CSR building: no order at all
        frame = frame.sample(frac=1.0, random_state=0)
    frame.to_csv(path, index=False, float_format="%.1f")  # else sorted by user, item, as MovieLens


def run(script: str, csv: Path):
    out = subprocess.run([sys.executable, "-c", script, str(csv)], capture_output=True, text=True, cwd="/")
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    seconds, maxrss_kib, nnz = out.stdout.split()
    return float(seconds), int(maxrss_kib) / 1024, int(nnz)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml20m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=os.path.join("/tmp", "fastcf-bench"))
    parser.add_argument("--shuffled", action="store_true", help="rows in random order instead of by user")
    args = parser.parse_args()

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / f"ratings-{args.preset}{'-shuffled' if args.shuffled else ''}.csv"
    if not csv.exists():
        start = time.perf_counter()
        write_csv(args.preset, csv, args.shuffled)
        print(f"wrote {csv} ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s")

    results = {"fastcf": [], "pandas+scipy": []}
    for _ in range(args.repeats):
        results["fastcf"].append(run(RUN_FASTCF, csv))
        results["pandas+scipy"].append(run(RUN_BASELINE, csv))
    print(f"read {csv.name}: median of {args.repeats} alternating runs, each in a fresh process")
    print(f"{'reader':<14} {'seconds':>8} {'peak MiB':>9} {'entries':>12}")
    medians = {}
    for name, rows in results.items():
        seconds = np.median([r[0] for r in rows])
        peak = np.median([r[1] for r in rows])
        medians[name] = seconds
        print(f"{name:<14} {seconds:>8.2f} {peak:>9.0f} {rows[0][2]:>12,}")
    print(f"fastcf / baseline time: {medians['fastcf'] / medians['pandas+scipy']:.2f}")
    print(json.dumps({k: [list(r) for r in v] for k, v in results.items()}))


if __name__ == "__main__":
    main()
