"""Shared fixtures; the header says which fastcf the tests import and which twins it has."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    """Stop at once, saying why, when the tests would import an unbuilt source tree.

    `python -m pytest` puts the checkout first on sys.path; without an in-place build
    (`pip install -e .`) its fastcf has no compiled twins and most tests would fail for
    that reason alone.
    """
    import fastcf
    from fastcf.kernels import _backend

    if Path(fastcf.__file__).resolve().parent != REPO / "fastcf":
        return
    missing = [k for k in _backend.KERNELS if _backend.load_twin(k, "cython")[0] is None]
    if missing:
        pytest.exit(
            f"fastcf was imported from the source checkout {REPO}, where its Cython twins are not "
            f"built ({', '.join(missing)}). Run `pytest` (not `python -m pytest`) to test the "
            f"installed fastcf, or build in place first with `pip install -e .`.",
            returncode=4,
        )


def pytest_report_header(config):
    import fastcf
    from fastcf.kernels import _backend

    twins = []
    for kernel in _backend.KERNELS:
        ok = [b for b in _backend.BACKENDS if _backend.load_twin(kernel, b)[0] is not None]
        twins.append(f"{kernel}: {', '.join(ok)}")
    return [
        f"fastcf {fastcf.__version__} from {Path(fastcf.__file__).parent}",
        f"twins  {'; '.join(twins)}  (FASTCF_BACKEND={os.environ.get('FASTCF_BACKEND', '')})",
        f"data   {SHARED_DATA} {'present' if SHARED_DATA.is_dir() else 'absent: real-data tests skip'}",
    ]


@pytest.fixture
def rng():
    return __import__("numpy").random.default_rng(20261124)


def pytest_collection_modifyitems(config, items):
    """Every test under tests/realdata carries the ``realdata`` marker (for ``-m "not realdata"``)."""
    for item in items:
        if "realdata" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.realdata)
