"""Lets the pytest-benchmark files share the asv suites' data and problems (asv_suites/_common.py)."""

import sys
from pathlib import Path

BENCHMARKS = str(Path(__file__).resolve().parents[1])
if BENCHMARKS not in sys.path:
    sys.path.insert(0, BENCHMARKS)
