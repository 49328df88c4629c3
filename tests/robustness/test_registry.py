"""Every public callable against every malformed input of the shared catalogue, in subprocesses.

The registry (callable_registry.py) says how to call each public callable and which catalogue
(malformed.py) each argument gets. One child process per group of entries runs all the
group's cases and writes one JSON line per case; when a case kills the child (signal, abort,
non-zero exit, or no progress for ``_HANG_SECONDS``) the parent records that case as a death
and starts a fresh child at the next case. Kernel groups run under every twin that imports;
the others under the parent's FASTCF_BACKEND. At most two children run at once.

A failure is a death, an exception outside TypeError/ValueError (and their subclasses
DataError, ModelFileError, NotFittedError; KeyError for an unknown ID), a message naming
neither the callable nor the argument, a malformed input accepted, a silent NaN/inf, or a
valid-but-unusual input (read-only, strided, int64) giving another result than the plain one.

Known failures, while the validation layer is being built, are listed in
``known_failures.txt`` (one ``callable::case`` a line). The list is strict: an unlisted
failure fails the test, and so does a listed case that now passes (remove its line), so the
list only shrinks. ``FASTCF_REGISTRY_UPDATE=1`` rewrites the list from the current run;
``FASTCF_REGISTRY_REPORT=path`` writes every failure with its outcome, grouped by callable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHILD = HERE / "registry_child.py"
KNOWN = HERE / "known_failures.txt"
_HANG_SECONDS = 8  # a tiny case takes milliseconds; one still running after this is stuck
_FIRST_CALL_SECONDS = 120  # an entry's valid call may compile Numba twins on a loaded machine
# A case that outlives _HANG_SECONDS runs once more, alone in a fresh child, with this long: a new
# argument type (read-only, int64) makes Numba compile again, which on a cold cache or a loaded
# machine can take longer than a stuck case would. Only a case stuck twice is called a hang.
_RETRY_SECONDS = 90
_PARALLEL = 2


def _child_env(backend=None, subset=False):
    env = dict(os.environ)
    env.pop("REGISTRY_TWIN_SUBSET", None)
    if subset:
        env["REGISTRY_TWIN_SUBSET"] = "1"
    # Tiny data: one BLAS thread and two kernel threads are plenty, and the machine is shared.
    env.update(OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="2",
               PYTHONFAULTHANDLER="1")
    if backend is not None:
        env["FASTCF_BACKEND"] = backend
    return env


@pytest.fixture(scope="module")
def listing():
    done = subprocess.run([sys.executable, str(CHILD), "list"], capture_output=True, text=True, env=_child_env(),
                          timeout=300, cwd=HERE)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_public_callable_has_an_entry_or_a_reason(listing):
    assert not listing["missing"], (
        "public callables with neither an entry in callable_registry.entries() nor a reason in EXCLUDED: "
        f"{listing['missing']}")
    assert not listing["stale"], f"registry entries or exclusions naming nothing public: {listing['stale']}"


def _last_is_slow(out):
    with open(out, "rb") as f:
        lines = f.read().splitlines()
    return bool(lines) and b'"slow": true' in lines[-1]


def _last_started(out):
    """The index of the case the child last started, or None."""
    with open(out, "rb") as f:
        lines = f.read().splitlines()
    for line in reversed(lines):
        record = json.loads(line)
        if record.get("start"):
            return record["i"]
    return None


def _run_group(group, backend, n_cases, subset=False):
    """{case key: (verdict or None, outcome)} for every case of the group, restarting after deaths."""
    results, start, retried = {}, 0, set()
    label = lambda name: f"{name}[{backend}]" if backend and group == "fastcf.kernels" else name
    with tempfile.TemporaryDirectory() as tmp:
        while True:
            out = Path(tmp) / f"run{start}.jsonl"
            out.touch()
            child = subprocess.Popen([sys.executable, str(CHILD), "run", group, str(start), str(out)],
                                     env=_child_env(backend, subset), cwd=HERE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
            last_size, last_change = 0, time.monotonic()
            patience = _RETRY_SECONDS if start in retried else _HANG_SECONDS
            while child.poll() is None:
                time.sleep(0.05)
                size = out.stat().st_size
                if size != last_size:
                    last_size, last_change = size, time.monotonic()
                    if size and start in retried and _last_started(out) != start:
                        patience = _HANG_SECONDS  # the retried case is done: back to the usual watch
                elif time.monotonic() - last_change > (_FIRST_CALL_SECONDS if _last_is_slow(out) else patience):
                    child.kill()
                    child.wait()
                    break
            stderr = child.stderr.read()
            started = None
            for line in out.read_text().splitlines():
                record = json.loads(line)
                key = f"{label(record['callable'])}::{record['case']}"
                if record.get("start"):
                    started = (record["i"], key)
                else:
                    results[key] = (record["verdict"], record["outcome"])
                    started = None
            if started is None:
                if child.returncode not in (0, None):
                    # Died between cases (at import or on the way out): report it against the group.
                    results[f"{group}[{backend}]::child process"] = (f"exit {child.returncode}", stderr[-800:])
                break
            i, key = started
            if child.returncode == -9 and i not in retried:
                retried.add(i)  # killed as stuck: once more, patiently, before calling it a hang
                start = i
                continue
            how = "hung" if child.returncode == -9 else f"process died (exit {child.returncode})"
            fatal = stderr.find("Fatal Python error")
            results[key] = (how, stderr[fatal:fatal + 800] if fatal >= 0 else stderr[-800:])
            start = i + 1
    return results


@pytest.fixture(scope="module")
def outcomes(listing):
    backend = os.environ.get("FASTCF_BACKEND")
    jobs = []
    for group, info in listing["groups"].items():
        if info["twins"]:
            # The whole catalogue under the default twin, the index cases under the others.
            default = backend or listing["twins"][0]
            jobs.extend((group, twin, info["n_cases"], twin != default) for twin in listing["twins"])
        else:
            jobs.append((group, backend, info["n_cases"], False))
    # The longest groups first, so that two children stay busy until the end.
    jobs.sort(key=lambda job: -job[2])
    results = {}
    with ThreadPoolExecutor(_PARALLEL) as pool:
        for part in pool.map(lambda job: _run_group(*job), jobs):
            results.update(part)
    return results


def _known():
    if not KNOWN.exists():
        return set()
    return {line.strip() for line in KNOWN.read_text().splitlines() if line.strip() and not line.startswith("#")}


def _write_report(path, failures):
    by_callable = {}
    for key, (verdict, outcome) in sorted(failures.items()):
        name, case = key.split("::", 1)
        by_callable.setdefault(name, []).append(f"  {case}: {verdict} -- {json.dumps(outcome, default=str)[:300]}")
    lines = [f"{len(failures)} failures in {len(by_callable)} callables"]
    for name, rows in by_callable.items():
        lines += ["", f"{name} ({len(rows)})"] + rows
    Path(path).write_text("\n".join(lines) + "\n")


def test_every_malformed_input_is_refused_by_name_or_answered_correctly(outcomes, listing):
    failures = {key: value for key, value in outcomes.items() if value[0] is not None}
    if os.environ.get("FASTCF_REGISTRY_REPORT"):
        _write_report(os.environ["FASTCF_REGISTRY_REPORT"], failures)
    if os.environ.get("FASTCF_REGISTRY_UPDATE"):
        KNOWN.write_text("# callable::case of every known failure of test_registry.py (strict: see its docstring)\n"
                         + "".join(f"{key}\n" for key in sorted(failures)))
    known = _known()
    deaths = sorted(k for k, (v, _) in failures.items() if v.startswith(("process died", "hung", "exit")))
    new = sorted(set(failures) - known)
    fixed = sorted(k for k in known - set(failures) if k in outcomes)
    message = []
    if new:
        message.append(f"{len(new)} new failures (not in {KNOWN.name}):\n" + "\n".join(
            f"  {k}: {failures[k][0]} -- {str(failures[k][1])[:200]}" for k in new[:60]))
    if fixed:
        message.append(f"{len(fixed)} cases listed in {KNOWN.name} now pass; remove their lines:\n"
                       + "\n".join(f"  {k}" for k in fixed[:60]))
    assert not message, "\n".join(message) + (f"\n({len(deaths)} process deaths in all)" if deaths else "")
