"""The fastcf command line, run in-process through main([...]) on small synthetic files."""

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastcf
from fastcf.cli import MODELS, main
from fastcf.data import synthetic

SMALL = {"als": ["-p", "factors=4", "-p", "iterations=2"], "biased-mf": ["-p", "factors=4", "-p", "epochs=2"],
         "svdpp": ["-p", "factors=4", "-p", "epochs=2"], "explicit-als": ["-p", "factors=4", "-p", "iterations=2"],
         "baseline": [], "bpr": ["-p", "factors=4", "-p", "epochs=2"], "warp": ["-p", "factors=4", "-p", "epochs=2"],
         "hybrid": ["-p", "factors=4", "-p", "epochs=2"], "item-knn": ["-p", "k=5"], "user-knn": ["-p", "k=5"],
         "knn-baseline": ["-p", "k=5"], "ease": ["-p", "regularization=10.0"], "popularity": []}


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No test sees a MovieLens download cached on this machine."""
    monkeypatch.setenv("FASTCF_DATA", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=80, n_items=60, n_ratings=1_500, seed=2)


@pytest.fixture(scope="module")
def ratings_csv(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "ratings.csv"
    data.to_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(ratings_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "als.npz"
    assert main(["train", "--data", str(ratings_csv), "--model", "als", *SMALL["als"], "--out", str(out), "-q"]) == 0
    return out


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_teaches_with_examples(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "examples:" in out and "fastcf demo" in out and "fastcf recommend --model" in out
    for command in ("demo", "train", "recommend", "similar", "evaluate", "download"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0 and "examples:" in out, command
    code, out, _ = run(["train", "--help"], capsys)
    assert all(name in out for name in MODELS)
    assert run([], capsys)[0] == 0
    assert run(["--version"], capsys)[1].strip() == f"fastcf {fastcf.__version__}"


def test_python_dash_m_fastcf_help_in_a_subprocess():
    package_root = str(Path(fastcf.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=package_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "fastcf", "--help"], capture_output=True, text=True, env=env,
                          cwd=package_root, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: fastcf" in done.stdout and "demo" in done.stdout


def test_demo_on_the_synthetic_default(capsys):
    code, out, err = run(["demo"], capsys)
    assert code == 0, err
    assert "synthetic MovieLens-100K-shaped ratings" in out and "Cleaning report" in out
    table = {line.split()[0]: [float(v) for v in line.split()[-5:]] for line in out.splitlines()
             if line.strip().startswith(("ImplicitALS ", "most popular"))}
    ndcg = {name: values[2] for name, values in table.items()}
    assert ndcg["ImplicitALS"] > ndcg["most"] > 0, out  # the model beats popularity
    assert out.count("rank  item") == 3 and "The " in out  # three users' invented titles
    assert "favourite genre" in out


def fake_movielens_100k(folder: Path, data) -> Path:
    """A folder in the MovieLens 100K layout (u.data, u.item) holding ``data``."""
    folder.mkdir(parents=True)
    frame = data.to_frame()
    frame["timestamp"] = data.timestamps
    frame.to_csv(folder / "u.data", sep="\t", header=False, index=False, columns=["user", "item", "rating", "timestamp"])
    flags = "|".join(["0"] * 18 + ["1"])
    lines = [f"{item}|{data.item_info.loc[item, 'title']}|01-Jan-1995||http://x|{flags}" for item in data.items.raw_ids]
    (folder / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder


def test_demo_uses_a_cached_download_and_data_paths(data, tmp_path, capsys):
    cached = fake_movielens_100k(tmp_path / "cache" / "ml-100k", data)
    (cached / ".fastcf-verified").write_text("ml-100k.zip md5 test\n")
    small = ["--factors", "4", "--iterations", "2", "--users", "1", "-k", "5"]
    code, out, err = run(["demo", *small], capsys)
    assert code == 0, err
    assert f"implicit ALS on {cached}" in out and "Western" in out
    code, out, _ = run(["demo", "--data", "synthetic", *small], capsys)
    assert code == 0 and "synthetic" in out
    code, _, err = run(["demo", "--data", str(tmp_path / "absent"), *small], capsys)
    assert code == 2 and "--data" in err and "no such file or folder" in err


@pytest.mark.parametrize("name", list(MODELS))
def test_train_recommend_similar_evaluate_every_model(name, data, ratings_csv, tmp_path, capsys):
    out_path = tmp_path / f"{name}.npz"
    code, out, err = run(["train", "--data", str(ratings_csv), "--model", name, *SMALL[name], "--out", str(out_path)],
                         capsys)
    assert code == 0, err
    assert f"saved {out_path}" in out and "Cleaning report" in err  # the report is logged at INFO
    model = fastcf.load(out_path)
    assert type(model).__name__ == MODELS[name][0] and model.n_users == data.n_users

    user = int(data.users.raw_ids[3])
    code, out, err = run(["recommend", "--model", str(out_path), "--user", str(user), "-k", "4", "--json"], capsys)
    assert code == 0, err
    records = json.loads(out)
    assert [r["item"] for r in records] == model.recommend(user, 4)[0].tolist()

    code, out, err = run(["similar", "--model", str(out_path), "--item", "5", "-k", "3"], capsys)
    if hasattr(model, "similar_items"):
        assert code == 0 and out.startswith("items like 5") and len(out.strip().splitlines()) == 5, err
    else:
        assert code == 2 and "has no item similarity" in err

    code, out, err = run(["evaluate", "--model", str(out_path), "--data", str(ratings_csv), "-k", "5"], capsys)
    assert code == 0, err
    assert "1,500 of 1,500 test ratings" in out and "also in the model's training data" in out
    assert ("rmse" in out) == hasattr(model, "rating_scale_")  # rating models only


def test_recommend_prints_titles_of_the_training_data(data, tmp_path, capsys):
    folder = fake_movielens_100k(tmp_path / "ml", data)
    model_path = tmp_path / "m.npz"
    assert main(["train", "--data", str(folder), *SMALL["als"], "--out", str(model_path), "-q"]) == 0
    capsys.readouterr()
    code, out, _ = run(["recommend", "--model", str(model_path), "--user", "1", "--user", "2", "-k", "3"], capsys)
    assert code == 0 and "user 1" in out and "user 2" in out and "title" in out and "The " in out
    code, out, _ = run(["recommend", "--model", str(model_path), "--user", "1", "--include-seen", "--mmap"], capsys)
    seen = set(data.items.raw_ids[data.matrix[0].indices].tolist())
    assert code == 0 and seen & {int(line.split()[1]) for line in out.splitlines()[1:]}


def test_csv_options_and_formats(data, tmp_path, capsys):
    frame = data.to_frame().rename(columns={"user": "uid", "item": "iid"})[["uid", "iid"]]
    clicks = tmp_path / "clicks.tsv"
    frame.to_csv(clicks, sep="\t", index=False)
    model_path = tmp_path / "c.npz"
    code, out, err = run(["train", "--data", str(clicks), "--user-col", "uid", "--item-col", "iid", "--rating-col",
                          "none", *SMALL["als"], "--out", str(model_path)], capsys)
    assert code == 0, err
    assert np.all(fastcf.load(model_path).seen_.data == 1)


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--data", "absent.csv", "--out", "m.npz"], "--data absent.csv: no such file or folder"),
    (["train", "--data", "{csv}", "--model", "nope", "--out", "m.npz"], "--model nope: unknown model"),
    (["train", "--data", "{csv}", "-p", "factor=3", "--out", "m.npz"], "--param factor: ImplicitALS has no such"),
    (["train", "--data", "{csv}", "-p", "factors", "--out", "m.npz"], "expected NAME=VALUE"),
    (["train", "--data", "{csv}", "-p", "factors=0", "--out", "m.npz"], "'factors' must be an int >= 1; got 0"),
    (["train", "--data", "{csv}", "--user-col", "who", "--out", "m.npz"], "who"),
    (["train", "--data", "{csv}"], "the following arguments are required: --out"),
    (["train", "--data", "{dir}", "--format", "csv", "--out", "m.npz"], "is a folder; --format csv reads a file"),
    (["trian"], "invalid choice: 'trian'"),
    (["recommend", "--model", "absent.npz", "--user", "1"], "absent.npz: no such model file"),
    (["recommend", "--model", "{csv}", "--user", "1"], "not a readable fastcf model file"),
    (["recommend", "--model", "{model}", "--user", "99999"], "--user 99999: unknown user id(s) [99999]"),
    (["recommend", "--model", "{model}", "--user", "abc"], "--user abc: the model's user IDs are integers"),
    (["recommend", "--model", "{model}", "--user", "1", "-k", "0"], "'k' must be an int >= 1"),
    (["similar", "--model", "{model}", "--item", "99999"], "--item 99999: unknown item id(s)"),
    (["evaluate", "--model", "{model}", "--data", "{csv}", "--metrics", "nope"], "unknown metric 'nope'"),
    (["download", "movielens-7m"], "download movielens-7m: unknown release"),
    (["demo", "--threads", "0"], "--threads 0: expected an int >= 1"),
])
def test_user_errors_are_one_line_with_exit_code_2(argv, fragment, ratings_csv, trained, tmp_path, capsys):
    argv = [a.format(csv=ratings_csv, model=trained, dir=tmp_path) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if "error" in line]
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("fastcf"), err
    assert err.strip().splitlines()[-1] == lines[0]
    assert "Traceback" not in err


def test_download_verifies_and_caches(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("ml-latest-small/ratings.csv", "userId,movieId,rating,timestamp\n1,10,4.0,5\n2,10,3.5,6\n")
        zipped.writestr("ml-latest-small/movies.csv", "movieId,title,genres\n10,Film (1999),Drama\n")
    (mirror / "ml-latest-small.zip").write_bytes(buffer.getvalue())
    digest = hashlib.md5(buffer.getvalue()).hexdigest()
    (mirror / "ml-latest-small.zip.md5").write_text(f"MD5 (ml-latest-small.zip) = {digest}\n")
    argv = ["download", "latest-small", "--dest", str(tmp_path / "cache"), "--mirror", mirror.as_uri()]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    folder = Path(out.strip())
    assert folder == tmp_path / "cache" / "ml-latest-small" and (folder / "ratings.csv").exists()
    (mirror / "ml-latest-small.zip").unlink()  # a verified copy is reused without the mirror
    assert run(argv, capsys)[0] == 0
    (mirror / "ml-latest-small.zip.md5").write_text("MD5 (ml-latest-small.zip) = " + "0" * 32 + "\n")
    (mirror / "ml-latest-small.zip").write_bytes(buffer.getvalue())
    code, _, err = run([*argv, "--force"], capsys)
    assert code == 2 and "checksum mismatch" in err and len(err.strip().splitlines()) == 1


# --- issue 20: no tracebacks, option names, booleans, synthetic data, split ---------------------

@pytest.mark.parametrize("value", ["factors=abc", "factors=2.5", "factors=None", "factors=[1,2]", "n_threads=1.5",
                                   "cg_steps=True"])
def test_bad_parameter_types_are_one_line_and_exit_2(value, capsys):
    code, out, err = run(["train", "--data", "synthetic", "-p", value, "--out", "m.npz", "-q"], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("fastcf train: error: ImplicitALS: '") and value.split("=")[0] in err


@pytest.mark.parametrize("text, expected", [("true", True), ("Yes", True), ("1", True), ("false", False),
                                            ("no", False), ("0", False)])
def test_boolean_parameters_take_words_and_digits(text, expected):
    from fastcf.cli import parse_params
    from fastcf.models import ItemKNN

    assert parse_params([f"binarize={text}"], ItemKNN) == {"binarize": expected}


def test_a_boolean_parameter_refuses_other_words_and_help_says_so(capsys):
    code, _, err = run(["train", "--data", "synthetic", "--model", "item-knn", "-p", "binarize=maybe",
                        "--out", "m.npz"], capsys)
    assert code == 2 and "-p binarize=maybe: binarize is yes/no; give true/false, yes/no or 1/0" in err
    assert main(["train", "--help"]) == 0
    assert "true/false, yes/no or 1/0" in " ".join(capsys.readouterr().out.split())


def test_messages_name_command_line_options(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n196,242,3,881250949\n186,302,3,891717742\n")
    code, _, err = run(["train", "--data", str(path), "--out", str(tmp_path / "m.npz")], capsys)
    assert code == 2 and "r.csv:2: malformed line" in err and "Pass --on-bad-row skip" in err
    assert "on_bad_row" not in err
    from fastcf.cli import command_line_words

    assert command_line_words("pass md5=... to verify") == "pass --md5 HEX to verify"
    path.write_text("user,item,rating\n1,2,3\n1,2,4\n")
    code, _, err = run(["train", "--data", str(path), "--duplicates", "error", "--out", str(tmp_path / "m.npz")],
                       capsys)
    assert code == 2 and "Choose a policy: --duplicates last, first, mean, sum or max." in err, err


def test_a_closed_pipe_ends_quietly(trained, tmp_path):
    script = (f"fastcf_args=['recommend', '--model', {str(trained)!r}] + sum((['--user', str(u)] for u in range(1, 60)), [])\n"
              "import sys\nfrom fastcf.cli import main\nsys.exit(main(fastcf_args))\n")
    shell = subprocess.run(f"{sys.executable} -c \"$SCRIPT\" | head -2", shell=True, capture_output=True, text=True,
                           env={**os.environ, "SCRIPT": script}, timeout=120, cwd=tmp_path)
    assert len(shell.stdout.splitlines()) == 2
    assert "Broken pipe" not in shell.stderr and "Traceback" not in shell.stderr, shell.stderr


def test_synthetic_data_everywhere_and_the_split_command(tmp_path, capsys):
    train, test, model = tmp_path / "train.csv", tmp_path / "test.csv", tmp_path / "m.npz"
    code, out, _ = run(["split", "--data", "synthetic:ml100k", "--train", str(train), "--test", str(test)], capsys)
    assert code == 0 and "train" in out
    train_frame, test_frame = (fastcf.data.read_ratings(p, timestamp_col="timestamp").to_frame() for p in (train, test))
    assert len(train_frame) + len(test_frame) == 100_000
    assert (test_frame.groupby("user").size() <= 5).all()
    assert not set(map(tuple, train_frame[["user", "item"]].values)) & set(map(tuple, test_frame[["user", "item"]].values))
    assert run(["train", "--data", str(train), *SMALL["als"], "--out", str(model), "-q"], capsys)[0] == 0
    code, out, err = run(["evaluate", "--model", str(model), "--data", str(test)], capsys)
    assert code == 0 and "ndcg@10" in out, err
    code, _, err = run(["split", "--data", "synthetic:ml5", "--train", "a.csv", "--test", "b.csv"], capsys)
    assert code == 2 and "unknown synthetic preset 'ml5'" in err


def test_evaluate_refuses_data_sharing_no_users(trained, tmp_path, capsys):
    path = tmp_path / "other.csv"
    path.write_text("user,item,rating\n99999,1,3\n99998,2,4\n")
    code, out, err = run(["evaluate", "--model", str(trained), "--data", str(path)], capsys)
    assert code == 2 and out == ""
    assert "none of its 2 users is among the model's 80 users" in err


def test_help_into_a_closed_pipe_ends_quietly():
    shell = subprocess.run(f"{sys.executable} -m fastcf train --help | head -1", shell=True, capture_output=True,
                           text=True, timeout=120, cwd="/")
    assert shell.stdout.startswith("usage: fastcf train")
    assert "Broken pipe" not in shell.stderr and "Traceback" not in shell.stderr, shell.stderr


def test_an_unexpected_error_is_one_line_with_exit_1(monkeypatch, capsys):
    import fastcf.cli as cli

    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "cmd_split", broken)
    code, _, err = run(["split", "--data", "synthetic", "--train", "a.csv", "--test", "b.csv"], capsys)
    assert code == 1 and err.strip() == ("fastcf split: internal error: RuntimeError: boom | second line (a bug; run "
                                         "with -v for the traceback and please report it)")


@pytest.mark.parametrize("argv, fragment", [
    (["split", "--data", "synthetic", "--train", "{tmp}/no/a.csv", "--test", "{tmp}/b.csv"],
     "--train {tmp}/no/a.csv: the folder '{tmp}/no' does not exist"),
    (["split", "--data", "synthetic", "--train", "{tmp}", "--test", "{tmp}/b.csv"], "--train {tmp}: is a folder"),
    (["train", "--data", "synthetic", "--out", "{tmp}/no/m.npz"], "--out {tmp}/no/m.npz: the folder"),
    (["split", "--data", "synthetic", "-k", "0", "--train", "{tmp}/a.csv", "--test", "{tmp}/b.csv"], "-k 0: expected"),
    (["split", "--data", "synthetic", "--test-fraction", "1.5", "--train", "{tmp}/a.csv", "--test", "{tmp}/b.csv"],
     "--test-fraction 1.5: expected a number in (0, 1)"),
])
def test_split_and_train_outputs_are_checked_first(argv, fragment, tmp_path, capsys):
    code, _, err = run([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and fragment.format(tmp=tmp_path) in err and len(err.strip().splitlines()) == 1, err
