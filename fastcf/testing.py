"""Helpers for testing and benchmarking code that uses fastcf, and the contract every model passes."""

from __future__ import annotations

from typing import Tuple

import numpy as np
import scipy.sparse as sp

from fastcf._validation import check_allocation, check_float_dtype, check_positive_int, check_seed

__all__ = ["check_recommender", "check_round_trip", "topk_problem"]


def topk_problem(
    n_rows: int,
    n_items: int,
    n_excluded: int,
    dtype=np.float32,
    seed: int = 0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reproducible input for ``select_topk``: a score block and a CSR of exclusions.

    Scores are standard normal; each row excludes ``n_excluded`` distinct random items (as a
    user excludes the items already seen), given sorted as in a canonical CSR.

    Returns
    -------
    scores : ndarray of shape (n_rows, n_items), ``dtype``
    exclude_indptr : ndarray of shape (n_rows + 1,), int32
    exclude_indices : ndarray of shape (n_rows * n_excluded,), int32
    """
    n_rows = check_positive_int(n_rows, "n_rows", "topk_problem", minimum=0)
    n_items = check_positive_int(n_items, "n_items", "topk_problem")
    n_excluded = check_positive_int(n_excluded, "n_excluded", "topk_problem", minimum=0, maximum=n_items,
                                    why="a row excludes distinct items")
    dtype = check_float_dtype(dtype, "dtype", "topk_problem")
    check_allocation((n_rows, n_items), 16 + dtype.itemsize, "n_rows' and 'n_items", "topk_problem", "score block")
    rng = np.random.default_rng(check_seed(seed, "seed", "topk_problem"))
    scores = rng.standard_normal((n_rows, n_items), dtype=np.float64).astype(dtype)
    if n_excluded:
        # The positions of the n_excluded smallest random keys: distinct items per row.
        keys = rng.random((n_rows, n_items))
        excluded = np.sort(np.argpartition(keys, n_excluded - 1, axis=1)[:, :n_excluded], axis=1)
    else:
        excluded = np.empty((n_rows, 0), dtype=np.int64)
    exclude_indptr = np.arange(n_rows + 1, dtype=np.int32) * n_excluded
    return scores, exclude_indptr, excluded.astype(np.int32).ravel()


# --- the contract every model must pass --------------------------------------------------

def check_recommender(make_model, data=None, *, k: int = 5) -> None:
    """Run the checks every fastcf model must pass; raises AssertionError naming the failure.

    ``make_model()`` returns a new, unfitted model; ``data`` is the Interactions to fit on
    (default: a small synthetic dataset). Checked: errors before fit; fit returns the model
    and leaves the data untouched; recommend for one user and for a batch agree, exclude
    training items, are sorted, and do not depend on the block size or the thread count;
    candidate and excluded items are honoured; unknown IDs and bad k are refused with errors
    naming them; similar_items excludes the query; fold-in (where the model has it) returns
    items outside the history; one seed gives one model; its parameters rebuild an unfitted
    copy; explain gives at most k sorted, finite terms; save and load (also memory-mapped)
    give back every fitted attribute bit for bit, and bitwise-identical recommendations,
    predictions, similar items and fold-in; partial_fit (where the model has it) takes a new
    user and item, serves them, and saves and loads after the update.
    """

    from fastcf.data.synthetic import synthetic
    from fastcf.exceptions import NotFittedError

    if data is None:
        data = synthetic(n_users=120, n_items=90, n_ratings=2_500, seed=11)
    name = type(make_model()).__name__

    model = make_model()
    for call in (lambda: model.recommend(data.users.raw_ids[0], k), lambda: model.similar_items(data.items.raw_ids[0], k)):
        try:
            call()
        except NotFittedError:
            pass
        else:
            raise AssertionError(f"{name}: a call before fit must raise NotFittedError")

    before = (data.matrix.data.copy(), data.matrix.indices.copy(), data.matrix.indptr.copy())
    fitted = model.fit(data)
    assert fitted is model, f"{name}.fit must return the model itself"
    for array, copy in zip((data.matrix.data, data.matrix.indices, data.matrix.indptr), before):
        assert np.array_equal(array, copy), f"{name}.fit modified its input"

    users = data.users.raw_ids[: min(25, data.n_users)]
    ids, scores = model.recommend(users, k)
    assert ids.shape == scores.shape == (users.size, k), f"{name}.recommend: shape {ids.shape}"
    assert np.all(np.diff(scores, axis=1) <= 0), f"{name}.recommend: scores not sorted best first"
    for row, user in enumerate(users):
        one_ids, one_scores = model.recommend(user, k)
        assert np.array_equal(one_ids, ids[row]), f"{name}: recommend for one user differs from the batch"
        seen = set(data.items.raw_ids[data.matrix[data.users.to_index(user)].indices].tolist())
        assert not seen & set(one_ids.tolist()), f"{name}.recommend returned a training item of user {user!r}"
    small_blocks = model.recommend(users, k, block_bytes=1)
    one_thread = model.recommend(users, k, n_threads=1)
    for other, what in ((small_blocks, "block size"), (one_thread, "thread count")):
        assert np.array_equal(other[0], ids) and np.allclose(other[1], scores), f"{name}: results depend on {what}"

    candidates = data.items.raw_ids[::3]
    restricted, _ = model.recommend(users, k, items=candidates, exclude_seen=False)
    assert set(restricted.ravel().tolist()) <= set(candidates.tolist()), f"{name}: items= not honoured"
    banned = ids[:, 0]
    avoided, _ = model.recommend(users, k, exclude_items=banned)
    assert not set(avoided.ravel().tolist()) & set(banned.tolist()), f"{name}: exclude_items not honoured"
    everything, _ = model.recommend(users[0], data.n_items + 50, exclude_seen=False)
    assert everything.shape == (data.n_items,), f"{name}: k above the item count must shrink to it"

    _expect_error(lambda: model.recommend("no such user" if data.users.raw_ids.dtype.kind != "U" else -1, k),
                  KeyError, "unknown user", name)
    _expect_error(lambda: model.recommend(users[0], 0), ValueError, "'k' must be an int >= 1", name)

    if hasattr(model, "similar_items"):
        item = data.items.raw_ids[0]
        similar, similarity = model.similar_items(item, k)
        assert item not in set(similar.tolist()), f"{name}.similar_items returned the query item"
        assert np.all(np.diff(similarity) <= 1e-6), f"{name}.similar_items not sorted"

    if hasattr(model, "recommend_for_history"):
        history = list(data.items.raw_ids[:4])
        new_ids, _ = model.recommend_for_history(history, k)
        assert not set(new_ids.tolist()) & set(history), f"{name}: fold-in recommended a history item"

    bare = make_model().fit(sp.csr_matrix(data.matrix))
    bare_ids, _ = bare.recommend(np.arange(3), k)
    assert bare_ids.dtype.kind in "iu" and bare_ids.shape == (3, k), f"{name}: fit on a bare matrix"

    again = make_model().fit(data)
    assert np.array_equal(again.recommend(users, k)[0], ids), f"{name}: one seed must give one model"

    params = model.get_params()
    copy = type(model)(**params)
    assert not hasattr(copy, "seen_") and copy.get_params().keys() == params.keys(), \
        f"{name}: type(model)(**get_params()) must give an unfitted model with the same parameters"
    assert copy.set_params(**params) is copy, f"{name}.set_params must return the model"

    user, item = users[0], ids[0, 0]
    terms_ids, terms, total = model.explain(user, item, k)
    assert len(terms_ids) == len(terms) <= k and np.isfinite(terms).all() and np.isfinite(total), \
        f"{name}.explain: at most k finite terms and a finite total"
    assert np.all(np.diff(terms) <= 0), f"{name}.explain: terms not sorted largest first"

    check_round_trip(model, data, k=k)

    if hasattr(model, "partial_fit"):
        kind = data.users.raw_ids.dtype.kind
        new_user = (int(data.users.raw_ids.max()) + 1) if kind in "iu" else "fastcf-new-user"
        new_item = (int(data.items.raw_ids.max()) + 1) if data.items.raw_ids.dtype.kind in "iu" else "fastcf-new-item"
        from fastcf.data.readers import from_arrays

        update = from_arrays([new_user, new_user, users[1]], [new_item, data.items.raw_ids[1], new_item],
                             [4.0, 5.0, 3.0])
        updated = make_model().fit(data)
        assert updated.partial_fit(update) is updated, f"{name}.partial_fit must return the model"
        assert new_user in updated.users_ and new_item in updated.items_, f"{name}.partial_fit: new IDs missing"
        new_ids, new_scores = updated.recommend(new_user, k, exclude_seen=False)
        assert np.isfinite(new_scores[np.asarray(new_ids != -1)]).all(), f"{name}: a new user's scores are not finite"
        assert 0 < updated.drift_ <= 1, f"{name}.drift_ after an update must lie in (0, 1]"
        check_round_trip(updated, data, k=k)


def check_round_trip(model, data, *, k: int = 5) -> None:
    """Save a fitted model, load it (read and memory-mapped), and compare everything bit for bit."""
    import gc
    import tempfile
    from pathlib import Path

    from fastcf.persistence import fitted_state, load

    name = type(model).__name__
    users = data.users.raw_ids[: min(25, data.n_users)]
    rows = np.repeat(np.arange(data.n_users), np.diff(data.matrix.indptr))[:200]
    pairs = (data.users.raw_ids[rows], data.items.raw_ids[data.matrix.indices[:200]])
    item = data.items.raw_ids[0]
    history = list(data.items.raw_ids[:4])

    def answers(m):
        out = {"recommend": m.recommend(users, k), "predict": m.predict(*pairs)}
        if hasattr(m, "similar_items"):
            out["similar_items"] = m.similar_items(item, k)
        if hasattr(m, "recommend_for_history"):
            out["recommend_for_history"] = m.recommend_for_history(history, k)
        return out

    expected = answers(model)
    with tempfile.TemporaryDirectory() as folder:
        path = model.save(Path(folder) / "model.npz")
        for mmap in (False, True):
            loaded = load(path, mmap=mmap)
            how = "memory-mapped" if mmap else "loaded"
            assert type(loaded) is type(model), f"{name}: {how} as {type(loaded).__name__}"
            saved_params = {key: (None if callable(v) and not isinstance(v, type) else v)
                            for key, v in model.get_params().items()}
            assert _same(loaded.get_params(), saved_params), f"{name}: parameters differ once {how}"
            ours, theirs = fitted_state(model), fitted_state(loaded)
            assert ours.keys() == theirs.keys(), f"{name}: fitted attributes {sorted(ours.keys() ^ theirs.keys())} " \
                                                 f"lost or gained once {how}"
            for attribute in ours:
                assert _same(ours[attribute], theirs[attribute]), f"{name}.{attribute} differs once {how}"
            if mmap:
                # Dense arrays, and the parts of sparse ones (seen_ at least is always there).
                mapped = {a: v for a, v in theirs.items() if isinstance(v, np.ndarray) and v.size}
                mapped.update({f"{a}.{part}": getattr(v, part) for a, v in theirs.items() if sp.issparse(v)
                               for part in ("data", "indices", "indptr") if getattr(v, part).size})
                assert mapped and all(isinstance(v, np.memmap) for v in mapped.values()), \
                    f"{name}: mmap=True must memory-map the fitted arrays; not mapped: " \
                    f"{sorted(a for a, v in mapped.items() if not isinstance(v, np.memmap))}"
            for call, value in answers(loaded).items():
                assert _same(value, expected[call]), f"{name}.{call} differs once {how}"
            del loaded, theirs
            gc.collect()


def _same(a, b) -> bool:
    """Equal in type, dtype, shape and every bit (NaN equal to NaN)."""

    from fastcf.data.id_map import IdMap

    if isinstance(a, np.ndarray):
        if not (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        if a.dtype.hasobject:
            return bool(np.array_equal(a, b)) and all(type(x) is type(y) for x, y in zip(a.ravel(), b.ravel()))
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    if sp.issparse(a):
        return (sp.issparse(b) and type(a) is type(b) and a.shape == b.shape
                and all(_same(getattr(a, part), getattr(b, part)) for part in ("data", "indices", "indptr")))
    if isinstance(a, IdMap):
        return isinstance(b, IdMap) and a.name == b.name and _same(a.raw_ids, b.raw_ids)
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, (float, np.floating)) and np.isnan(a):
        return bool(np.isnan(b))
    return bool(a == b)


def _expect_error(call, error, fragment, name):
    try:
        call()
    except error as exc:
        assert fragment in str(exc), f"{name}: {error.__name__} should say {fragment!r}; said {exc}"
    else:
        raise AssertionError(f"{name}: expected {error.__name__} ({fragment})")
