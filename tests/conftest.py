"""Shared fixtures; the header says which fastcf the tests import and which twins it has."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
