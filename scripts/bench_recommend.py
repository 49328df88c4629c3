"""Recommend top-10 for every user, excluding seen items: fastcf against implicit, same factors.

    python scripts/bench_recommend.py [--preset ml1m] [--factors 64] [--threads 2] [--repeats 3]
    python scripts/bench_recommend.py --latency [--requests 10000] [--callers 1,8] [--preset ml20m]

``--latency``: one user per request, as a service answers them: ``--requests`` requests for
random users (the same users for both libraries), issued by 1 and by 8 Python threads at once
(``--callers``), each request timed on its own; the table gives p50 and p99 in microseconds and
the requests per second over all callers. fastcf runs each request with ``n_threads=1`` (the
callers are the parallelism); implicit's ``recommend`` for one user, seen items filtered.

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


def latency(run_one, users, callers):
    """(p50 µs, p99 µs, requests/s) of ``run_one(user)`` over ``users``, split among ``callers`` threads."""
    import threading

    chunks = np.array_split(users, callers)
    seconds = [np.empty(len(chunk)) for chunk in chunks]
    barrier = threading.Barrier(callers + 1)

    def caller(index):
        out = seconds[index]
        barrier.wait()
        for position, user in enumerate(chunks[index]):
            start = time.perf_counter()
            run_one(user)
            out[position] = time.perf_counter() - start

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    every = np.concatenate(seconds) * 1e6
    return float(np.percentile(every, 50)), float(np.percentile(every, 99)), len(users) / wall


def latency_main(args, data, model):
    rng = np.random.default_rng(0)
    users = rng.integers(0, data.n_users, args.requests)
    raw = data.users.raw_ids
    runners = {"fastcf": lambda u: model.recommend(raw[u], args.k, n_threads=1)}
    if _peers.available("implicit"):
        peer = _peers.implicit_als_with_factors(model.user_factors_, model.item_factors_, 1)
        seen = data.matrix.astype(np.float32).tocsr()
        runners["implicit"] = lambda u: peer.recommend(int(u), seen[u], N=args.k, filter_already_liked_items=True)
    else:
        print(f"implicit is not installed ({_peers.missing('implicit')}): timing fastcf alone")
    print(f"single-user recommend top-{args.k}, {data.n_users:,} users x {data.n_items:,} items ({args.preset} shape), "
          f"{args.factors} factors, {args.requests:,} requests, median of {args.repeats} alternating rounds")
    for callers in args.callers:
        results = {name: [] for name in runners}
        with _peers._single_threaded_blas():
            for name, run_one in runners.items():  # warm-up
                latency(run_one, users[:200], callers)
            for _ in range(args.repeats):
                for name, run_one in runners.items():
                    results[name].append(latency(run_one, users, callers))
        medians = {name: np.median(np.array(r), axis=0) for name, r in results.items()}
        for name, (p50, p99, rate) in medians.items():
            print(f"{callers} caller(s) {name:<9} p50 {p50:8.1f} us  p99 {p99:8.1f} us  {rate:>10,.0f} requests/s")
        if "implicit" in medians:
            ratio = medians["implicit"] / medians["fastcf"]
            print(f"{callers} caller(s) implicit / fastcf: p50 {ratio[0]:.2f}x, p99 {ratio[1]:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ml1m")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--latency", action="store_true", help="single-user requests: p50 and p99")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--callers", type=lambda text: [int(x) for x in text.split(",")], default=[1, 8])
    args = parser.parse_args()

    data = synthetic(args.preset)
    model = ImplicitALS(factors=args.factors, iterations=1, n_threads=args.threads, random_state=0).fit(data)
    if args.latency:
        return latency_main(args, data, model)
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
