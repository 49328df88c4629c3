"""The real MovieLens files in ../shared/data (skipped, with the reason, where they are absent)."""

from pathlib import Path

import numpy as np
import pytest

from fastcf.data import detect_movielens, read_movielens, read_movielens_folds, read_movielens_items, read_movielens_users

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ML100K = DATA / "ml-100k"
ML1M = DATA / "ml-1m"

needs_100k = pytest.mark.skipif(not (ML100K / "u.data").exists(), reason=f"MovieLens 100K not found at {ML100K}")
needs_1m = pytest.mark.skipif(not (ML1M / "movies.dat").exists(), reason=f"MovieLens 1M metadata not found at {ML1M}")


@needs_100k
def test_100k_loads_exactly():
    data = read_movielens(ML100K)
    assert detect_movielens(ML100K) == "100k"
    assert (data.n_users, data.n_items, data.nnz) == (943, 1682, 100_000)
    assert data.report.rows_dropped == 0
    assert set(np.unique(data.matrix.data)) == {1, 2, 3, 4, 5}
    assert data.timestamps.min() == 874724710 and data.timestamps.max() == 893286638
    assert (np.diff(data.matrix.indptr) >= 20).all()
    items, users = data.item_info, data.user_info
    assert len(items) == 1682 and len(users) == 943
    assert items.loc[1, "title"] == "Toy Story (1995)" and items.loc[1, "year"] == 1995
    assert items.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert "Misérables" in " ".join(items["title"])  # latin-1 decoded
    assert users.loc[1].to_dict() == {"age": 24, "gender": "M", "occupation": "technician", "zip": "85711"}


@needs_100k
def test_100k_canned_folds_match_the_files():
    folds = read_movielens_folds(ML100K, cold="keep")
    assert len(folds) == 5
    full = read_movielens(ML100K, metadata=False)
    test_union = set()
    for k, (train, test) in enumerate(folds, start=1):
        assert train.shape == test.shape == (943, 1682)
        assert (train.nnz, test.nnz) == (80_000, 20_000)
        raw = np.loadtxt(ML100K / f"u{k}.test", dtype=np.int64)
        frame = test.to_frame()
        assert set(zip(frame["user"], frame["item"])) == set(zip(raw[:, 0], raw[:, 1]))
        test_union |= set(zip(frame["user"], frame["item"]))
        assert (train.matrix + test.matrix).nnz == 100_000
    assert len(test_union) == 100_000  # the five test sets partition u.data
    ua = read_movielens_folds(ML100K, "a", cold="keep")[0]
    assert (ua[0].nnz, ua[1].nnz) == (90_570, 9_430)
    assert (np.diff(ua[1].matrix.indptr) == 10).all()
    assert full.users == folds[0][0].users


@needs_1m
def test_1m_metadata_parses():
    movies = read_movielens_items(ML1M)
    users = read_movielens_users(ML1M)
    assert len(movies) == 3883 and movies.index.max() == 3952
    assert movies.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert movies.loc[1, "year"] == 1995
    assert any("é" in title for title in movies["title"])  # latin-1, not mojibake
    assert len(users) == 6040
    assert set(users["gender"]) == {"F", "M"}
    assert set(users["age"]) == {1, 18, 25, 35, 45, 50, 56}
    assert users["occupation"].nunique() == 21 and users.loc[1, "occupation"] == "K-12 student"
