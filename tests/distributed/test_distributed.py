"""fastcf.distributed on a LocalCluster of 2 worker processes x 1 thread: the single machine's results."""

import os
import signal

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")

import fastcf.distributed as fd  # noqa: E402
from fastcf.data import from_arrays  # noqa: E402
from fastcf.evaluation import evaluate  # noqa: E402
from fastcf.models import ImplicitALS  # noqa: E402

#: The brief's bound; the factors usually agree to the last bit (same kernel, same BLAS).
TOLERANCE = 1e-5
PARAMS = dict(factors=6, iterations=4, regularization=0.1, alpha=2.0, random_state=7)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _frame(seed=0, n_users=97, n_items=61, n=1500):
    """Distinct (user, item) pairs with raw string users and sparse integer items."""
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, n_users * n_items, n))
    users, items = keys // n_items, keys % n_items
    return pd.DataFrame({
        "user": np.char.add("u", users.astype(str)).astype(object),
        "item": items * 10 + 3,
        "rating": rng.integers(1, 6, keys.size).astype(np.float64),
    })


@pytest.fixture(scope="module")
def ratings():
    frame = _frame()
    return frame, from_arrays(frame["user"], frame["item"], frame["rating"])


def _assert_same_factors(ours, theirs):
    assert ours.user_factors_.dtype == theirs.user_factors_.dtype
    assert np.abs(ours.user_factors_ - theirs.user_factors_).max() <= TOLERANCE
    assert np.abs(ours.item_factors_ - theirs.item_factors_).max() <= TOLERANCE


@pytest.mark.parametrize("solver, n_blocks", [("cg", 2), ("cholesky", 5), ("subspace", 3)])
def test_fit_equals_single_machine_with_the_same_seed(client, ratings, solver, n_blocks):
    _, data = ratings
    params = {**PARAMS, "block_size": 4}  # subspace: blocks of 4 and 2 of the 6 factors
    single = ImplicitALS(solver=solver, **params).fit(data)
    ours = fd.fit_als(client, data, solver=solver, n_blocks=n_blocks, **params)
    assert isinstance(ours, ImplicitALS)
    _assert_same_factors(ours, single)
    assert ours.users_ == single.users_ and ours.items_ == single.items_
    assert (ours.seen_ != single.seen_).nnz == 0
    user = single.users_.raw_ids[3]
    np.testing.assert_array_equal(ours.recommend(user, 5)[0], single.recommend(user, 5)[0])


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_frequency_scaled_regularization_equals_single_machine(client, ratings, solver):
    # Each block's λ_u comes from its rows' global counts and the other side's total: the local λ_u.
    _, data = ratings
    params = dict(PARAMS, regularization=0.003, regularization_exp=1.0, unobserved_weight=0.1, solver=solver,
                  track_loss=True)
    single = ImplicitALS(**params).fit(data)
    ours = fd.fit_als(client, data, n_blocks=3, **params)
    _assert_same_factors(ours, single)
    np.testing.assert_allclose(ours.loss_history_, single.loss_history_, rtol=1e-6)
    flat = ImplicitALS(**dict(params, regularization_exp=0.0)).fit(data)
    assert np.abs(flat.user_factors_ - single.user_factors_).max() > 100 * TOLERANCE  # ν changed the model


def test_fit_from_a_dask_dataframe_equals_fit_on_interactions(client, ratings):
    frame, data = ratings
    single = ImplicitALS(**PARAMS).fit(data)
    ours = fd.fit_als(client, dd.from_pandas(frame.sample(frac=1.0, random_state=1), npartitions=3), n_blocks=3,
                      **PARAMS)
    assert ours.users_ == single.users_ and ours.items_ == single.items_
    assert abs(ours.seen_ - single.seen_).max() == 0
    _assert_same_factors(ours, single)


def test_a_model_passed_in_is_fitted_in_place_with_its_loss(client, ratings):
    _, data = ratings
    single = ImplicitALS(track_loss=True, **PARAMS).fit(data)
    model = ImplicitALS(track_loss=True, **PARAMS)
    assert fd.fit_als(client, data.matrix, model=model, n_blocks=3) is model
    _assert_same_factors(model, single)
    assert model.users_ is None  # a bare matrix has no ID maps
    np.testing.assert_allclose(model.loss_history_, single.loss_history_, rtol=1e-6)
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_rating_blocks_serve_several_fits(client, ratings):
    _, data = ratings
    blocks = fd.rating_blocks(client, data, n_blocks=3, factors=PARAMS["factors"])
    assert blocks.users.n_blocks == blocks.items.n_blocks == 3
    for alpha in (1.0, 4.0):
        params = dict(PARAMS, alpha=alpha)
        _assert_same_factors(fd.fit_als(client, blocks, **params), ImplicitALS(**params).fit(data))


def test_killing_a_worker_mid_fit_still_gives_the_same_model(client, ratings):
    _, data = ratings
    params = dict(PARAMS, iterations=5)
    single = ImplicitALS(**params).fit(data)
    before = client.run(os.getpid)
    killed = []

    def kill_one_worker(iteration, model, loss):
        if iteration == 2:
            # The worker dies holding blocks the next half-step needs: Dask must recompute them.
            address, pid = sorted(client.run(os.getpid).items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    ours = fd.fit_als(client, data, n_blocks=4, callback=kill_one_worker, **params)
    _assert_same_factors(ours, single)
    assert killed and killed[0] in before.values()
    client.wait_for_workers(2, timeout=60)
    assert killed[0] not in client.run(os.getpid).values()


def test_recommend_all_equals_recommend(client, ratings):
    _, data = ratings
    model = ImplicitALS(**PARAMS).fit(data)
    lists = fd.recommend_all(client, model, k=7, n_blocks=3)
    assert isinstance(lists, dd.DataFrame) and lists.npartitions == 3
    frame = lists.compute()
    assert list(frame.columns) == ["user", "rank", "item", "score"]
    ids, scores = model.recommend(model.users_.raw_ids, 7)
    valid = ids != -1
    np.testing.assert_array_equal(frame["user"].to_numpy(), np.repeat(model.users_.raw_ids, valid.sum(axis=1)))
    np.testing.assert_array_equal(frame["item"].to_numpy(), ids[valid])
    np.testing.assert_array_equal(frame["score"].to_numpy(), scores[valid])
    np.testing.assert_array_equal(frame["rank"].to_numpy(), np.nonzero(valid)[1] + 1)


def test_recommend_all_without_exclusions_lists_k_items_per_user(client, ratings):
    _, data = ratings
    model = ImplicitALS(**PARAMS).fit(data.matrix)
    frame = fd.recommend_all(client, model, k=4, exclude_seen=False).compute()
    ids, _ = model.recommend(np.arange(model.n_users), 4, exclude_seen=False)
    np.testing.assert_array_equal(frame["item"].to_numpy().reshape(-1, 4), ids)


def test_evaluate_equals_fastcf_evaluate(client, ratings):
    _, data = ratings
    test_mask = np.zeros(data.nnz, dtype=bool)
    test_mask[np.random.default_rng(3).choice(data.nnz, data.nnz // 4, replace=False)] = True
    train, test = data.select_entries(~test_mask), data.select_entries(test_mask)
    model = ImplicitALS(**PARAMS).fit(train)
    metrics = ["precision", "precision_implicit", "recall", "calibrated_recall", "map", "ndcg", "ndcg_graded", "mrr",
               "hit_rate", "auc", "coverage"]
    expected = evaluate(model, train, test, 5, metrics=metrics)
    ours = fd.evaluate(client, model, train, test, 5, metrics=metrics, n_blocks=3)
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_workers_are_warm_and_blas_runs_one_thread(client):
    fd.prepare_cluster(client)
    warm = client.run(lambda dask_worker: dask_worker.plugins["fastcf-kernels-auto"].warm_up_seconds)
    assert len(warm) == 2 and all(seconds > 0 for seconds in warm.values())

    def blas_threads():
        import threadpoolctl

        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]

    for threads in client.run(blas_threads).values():
        assert threads and all(n == 1 for n in threads)


def test_bad_arguments_name_themselves(client, ratings):
    _, data = ratings
    with pytest.raises(TypeError, match="either 'model' or ImplicitALS parameters"):
        fd.fit_als(client, data, model=ImplicitALS(), factors=3)
    with pytest.raises(TypeError, match="'data' must be"):
        fd.fit_als(client, np.ones((3, 3)))
    with pytest.raises(ValueError, match="'factors' must be"):
        fd.fit_als(client, data, factors=0)
    with pytest.raises(ValueError, match="'n_blocks'"):
        fd.fit_als(client, data, n_blocks=0)
    with pytest.raises(ValueError, match="columns 'user' and 'item'"):
        fd.fit_als(client, dd.from_pandas(pd.DataFrame({"u": [1], "i": [2]}), npartitions=1))
    model = ImplicitALS(**PARAMS).fit(data)
    with pytest.raises(ValueError, match="novelty"):
        fd.evaluate(client, model, data, data, metrics=["novelty"])
    with pytest.raises(TypeError, match="factor model"):
        fd.recommend_all(client, object())


@pytest.mark.parametrize("rating, text", [
    (-5.0, r"fit_als: 'data.rating' must be >= 0 \(implicit feedback.*got -5.0 \(user 1, item 1\)"),
    (np.nan, r"fit_als: 'data.rating' must be finite; got nan"),
    (1e39, r"fit_als: 'data.rating' must be finite; got inf"),  # inf once cast to float32
])
def test_fit_als_refuses_a_dask_frame_that_fit_refuses(client, rating, text):
    from fastcf.exceptions import DataError

    frame = pd.DataFrame({"user": [0, 1, 2, 3], "item": [0, 1, 2, 1], "rating": [1.0, rating, 1.0, 2.0]})
    with pytest.raises(DataError, match=text):
        fd.fit_als(client, dd.from_pandas(frame, npartitions=2), factors=2, iterations=1)
    with pytest.raises(TypeError, match=r"fit_als: 'data.rating' must hold float32 or float64 numbers; got dtype object"):
        fd.fit_als(client, dd.from_pandas(frame.assign(rating=list("abcd")), npartitions=2), factors=2)
