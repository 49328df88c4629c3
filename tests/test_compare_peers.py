"""scripts/compare_peers.py's bookkeeping: goal verdicts per preset and merging a partial re-run.

The timings themselves are not tested (speed is measured, never asserted); what is tested is that
the table states the goals the issues set, on the presets they set them, and that ``--merge``
keeps every task it did not re-run.
"""

import importlib
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
if not (SCRIPTS / "compare_peers.py").exists():
    pytest.skip("scripts/ is not beside the tests (suite run against an installed wheel)", allow_module_level=True)


@pytest.fixture(scope="module")
def compare_peers():
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("compare_peers")
    finally:
        sys.path.remove(str(SCRIPTS))


def _row(library, median, speedup=None):
    return {"library": library, "median": median, "min": median, "max": median, "seconds": [median],
            "speedup": speedup, "quality": None, "note": ""}


def _report(preset, results, skipped=None):
    return {"preset": preset, "shape": [10, 20, 30], "results": results, "skipped": skipped or {},
            "gemm_gflops": 100.0}


def test_goals_apply_only_on_the_presets_their_issue_names(compare_peers):
    similarity = compare_peers.TASKS["similarity"]
    assert similarity.goal_for("implicit", "ml20m") == 2.0
    assert similarity.goal_for("sparse_dot_topn", "ml10m") == 1.5
    assert similarity.goal_for("implicit", "ml100k-real") is None
    assert compare_peers.TASKS["bpr"].goal_for("implicit", "ml1m") is None
    assert compare_peers.TASKS["sgd-mf"].goal_for("Surprise", "ml1m") == 30.0


def test_markdown_marks_each_goal_met_or_not(compare_peers):
    rows = [_row("fastcf cython", 1.0), _row("implicit", 1.9, 1.9), _row("sparse_dot_topn", 1.6, 1.6)]
    args = type("Args", (), {"threads": 2, "repeats": 3, "backends": ["cython"]})()
    text = compare_peers.markdown(_report("ml20m", [{"task": "similarity", "rows": rows}]), args)
    assert ">= 2x NOT met" in text and ">= 1.5x met" in text
    assert "misses its goal against implicit (1.90x; goal 2x)" in text
    unjudged = compare_peers.markdown(_report("ml1m", [{"task": "similarity", "rows": rows}]), args)
    assert "met" not in unjudged and "fastcf is ahead of every peer timed here." in unjudged


def test_merge_replaces_rerun_tasks_and_keeps_the_rest_in_task_order(compare_peers):
    earlier = _report("ml1m", [{"task": "als-cg", "rows": [_row("fastcf cython", 1.0)]},
                               {"task": "bpr", "rows": [_row("fastcf cython", -0.5)]},
                               {"task": "recommend", "rows": [_row("fastcf cython", 3.0)]}],
                      skipped={"bpr": {"LightFM": "old reason"}, "recommend": {"x": "kept"}})
    earlier["read_peak_mib"] = {"fastcf": [10.0]}
    now = _report("ml1m", [{"task": "bpr", "rows": [_row("fastcf cython", 0.25)]}])
    merged = compare_peers.merge_reports(earlier, now)
    assert [r["task"] for r in merged["results"]] == ["als-cg", "bpr", "recommend"]
    assert merged["results"][1]["rows"][0]["median"] == 0.25
    assert merged["skipped"] == {"recommend": {"x": "kept"}}
    assert merged["read_peak_mib"] == {"fastcf": [10.0]}


def test_finished_tasks_survive_a_task_that_crashes(compare_peers, monkeypatch, tmp_path):
    # Each finished task is written to PRESET.partial.json at once, so a run that dies in a later
    # task (a peer's crash, a kill) keeps what it measured.
    class Data:
        n_users, n_items, nnz = 3, 4, 5

    def finished(problem):
        return [compare_peers.Runner("fastcf", lambda: 0.25)]

    def crashing(problem):
        raise RuntimeError("a peer fell over")

    tasks = {}
    for key, build in (("first", finished), ("second", crashing)):
        tasks[key] = compare_peers.Task(key, key, "s", "none", build, {}, None)
    monkeypatch.setattr(compare_peers, "TASKS", tasks)
    monkeypatch.setattr(compare_peers, "load_data", lambda preset, args: Data())
    args = compare_peers.argparse.Namespace(tasks=["first", "second"], repeats=1, pause=0.0, backends=["cython"],
                                            out=str(tmp_path))
    with pytest.raises(RuntimeError, match="fell over"):
        compare_peers.run_preset("tiny", args, 100.0)
    saved = compare_peers.json.loads((tmp_path / "tiny.partial.json").read_text())
    assert [result["task"] for result in saved["results"]] == ["first"]
    assert saved["results"][0]["rows"][0]["seconds"] == [0.25]


def test_a_merged_table_keeps_each_runs_repeats_and_sgemm_rate(compare_peers):
    # Rows kept from an earlier run were timed with its repeat count and against its sgemm rate;
    # a --merge re-run of one task must not relabel them with its own.
    als_row = dict(_row("fastcf cython", 1.0), **compare_peers._roofline((50e9, 1e9), 1.0, 80.0, 10.0))
    earlier = _report("ml10m", [{"task": "als-cg", "rows": [als_row], "bandwidth_gbs": 10.0},
                                {"task": "similarity", "rows": [_row("fastcf cython", 2.0)]}])
    earlier["gemm_gflops"], earlier["repeats"] = 80.0, 3
    now = _report("ml10m", [{"task": "similarity", "rows": [_row("fastcf cython", 1.5)], "repeats": 5,
                             "gemm_gflops": 160.0}])
    now["gemm_gflops"], now["repeats"] = 160.0, 5
    merged = compare_peers.merge_reports(earlier, now)
    args = compare_peers.argparse.Namespace(threads=2, repeats=5, backends=["cython"])
    text = compare_peers.markdown(merged, args)
    assert "median of 3 alternating runs; median of 5 for Item-item cosine" in text or \
        "median of 5 alternating runs; median of 3 for Implicit ALS" in text
    assert "| 50.0 | 62% |" in text  # 50 of the earlier run's 80 GFLOP/s, not of 160
    assert "80.0 GFLOP/s" in text and "160.0" not in text.split("Distance to the limit")[1]


def test_merged_doc_keeps_the_earlier_machine_lines(compare_peers):
    doc = ("intro\n<!-- compare_peers:start -->\nMachine and versions:\n\n- CPU: old\n- sgemm: 80 GFLOP/s\n\n"
           "### ml1m: table\n- not a machine line\n<!-- compare_peers:end -->\n")
    assert compare_peers.earlier_machine_lines(doc) == ["- CPU: old", "- sgemm: 80 GFLOP/s"]
    assert compare_peers.earlier_machine_lines("no section here") == []


def test_roofline_share_uses_the_bound_that_binds(compare_peers):
    # 100 GFLOP/s and 10 GB/s: 1e9 flops take 10 ms, 1e9 bytes 100 ms; the memory bound binds.
    row = compare_peers._roofline((1e9, 1e9), 0.2, 100.0, 10.0)
    assert row["bound"] == "memory" and row["bound_seconds"] == pytest.approx(0.1)
    assert row["roofline_share"] == pytest.approx(0.5)
    compute = compare_peers._roofline((1e10, 1e8), 0.2, 100.0, 10.0)
    assert compute["bound"] == "compute" and compute["roofline_share"] == pytest.approx(0.5)
    assert compare_peers._roofline(None, 0.2, 100.0, 10.0) == {}


def test_markdown_lists_every_library_on_the_roofline(compare_peers):
    rows = []
    for library, median in (("fastcf cython", 0.5), ("implicit", 2.0)):
        row = _row(library, median)
        row.update(compare_peers._roofline((1e10, 1e9), median, 100.0, 10.0))
        rows.append(row)
    args = type("Args", (), {"threads": 2, "repeats": 3, "backends": ["cython"]})()
    result = {"task": "als-cg", "rows": rows, "gemm_gflops": 100.0, "bandwidth_gbs": 10.0}
    text = compare_peers.markdown(_report("ml10m", [result]), args)
    assert "| Implicit ALS, one iteration, CG (3 steps) | fastcf cython | 20.0 | 20% | 2.0 | compute | 20% |" in text
    assert "| Implicit ALS, one iteration, CG (3 steps) | implicit | 5.0 | 5% | 0.5 | compute | 5% |" in text
    assert "STREAM triad bandwidth, 10.0 GB/s" in text


def test_every_kernel_task_states_its_work(compare_peers):
    for key in ("als-cg", "als-cholesky", "recommend", "sgd-mf", "bpr"):
        assert compare_peers.TASKS[key].work is not None, key
