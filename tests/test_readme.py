"""Every code block of README.md runs: Python blocks are executed, shell commands are checked or run.

Python blocks run in order in one namespace, in a scratch folder. Downloads never touch the
network: ``download_movielens`` gives the MovieLens folder in ../shared/data where it is
present, and ``read_movielens`` of a folder that does not exist gives the synthetic data of
that release's shape instead (so the blocks read real MovieLens where the files are here).

Shell blocks: each command must be one this test knows how to check; ``fastcf`` commands
are parsed by the real parser, ``fastcf demo`` and ``--help`` are run (the demo with small
settings), and the others run when the data they name is present.
"""

import os
import re
import shlex
import sys
from pathlib import Path

import pytest

import fastcf
import fastcf.data
import fastcf.data.movielens
from fastcf.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHARED = REPO.parent / "shared" / "data"
FOLDERS = {"ml-100k": "ml-100k", "ml-1m": "ml-1m"}
PRESETS = {"ml-100k": "ml100k", "ml-1m": "ml1m"}
DEMO_SMALL = ["--factors", "8", "--iterations", "3", "--users", "1"]

if not README.is_file():  # e.g. the suite run against an installed wheel, from a copy of tests/
    pytest.skip(f"no README.md beside the tests ({REPO}): they run outside the checkout", allow_module_level=True)


def blocks(language):
    text = README.read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(rf"^```{language}\n(.*?)^```", text, re.S | re.M)]


def test_readme_has_the_two_commands():
    shell = blocks("bash")
    assert shell[0].strip() == "pip install . && fastcf demo"
    marker = README.read_text().split("<!-- test-command", 1)[1]
    assert re.search(r"```bash\n(.*?)\n```", marker, re.S).group(1) == 'pip install ".[test]" && pytest'


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASTCF_DATA", str(tmp_path / "cache"))
    real_read = fastcf.data.movielens.read_movielens

    def download(name, dest=None, **kwargs):
        return SHARED / FOLDERS.get(name, name)

    def read(path, **kwargs):
        path = Path(path)
        if path.exists():
            return real_read(path, **kwargs)
        preset = PRESETS.get(path.name)
        assert preset, f"README reads {path}, which is neither present nor a release with a synthetic stand-in"
        return fastcf.data.synthetic(preset)

    for module in (fastcf.data, fastcf.data.download):
        monkeypatch.setattr(module, "download_movielens", download)
    for module in (fastcf, fastcf.data, fastcf.data.movielens):
        monkeypatch.setattr(module, "read_movielens", read)
    return tmp_path


def test_python_blocks_run(offline, capsys):
    code = blocks("python")
    assert code, "README has no Python block"
    namespace = {"__name__": "__readme__"}
    for number, block in enumerate(code, start=1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Evaluation(precision@10=" in out
    assert "title" not in out and "[" in out  # the list of titles was printed
    assert isinstance(namespace["served"].item_factors_, __import__("numpy").memmap)


def shell_commands():
    for block in blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            command = []
            for word in words + ["&&"]:
                if word in ("&&", ";"):
                    if command:
                        yield line, command
                    command = []
                else:
                    command.append(word)


@pytest.mark.parametrize("line, command", list(shell_commands()), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_shell_commands_exist_and_work(line, command, offline, capsys):
    program, args = command[0], command[1:]
    if program == "pip":
        assert args[0] == "install" and len(args) == 2, line
        target = re.fullmatch(r"\.(?:\[(\w+)\])?", args[1])
        assert target, f"pip installs {args[1]}; the README installs the checkout"
        pyproject = (REPO / "pyproject.toml").read_text()
        assert 'fastcf = "fastcf.cli:main"' in pyproject  # the console script that `fastcf ...` runs
        if target.group(1):
            assert re.search(rf"^{target.group(1)} = \[", pyproject, re.M), f"no extra [{target.group(1)}]"
    elif program == "pytest":
        pytest.importorskip("pytest")
        assert all((REPO / a).exists() for a in args if not a.startswith("-")), line
    elif program == "python":
        if args[0] == "-c":
            exec(args[1], {})
        else:
            assert (REPO / args[0]).is_file(), line
    elif program == "fastcf":
        argv = [os.path.expanduser(a) for a in args]
        if argv and argv[0] != "--help":
            build_parser().parse_args(argv)  # the command and its arguments exist
        if argv and argv[0] == "demo":
            argv += DEMO_SMALL
        elif argv and argv[0] == "download":
            return  # the network; `fastcf download` itself is tested in tests/test_cli.py
        elif argv and argv[0] == "train":
            if not (SHARED / "ml-100k").exists():
                pytest.skip("the README trains on MovieLens 100K, absent here")
            cache = os.path.expanduser("~/.cache/fastcf/ml-100k")
            argv = [str(SHARED / "ml-100k") if a == cache else a for a in argv]
        elif argv and argv[0] in ("recommend", "similar") and not Path(argv[argv.index("--model") + 1]).exists():
            model = argv[argv.index("--model") + 1]
            if not (SHARED / "ml-100k").exists():
                pytest.skip("the README's model is trained on MovieLens 100K, absent here")
            assert main(["train", "--data", str(SHARED / "ml-100k"), "-p", "factors=8", "--out", model, "-q"]) == 0
        code = main(argv)
        out = capsys.readouterr().out
        assert code == 0, line
        if argv and argv[0] == "demo":
            assert "most popular" in out and "rank  item" in out
    elif program == "cd":
        assert (REPO / args[0]).is_dir(), line
    elif program == "asv":
        assert (REPO / "benchmarks" / "asv.conf.json").is_file(), line
    else:
        pytest.fail(f"README names the command {program!r} ({line!r}); teach tests/test_readme.py to check it")
