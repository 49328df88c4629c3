"""Issue 20: every hostile archive is a DataError, and extraction is bounded."""

import zipfile
from types import SimpleNamespace

import pytest

from fastcf.data import download
from fastcf.exceptions import DataError


def archive(tmp_path, members, compression=zipfile.ZIP_DEFLATED):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data) if name.endswith("/") else zf.writestr(name, data)
    return path


@pytest.mark.parametrize("members, message", [
    ([("/", b"")], r"unsafe or empty name"),
    ([("../evil.txt", b"x")], r"member '../evil.txt' has an unsafe"),
    ([("/etc/evil", b"x")], r"unsafe"),
    ([("ml\\..\\evil", b"x")], r"unsafe"),
    ([("C:evil", b"x")], r"unsafe"),
    ([("ml/./a", b"x")], r"unsafe"),
    ([("ml/a", b"x"), ("ml/a/b", b"y")], r"member 'ml/a/b' clashes"),
    ([("ml/a/b", b"y"), ("ml/a", b"x")], r"member 'ml/a' clashes"),
    ([("ml/a", b"x"), ("ml/a", b"y")], r"member 'ml/a' clashes"),
])
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_hostile_names_are_refused_before_writing(tmp_path, members, message):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        download._safe_extract(archive(tmp_path, members), out)
    assert not any(p.is_file() for p in out.rglob("*"))


def test_an_empty_member_name_is_refused():
    # zipfile cannot write an empty name, but a crafted archive holds one; the plan sees it first.
    with pytest.raises(DataError, match=r"a.zip: member '' has an unsafe or empty name"):
        download._extraction_plan("a.zip", [SimpleNamespace(filename="")])


def test_a_zip_bomb_is_stopped(tmp_path):
    bomb = archive(tmp_path, [("ml/big", b"\0" * (120 << 20))])
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DataError, match=r"would extract to 125,829,120 bytes; the limit is 104,857,600"):
        download._safe_extract(bomb, tmp_path / "out")


def test_the_limit_counts_bytes_written_not_sizes_declared(tmp_path, monkeypatch):
    path = archive(tmp_path, [("ml/a", b"1" * 5000), ("ml/b", b"2" * 5000)])
    with pytest.raises(DataError, match=r"would extract to 10,000 bytes; the limit is 4,000"):
        download._safe_extract(path, tmp_path / "out", max_bytes=4000)
    # An archive that understates its sizes passes the declared total; what is written is
    # still counted, and the reader's own checks end in a DataError too.
    monkeypatch.setattr(zipfile.ZipInfo, "file_size", property(lambda self: 1, lambda self, v: None), raising=False)
    with pytest.raises(DataError, match=r"a.zip: (not a valid zip archive|.*beyond the limit of 6,000 bytes)"):
        download._safe_extract(path, tmp_path / "out2", max_bytes=6000)
    assert sum(p.stat().st_size for p in (tmp_path / "out2").rglob("*") if p.is_file()) <= 6000


def test_garbage_is_not_an_archive(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(b"PK\3\4 not really")
    with pytest.raises(DataError, match=r"a.zip: not a valid zip archive"):
        download._safe_extract(path, tmp_path / "out")


def test_a_clean_archive_extracts(tmp_path):
    download._safe_extract(archive(tmp_path, [("ml/", b""), ("ml/u.data", b"1\t2\t3\t4\n")]), tmp_path / "out")
    assert (tmp_path / "out" / "ml" / "u.data").read_bytes() == b"1\t2\t3\t4\n"


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_MEMBERS", 3)
    path = archive(tmp_path, [(f"ml/{k}", b"x") for k in range(4)])
    with pytest.raises(DataError, match=r"a.zip: 4 members; .*\(the limit is 3\)"):
        download._safe_extract(path, tmp_path / "out")
