"""Model files written by someone else: load sets only declared attributes, bounds its work,
and every failure is a ModelFileError naming the file (issue 20)."""

import inspect
import io
import json
import zipfile

import numpy as np
import pytest

import fastcf
import fastcf.models as models
from fastcf.data import synthetic
from fastcf.exceptions import ModelFileError
from fastcf.models.base import Recommender
from fastcf.persistence import HEADER_MEMBER, MAX_DEPTH, fitted_state, restorable_attributes

SMALL = {"factors": 4, "iterations": 2, "epochs": 2, "n_epochs": 2, "k": 10, "random_state": 0, "n_threads": 1,
         "show_progress": False}


def _concrete_models():
    """Every Recommender subclass fastcf.models exports that can be fitted as it is."""
    found = []
    for name in sorted(dir(models)):
        cls = getattr(models, name)
        if isinstance(cls, type) and issubclass(cls, Recommender) and not inspect.isabstract(cls) \
                and name not in ("Recommender", "FactorModel") and not name.startswith("_"):
            found.append(cls)
    return found


@pytest.fixture(scope="module")
def data():
    return synthetic("ml100k", seed=0)


def _small(cls):
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{key: value for key, value in SMALL.items() if key in accepted})


def test_every_exported_model_is_covered():
    names = {cls.__name__ for cls in _concrete_models()}
    assert {"ImplicitALS", "BPR", "WARP", "EASE", "ItemKNN", "UserKNN", "Popularity", "BiasedMF", "SVDpp",
            "ExplicitALS", "BaselineOnly", "HybridMF", "KNNBaseline"} <= names


@pytest.mark.parametrize("cls", _concrete_models(), ids=lambda cls: cls.__name__)
def test_allow_list_is_exactly_the_fitted_state(cls, data, tmp_path):
    model = _small(cls)
    try:
        model.fit(data)
    except (TypeError, ValueError) as exc:  # a model that needs more than the ratings (features)
        pytest.skip(f"{cls.__name__} cannot be fitted on plain ratings here: {exc}")
    state = set(fitted_state(model))
    allowed = restorable_attributes(cls)
    assert state <= allowed, f"{cls.__name__}: fitted attributes not declared restorable: {state - allowed}"
    assert all(name.endswith("_") and not name.startswith("_") for name in allowed)
    loaded = fastcf.load(model.save(tmp_path / "m.npz"))
    assert set(fitted_state(loaded)) == state


def test_every_registered_class_declares_only_fitted_names():
    for cls in set(Recommender._registry.values()):
        for name in restorable_attributes(cls):
            assert name.endswith("_") and not name.startswith("_") and name.isidentifier(), (cls, name)
            assert not callable(getattr(cls, name, None)), f"{cls.__name__}._restorable_ names a method {name!r}"


# --- files edited by hand ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    model = models.ImplicitALS(factors=4, iterations=2, random_state=0, show_progress=False).fit(data)
    return model.save(tmp_path_factory.mktemp("m") / "als.npz")


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _header_of(members):
    return json.loads(np.lib.format.read_array(io.BytesIO(members[HEADER_MEMBER])).tobytes())


def _rewrite(path, target, header=None, members=None, compression=zipfile.ZIP_STORED):
    members = dict(members if members is not None else _members(path))
    if header is not None:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
        members[HEADER_MEMBER] = buffer.getvalue()
    with zipfile.ZipFile(target, "w", compression) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return target


@pytest.mark.parametrize("key, node", [
    ("_check_state", None),
    ("recommend", 5),
    ("__class__", "x"),
    ("__dict__", {"$dict": {}}),
    ("factors", 3),  # a parameter, not fitted state
])
def test_state_keys_outside_the_allow_list_are_refused(saved, tmp_path, key, node):
    header = _header_of(_members(saved))
    header["state"][key] = node
    with pytest.raises(ModelFileError, match=rf"{tmp_path.name}.*not a restorable attribute of ImplicitALS"):
        fastcf.load(_rewrite(saved, tmp_path / "bad.npz", header))


def test_swapped_factors_are_refused_at_load(saved, tmp_path):
    header = _header_of(_members(saved))
    state = header["state"]
    state["user_factors_"], state["item_factors_"] = state["item_factors_"], state["user_factors_"]
    with pytest.raises(ModelFileError, match="bad.npz"):
        fastcf.load(_rewrite(saved, tmp_path / "bad.npz", header))


def _with_raw_header(path, target, text: str):
    members = _members(path)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.frombuffer(text.encode(), dtype=np.uint8))
    members[HEADER_MEMBER] = buffer.getvalue()
    return _rewrite(path, target, members=members)


def test_deep_nesting_is_a_model_file_error(saved, tmp_path):
    header = _header_of(_members(saved))
    header["state"]["loss_history_"] = "HOLE"
    # Deeper than Python's json can parse: RecursionError inside json, reported as nesting.
    text = json.dumps(header).replace('"HOLE"', "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="deep.npz.*nested"):
        fastcf.load(_with_raw_header(saved, tmp_path / "deep.npz", text))
    # Parsable, but deeper than any fastcf value.
    text = json.dumps(header).replace('"HOLE"', "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5))
    with pytest.raises(ModelFileError, match="deep2.npz.*nested"):
        fastcf.load(_with_raw_header(saved, tmp_path / "deep2.npz", text))


def test_compressed_members_are_refused_before_inflating(saved, tmp_path):
    members = _members(saved)
    members["user_factors_.npy"] = members["user_factors_.npy"][:128] + b"\0" * 50_000_000
    target = _rewrite(saved, tmp_path / "bomb.npz", members=members, compression=zipfile.ZIP_DEFLATED)
    assert target.stat().st_size < 1_000_000
    for mmap in (False, True):
        with pytest.raises(ModelFileError, match="compressed"):
            fastcf.load(target, mmap=mmap)


def test_huge_declared_array_is_refused_without_allocating(saved, tmp_path):
    header = _header_of(_members(saved))
    header["arrays"]["user_factors_"]["shape"] = [10**12, 4]
    members = _members(saved)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 4)})
    members["user_factors_.npy"] = buffer.getvalue() + b"\0" * 64
    with pytest.raises(ModelFileError, match="bad.npz"):
        fastcf.load(_rewrite(saved, tmp_path / "bad.npz", header, members))


@pytest.mark.parametrize("edit", [
    lambda h: h["arrays"]["user_factors_"].update(shape="big"),
    lambda h: h["arrays"]["user_factors_"].update(shape=[1.5, 2]),
    lambda h: h["arrays"]["user_factors_"].update(sha256=7),
    lambda h: h["state"].update(loss_history_={"$tuple": "abc"}),
    lambda h: h["state"].update(loss_history_={"$dict": [1, 2]}),
    lambda h: h["state"].update(users_={"$idmap": [1]}),
    lambda h: h["state"].update(seen_={"$sparse": {"shape": [2, 2]}}),
    lambda h: h["params"].update(factors={"$dtype": "O"}),
    lambda h: h["params"].update(factors="many"),
    lambda h: h["params"].update(self=1),
])
def test_malformed_values_are_model_file_errors(saved, tmp_path, edit):
    header = _header_of(_members(saved))
    edit(header)
    with pytest.raises(ModelFileError, match="bad.npz"):
        fastcf.load(_rewrite(saved, tmp_path / "bad.npz", header))


def test_truncated_and_garbage_files_are_model_file_errors(saved, tmp_path):
    blob = saved.read_bytes()
    for name, content in (("cut.npz", blob[: len(blob) // 2]), ("junk.npz", b"PK\x05\x06" + b"\0" * 18),
                          ("empty.npz", b""), ("text.npz", b"hello")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError, match=name):
            fastcf.load(tmp_path / name)
