"""Every fastcf subcommand on the real MovieLens 100K files in ../shared/data (skipped where absent)."""

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from fastcf.cli import main

ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k"
pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not (ML100K / "u1.base").exists(), reason=f"MovieLens 100K not found at {ML100K}")]
ALS = ["--model", "als", "-p", "factors=32", "-p", "regularization=10.0", "-p", "alpha=0.5", "-q"]


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCF_DATA", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def als_u1(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "als.npz"
    assert main(["train", "--data", str(ML100K / "u1.base"), *ALS, "--out", str(out)]) == 0
    return out


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_demo_on_the_real_files(capsys):
    out = run(["demo", "--data", str(ML100K), "--users", "2"], capsys)
    assert f"implicit ALS on {ML100K}" in out and "100,000 rows read" in out
    rows = {line.split()[0]: float(line.split()[-3]) for line in out.splitlines()
            if line.strip().startswith(("ImplicitALS ", "most popular"))}
    assert rows["ImplicitALS"] > 0.11 and rows["ImplicitALS"] > 1.5 * rows["most"]  # NDCG@10, measured 0.13 vs 0.08
    assert "Toy Story (1995)" in out  # user 1's favourites, by title


def test_recommend_similar_and_evaluate_a_model_trained_on_u1(als_u1, capsys):
    records = json.loads(run(["recommend", "--model", str(als_u1), "--user", "196", "-k", "10", "--json"], capsys))
    assert len(records) == 10 and all(r["title"] for r in records)  # titles from the training folder
    similar = run(["similar", "--model", str(als_u1), "--item", "50", "-k", "5"], capsys)
    assert "Star Wars (1977)" in similar.splitlines()[0] and "Return of the Jedi (1983)" in similar
    out = run(["evaluate", "--model", str(als_u1), "--data", str(ML100K / "u1.test"), "--json"], capsys)
    metrics = {row["metric"]: row["value"] for row in json.loads(out.splitlines()[-1])}
    assert metrics["ndcg@10"] > 0.45 and metrics["precision@10"] > 0.4  # measured 0.54 and 0.49


@pytest.mark.parametrize("model, params, ceiling", [
    ("biased-mf", ["-p", "epochs=20"], 0.96), ("svdpp", ["-p", "epochs=10"], 0.97),
    ("explicit-als", [], 0.97), ("baseline", [], 0.97),
])
def test_rating_models_train_and_evaluate_on_u1(model, params, ceiling, tmp_path, capsys):
    out_path = tmp_path / f"{model}.npz"
    run(["train", "--data", str(ML100K / "u1.base"), "--model", model, *params, "--out", str(out_path), "-q"], capsys)
    out = run(["evaluate", "--model", str(out_path), "--data", str(ML100K / "u1.test"), "--json", "-q"], capsys)
    metrics = {row["metric"]: row["value"] for row in json.loads(out.splitlines()[-1])}
    assert metrics["rmse"] < ceiling, metrics


def test_download_from_a_mirror_of_the_real_files_then_demo(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = mirror / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(ML100K.iterdir()):
            zipped.write(path, f"ml-100k/{path.name}")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    out = run(["download", "movielens-100k", "--mirror", mirror.as_uri(), "--md5", md5], capsys)
    folder = Path(out.strip())
    assert folder == tmp_path / "cache" / "ml-100k" and (folder / "u.data").read_bytes() == (ML100K / "u.data").read_bytes()
    shutil.rmtree(mirror)
    # The demo now finds the verified download in the cache by itself.
    out = run(["demo", "--factors", "8", "--iterations", "3", "--users", "1"], capsys)
    assert f"implicit ALS on {folder}" in out
