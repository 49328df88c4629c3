"""Numba's on-disk cache works from a read-only install, and compile times are reported.

The installed package is copied to a temporary folder and made read-only (chmod; as root,
where chmod does not stop writes, a read-only bind mount in a private mount namespace). A
fresh interpreter then runs a Numba twin twice: the first run compiles and saves, the second
must load from the cache and compile nothing.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import fastcf
from fastcf.kernels import _numba_cache

pytestmark = pytest.mark.skipif(os.name != "posix", reason="read-only folders are simulated with POSIX permissions")

# Runs in the child: the Numba top-k twin through the public API, then reports where its
# cache lives and how often it was hit. First, a direct import that bypasses fastcf's fallback
# shows what Numba alone would do.
CHILD = r"""
import importlib, json, sys
direct = "ok"
try:
    importlib.import_module("fastcf.kernels.topk._numba")
except RuntimeError as exc:
    direct = str(exc)
sys.modules.pop("fastcf.kernels.topk._numba", None)
import numpy as np
import fastcf
from fastcf.kernels import _backend, select_topk
top_items, _ = select_topk(np.arange(12.0).reshape(3, 4), 2, backend="numba", n_threads=1)
dispatcher = _backend.load_twin("topk", "numba")[0]._select_topk
stats = dispatcher.stats
print(json.dumps({
    "fastcf": fastcf.__file__, "direct_import": direct, "top": top_items.tolist(),
    "cache_path": stats.cache_path, "hits": sum(stats.cache_hits.values()),
    "misses": sum(stats.cache_misses.values()),
}))
"""


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(folder: Path) -> bool:
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def read_only_prefix(folders: list) -> list:
    """A command prefix under which ``folders`` cannot be written, or [] if chmod already does it."""
    if not any(writable(folder) for folder in folders):
        return []
    # Root ignores permission bits: remount the folders read-only in a private mount namespace.
    if shutil.which("unshare") is None:
        pytest.skip("running as root and `unshare` is missing: cannot make a folder read-only")
    mounts = " && ".join(f'mount --bind -o ro "{folder}" "{folder}"' for folder in folders)
    prefix = ["unshare", "--map-root-user", "--mount", "sh", "-c", f'{mounts} && exec "$0" "$@"']
    probe = subprocess.run([*prefix, "touch", str(folders[0] / "probe")], capture_output=True, text=True)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot remount a folder read-only here (as root): {probe.stderr.strip() or 'touch succeeded'}")
    return prefix


def run_child(site: Path, read_only: list, env: dict, cwd: Path) -> dict:
    """Run CHILD with fastcf imported from ``site`` and every folder in ``read_only`` unwritable."""
    command = [*read_only_prefix(read_only), sys.executable, "-c", CHILD]
    env = dict(env, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(found["fastcf"]).is_relative_to(site), "the child imported another fastcf"
    assert found["top"] == [[3, 2], [3, 2], [3, 2]]
    return found


@pytest.fixture
def read_only_install(tmp_path):
    """A copy of the fastcf under test (compiled twins included) in a read-only folder."""
    site = tmp_path / "site"
    shutil.copytree(Path(fastcf.__file__).parent, site / "fastcf", ignore=shutil.ignore_patterns("__pycache__"))
    make_read_only(site)
    yield site
    for path in [site, *site.rglob("*")]:  # let pytest delete it
        if path.is_dir():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_read_only_package_caches_in_the_user_cache_folder(read_only_install, tmp_path):
    user_cache = tmp_path / "user-cache"  # Numba's user-wide folder is $XDG_CACHE_HOME/numba on Linux
    env = dict(os.environ, XDG_CACHE_HOME=str(user_cache), HOME=str(tmp_path / "home"))
    first = run_child(read_only_install, [read_only_install], env, tmp_path)
    # $XDG_CACHE_HOME/numba on Linux, ~/Library/Caches/numba on macOS: both moved into tmp_path.
    assert Path(first["cache_path"]).is_relative_to(tmp_path)
    assert not Path(first["cache_path"]).is_relative_to(read_only_install)
    assert first["misses"] == 1 and first["hits"] == 0
    second = run_child(read_only_install, [read_only_install], env, tmp_path)
    assert second["cache_path"] == first["cache_path"]
    assert second["hits"] == 1 and second["misses"] == 0, "the second process compiled again"
    assert not list(read_only_install.rglob("*.nbi")), "a cache index was written into the package"


@pytest.mark.skipif(sys.platform != "linux", reason="the user cache folder is moved with XDG_CACHE_HOME on Linux only")
def test_no_writable_cache_folder_falls_back_to_a_private_temp_folder(read_only_install, tmp_path):
    user_cache, temp = tmp_path / "read-only-cache", tmp_path / "tmp"
    user_cache.mkdir()
    temp.mkdir()
    make_read_only(user_cache)
    env = dict(os.environ, XDG_CACHE_HOME=str(user_cache), HOME=str(user_cache), TMPDIR=str(temp))
    try:
        first = run_child(read_only_install, [read_only_install, user_cache], env, tmp_path)
        second = run_child(read_only_install, [read_only_install, user_cache], env, tmp_path)
    finally:
        user_cache.chmod(0o700)
    # Numba alone refuses to decorate a cached function here: the twin would not import.
    assert "no locator available" in first["direct_import"]
    private = temp / f"fastcf-numba-cache-{os.getuid()}"
    assert Path(first["cache_path"]).is_relative_to(private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert first["misses"] == 1
    assert second["hits"] == 1 and second["misses"] == 0, "the second process compiled again"


def test_private_cache_folder_refuses_one_that_others_can_write(tmp_path, monkeypatch):
    """Numba's cache index is a pickle: a folder others can write would let them run code here."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"fastcf-numba-cache-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    folder = Path(_numba_cache.private_cache_dir())
    assert folder != shared and folder.parent == tmp_path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


SHOW = r"""
import logging, sys
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(message)s")
logging.getLogger("fastcf").setLevel(logging.DEBUG)
import numpy as np
import fastcf
from fastcf.kernels import select_topk
select_topk(np.arange(12.0).reshape(3, 4), 2, backend="numba", n_threads=1)
fastcf.show_versions()
"""


def test_first_call_logs_its_compile_time_and_show_versions_lists_it(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(fastcf.__file__).resolve().parents[1]))
    runs = [
        subprocess.run([sys.executable, "-c", SHOW], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = runs
    name = "fastcf.kernels.topk._numba._select_topk(array(float64, 2d, C)"
    assert re.search(rf"^fastcf Numba compiled {re.escape(name)}.* in \d+\.\d\d s$", first.stderr, re.M), first.stderr
    assert f"numba cache: {tmp_path / 'cache'}" in first.stdout
    assert re.search(rf"^  {re.escape(name)}.*: compiled in \d+\.\d\d s$", first.stdout, re.M), first.stdout
    # The second process loads the machine code that the first saved: nothing to compile.
    assert "Numba compiled" not in second.stderr
    assert "fastcf.kernels.topk._numba._select_topk: 1 signature(s) loaded from the on-disk cache" in second.stdout
