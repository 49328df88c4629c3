"""download_movielens against a local HTTP server (tests never touch the internet)."""

import functools
import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from fastcf.data import read_movielens
from fastcf.data.download import download_movielens
from fastcf.exceptions import DataError


def fake_release(folder_name="ml-latest-small", extra=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr(f"{folder_name}/ratings.csv", "userId,movieId,rating,timestamp\n1,10,4.0,5\n2,10,3.5,6\n")
        zipped.writestr(f"{folder_name}/movies.csv", 'movieId,title,genres\n10,"Film, The (1999)",Drama|War\n')
        for name, data in (extra or {}).items():
            zipped.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over a folder; yields (folder, base_url, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def publish(root, name, payload, md5_text=None):
    (root / f"{name}.zip").write_bytes(payload)
    if md5_text is not False:
        digest = hashlib.md5(payload).hexdigest()
        (root / f"{name}.zip.md5").write_text(md5_text or f"MD5 ({name}.zip) = {digest}\n")


def test_downloads_verifies_against_the_published_md5_extracts_and_caches(server, tmp_path):
    root, url, requests = server
    publish(root, "ml-latest-small", fake_release())
    folder = download_movielens("ml-latest-small", tmp_path / "cache", base_url=url)
    data = read_movielens(folder)
    assert data.nnz == 2 and data.item_info.loc[10, "genres"] == ("Drama", "War")
    count = len(requests)
    assert download_movielens("ml-latest-small", tmp_path / "cache", base_url=url) == folder
    assert len(requests) == count  # served from the cache, no request


def test_checksum_mismatch_deletes_and_raises(server, tmp_path):
    root, url, _ = server
    publish(root, "ml-latest-small", fake_release(), md5_text="MD5 (x) = " + "0" * 32)
    with pytest.raises(DataError, match=r"checksum mismatch: MD5 [0-9a-f]{32}, expected 0{32}"):
        download_movielens("ml-latest-small", tmp_path / "cache", base_url=url)
    assert not (tmp_path / "cache" / "ml-latest-small").exists()
    assert list((tmp_path / "cache").iterdir()) == []  # no partial download left behind


def test_pinned_checksum_wins_over_the_server(server, tmp_path):
    root, url, _ = server
    publish(root, "ml-100k", fake_release("ml-100k"))  # a fake cannot match the real archive's MD5
    with pytest.raises(DataError, match=r"expected 0e33842e24a9c977be4e0107933c0723"):
        download_movielens("ml-100k", tmp_path / "cache", base_url=url)


def test_explicit_md5_and_missing_sidecar(server, tmp_path):
    root, url, _ = server
    payload = fake_release()
    publish(root, "ml-latest-small", payload, md5_text=False)
    with pytest.raises(DataError, match=r"could not fetch the published checksum .* pass md5="):
        download_movielens("ml-latest-small", tmp_path / "cache", base_url=url)
    folder = download_movielens("ml-latest-small", tmp_path / "cache", base_url=url,
                                md5=hashlib.md5(payload).hexdigest())
    assert (folder / "ratings.csv").exists()


def test_archive_escaping_the_cache_is_refused(server, tmp_path):
    root, url, _ = server
    publish(root, "ml-latest-small", fake_release(extra={"../evil.txt": "x"}))
    with pytest.raises(DataError, match=r"member '../evil.txt' has an unsafe or empty name"):
        download_movielens("ml-latest-small", tmp_path / "cache", base_url=url)
    assert not (tmp_path / "evil.txt").exists()


def test_unknown_release_and_unreachable_server(tmp_path):
    with pytest.raises(ValueError, match=r"'name' must be one of"):
        download_movielens("ml-5k", tmp_path)
    with pytest.raises(DataError, match=r"download failed"):
        download_movielens("ml-latest-small", tmp_path, base_url="http://127.0.0.1:9", md5="0" * 32, timeout=5)
