"""setup.py: a compiler without OpenMP fails the build, saying how to opt out; an opted-out
build says so in show_versions().

The build test runs setup.py from a copy of the sources with CC pointing at a wrapper of the
real compiler that rejects OpenMP flags, as a clang without libomp would. The build stops at
the OpenMP probe, before any Cython runs, so it takes seconds. It needs the checkout (setup.py
is not installed) and a working C compiler; it skips where either is missing, e.g. when the
suite runs against an installed wheel with no compiler on PATH.
"""

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from fastcf import config

REPO = Path(__file__).resolve().parents[1]

REJECT_OPENMP = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    -fopenmp|-openmp|-Xpreprocessor|-lomp|-lgomp)
      echo "cc-without-openmp: error: unsupported option '$arg'" >&2; exit 1;;
  esac
done
exec "{compiler}" "$@"
"""


def real_compiler():
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path and subprocess.run([path, "--version"], capture_output=True).returncode == 0:
            return path
    return None


@pytest.mark.skipif(os.name != "posix", reason="the compiler wrapper is a shell script")
def test_build_without_openmp_fails_saying_how_to_opt_out(tmp_path):
    pytest.importorskip("setuptools")
    if not (REPO / "setup.py").is_file():
        pytest.skip(f"no setup.py beside the tests ({REPO}): they run outside the checkout")
    compiler = real_compiler()
    if compiler is None:
        pytest.skip("no working C compiler on PATH")
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy2(REPO / "setup.py", source / "setup.py")
    shutil.copytree(REPO / "fastcf", source / "fastcf", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    wrapper = tmp_path / "cc-without-openmp"
    wrapper.write_text(REJECT_OPENMP.format(compiler=compiler))
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("FASTCF_NO_OPENMP", "PYTHONPATH")}
    env.update(CC=str(wrapper), LDSHARED=f"{wrapper} -shared")
    # No pyproject.toml in the copy: setup.py alone, so any setuptools can run it.
    out = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=source, env=env,
        capture_output=True, text=True, timeout=300,
    )
    log = out.stdout + out.stderr
    assert out.returncode != 0, log
    assert "fastcf: this compiler cannot build OpenMP code" in log
    assert "unsupported option" in log  # the compiler's own reason is passed on
    assert "FASTCF_NO_OPENMP=1" in log
    assert not list(source.rglob("_cython*.c")) and not list((source / "fastcf").rglob("*.so")), (
        "the build went on to cythonize or compile after the OpenMP probe failed"
    )


def test_show_versions_says_when_a_twin_was_built_without_openmp():
    serial_build = types.SimpleNamespace(OPENMP_VERSION=0, openmp_max_threads=lambda: 1)
    text = config._describe_openmp(serial_build)
    assert "OpenMP OFF" in text and "FASTCF_NO_OPENMP" in text and "serially" in text
    parallel_build = types.SimpleNamespace(OPENMP_VERSION=201511, openmp_max_threads=lambda: 2)
    assert config._describe_openmp(parallel_build) == "OpenMP on, spec 201511, max threads 2"
