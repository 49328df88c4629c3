"""`import fastcf` is cheap: it imports no heavy optional module and compiles no Numba code.

Wall-clock import time is measured in scripts/build_wheel.py (`python -X importtime`), not
asserted here: the machine is shared and noisy. What makes the import slow is checked instead.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import fastcf
from fastcf.kernels import _backend

# pandas (~0.3 s, with pyarrow), numba (~0.3 s), matplotlib: each used only on first need.
HEAVY = ("pandas", "pyarrow", "numba", "matplotlib")


def run_python(code: str, cwd: Path) -> dict:
    """Run code in a fresh interpreter that imports the same fastcf as this test run."""
    env = dict(os.environ, PYTHONPATH=str(Path(fastcf.__file__).resolve().parents[1]))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_fastcf_loads_no_heavy_module(tmp_path):
    found = run_python(
        "import json, sys, fastcf\n"
        f"print(json.dumps({{'file': fastcf.__file__, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))",
        tmp_path,
    )
    assert Path(found["file"]).resolve() == Path(fastcf.__file__).resolve()
    assert found["heavy"] == [], (
        f"`import fastcf` imported {found['heavy']}; import them inside the functions that need "
        "them, or with fastcf._lazy.lazy_module"
    )


def test_pandas_is_imported_on_first_use(tmp_path):
    found = run_python(
        "import json, sys, fastcf\n"
        "before = 'pandas' in sys.modules\n"
        "frame = fastcf.from_arrays([1, 2], [10, 20], [4.0, 5.0]).to_frame()\n"
        "print(json.dumps({'before': before, 'after': 'pandas' in sys.modules, 'rows': len(frame),"
        " 'is_frame': isinstance(frame, sys.modules['pandas'].DataFrame)}))",
        tmp_path,
    )
    assert found == {"before": False, "after": True, "rows": 2, "is_frame": True}


def test_importing_the_numba_twins_compiles_nothing(tmp_path):
    """Compilation happens at a twin's first call, never at import (e.g. no eager signatures)."""
    found = run_python(
        "import json, sys\n"
        "from fastcf.kernels import _backend\n"
        "from numba.core.registry import CPUDispatcher\n"
        "compiled, seen = [], 0\n"
        "for kernel in _backend.KERNELS:\n"
        "    module, reason = _backend.load_twin(kernel, 'numba')\n"
        "    assert module is not None, reason\n"
        "for name, module in list(sys.modules.items()):\n"
        "    if name.startswith('fastcf.') and module is not None:\n"
        "        for value in vars(module).values():\n"
        "            if isinstance(value, CPUDispatcher):\n"
        "                seen += 1\n"
        "                compiled += [f'{name}.{value.__name__}'] if value.signatures else []\n"
        "print(json.dumps({'seen': seen, 'compiled': compiled}))",
        tmp_path,
    )
    assert found["seen"] >= len(_backend.KERNELS)  # the check looked at real dispatchers
    assert found["compiled"] == []
