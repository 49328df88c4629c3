"""Recommend top-10 for every user, excluding seen items: fastcf against implicit, same factors.

    python scripts/bench_recommend.py [--preset ml1m] [--factors 64] [--threads 2] [--repeats 3]

Both libraries serve the *same* factors (fastcf's, copied into implicit's model), on the
synthetic preset's user x item matrix, in the same process; runs alternate (A B A B) and the
table gives the median seconds and users per second, and the peak memory of fastcf's blocks.
"""

import argparse
import time
import tracemalloc

import numpy as np

import _peers
import fastcf
from fastcf.data import synthetic
from fastcf.models import ImplicitALS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml1m")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    data = synthetic(args.preset)
    model = ImplicitALS(factors=args.factors, iterations=1, n_threads=args.threads, random_state=0).fit(data)
    users = data.users.raw_ids

    runners = {"fastcf": lambda: model.recommend(users, args.k, n_threads=args.threads)[0]}
    if _peers.available("implicit"):
        runners["implicit"] = _peers.implicit_recommend_runner(model.user_factors_, model.item_factors_,
                                                               data.matrix, args.k, args.threads)
    else:
        print(f"implicit is not installed ({_peers.missing('implicit')}): timing fastcf alone")

    results = {name: [] for name in runners}
    outputs = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            outputs[name] = run()
            results[name].append(time.perf_counter() - start)
    if "implicit" in outputs:
        ours = data.items.to_index(outputs["fastcf"].ravel()).reshape(outputs["fastcf"].shape)
        agree = np.mean(ours == outputs["implicit"])
        print(f"same top-{args.k} item in {agree:.2%} of places (ties and float rounding explain the rest)")
    print(f"recommend top-{args.k}, all {data.n_users:,} users x {data.n_items:,} items ({args.preset} shape), "
          f"{args.factors} factors, {args.threads} threads, median of {args.repeats} alternating runs "
          f"(fastcf {fastcf.__version__})")
    tracemalloc.start()
    model.recommend(users, args.k, n_threads=args.threads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"fastcf peak memory allocated during recommend-all (tracemalloc): {peak / 2**20:.0f} MiB "
          f"(the output alone: {data.n_users * args.k * 12 / 2**20:.0f} MiB; a dense users x items float32 "
          f"score matrix would be {data.n_users * data.n_items * 4 / 2**20:,.0f} MiB)")
    medians = {name: float(np.median(times)) for name, times in results.items()}
    for name, median in medians.items():
        print(f"{name:<9} {median:8.3f} s  {data.n_users / median:>12,.0f} users/s")
    if "implicit" in medians:
        print(f"speed-up fastcf vs implicit: {medians['implicit'] / medians['fastcf']:.2f}x")


if __name__ == "__main__":
    main()
