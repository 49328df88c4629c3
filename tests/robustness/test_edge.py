"""Regression tests for the crashes of issue 19: each malformed input reaches a named exception
before scipy or a kernel reads it. The crashing ones run in a subprocess, so that a regression
fails the test instead of killing the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import IdMap, Interactions
from fastcf.evaluation import intra_list_diversity, metrics_at_k, novelty
from fastcf.exceptions import DataError
from fastcf.models import ItemKNN

_SETUP = """
import numpy as np, scipy.sparse as sp, fastcf
from fastcf.models import ItemKNN, ImplicitALS
m = sp.random(30, 20, density=0.3, random_state=0, format="csr")
bad = m.copy(); bad.indptr[3] = bad.indptr[-1] + 900
"""


def _run_isolated(body: str) -> str:
    """Run ``_SETUP + body`` in a fresh interpreter; a crash fails the test, not the run."""
    # cwd outside the checkout: `python -c` puts the working folder first on sys.path, and the
    # checkout's fastcf has no compiled twins where fastcf was installed with pip.
    run = subprocess.run([sys.executable, "-c", _SETUP + textwrap.dedent(body)], capture_output=True, text=True,
                         timeout=300, cwd="/")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _falling(m):
    bad = m.copy()
    bad.indptr[3] = bad.indptr[-1] + 900
    return bad


@pytest.fixture(scope="module")
def matrix():
    return sp.random(30, 20, density=0.3, random_state=0, format="csr")


@pytest.mark.parametrize("model", ["ItemKNN(k=5)", "ImplicitALS(factors=4, iterations=1)"])
def test_evaluate_refuses_a_falling_test_indptr_without_dying(model):
    stdout = _run_isolated(f"""
        try:
            fastcf.evaluate({model}.fit(m), m, bad, 5)
        except fastcf.exceptions.DataError as error:
            print("DataError:", error)
    """)
    assert "evaluate: 'test.indptr' must be non-decreasing" in stdout


def test_metrics_at_k_refuses_a_broken_test_matrix(matrix):
    model = ItemKNN(k=5).fit(matrix)
    with pytest.raises(DataError, match=r"metrics_at_k: 'test.indptr' must be non-decreasing"):
        metrics_at_k(model, matrix, _falling(matrix), ks=(1, 5))
    with pytest.raises(TypeError, match=r"metrics_at_k: 'ks' must be a sequence of cut-offs"):
        metrics_at_k(model, matrix, matrix, ks=5)


def test_novelty_and_diversity_check_their_matrices(matrix):
    top = np.array([[0, 1, 2], [3, -1, -1]])
    with pytest.raises(DataError, match=r"item_popularity: 'train.indptr' must be non-decreasing"):
        novelty(top, _falling(matrix))
    features = sp.csr_matrix(matrix.T)
    broken = features.copy()
    broken.indices[0] = 99
    with pytest.raises(DataError, match=r"intra_list_diversity: 'item_features.indices' must lie in \[0, 30\)"):
        intra_list_diversity(top, broken)
    dense = np.ones((20, 3))
    dense[1, 2] = np.nan
    with pytest.raises(DataError, match=r"'item_features' must be finite; got nan at row 1, column 2"):
        intra_list_diversity(top, dense)
    with pytest.raises(TypeError, match=r"'item_features' must hold float32 or float64"):
        intra_list_diversity(top, np.ones((20, 3), dtype=complex))


def test_interactions_refuses_an_index_out_of_range(matrix):
    broken = matrix.copy()
    broken.indices[4] = -7
    users, items = IdMap(np.arange(30)), IdMap(np.arange(20))
    with pytest.raises(DataError, match=r"Interactions: 'matrix.indices' must lie in \[0, 20\); got -7 at position 4"):
        Interactions(broken, users, items)
    infinite = matrix.copy()
    infinite.data[2] = np.inf
    with pytest.raises(DataError, match=r"Interactions: 'matrix' must be finite; got inf"):
        Interactions(infinite, users, items)


def test_n_blocks_beyond_memory_is_refused_before_allocating(matrix):
    from fastcf.models import BiasedMF

    with pytest.raises(ValueError, match=r"BiasedMF.fit: 'n_blocks' must be at most 1024 .*74.5 GiB\); got 100000"):
        BiasedMF(n_blocks=100_000, epochs=1).fit(matrix)


def test_fold_in_refuses_negative_values_where_fit_does(implicit_only, make_model, ratings_matrix):
    model = make_model().fit(ratings_matrix)
    if not hasattr(model, "recommend_for_history"):
        pytest.skip(f"{type(model).__name__} has no fold-in (its neighbours are users of the training data)")
    with pytest.raises(DataError, match=r"'history' must be >= 0 \(implicit feedback.*got -1000.0"):
        model.recommend_for_history({1: -1000, 2: 3}, 5)
    with pytest.raises(TypeError, match=r"'history' must hold float32 or float64 numbers; got dtype <U"):
        model.recommend_for_history({1: "a"}, 5)


def test_partial_fit_refuses_negative_values():
    from fastcf.models import ImplicitALS

    rng = np.random.default_rng(0)
    dense = (rng.random((12, 8)) < 0.4) * 1.0
    data = Interactions(sp.csr_matrix(dense), IdMap(np.arange(12)), IdMap(np.arange(8)))
    model = ImplicitALS(factors=3, iterations=1, random_state=0).fit(data)
    update = sp.csr_matrix(dense[:2])
    update.data[:] = -5.0
    with pytest.raises(DataError, match=r"ImplicitALS.partial_fit: 'data' must be >= 0"):
        model.partial_fit(Interactions(update, IdMap(np.arange(2)), IdMap(np.arange(8))))


def test_hybrid_side_features_are_checked_before_the_kernel_reads_them():
    stdout = _run_isolated("""
        from fastcf.models import HybridMF
        features = sp.random(20, 5, density=0.5, random_state=1, format="csr")
        features.indptr[3] = features.indptr[-1] + 900
        try:
            HybridMF(epochs=1).fit(m, item_features=features)
        except fastcf.exceptions.DataError as error:
            print("DataError:", error)
    """)
    assert "HybridMF.fit: 'item_features.indptr' must be non-decreasing" in stdout


def test_hybrid_refuses_broken_user_features_and_cold_start_rows(matrix):
    from fastcf.models import HybridMF

    features = sp.random(30, 5, density=0.5, random_state=1, format="csr")
    broken = features.copy()
    broken.indices[0] = -7
    with pytest.raises(DataError, match=r"HybridMF.fit: 'user_features.indices' must lie in \[0, 5\); got -7"):
        HybridMF(epochs=1).fit(matrix, user_features=broken)
    model = HybridMF(epochs=1, random_state=0).fit(matrix, user_features=features)
    new_users = sp.random(2, 5, density=0.5, random_state=2, format="csr")
    new_users.indices[0] = 99
    with pytest.raises(DataError, match=r"recommend_for_features: 'features.indices' must lie in \[0, 5\); got 99"):
        model.recommend_for_features(new_users, k=3)
    with pytest.raises(DataError, match=r"recommend_for_features: 'features' must be finite; got nan at row 0"):
        model.recommend_for_features(np.full((2, 5), np.nan), k=3)
    with pytest.raises(DataError, match=r"'features' must have one column per user feature \(5\); got 4"):
        model.recommend_for_features(np.ones((2, 4)), k=3)
    with pytest.raises(TypeError, match=r"recommend_for_features: 'features' must be a sparse matrix over the user"):
        model.recommend_for_features(7, k=3)
    ids, scores = model.recommend_for_features(np.ones((2, 5)), k=3)
    assert ids.shape == (2, 3) and np.isfinite(scores).all()


@pytest.mark.parametrize("knn_name", ["ItemKNN", "UserKNN"])
def test_neighbour_scores_from_finite_values_are_finite_or_refused(matrix, knn_name):
    import fastcf.models

    model_class = getattr(fastcf.models, knn_name)
    one_large = matrix.astype(np.float32)
    one_large.data[0] = 3e38
    _, scores = model_class(k=5).fit(one_large).recommend(np.arange(30), k=5)
    assert np.isfinite(scores[scores > -np.inf]).all()
    all_large = matrix.astype(np.float32)
    all_large.data[:] = 3e38
    with pytest.raises(DataError, match=r"similarity_topk: the cosine similarities overflow float32"):
        model_class(k=5).fit(all_large)
    with pytest.raises(DataError, match=r"'data' must be small enough that pearson's sums over a row stay within"):
        model_class(k=5, measure="pearson").fit(all_large)
    jaccard = model_class(k=5, measure="jaccard").fit(all_large)
    with pytest.raises(DataError, match=rf"{knn_name}: the score of query row 0, candidate \d+ overflows float32"):
        jaccard.recommend(np.arange(30), k=5)


def test_values_beyond_the_model_dtype_are_refused(matrix):
    from fastcf.models import BPR, ItemKNN

    huge = matrix.copy()
    huge.data[5] = 1e308
    for model in (ItemKNN(), BPR(epochs=1)):
        with pytest.raises(DataError, match=r"'data' must be within the range of the model's dtype float32 "
                                            r"\(\|value\| <= 3.4e\+38\); got 1e\+308 at user index 0"):
            model.fit(huge)


@pytest.mark.parametrize("model", ["ItemKNN", "UserKNN"])
def test_knn_on_one_huge_value_stays_finite_or_names_the_overflow(matrix, model):
    """One stored 3e38 (finite in float32) used to give infinite scores."""
    from fastcf.models import ItemKNN, UserKNN
    from fastcf.models.item_knn import MEASURES

    huge = matrix.copy()
    huge.data[0] = 3e38
    for measure in MEASURES:
        try:
            _, scores = {"ItemKNN": ItemKNN, "UserKNN": UserKNN}[model](k=5, measure=measure).fit(huge).recommend(
                np.arange(30), 5)
        except DataError as error:
            assert "overflow" in str(error) or "small enough" in str(error), error
        else:
            padded = scores == -np.inf
            assert np.isfinite(scores[~padded]).all(), measure


def test_ranking_n_blocks_is_refused_before_spawning_streams(matrix):
    from fastcf.models import BPR

    with pytest.raises(ValueError, match=r"BPR: 'n_blocks' must be at most 1024 for the grid schedule .*got 1000000"):
        BPR(n_blocks=10**6, epochs=1).fit(matrix)


def test_interactions_converts_index_dtypes_scipy_cannot_read(matrix):
    wide = matrix.copy()
    wide.indices, wide.indptr = matrix.indices.astype(np.uint64), matrix.indptr.astype(np.uint64)
    data = Interactions(wide, IdMap(np.arange(30)), IdMap(np.arange(20)))
    assert data.matrix.indices.dtype in (np.int32, np.int64)
    assert wide.indices.dtype == np.uint64  # the caller's matrix is left as given
    np.testing.assert_array_equal(data.matrix.toarray(), matrix.toarray())


def test_als_fold_in_serves_checked_factors_through_the_unchecked_core(matrix, monkeypatch):
    import fastcf.models.implicit_als as implicit_als
    from fastcf.models import ImplicitALS

    model = ImplicitALS(factors=4, iterations=2, random_state=0).fit(matrix)
    expected = model.user_factors_for({1: 2.0, 3: 1.0})

    def scans_the_factors(*args, **kwargs):
        raise AssertionError("fold-in re-checked the item factors that fit checked")

    monkeypatch.setattr(implicit_als, "als_half_step", scans_the_factors)
    np.testing.assert_array_equal(model.user_factors_for({1: 2.0, 3: 1.0}), expected)
    with pytest.raises(DataError, match=r"ImplicitALS.fold_in: 'history' value 3e\+38 \(row 0, column 1\) gives "
                                        r"confidence / unobserved_weight = 6e\+38, beyond float32"):
        model.user_factors_for({1: 3e38})


def test_catalog_coverage_checks_n_items_and_the_lists(matrix):
    from fastcf.evaluation import catalog_coverage

    top = np.array([[0, 1, 2], [3, -1, -1]])
    # A sparse matrix for n_items used to reach scipy's comparison of the caller's arrays (a segfault).
    with pytest.raises(TypeError, match=r"catalog_coverage: 'n_items' must be an int >= 0; got"):
        catalog_coverage(top, matrix)
    with pytest.raises(DataError, match=r"catalog_coverage: 'recommended' must be item indices >= 0, or -1 for a pad; "
                                        r"got -7"):
        catalog_coverage(np.array([[0, -7]]), 20)
    with pytest.raises(DataError, match=r"'recommended' must be item indices within the int64 range"):
        catalog_coverage(np.array([[2**63]], dtype=np.uint64), 20)
    assert catalog_coverage(top, 20) == 4 / 20


def test_values_whose_sums_overflow_float64_are_refused(matrix):
    from fastcf.models import BaselineOnly, KNNBasic

    huge = matrix.copy()
    huge.data[:] = 1e308  # the global mean used to be inf, and every prediction NaN
    with pytest.raises(DataError, match=r"BaselineOnly.fit: 'data' must be small enough that sums of its 180 values "
                                        r"stay finite \(\|value\| <= 9.99e\+305\); got 1e\+308"):
        BaselineOnly().fit(huge)
    model = KNNBasic().fit(matrix)
    with pytest.raises(DataError, match=r"KNNBasic.recommend_for_history: 'history' must be small enough"):
        model.recommend_for_history({1: 1e308, 2: 1e308}, k=3)
