"""Saving and loading models: generic fitted state, memory mapping, and files that must be refused."""

import io
import json
import logging
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import fastcf
from fastcf.data import from_arrays, synthetic
from fastcf.exceptions import ModelFileError, NotFittedError
from fastcf.models import BaselineOnly, BiasedMF, ImplicitALS
from fastcf.persistence import FORMAT_VERSION, HEADER_MEMBER, _write_member, read_header
from fastcf.testing import _same, check_round_trip


@pytest.fixture(scope="module")
def data():
    return synthetic(n_users=60, n_items=40, n_ratings=700, seed=3)


@pytest.fixture(scope="module")
def model(data):
    return ImplicitALS(factors=4, iterations=2, random_state=0).fit(data)


@pytest.fixture
def saved(model, tmp_path):
    return model.save(tmp_path / "model.npz")


def answers(model, data):
    return model.recommend(data.users.raw_ids, 5), model.similar_items(data.items.raw_ids[:3], 4)


def rewrite(source, target, *, header=None, arrays=None):
    """Copy a model file, with the header changed by ``header(dict)`` and members replaced by ``arrays``."""
    with zipfile.ZipFile(source) as zf:
        members = {name: np.lib.format.read_array(io.BytesIO(zf.read(name)), allow_pickle=False)
                   for name in zf.namelist() if name != HEADER_MEMBER}
        meta = json.loads(np.lib.format.read_array(io.BytesIO(zf.read(HEADER_MEMBER))).tobytes())
    if header is not None:
        header(meta)
    members.update(arrays or {})
    with open(target, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
        _write_member(zf, raw, HEADER_MEMBER, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        for name, array in members.items():
            if array.dtype.hasobject:  # a pickled member, as np.save(allow_pickle=True) writes it
                with zf.open(name, "w") as out:
                    np.lib.format.write_array(out, array, allow_pickle=True)
            else:
                _write_member(zf, raw, name, array)
    return target


# --- round trips ---------------------------------------------------------------------------------

def test_round_trip_keeps_answers_and_header(model, data, saved):
    loaded = fastcf.load(saved)
    for ours, theirs in zip(answers(model, data), answers(loaded, data)):
        assert _same(ours, theirs)
    header = read_header(saved)
    assert header["format_version"] == FORMAT_VERSION and header["fastcf_version"] == fastcf.__version__
    assert header["model"] == {"class": "ImplicitALS", "module": "fastcf.models.implicit_als"}
    assert header["params"]["factors"] == 4 and header["params"]["dtype"] == {"$dtype": "<f4", "type": True}
    assert header["arrays"]["user_factors_"]["shape"] == [60, 4]
    assert header["state"]["users_"]["$idmap"]["name"] == "user"
    # A standard .npz: NumPy opens it without pickle.
    with np.load(saved, allow_pickle=False) as npz:
        assert np.array_equal(npz["item_factors_"], model.item_factors_)


def test_memory_mapped_load_is_aligned_read_only_and_identical(model, data, saved):
    loaded = fastcf.load(saved, mmap=True)
    for attribute in ("user_factors_", "item_factors_"):
        array = getattr(loaded, attribute)
        assert isinstance(array, np.memmap) and not array.flags.writeable
        assert array.flags.aligned and array.ctypes.data % 64 == 0
    assert isinstance(loaded.seen_.indices, np.memmap)
    for ours, theirs in zip(answers(model, data), answers(loaded, data)):
        assert _same(ours, theirs)
    assert _same(fastcf.load(saved, mmap=True, verify=False).recommend(data.users.raw_ids, 5),
                 model.recommend(data.users.raw_ids, 5))


def test_string_ids_come_back_as_python_strings(tmp_path):
    rng = np.random.default_rng(0)
    users = np.array([f"u{n}" for n in rng.integers(0, 30, 400)], dtype=object)
    items = np.array([f"item-{n}" for n in rng.integers(0, 25, 400)], dtype=object)
    data = from_arrays(users, items, rng.integers(1, 6, 400).astype(float))
    model = BiasedMF(factors=3, epochs=3, random_state=0).fit(data)
    check_round_trip(model, data)
    loaded = fastcf.load(model.save(tmp_path / "s.npz"))
    ids, _ = loaded.recommend("u3", 3)
    assert loaded.users_.raw_ids.dtype == object and all(type(i) is str for i in ids)


class Stateful(BaselineOnly):
    """A model with fitted state of every kind persistence supports."""

    _restorable_ = ("ratio_", "count_", "missing_", "label_", "flag_", "nothing_", "history_", "options_",
                    "fortran_", "empty_", "graph_")

    def _fit(self, matrix):
        super()._fit(matrix)
        self.ratio_ = np.float32(0.25)
        self.count_ = np.int64(7)
        self.missing_ = float("nan")
        self.label_, self.flag_, self.nothing_ = "ß-label", True, None
        self.history_ = [1.5, float("-inf"), (2, "x")]
        self.options_ = {"depth": 3, "nested": {"values": (1.0, None)}, "weights": np.arange(3.0)}
        self.fortran_ = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
        self.empty_ = np.zeros((0, 5))
        self.graph_ = sp.csr_array(sp.random(5, 7, density=0.3, random_state=1, format="csr"))


def test_every_supported_kind_of_state_round_trips(data):
    check_round_trip(Stateful().fit(data), data)


@pytest.mark.parametrize("value, kind", [({1, 2}, "set"), (lambda: 1, "function"), (np.array([object()]), "object"),
                                         ({1: "a"}, "not a str"), ([1, {2}], "set")])
def test_unsupported_state_is_refused_at_save_naming_it(model, tmp_path, value, kind):
    model = ImplicitALS(factors=4, iterations=1, random_state=0).fit(model.seen_)
    model.odd_ = value
    with pytest.raises(TypeError, match=f"'odd_'.*{kind}"):
        model.save(tmp_path / "bad.npz")
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_callback_is_dropped_with_a_warning(data, tmp_path, caplog):
    model = ImplicitALS(factors=4, iterations=1, callback=lambda *args: None).fit(data)
    with caplog.at_level(logging.WARNING, logger="fastcf"):
        path = model.save(tmp_path / "cb.npz")
    assert "'callback'" in caplog.text
    assert fastcf.load(path).callback is None and read_header(path)["dropped_params"] == ["callback"]


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError, match="before save"):
        ImplicitALS().save(tmp_path / "x.npz")


def test_class_load_checks_the_class(saved):
    assert isinstance(ImplicitALS.load(saved), ImplicitALS)
    with pytest.raises(ModelFileError, match="holds a ImplicitALS, not a BiasedMF"):
        BiasedMF.load(saved)


# --- files that must be refused ------------------------------------------------------------------

def test_truncated_files_are_refused(saved, tmp_path):
    content = saved.read_bytes()
    for cut in (0, 10, 100, len(content) // 3, len(content) // 2, len(content) - 30, len(content) - 1):
        damaged = tmp_path / f"cut{cut}.npz"
        damaged.write_bytes(content[:cut])
        for mmap in (False, True):
            with pytest.raises(ModelFileError, match="cut"):
                fastcf.load(damaged, mmap=mmap)


def test_flipped_bits_in_data_and_header_are_refused(saved, tmp_path):
    content = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        header_info = zf.getinfo(HEADER_MEMBER)
        array_info = zf.getinfo("item_factors_.npy")
    # The middle of the JSON header, and a byte inside the item factors' data.
    for position in (header_info.header_offset + 200, array_info.header_offset + array_info.file_size - 8):
        flipped = bytearray(content)
        flipped[position] ^= 0x10
        damaged = tmp_path / f"flip{position}.npz"
        damaged.write_bytes(bytes(flipped))
        for mmap in (False, True):
            with pytest.raises(ModelFileError, match="damaged|corrupted|CRC"):
                fastcf.load(damaged, mmap=mmap)


def test_no_flipped_byte_anywhere_gives_a_different_model(model, data, saved, tmp_path):
    """A flip anywhere is refused, or lands where it changes nothing (padding, timestamps)."""
    content = saved.read_bytes()
    expected = answers(model, data)
    damaged = tmp_path / "flip.npz"
    positions = np.unique(np.random.default_rng(1).integers(0, len(content), 300))
    refused = 0
    for position in positions:
        flipped = bytearray(content)
        flipped[position] ^= 0x01
        damaged.write_bytes(bytes(flipped))
        for mmap in (False, True):
            try:
                loaded = fastcf.load(damaged, mmap=mmap)
            except ModelFileError:
                refused += 1
                continue
            assert all(_same(a, b) for a, b in zip(answers(loaded, data), expected)), f"byte {position} (mmap={mmap})"
    assert refused > len(positions)  # most bytes matter


def test_pickles_are_refused(model, saved, tmp_path):
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    with pytest.raises(ModelFileError, match="pickle, which fastcf never loads"):
        fastcf.load(pickled)
    # A member holding a pickled object array, the header unchanged (it declares float32).
    objects = np.array([{"evil": 1}] * 4, dtype=object)
    damaged = rewrite(saved, tmp_path / "obj.npz", arrays={"item_factors_.npy": objects})
    with pytest.raises(ModelFileError, match="holds Python objects"):
        fastcf.load(damaged)
    # A header that declares an object array.
    declared = rewrite(saved, tmp_path / "declared.npz",
                       header=lambda h: h["arrays"]["item_factors_"].update(dtype="|O"))
    with pytest.raises(ModelFileError, match="never Python objects"):
        fastcf.load(declared)


def test_wrong_shapes_are_refused(model, saved, tmp_path):
    # A member that disagrees with the header.
    short = rewrite(saved, tmp_path / "short.npz", arrays={"item_factors_.npy": model.item_factors_[:-1].copy()})
    with pytest.raises(ModelFileError, match=r"shape \(39, 4\); the header declares float32 \(40, 4\)"):
        fastcf.load(short)
    # A consistent file whose state does not fit the model.
    broken = ImplicitALS(factors=4, iterations=1, random_state=0).fit(model.seen_)
    broken.item_factors_ = broken.item_factors_[:-1]
    path = broken.save(tmp_path / "broken.npz")
    with pytest.raises(ModelFileError, match=r"'item_factors_' has shape \(39, 4\); expected \(40, 4\)"):
        fastcf.load(path)
    broken.item_factors_ = np.zeros((40, 3), dtype=np.float32)
    with pytest.raises(ModelFileError, match="'item_factors_' has shape"):
        fastcf.load(broken.save(path))
    broken.item_factors_ = np.zeros((40, 4), dtype=np.float64)
    with pytest.raises(ModelFileError, match="share one float dtype"):
        fastcf.load(broken.save(path))
    broken.item_factors_ = model.item_factors_
    broken.users_ = fastcf.data.IdMap(np.arange(3), "user")
    with pytest.raises(ModelFileError, match="'users_' holds 3 IDs but 'seen_' has 60 users"):
        fastcf.load(broken.save(path))


def test_newer_format_and_unknown_classes_are_refused(saved, tmp_path):
    newer = rewrite(saved, tmp_path / "newer.npz",
                    header=lambda h: h.update(format_version=FORMAT_VERSION + 1, fastcf_version="9.0"))
    with pytest.raises(ModelFileError, match="format 2 by fastcf 9.0.*Upgrade fastcf"):
        fastcf.load(newer)
    unknown = rewrite(saved, tmp_path / "unknown.npz",
                      header=lambda h: h["model"].update({"class": "os.system", "module": "os"}))
    with pytest.raises(ModelFileError, match="'os.system' is not a fastcf model"):
        fastcf.load(unknown)
    bad_param = rewrite(saved, tmp_path / "param.npz", header=lambda h: h["params"].update(no_such=1))
    with pytest.raises(ModelFileError, match="parameters do not fit ImplicitALS"):
        fastcf.load(bad_param)


def test_files_that_are_not_models_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        fastcf.load(tmp_path / "absent.npz")
    text = tmp_path / "text.npz"
    text.write_text("user,item\n1,2\n")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        fastcf.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    with pytest.raises(ModelFileError, match="not a fastcf model file"):
        fastcf.load(plain)
