"""fastcf on a Dask cluster: distributed implicit ALS, recommendation for every user, evaluation.

Needs the optional extra: ``pip install "fastcf[distributed]"`` (dask[distributed]). Every
task runs one of fastcf's own kernels on one block of rows, with one thread; the cluster
provides the parallelism::

    from distributed import Client, LocalCluster
    import fastcf.distributed as fd

    client = Client(LocalCluster(n_workers=8, threads_per_worker=1))
    model = fd.fit_als(client, ratings, factors=64, iterations=15, random_state=0)
    lists = fd.recommend_all(client, model, k=10)      # dask DataFrame: user, rank, item, score
    scores = fd.evaluate(client, model, train, test, k=10)

``ratings`` may be Interactions, a scipy CSR or a Dask DataFrame (user, item[, rating]).
``fit_als`` returns a plain :class:`fastcf.models.ImplicitALS`, equal to the one a single
machine fits with the same ``random_state``. docs/scaling.md gives memory and traffic per
iteration, and a plan for a billion ratings.
"""

try:
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"fastcf.distributed needs dask.distributed ({exc}); install it with "
        f"pip install \"fastcf[distributed]\" (or pip install \"dask[distributed]\")."
    ) from None

from fastcf.distributed.als import fit_als, rating_blocks
from fastcf.distributed.serving import evaluate, recommend_all
from fastcf.distributed.worker import KernelWarmup, prepare_cluster, warm_up_kernels

__all__ = ["KernelWarmup", "evaluate", "fit_als", "prepare_cluster", "rating_blocks", "recommend_all", "warm_up_kernels"]
