"""Progress bars and log lines of fits: one mechanism for every model, silenceable both ways."""

import io
import logging
import time

import pytest

import fastcf
from fastcf.data import synthetic
from fastcf.models import BaselineOnly, BiasedMF, ExplicitALS, ImplicitALS, SVDpp
from fastcf.progress import FitProgress

MODELS = {
    "ImplicitALS": (lambda **kw: ImplicitALS(factors=4, iterations=3, track_loss=True, **kw), "iteration", "loss"),
    "BiasedMF": (lambda **kw: BiasedMF(factors=4, epochs=3, **kw), "epoch", "rmse"),
    "SVDpp": (lambda **kw: SVDpp(factors=4, epochs=3, **kw), "epoch", "rmse"),
    "ExplicitALS": (lambda **kw: ExplicitALS(factors=4, iterations=3, **kw), "iteration", "rmse"),
}


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=50, n_items=40, n_ratings=600, seed=4)


@pytest.fixture(autouse=True)
def restore_switch():
    before = fastcf.get_progress()
    yield
    fastcf.set_progress(before)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_logs_its_iterations(name, data, caplog):
    make, unit, metric = MODELS[name]
    with caplog.at_level(logging.DEBUG, logger="fastcf"):
        make(show_progress=False).fit(data)
    steps = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and f"{name}: {unit}" in r.getMessage()]
    assert [s.split()[2].rstrip(",") for s in steps] == ["1/3", "2/3", "3/3"] and all(metric in s for s in steps)
    done = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(done) == 1 and done[0].startswith(f"{name}: fitted in") and f"(3 {unit}s, {metric} " in done[0]
    caplog.clear()
    logging.getLogger("fastcf").setLevel(logging.WARNING)  # the logging level silences them
    try:
        with caplog.at_level(logging.WARNING, logger="fastcf"):
            make(show_progress=False).fit(data)
        assert not caplog.records
    finally:
        logging.getLogger("fastcf").setLevel(logging.NOTSET)


def test_baseline_logs_its_fit(data, caplog):
    with caplog.at_level(logging.INFO, logger="fastcf"):
        BaselineOnly(epochs=2).fit(data)
    assert "BaselineOnly: fitted in" in caplog.text and "(2 epochs)" in caplog.text


@pytest.mark.parametrize("name", list(MODELS))
def test_show_progress_true_draws_a_bar_and_false_or_the_switch_silence_it(name, data, capsys):
    make, unit, metric = MODELS[name]
    make(show_progress=True).fit(data)
    err = capsys.readouterr().err
    assert f"{name}:" in err and "3/3" in err and f"{unit}" in err and f"{metric}=" in err
    make(show_progress=False).fit(data)
    fastcf.set_progress(False)
    make().fit(data)  # None follows the switch
    assert capsys.readouterr().err == ""
    fastcf.set_progress(True)
    make().fit(data)
    assert "3/3" in capsys.readouterr().err


def test_auto_shows_a_bar_only_on_a_terminal_and_after_a_second(monkeypatch):
    fastcf.set_progress(None)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with FitProgress("Piped", 2, "step") as progress:
        progress.update()
        time.sleep(1.1)
        progress.update()
    assert progress.bar is None and __import__("sys").stderr.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with FitProgress("Quick", 2, "step") as progress:
        progress.update()
        progress.update()
    assert terminal.getvalue() == ""  # over before the delay
    with FitProgress("Slow", 2, "step") as progress:
        progress.update()
        time.sleep(1.1)
        progress.update()
    assert "Slow" in terminal.getvalue()


def test_bad_settings_are_refused(monkeypatch):
    with pytest.raises(TypeError, match="'show' must be True, False or None"):
        fastcf.set_progress("yes")
    with pytest.raises(TypeError, match="ImplicitALS: 'show_progress' must be True, False or None; got 1"):
        ImplicitALS(show_progress=1, iterations=1).fit(synthetic(n_users=10, n_items=10, n_ratings=40))
    monkeypatch.setenv("FASTCF_PROGRESS", "sometimes")
    from fastcf.progress import _from_environment

    with pytest.raises(ValueError, match="FASTCF_PROGRESS must be 0, 1 or auto; got 'sometimes'"):
        _from_environment()
    monkeypatch.setenv("FASTCF_PROGRESS", "0")
    assert _from_environment() is False


def test_cli_quiet_and_verbose(tmp_path, capsys):
    from fastcf.cli import main

    csv = tmp_path / "r.csv"
    synthetic(n_users=30, n_items=20, n_ratings=300, seed=1).to_frame().to_csv(csv, index=False)
    args = ["train", "--data", str(csv), "-p", "factors=4", "-p", "iterations=2", "--out", str(tmp_path / "m.npz")]
    assert main([*args, "-v"]) == 0
    err = capsys.readouterr().err
    assert "ImplicitALS: iteration 2/2" in err and "ImplicitALS: fitted in" in err
    assert main([*args, "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert fastcf.load(tmp_path / "m.npz").show_progress is None  # the command's display is not saved
