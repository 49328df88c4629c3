"""scripts/reproduce_ml20m.py end to end on a small synthetic set, run as a user runs it: a subprocess
started outside the checkout (CI copies the tests elsewhere; the test skips where scripts/ is absent).
Its ML-100K run is in tests/realdata/test_reproduce_movielens.py."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reproduce_ml20m.py"
if not SCRIPT.exists():
    pytest.skip("scripts/ is not beside the tests (suite run against an installed wheel)", allow_module_level=True)

ROW = re.compile(r"^(EASE|iALS|Popularity)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s", re.M)


def run_script(args, cwd):
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="2"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def table(out):
    """{model: (Recall@20, Recall@50, NDCG@100)} from the printed table."""
    return {m.group(1): tuple(float(v) for v in m.groups()[1:]) for m in ROW.finditer(out)}


def test_synthetic_run_prints_every_model_with_plausible_values(tmp_path):
    out = run_script(["--synthetic", "--scale", "0.004", "--factors", "8", "--iterations", "2", "--threads", "2"],
                     tmp_path)
    assert "synthetic ML-20M shape x 0.004" in out and "Test users (strong generalization)" in out
    rows = table(out)
    assert set(rows) == {"EASE", "iALS", "Popularity"}
    for name, values in rows.items():
        assert all(0.0 <= v <= 1.0 for v in values), (name, values)
    # Any personalised model beats popularity on the planted structure.
    assert rows["EASE"][2] > rows["Popularity"][2]
    assert re.search(r"^EASE: fit [0-9.]+ s, fold-in and evaluation of \d+ test users [0-9.]+ s$", out, re.M)


def test_without_the_data_it_says_where_it_looked(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.startswith("reproduce_ml20m: ") and "nowhere" in done.stderr and "Traceback" not in done.stderr


def test_bad_options_are_refused(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--synthetic", "--models", "ease,vae"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--models: unknown ['vae']" in done.stderr
