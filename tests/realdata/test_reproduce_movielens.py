"""scripts/reproduce_ml20m.py on the real MovieLens 100K files in ../shared/data, as a subprocess started
outside the checkout (skipped, with the reason, where the files or scripts/ are absent)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reproduce_ml20m.py"
ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k"
pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason="scripts/ is not beside the tests (suite run against a wheel)"),
    pytest.mark.skipif(not (ML100K / "u.data").exists(), reason=f"MovieLens 100K not found at {ML100K}"),
]


def test_the_protocol_on_movielens_100k(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--movielens", str(ML100K), "--factors", "16", "--iterations", "3",
         "--threads", "2", "--tune"],
        cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # 943 users, 100,000 ratings; 55,361 of them >= 4 among the users with >= 5 such ratings.
    assert "938 users x 1,447 items, 55,361 interactions" in out
    assert "94 validation and 94 test users" in out
    assert "tune ease: regularization =" in out and "published (ML-20M only)" in out
    rows = {m.group(1): [float(v) for v in m.groups()[1:]]
            for m in re.finditer(r"^(EASE|iALS|Popularity)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s", out, re.M)}
    assert set(rows) == {"EASE", "iALS", "Popularity"}
    for name in ("EASE", "iALS"):
        assert rows[name][2] > rows["Popularity"][2] + 0.1, rows
        assert 0.3 < rows[name][0] < 0.6, rows
