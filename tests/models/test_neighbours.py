"""Popularity, EASE, ItemKNN and UserKNN: known answers on hand-made data, fold-in, explain, errors."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastcf.data import synthetic
from fastcf.models import EASE, ItemKNN, Popularity, UserKNN
from fastcf.models import ease as ease_module

# Users x items; items 0 and 1 co-occur twice, every other pair once.
TINY = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=np.float32))
# XᵀX + I = 2I + J for the first three rows: its inverse is I/2 - J/10, by hand.
TRIANGLE = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.float32))


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=90, n_items=70, n_ratings=1_800, seed=3)


# --- Popularity -----------------------------------------------------------------------------

def test_popularity_counts_users_or_sums_values():
    values = sp.csr_matrix(np.array([[5, 0, 1], [3, 2, 0], [4, 0, 0]], dtype=np.float32))
    assert Popularity().fit(values).popularity_.tolist() == [3, 1, 1]
    assert Popularity(by="values").fit(values).popularity_.tolist() == [12, 2, 1]
    # User 2 has item 0 only; the tie between items 1 and 2 goes to the smaller index.
    ids, scores = Popularity().fit(values).recommend(2, 2)
    assert ids.tolist() == [1, 2] and scores.tolist() == [1, 1]
    ids, _ = Popularity(by="values").fit(values).recommend_for_history([1], 2)
    assert ids.tolist() == [0, 2]


def test_popularity_similar_items_are_cooccurrence_counts():
    ids, counts = Popularity().fit(TINY).similar_items(0, 2)
    assert ids.tolist() == [1, 2] and counts.tolist() == [2, 1]


# --- EASE -----------------------------------------------------------------------------------

def test_ease_matches_the_closed_form_computed_by_hand():
    # P = (2I + J)⁻¹ = I/2 - J/10, so B_ij = -P_ij / P_jj = 0.1 / 0.4 = 0.25 off the diagonal.
    for dtype in (np.float64, np.float32):
        model = EASE(regularization=1.0, dtype=dtype).fit(TRIANGLE)
        assert model.weights_.dtype == dtype
        np.testing.assert_allclose(model.weights_, 0.25 * (np.ones((3, 3)) - np.eye(3)), atol=1e-6)
    scores = model._score(np.arange(3), np.arange(3))
    np.testing.assert_allclose(scores[0], [0.25, 0.25, 0.5], atol=1e-6)
    np.testing.assert_allclose(model.predict([0, 1], [2, 0]), [0.5, 0.5], atol=1e-6)


def test_ease_against_a_dense_inverse_with_values(data):
    model = EASE(regularization=7.0, binarize=False, dtype=np.float64).fit(data)
    X = data.matrix.toarray().astype(np.float64)
    P = np.linalg.inv(X.T @ X + 7.0 * np.eye(X.shape[1]))
    np.testing.assert_allclose(model.weights_, np.eye(X.shape[1]) - P / np.diag(P), atol=1e-10)
    binary = EASE(regularization=7.0, dtype=np.float32).fit(data)
    B = (X > 0).astype(np.float64)
    P = np.linalg.inv(B.T @ B + 7.0 * np.eye(X.shape[1]))
    np.testing.assert_allclose(binary.weights_, np.eye(X.shape[1]) - P / np.diag(P), atol=2e-5)


def test_ease_states_and_checks_memory_before_allocating(monkeypatch):
    assert EASE.required_memory(20_000) == 1_600_000_000
    assert EASE.required_memory(20_000, np.float64) == 3_200_000_000
    with pytest.raises(MemoryError, match=r"needs 0\.00 GiB \(3 x 3 float32\), above max_memory=35 bytes"):
        EASE(max_memory=35).fit(TRIANGLE)
    EASE(max_memory=36).fit(TRIANGLE)
    monkeypatch.setattr(ease_module, "available_memory", lambda: 1 << 20)
    with pytest.raises(MemoryError, match=r"needs 0\.01 GiB \(1,500 x 1,500 float32\), but only 0\.00 GiB"):
        EASE().fit(sp.random(10, 1_500, density=0.01, format="csr", random_state=0))


def test_ease_fold_in_and_explain_are_exact(data):
    model = EASE(regularization=20.0).fit(data)
    user = data.users.raw_ids[4]
    history = data.matrix[4]
    ids, scores = model.recommend(user, 5)
    folded, folded_scores = model.recommend_for_history(list(data.items.raw_ids[history.indices]), 5)
    assert folded.tolist() == ids.tolist()
    np.testing.assert_allclose(folded_scores, scores, rtol=1e-6)
    contributors, terms, total = model.explain(user, ids[0], k=3)
    np.testing.assert_allclose(total, scores[0], rtol=1e-5)
    assert set(contributors.tolist()) <= set(data.items.raw_ids[history.indices].tolist())
    assert np.all(np.diff(terms) <= 0)


def test_ease_refuses_bad_parameters():
    with pytest.raises(ValueError, match="EASE: 'regularization' must be a finite number > 0; got 0"):
        EASE(regularization=0).fit(TRIANGLE)
    with pytest.raises(ValueError, match="EASE: 'max_memory' must be None or an int >= 1"):
        EASE(max_memory=0).fit(TRIANGLE)
    with pytest.raises(TypeError, match="EASE: 'binarize' must be True or False; got 'yes'"):
        EASE(binarize="yes").fit(TRIANGLE)


# --- ItemKNN / UserKNN ----------------------------------------------------------------------

def dense_cosine(X):
    norms = np.linalg.norm(X, axis=0)
    S = (X.T @ X) / np.outer(norms, norms)
    np.fill_diagonal(S, 0)
    return S


def test_item_knn_scores_are_the_hand_sum_of_neighbour_similarities():
    # Items' user vectors: 0 = users {0, 2, 3}, 1 = {0, 1, 3}, 2 = {1, 2}: cos(0, 1) = 2/3,
    # cos(0, 2) = cos(1, 2) = 1/sqrt(6).
    model = ItemKNN(k=5, dtype=np.float64).fit(TINY)
    third, sixth = 2 / 3, 1 / np.sqrt(6)
    np.testing.assert_allclose(model.similarity_.toarray(), [[0, third, sixth], [third, 0, sixth], [sixth, sixth, 0]])
    # User 1 has items 1 and 2: score of item 0 = s(1, 0) + s(2, 0).
    np.testing.assert_allclose(model.predict([1], [0]), [third + sixth])
    np.testing.assert_allclose(model._score(np.arange(4), np.arange(3)), TINY.toarray() @ model.similarity_.toarray())
    ids, terms, total = model.explain(1, 0)
    assert ids.tolist() == [1, 2]
    np.testing.assert_allclose(terms, [third, sixth])
    np.testing.assert_allclose(total, third + sixth)


def test_item_knn_keeps_k_neighbours_then_applies_exponent_and_normalisation(data):
    X = data.matrix.toarray().astype(np.float64)
    full = dense_cosine(X)
    model = ItemKNN(k=3, exponent=2.0, normalize=True, dtype=np.float64).fit(data)
    S = model.similarity_.toarray()
    for j in range(data.n_items):
        kept = np.flatnonzero(S[j])
        expected = np.argsort(-full[j], kind="stable")[:3]
        expected = expected[full[j, expected] > 0]
        assert sorted(kept.tolist()) == sorted(expected.tolist()), j
        if kept.size:
            np.testing.assert_allclose(S[j, kept], full[j, kept] ** 2 / (full[j, kept] ** 2).sum(), rtol=1e-10)


def test_similar_items_read_the_pruned_similarity(data):
    model = ItemKNN(k=4).fit(data)
    item = data.items.raw_ids[10]
    ids, similarity = model.similar_items(item, 10)
    row = model.similarity_[10]
    assert ids.shape == (10,) and (ids[row.nnz:] == -1).all() and np.isneginf(similarity[row.nnz:]).all()
    expected = row.indices[np.argsort(-row.data, kind="stable")]
    assert data.items.to_index(ids[:row.nnz]).tolist() == expected.tolist()


def test_item_knn_fold_in_equals_the_training_user(data):
    model = ItemKNN(k=10, measure="bm25").fit(data)
    row = data.matrix[7]
    history = dict(zip(data.items.raw_ids[row.indices], row.data))
    assert model.recommend_for_history(history, 6)[0].tolist() == model.recommend(data.users.raw_ids[7], 6)[0].tolist()


def test_user_knn_scores_are_the_hand_sum_over_neighbours():
    model = UserKNN(k=1, measure="jaccard").fit(TINY)
    # User 0 = {0, 1} and user 3 = {0, 1}: Jaccard 1, each other's only neighbour.
    assert model.similarity_[0].indices.tolist() == [3] and model.similarity_[0].data.tolist() == [1.0]
    # User 1 = {1, 2}: Jaccard 1/3 with users 0, 2 and 3; the tie goes to user 0.
    assert model.similarity_[1].indices.tolist() == [0]
    np.testing.assert_allclose(model._score(np.array([1]), np.arange(3)), [[1 / 3, 1 / 3, 0]])
    neighbours, terms, total = model.explain(1, 0)
    assert neighbours.tolist() == [0] and np.allclose(terms, [1 / 3]) and np.isclose(total, 1 / 3)
    ids, similarity = model.similar_users(0, 2)
    assert ids.tolist() == [3, -1] and similarity[0] == 1.0
    assert not hasattr(model, "recommend_for_history")


def test_ease_weights_are_the_same_bits_at_any_thread_count():
    # 701 users x 403 items: tiles of 256 do not divide the items, so every step has a ragged tile.
    rng = np.random.default_rng(7)
    data = sp.random(701, 403, density=0.05, format="csr", random_state=rng)
    data.data[:] = 1
    for dtype in (np.float32, np.float64):
        one = EASE(regularization=5.0, dtype=dtype, n_threads=1).fit(data).weights_
        for n_threads in (2, 3, 4):
            assert np.array_equal(EASE(regularization=5.0, dtype=dtype, n_threads=n_threads).fit(data).weights_, one)
        assert np.array_equal(EASE(regularization=5.0, dtype=dtype, n_threads=2).fit(data).weights_, one)


def test_ease_failed_inverse_names_the_fix():
    data = sp.csr_matrix(np.ones((3, 3)))
    model = EASE(regularization=1.0, dtype=np.float64)
    model._check_params()
    gram = -np.eye(3)
    with pytest.raises(np.linalg.LinAlgError, match="EASE: the Cholesky inverse of XᵀX \\+ λI failed .*raise 'regularization'"):
        model._invert_in_place(gram, 1)
    assert EASE(regularization=1.0).fit(data).weights_.shape == (3, 3)


def test_knn_results_do_not_depend_on_the_thread_count():
    data = synthetic(n_users=97, n_items=1001, n_ratings=6_000, seed=2)
    for cls in (ItemKNN, UserKNN):
        one = cls(k=7, n_threads=1).fit(data).similarity_
        two = cls(k=7, n_threads=2).fit(data).similarity_
        assert (one != two).nnz == 0, cls.__name__


@pytest.mark.parametrize("params, error, message", [
    ({"k": 0}, ValueError, "ItemKNN: 'k' must be an int >= 1; got 0."),
    ({"measure": "msd"}, ValueError, "ItemKNN: 'measure' must be one of"),
    ({"alpha": 1.5}, ValueError, "ItemKNN: 'alpha' must be a finite number in [0, 1]; got 1.5."),
    ({"exponent": 0}, ValueError, "ItemKNN: 'exponent' must be a finite number > 0; got 0."),
    ({"shrinkage": -1}, ValueError, "ItemKNN: 'shrinkage' must be a finite number >= 0; got -1."),
    ({"dtype": np.int32}, ValueError, "ItemKNN: 'dtype' must be float32 or float64; got int32."),
])
def test_item_knn_refuses_bad_parameters(params, error, message):
    with pytest.raises(error) as caught:
        ItemKNN(**params).fit(TINY)
    assert message in str(caught.value)


def _rare_pairs_data():
    """30 users on 40 items: items 0..9 popular; items 10..39 rare, each rated by two users only
    (5 and 1), and any two rows co-rated by two users correlate exactly ±1."""
    rng = np.random.default_rng(11)
    dense = np.zeros((30, 40), dtype=np.float32)
    dense[:, :10] = rng.integers(1, 6, size=(30, 10)) * (rng.random((30, 10)) < 0.7)
    for pair in range(15):
        dense[pair, 10 + 2 * pair] = dense[pair, 11 + 2 * pair] = 5
        dense[pair + 15, 10 + 2 * pair] = dense[pair + 15, 11 + 2 * pair] = 1
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
@pytest.mark.parametrize("measure", ["pearson", "adjusted_cosine"])
def test_co_rated_measures_default_to_a_shrinkage(cls, measure):
    data = sp.random(40, 30, density=0.3, format="csr", random_state=3, dtype=np.float32)
    data.data = np.ceil(data.data * 5)
    default = cls(k=5, measure=measure).fit(data).similarity_
    explicit = cls(k=5, measure=measure, shrinkage=100.0).fit(data).similarity_
    assert (default != explicit).nnz == 0
    assert (cls(k=5, measure="cosine").fit(data).similarity_ != cls(k=5, measure="cosine", shrinkage=0.0)
            .fit(data).similarity_).nnz == 0


def test_collapsed_co_rated_ranking_warns_and_names_the_fix():
    data = _rare_pairs_data()
    with pytest.warns(UserWarning, match=r"ItemKNN: \d+% of the kept similarities are 1 \(measure='pearson'.*"
                                         r"Set shrinkage=100"):
        ItemKNN(k=3, measure="pearson", shrinkage=0.0).fit(data)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ItemKNN(k=3, measure="pearson").fit(data)  # the default shrinkage: no warning
        ItemKNN(k=3, measure="cosine", shrinkage=0.0).fit(data)  # not a co-rated measure
