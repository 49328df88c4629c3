"""Download a MovieLens release into a cache folder, verified against its published MD5.

GroupLens publishes a checksum beside each archive (``<name>.zip.md5``, a line such as
``MD5 (ml-100k.zip) = 0e33...``). fastcf checks the archive against a checksum pinned here
when it has one, else against that published file, else against the one you pass; an
archive that does not match is deleted and an error raised. Nothing is extracted from an
unverified archive, and no archive member may land outside the cache folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional

from fastcf.exceptions import DataError

__all__ = ["MOVIELENS_RELEASES", "default_cache", "download_movielens"]

BASE_URL = "https://files.grouplens.org/datasets/movielens"
#: release name -> folder the archive extracts to
MOVIELENS_RELEASES = {
    "ml-100k": "ml-100k",
    "ml-1m": "ml-1m",
    "ml-10m": "ml-10M100K",
    "ml-20m": "ml-20m",
    "ml-25m": "ml-25m",
    "ml-32m": "ml-32m",
    "ml-latest-small": "ml-latest-small",
    "ml-latest": "ml-latest",
}
# Checksums GroupLens published for releases that no longer change.
_PINNED_MD5 = {"ml-100k": "0e33842e24a9c977be4e0107933c0723"}
_MD5_LINE = re.compile(r"([0-9a-fA-F]{32})")
_VERIFIED = ".fastcf-verified"


def default_cache() -> Path:
    """``$FASTCF_DATA``, else ``$XDG_CACHE_HOME/fastcf``, else ``~/.cache/fastcf``."""
    if os.environ.get("FASTCF_DATA"):
        return Path(os.environ["FASTCF_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastcf"


def download_movielens(
    name: str,
    dest=None,
    *,
    md5: Optional[str] = None,
    base_url: str = BASE_URL,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Fetch, verify and extract a MovieLens release; returns the extracted folder.

    A release already extracted and verified in ``dest`` is returned without network access
    (``force=True`` downloads again).

    Parameters
    ----------
    name : one of MOVIELENS_RELEASES ("ml-100k", "ml-1m", "ml-20m", "ml-latest-small", ...)
    dest : folder, optional
        The cache folder; default :func:`default_cache`.
    md5 : str, optional
        Expected MD5 of the archive; default the pinned one, else GroupLens' published one.
    base_url : str
        Where the archives are (a mirror, or a local server in tests).
    """
    if name not in MOVIELENS_RELEASES:
        raise ValueError(f"download_movielens: 'name' must be one of {sorted(MOVIELENS_RELEASES)}; got {name!r}.")
    cache = Path(dest) if dest is not None else default_cache()
    folder = cache / MOVIELENS_RELEASES[name]
    if (folder / _VERIFIED).exists() and not force:
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}.zip"
    expected = (md5 or _PINNED_MD5.get(name) or _published_md5(url, timeout)).lower()
    if not re.fullmatch(r"[0-9a-f]{32}", expected):
        raise ValueError(f"download_movielens: 'md5' must be 32 hex digits; got {expected!r}.")

    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        actual = _fetch(url, archive, timeout)
        if actual != expected:
            raise DataError(
                f"{url}: checksum mismatch: MD5 {actual}, expected {expected}. The download was "
                f"deleted; retry, or check the mirror."
            )
        staging = Path(tmp) / "extracted"
        _safe_extract(archive, staging)
        extracted = staging / MOVIELENS_RELEASES[name]
        if not extracted.is_dir():
            raise DataError(f"{url}: the archive does not hold the folder {MOVIELENS_RELEASES[name]!r}.")
        (extracted / _VERIFIED).write_text(f"{name}.zip md5 {actual}\n")
        if folder.exists():
            shutil.rmtree(folder)
        shutil.move(str(extracted), str(folder))
    return folder


def _published_md5(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(f"{url}.md5", timeout=timeout) as response:
            text = response.read(4096).decode("ascii", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(
            f"{url}.md5: could not fetch the published checksum ({exc}); pass md5=... to verify against "
            f"a checksum you trust."
        ) from None
    match = _MD5_LINE.search(text)
    if not match:
        raise DataError(f"{url}.md5: no MD5 checksum in {text[:80]!r}.")
    return match.group(1).lower()


def _fetch(url: str, target: Path, timeout: float) -> str:
    """Stream ``url`` into ``target``; returns the MD5 of what arrived."""
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                digest.update(block)
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"{url}: download failed ({exc}).") from None
    return digest.hexdigest()


def _safe_extract(archive: Path, destination: Path) -> None:
    """Extract every member, refusing any that would land outside ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                target = (destination / member.filename).resolve()
                if target != root and root not in target.parents:
                    raise DataError(f"{archive.name}: member {member.filename!r} would extract outside the cache.")
            zipped.extractall(destination)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive.name}: not a valid zip archive ({exc}).") from None
