"""Download a MovieLens release into a cache folder, verified against its published MD5.

GroupLens publishes a checksum beside each archive (``<name>.zip.md5``, a line such as
``MD5 (ml-100k.zip) = 0e33...``). fastcf checks the archive against a checksum pinned here
when it has one, else against that published file, else against the one you pass; an
archive that does not match is deleted and an error raised. Nothing is extracted from an
unverified archive; no archive member may land outside the cache folder, and extraction is
bounded (MAX_EXTRACTED_BYTES in total, MAX_EXPANSION times the archive's size). A hostile
archive (unsafe names, clashing names, a zip bomb) is a DataError naming the member.
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
import zlib
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
#: Most bytes one archive may extract to: MovieLens' largest release (ml-latest) extracts to
#: under 2 GB. Pass ``max_extracted_bytes`` to download_movielens for more.
MAX_EXTRACTED_BYTES = 4 << 30
#: Most members one archive may hold (MovieLens archives hold under 50).
MAX_MEMBERS = 10_000
#: Most an archive may expand, as a multiple of its own size (text compresses 3-6x).
MAX_EXPANSION = 100


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
    max_extracted_bytes: int = MAX_EXTRACTED_BYTES,
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
    max_extracted_bytes : int
        Most bytes the archive may extract to (default 4 GiB, MAX_EXTRACTED_BYTES), and never
        more than MAX_EXPANSION (100) times the archive's size; beyond either, DataError.
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
        _safe_extract(archive, staging, max_extracted_bytes)
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


def _safe_extract(archive: Path, destination: Path, max_bytes: int = None) -> None:
    """Extract every member into ``destination``, refusing a hostile archive before or while writing.

    Refused, as DataError naming the member: a name that is empty, absolute, holds ``..``,
    a backslash or a drive letter; two members of one name; a file where a folder is needed
    (or the reverse); more than ``max_bytes`` (default MAX_EXTRACTED_BYTES) in total, counted
    on the bytes actually written, not on sizes the archive declares; an expansion of more
    than MAX_EXPANSION times the archive's size (a zip bomb); encrypted or unreadable members.
    """
    limit = MAX_EXTRACTED_BYTES if max_bytes is None else int(max_bytes)
    limit = min(limit, MAX_EXPANSION * max(archive.stat().st_size, 1 << 20))
    destination.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_MEMBERS:
                raise DataError(f"{archive.name}: {len(members):,} members; a MovieLens archive has a few dozen "
                                f"(the limit is {MAX_MEMBERS:,}).")
            plan = _extraction_plan(archive.name, members)
            declared = sum(m.file_size for m in members)
            if declared > limit:
                raise DataError(f"{archive.name}: the archive would extract to {declared:,} bytes; the limit is "
                                f"{limit:,} (MAX_EXTRACTED_BYTES, or {MAX_EXPANSION}x the archive's size).")
            for member, parts, is_folder in plan:
                target = destination.joinpath(*parts)
                if is_folder:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, open(target, "xb") as out:
                    while True:
                        block = source.read(1 << 20)
                        if not block:
                            break
                        written += len(block)
                        if written > limit:
                            raise DataError(f"{archive.name}: member {member.filename!r} takes the extracted size "
                                            f"beyond the limit of {limit:,} bytes; extraction stopped.")
                        out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DataError(f"{archive.name}: not a valid zip archive ({exc}).") from None
    except OSError as exc:  # a name the file system refuses, or no space left
        raise DataError(f"{archive.name}: extraction failed ({exc}).") from None


def _extraction_plan(archive: str, members):
    """(member, path parts, is_folder) of each member, after checking that names are safe and
    that no path is both a file and a folder."""
    plan, files, folders = [], set(), set()
    for member in members:
        name = member.filename
        is_folder = name.endswith("/")
        parts = name.rstrip("/").split("/")
        unsafe = (not name.strip("/") or name.startswith("/") or "\\" in name or "\0" in name
                  or re.match(r"^[A-Za-z]:", name) or any(p in ("", ".", "..") for p in parts))
        if unsafe:
            raise DataError(f"{archive}: member {name!r} has an unsafe or empty name; nothing was extracted.")
        key = tuple(parts)
        prefixes = {key[:k] for k in range(1, len(key))}
        if key in files or (not is_folder and key in folders) or prefixes & files:
            raise DataError(f"{archive}: member {name!r} clashes with another member (a file and a folder of one "
                            f"name, or a name twice); nothing was extracted.")
        folders |= prefixes
        (folders if is_folder else files).add(key)
        plan.append((member, parts, is_folder))
    return plan
