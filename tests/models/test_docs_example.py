"""The first example of docs/models.md runs as written, in its own order (fit, serve, update,
evaluate), on synthetic data standing in for the names it leaves to the reader."""

import re
from pathlib import Path

import numpy as np
import pytest

import fastcf
from fastcf.data import synthetic

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_the_models_doc_example_runs_in_its_order():
    if not DOC.exists():
        pytest.skip(f"{DOC} is not beside the tests")
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    data = synthetic("ml100k", seed=0)
    known = data.items.raw_ids
    new_interactions = fastcf.from_arrays([196, 10_001, 10_001, 10_002], [242, 302, 20_001, 20_001],
                                          [4.0, 5.0, 3.0, 4.0], timestamps=np.arange(4))
    namespace = {"data": data, "candidate_ids": known[:50], "new_interactions": new_interactions,
                 "leave_k_out": fastcf.data.leave_k_out}
    exec(compile(block, str(DOC), "exec"), namespace)
    model, test = namespace["model"], namespace["test"]
    assert 10_001 in model.users_ and 20_001 in model.items_
    result = fastcf.evaluate(model, namespace["train"], test, k=10)
    assert 0 < result["ndcg"] <= 1


def test_the_strong_generalization_example_runs_as_written(capsys):
    if not DOC.exists():
        pytest.skip(f"{DOC} is not beside the tests")
    section = DOC.read_text().split("## Strong generalization (held-out users)", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(block, str(DOC), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["EASE", "ImplicitALS"]
    for line in lines:
        assert all(0 < float(value) <= 1 for value in line.split()[1:])
