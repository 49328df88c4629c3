"""BPR, WARP and HybridMF on the grid schedule: one seed, the same bits at 1, 2, 3 and 4 threads
and on every run (odd sizes; HybridMF with side features that many blocks share)."""

import numpy as np
import pytest

from fastcf.data import synthetic
from fastcf.evaluation import evaluate
from fastcf.models import BPR, WARP, HybridMF

THREADS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def data():
    # 701 x 403: no block size divides them.
    return synthetic(n_users=701, n_items=403, n_ratings=9_000, genre_affinity=0.7, seed=11)


def fitted_state(model):
    return {name: getattr(model, name).copy() for name in ("user_factors_", "item_factors_", "item_bias_")}


@pytest.mark.parametrize("make", [
    lambda n: BPR(factors=8, epochs=3, random_state=1, n_threads=n),
    lambda n: WARP(factors=8, epochs=3, random_state=1, n_threads=n),
    lambda n: HybridMF(factors=8, epochs=3, random_state=1, n_threads=n),
    lambda n: HybridMF(factors=8, epochs=3, loss="warp", user_identity=False, random_state=1, n_threads=n),
], ids=["BPR", "WARP", "HybridMF", "HybridMF-side-only"])
def test_the_same_bits_at_every_thread_count_and_run(make, data):
    first = fitted_state(make(1).fit(data))
    for n_threads in THREADS + (2,):  # the last: a second run at two threads
        model = make(n_threads).fit(data)
        for name, value in fitted_state(model).items():
            assert np.array_equal(value, first[name]), f"{name} differs at n_threads={n_threads}"
    if isinstance(model, HybridMF):
        assert model.user_features_.shape[1] and model.item_features_.shape[1], "side features must be in play"


def test_there_is_no_racy_schedule(data):
    with pytest.raises(TypeError, match="schedule"):
        BPR(schedule="hogwild")
    with pytest.raises(ValueError, match="BPR: 'n_blocks' must be at most 1024 for the grid schedule"):
        BPR(n_blocks=2000).fit(data)


@pytest.mark.parametrize("cls", [BPR, HybridMF])
def test_the_grid_learns_as_well_as_the_serial_schedule(cls, data):
    from fastcf.data import random_split

    train, test = random_split(data, 0.2, seed=0)
    params = dict(factors=16, epochs=30, regularization=0.05, random_state=0, n_threads=2)
    grid = evaluate(cls(**params).fit(train), train, test, k=10, metrics=["ndcg", "auc"])
    # One block is the serial schedule (every pair, negatives over all items).
    serial = evaluate(cls(n_blocks=1, **params).fit(train), train, test, k=10, metrics=["ndcg", "auc"])
    assert grid["auc"] > serial["auc"] - 0.02, (grid, serial)
    assert grid["ndcg"] > serial["ndcg"] - 0.02, (grid, serial)


def test_save_and_load_keep_the_blocks(data, tmp_path):
    model = BPR(factors=4, epochs=2, n_blocks=5, random_state=2, n_threads=1).fit(data)
    model.save(tmp_path / "bpr")
    loaded = type(model).load(tmp_path / "bpr")
    assert loaded.get_params()["n_blocks"] == 5
    refit = type(model)(**loaded.get_params()).fit(data)
    assert np.array_equal(refit.user_factors_, model.user_factors_)


@pytest.mark.parametrize("cls", [BPR, WARP, HybridMF])
def test_files_that_name_the_removed_schedule_load_only_on_the_grid(cls, data, tmp_path, monkeypatch):
    """Files saved while ``schedule`` was a parameter: "grid" is what every model now does, "hogwild" is refused."""
    from fastcf.exceptions import ModelFileError

    model = cls(factors=4, epochs=1, random_state=2, n_threads=1).fit(data)
    current = cls.get_params
    for name, schedule in (("grid", "grid"), ("hogwild", "hogwild"), ("array", np.array(["grid", "grid"]))):
        monkeypatch.setattr(cls, "get_params", lambda self, deep=True, s=schedule: {**current(self, deep), "schedule": s})
        model.save(tmp_path / name)
    monkeypatch.setattr(cls, "get_params", current)
    loaded = cls.load(tmp_path / "grid")
    assert "schedule" not in loaded.get_params()
    assert np.array_equal(loaded.user_factors_, model.user_factors_)
    with pytest.raises(ModelFileError, match=rf"saved with {cls.__name__}\(schedule='hogwild'\), which this fastcf "
                                             r"no longer has"):
        cls.load(tmp_path / "hogwild")
    with pytest.raises(ModelFileError, match=r"saved with .*\(schedule=array\("):
        cls.load(tmp_path / "array")
