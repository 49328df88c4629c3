"""evaluate, cross_validate, grid_search, metrics_at_k, the callback and the plots, through the public API."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastcf
from fastcf.data import kfold, random_split, synthetic
from fastcf.evaluation import (
    ALL_METRICS, EvaluationCallback, compare_at_k, cross_validate, evaluate, grid_search, metrics_at_k,
    plot_history, plot_metric_at_k,
)
from fastcf.exceptions import NotFittedError
from fastcf.models import ImplicitALS
from fastcf.models.base import FactorModel

LIST_SAFE = [m for m in ALL_METRICS if m not in ("auc", "rmse", "mae")]


@pytest.fixture(scope="module")
def split():
    return random_split(synthetic("ml100k"), 0.2, seed=0)


@pytest.fixture(scope="module")
def model(split):
    return ImplicitALS(factors=16, iterations=3, random_state=0).fit(split[0])


def with_factors(train, U, V, cls=ImplicitALS):
    model = cls(factors=U.shape[1])
    model.user_factors_, model.item_factors_ = U, V
    model.seen_, model.users_, model.items_ = train.matrix, train.users, train.items
    return model


class BlasScores(ImplicitALS):
    """The same scores, but through _score: evaluate takes the score-block path."""

    def _score(self, user_indices, item_indices):
        return self.user_factors_[user_indices] @ self.item_factors_[item_indices].T


class ListsOnly:
    """Only recommend(): evaluate takes the lists path."""

    def __init__(self, model):
        self._model = model
        self.users_, self.items_ = model.users_, model.items_

    def recommend(self, users, k, exclude_seen=True):
        return self._model.recommend(users, k, exclude_seen=exclude_seen)


def test_the_three_paths_agree(split):
    train, test = split
    rng = np.random.default_rng(3)
    # Small integer factors: exact scores on every path (BLAS or not), and many ties.
    U = rng.integers(-2, 3, (train.n_users, 6)).astype(np.float32)
    V = rng.integers(-2, 3, (train.n_items, 6)).astype(np.float32)
    features = rng.random((train.n_items, 4))
    kwargs = dict(metrics=LIST_SAFE, item_features=features, per_user=True)
    fused = evaluate(with_factors(train, U, V), train, test, 10, **kwargs)
    blocks = evaluate(with_factors(train, U, V, BlasScores), train, test, 10, **kwargs)
    lists = evaluate(ListsOnly(with_factors(train, U, V)), train, test, 10, **kwargs)
    assert dict(fused) == dict(blocks) == dict(lists)
    pd.testing.assert_frame_equal(fused.per_user, blocks.per_user)
    pd.testing.assert_frame_equal(fused.per_user, lists.per_user)
    auc_fused = evaluate(with_factors(train, U, V), train, test, 10, metrics=["auc"])
    auc_blocks = evaluate(with_factors(train, U, V, BlasScores), train, test, 10, metrics=["auc"])
    assert auc_fused == auc_blocks
    with pytest.raises(ValueError, match=r"'auc' \(full AUC\) needs every item's score, and ListsOnly only gives lists"):
        evaluate(ListsOnly(with_factors(train, U, V)), train, test, 10, metrics=["auc"])


def test_results_do_not_depend_on_threads_block_size_or_backend(split, model):
    train, test = split
    metrics = [m for m in ALL_METRICS if m not in ("diversity",)]
    expected = evaluate(model, train, test, 10, metrics=metrics, n_threads=1, backend="reference")
    for backend in ("numba", "cython"):
        for n_threads in (1, 2):
            for block_size in (1, 7, 64, 5000):
                got = evaluate(model, train, test, 10, metrics=metrics, n_threads=n_threads, block_size=block_size,
                               backend=backend)
                assert dict(got) == dict(expected), (backend, n_threads, block_size)


def test_result_shape_per_user_table_and_raw_ids(split, model):
    train, test = split
    result = evaluate(model, train, test, 5, per_user=True)
    assert result.metrics == ("precision", "recall", "map", "ndcg", "mrr", "hit_rate", "coverage")
    assert result.k == 5 and "ndcg@5=" in repr(result)
    assert result["n_users"] + result["n_users_skipped"] == train.n_users
    table = result.per_user
    assert len(table) == result["n_users"] and table.index.name == "user"
    assert set(table.index) <= set(train.users.raw_ids)
    assert list(table.columns) == ["n_test", "hits", "precision", "recall", "map", "ndcg", "mrr", "hit_rate"]
    for metric in ("precision", "recall", "ndcg"):
        assert result[metric] == pytest.approx(table[metric].mean(), rel=1e-12)
    assert evaluate(model, train, test, 5).per_user is None


def test_sparse_matrices_work_like_interactions(split, model):
    train, test = split
    bare = ImplicitALS(factors=16, iterations=3, random_state=0).fit(train.matrix)
    a = evaluate(model, train, test, 10, metrics=LIST_SAFE, item_features=model.item_factors_)
    b = evaluate(bare, train.matrix, test.matrix, 10, metrics=LIST_SAFE, item_features=model.item_factors_)
    assert dict(a) == dict(b)


def test_existing_callers_keep_working(split, model):
    from fastcf.evaluation import ranking_metrics

    train, test = split
    result = evaluate(model, train, test, 10)
    assert {"precision", "ndcg", "n_users"} <= set(result)
    ids, _ = model.recommend(test.users.raw_ids, 10)
    recommended = test.items.to_index(ids.ravel(), missing="ignore").reshape(ids.shape)
    lists = ranking_metrics(recommended, test.matrix)
    assert {"precision", "precision_implicit", "recall", "ndcg", "hit_rate", "n_users", "n_users_skipped"} <= set(lists)
    assert lists["n_users"] == result["n_users"]


def test_errors_name_the_problem(split, model):
    train, test = split
    with pytest.raises(ValueError, match=r"evaluate: unknown metric 'ndgc'; metrics are precision"):
        evaluate(model, train, test, metrics=["ndgc"])
    with pytest.raises(ValueError, match=r"diversity needs item features"):
        evaluate(model, train, test, metrics=["diversity"])
    with pytest.raises(ValueError, match=r"'item_features' must be 2-D with one row per item"):
        evaluate(model, train, test, metrics=["diversity"], item_features=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"evaluate: 'k' must be an int >= 1; got 0"):
        evaluate(model, train, test, 0)
    with pytest.raises(NotFittedError):
        evaluate(ImplicitALS(), train, test)
    from fastcf.data import IdMap

    reversed_users = IdMap(train.users.raw_ids[::-1])
    with pytest.raises(ValueError, match=r"must share ID maps"):
        evaluate(model, train, test.reindex(reversed_users, test.items))
    with pytest.raises(ValueError, match=r"fitted with other user IDs than 'train' has"):
        evaluate(model, train.reindex(reversed_users, train.items), test.reindex(reversed_users, test.items))
    with pytest.raises(ValueError, match=r"one shape"):
        evaluate(model, train.matrix, test.matrix[:, :5])
    negative = test.matrix.copy()
    negative.data = negative.data - 3.0
    with pytest.raises(ValueError, match=r"'ndcg_graded' uses the test values as gains, which must be finite and >= 0"):
        evaluate(model, train.matrix, negative, metrics=["ndcg_graded"])
    evaluate(model, train.matrix, negative, metrics=["ndcg"])  # binary NDCG ignores the values


def test_metrics_at_k_equal_evaluate_at_each_k(split, model):
    train, test = split
    metrics = ["precision", "recall", "map", "ndcg", "mrr", "coverage", "novelty", "auc"]
    curve = metrics_at_k(model, train, test, ks=[20, 1, 5], metrics=metrics)
    assert list(curve.index) == [1, 5, 20]
    for k in (1, 5, 20):
        got = evaluate(model, train, test, k, metrics=metrics)
        for metric in metrics:
            assert curve.loc[k, metric] == pytest.approx(got[metric], rel=1e-12), (k, metric)


def test_evaluation_callback_records_every_iteration(split):
    train, test = split
    callback = EvaluationCallback(train, test, 10, ["ndcg", "precision", "coverage"])
    model = ImplicitALS(factors=8, iterations=4, random_state=0, callback=callback, track_loss=True).fit(train)
    frame = callback.to_frame()
    assert list(frame.index) == [1, 2, 3, 4] and frame["loss"].notna().all()
    final = evaluate(model, train, test, 10, metrics=["ndcg", "precision", "coverage"])
    assert frame.loc[4, "ndcg"] == pytest.approx(final["ndcg"], rel=1e-12)
    stopper = EvaluationCallback(train, test, 10, ["ndcg"], stop_when_worse=1)
    stopper._best = 2.0  # nothing can beat it: the first evaluation already stops the fit
    ImplicitALS(factors=8, iterations=5, random_state=0, callback=stopper).fit(train)
    assert len(stopper.history) == 1


# --- cross-validation and grid search ----------------------------------------------------------

def test_cross_validate_runs_each_fold_of_the_data_layer(split):
    data = synthetic("ml100k")
    cv = cross_validate(ImplicitALS(factors=8, iterations=2, random_state=0), data, 3, ["ndcg", "precision"], seed=4)
    assert list(cv.folds.index) == [0, 1, 2]
    assert {"ndcg", "precision", "n_users", "fit_seconds", "evaluate_seconds"} <= set(cv.folds.columns)
    folds = kfold(data, 3, seed=4)
    for fold, (train, test) in enumerate(folds):
        model = ImplicitALS(factors=8, iterations=2, random_state=0).fit(train)
        assert cv.folds.loc[fold, "ndcg"] == evaluate(model, train, test, 10, metrics=["ndcg"])["ndcg"]
    mean, std = cv["ndcg"]
    assert mean == pytest.approx(cv.folds["ndcg"].mean()) and std == pytest.approx(cv.folds["ndcg"].std(ddof=1))
    assert "ndcg@10" in cv.summary() and " ± " in cv.summary()
    # The same folds passed explicitly, with a class and with a function as make_model:
    again = cross_validate(ImplicitALS, None, folds, ["ndcg"], params=dict(factors=8, iterations=2, random_state=0))
    np.testing.assert_array_equal(again.folds["ndcg"], cv.folds["ndcg"])
    lam = cross_validate(lambda: ImplicitALS(factors=8, iterations=2, random_state=0), None, folds[:1], ["ndcg"])
    assert lam.folds.loc[0, "ndcg"] == cv.folds.loc[0, "ndcg"] and np.isnan(lam.std["ndcg"])


def test_cross_validate_errors():
    with pytest.raises(TypeError, match=r"'data' must be Interactions to split"):
        cross_validate(ImplicitALS, None, 3)
    with pytest.raises(TypeError, match=r"fold 0 must be a \(train, test\) pair"):
        cross_validate(ImplicitALS, None, [1, 2])
    with pytest.raises(ValueError, match=r"'folds' is empty"):
        cross_validate(ImplicitALS, None, [])


def test_grid_search_picks_the_best_combination(split):
    train, test = split
    search = grid_search(ImplicitALS, (train, test), {"factors": [2, 16], "iterations": [3], "random_state": [0]},
                         metric="ndcg", metrics=["precision"])
    assert list(search.results.columns[:3]) == ["factors", "iterations", "random_state"]
    assert len(search.results) == 2 and search.results["std_ndcg"].isna().all()
    scores = search.results["mean_ndcg"].to_numpy()
    assert search.best_index == int(np.argmax(scores)) and search.best_score == scores.max()
    assert search.best_params["factors"] in (2, 16) and "mean_precision" in search.results
    by_error = grid_search(ImplicitALS(iterations=2, random_state=0), synthetic("ml100k"),
                           [{"factors": [2]}, {"factors": [8]}], folds=2, metric="rmse")
    errors = by_error.results["mean_rmse"].to_numpy()
    assert by_error.best_index == int(np.argmin(errors)) and not np.isnan(by_error.results["std_rmse"]).any()
    with pytest.raises(ValueError, match=r"param_grid\['factors'\] is empty"):
        grid_search(ImplicitALS, (train, test), {"factors": []})


def test_grid_search_takes_cross_validates_argument_order(split):
    train, test = split
    for grid in ({"factors": [2]}, [{"factors": [2]}, {"factors": [4]}]):
        with pytest.raises(TypeError, match=r"grid_search: the arguments are \(make_model, data, param_grid\), in "
                                            r"cross_validate's order; 'data' got a parameter grid"):
            grid_search(ImplicitALS, grid, (train, test))
    keywords = grid_search(ImplicitALS, param_grid={"factors": [2], "iterations": [1]}, data=(train, test), refit=False)
    assert keywords.best_params == {"factors": 2, "iterations": 1}


def test_grid_search_refits_the_best_model(split):
    train, test = split
    grid = {"factors": [2, 8], "iterations": [2], "random_state": [0]}
    search = grid_search(ImplicitALS, (train, test), grid)
    best = search.best_model
    assert isinstance(best, ImplicitALS) and best.get_params(deep=False).items() >= search.best_params.items()
    assert (best.seen_ != train.matrix).nnz == 0 and search.refit_seconds > 0  # a pair: refit on its train part
    assert evaluate(best, train, test, 10, metrics=["ndcg"])["ndcg"] == search.best_score
    data = synthetic("ml100k")
    whole = grid_search(ImplicitALS(iterations=2, random_state=0), data, {"factors": [2, 4]}, folds=2)
    assert whole.best_model.seen_.shape == data.matrix.shape and whole.best_model.users_ == data.users
    assert whole.best_model.factors == whole.best_params["factors"]
    unfitted = grid_search(ImplicitALS, (train, test), grid, refit=False)
    assert unfitted.best_model is None and unfitted.refit_seconds is None
    assert unfitted.best_params == search.best_params
    folds = kfold(data, 2, seed=0)
    with pytest.raises(ValueError, match=r"grid_search: refit=True fits the best model on 'data', which is None"):
        grid_search(ImplicitALS, None, grid, folds=folds)
    given = grid_search(ImplicitALS, data, {"factors": [2], "iterations": [1]}, folds=folds)
    assert given.best_model.seen_.shape == data.matrix.shape
    with pytest.raises(TypeError, match=r"grid_search: 'refit' must be True or False"):
        grid_search(ImplicitALS, (train, test), grid, refit="yes")
    with pytest.raises(ValueError, match=r"ImplicitALS.set_params: 'factorz' is not a parameter"):
        grid_search(ImplicitALS(), (train, test), {"factorz": [2]})


def test_public_names():
    assert fastcf.evaluate is evaluate and fastcf.cross_validate is cross_validate and fastcf.grid_search is grid_search


# --- plots ---------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_are_saved_as_png(split, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'fastcf[plot]')")
    train, test = split
    models = {f"f={f}": ImplicitALS(factors=f, iterations=2, random_state=0).fit(train) for f in (4, 8)}
    curves = compare_at_k(models, train, test, ks=[1, 5, 10], metrics=["ndcg", "recall"])
    figure = plot_metric_at_k(curves, ["ndcg", "recall"], path=tmp_path / "curves.png", title="at k")
    assert len(figure.axes) == 2 and (tmp_path / "curves.png").read_bytes()[:8] == PNG
    callback = EvaluationCallback(train, test, 10, ["ndcg"])
    model = ImplicitALS(factors=4, iterations=3, random_state=0, callback=callback, track_loss=True).fit(train)
    plot_history(callback, path=tmp_path / "history")
    assert (tmp_path / "history.png").read_bytes()[:8] == PNG
    assert len(plot_history(model).axes) == 1  # loss_history_ alone
    with pytest.raises(ValueError, match=r"no column 'mrr'"):
        plot_metric_at_k(curves, "mrr")
    with pytest.raises(ValueError, match=r"saved as PNG"):
        plot_history(callback, path=tmp_path / "history.pdf")


def test_plots_say_how_to_get_matplotlib(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'fastcf\[plot\]'"):
        plot_history([{"iteration": 1, "ndcg": 0.1}])


def test_command_line_writes_the_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'fastcf[plot]')")
    from fastcf.evaluation.__main__ import main

    assert main(["curves", "--data", "ml100k", "--factors", "4", "8", "--iterations", "2", "--ks", "1", "10",
                 "--out", str(tmp_path / "c.png")]) == 0
    assert main(["history", "--data", "ml100k", "--factors", "4", "--iterations", "2", "--metric", "ndcg", "recall",
                 "--out", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG and (tmp_path / "h.png").read_bytes()[:8] == PNG
    assert "wrote" in capsys.readouterr().out
