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
import time
from pathlib import Path

import numpy as np

from _peers import READ_BASELINE, READ_FASTCF, timed_read, write_ratings_csv


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
        write_ratings_csv(args.preset, csv, args.shuffled)
        print(f"wrote {csv} ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s")

    results = {"fastcf": [], "pandas+scipy": []}
    for _ in range(args.repeats):
        results["fastcf"].append(timed_read(READ_FASTCF, csv))
        results["pandas+scipy"].append(timed_read(READ_BASELINE, csv))
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
