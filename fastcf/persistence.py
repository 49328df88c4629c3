"""Saving and loading fitted models: NumPy arrays in an uncompressed .npz, described by a JSON header.

A model file is a zip archive (an ``.npz`` NumPy can open) holding one ``.npy`` member per
array and a member ``__header__.npy`` with the UTF-8 JSON header::

    {"format": "fastcf-model", "format_version": 1, "fastcf_version": "0.1.0",
     "model": {"class": "ImplicitALS", "module": "fastcf.models.implicit_als"},
     "params": {...},          # get_params(), as tagged JSON values
     "state": {...},           # every fitted attribute (name ending in "_")
     "arrays": {"user_factors_": {"shape": [943, 64], "dtype": "<f4", "sha256": "..."}, ...},
     "metadata": {...}}        # free-form JSON given to save()

Values in ``params`` and ``state`` are JSON for None, bool, int, float and str, and tagged
objects for the rest: ``{"$array": member}``, ``{"$scalar": member}`` (a NumPy scalar, as a
0-d array), ``{"$sparse": {...}}`` (CSR parts: data, indices, indptr, shape), ``{"$idmap":
{...}}`` (raw IDs as an array, and the map's name; string IDs stored as fixed-width
Unicode), ``{"$tuple": [...]}``, ``{"$dict": {...}}``, ``{"$float": "nan"}`` and
``{"$dtype": "float32"}``. Fitted state of any other type cannot be saved: ``save`` raises
naming the attribute, so that no model silently loses state.

Loading never unpickles (``allow_pickle=False``) and never imports a module named in the
file: the class is looked up among the already imported :class:`~fastcf.models.Recommender`
subclasses. Before an array is used, its member's ``.npy`` header must agree with the JSON
header (shape, dtype), its byte count with the member size, and its SHA-256 with the one
recorded; the zip CRC guards the JSON header. Then the model checks its state against
itself (``Recommender._check_state``: factor rows against ID maps, and so on).

A file is data, never code: ``load`` sets only the attributes the model's class declares
restorable (``_restorable_``, merged over the class hierarchy; a file naming any other
attribute, such as ``recommend`` or ``_check_state``, is refused), and it bounds what a
file can make it do before any checksum is checked: members must be stored (not
compressed), so no array can be larger than the file; the JSON header is at most
``MAX_HEADER_BYTES`` and nested at most ``MAX_DEPTH`` levels. Every failure is a
:class:`~fastcf.exceptions.ModelFileError` naming the file and the part.

``load(path, mmap=True)`` maps the arrays read-only from the file instead of reading them
into memory (members are stored uncompressed and 64-byte aligned for this), for serving
models larger than the memory one wants to spend; ``verify=False`` then skips the checksum
pass, which would read every page once.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import scipy.sparse as sp

from fastcf.exceptions import ModelFileError

__all__ = ["FORMAT_VERSION", "load", "read_header", "save"]

logger = logging.getLogger(__name__)

FORMAT = "fastcf-model"
#: Version of the layout written here; files of a higher version are refused.
FORMAT_VERSION = 1
HEADER_MEMBER = "__header__.npy"
_ALIGN = 64
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # the fixed 30 bytes of a zip local file header
_PAD_FIELD_ID = 0x6366  # a private zip extra field ("cf") that only pads members to alignment
#: Largest JSON header read (IDs and factors are arrays, so real headers are a few KB).
MAX_HEADER_BYTES = 16 << 20
#: Deepest nesting of values in the header (real models nest two or three levels).
MAX_DEPTH = 32
_SUPPORTED = ("numpy arrays, scipy sparse matrices (saved as CSR), fastcf IdMaps, None, bool, int, "
              "float, str, NumPy scalars, and lists, tuples or str-keyed dicts of these")


# --- saving ----------------------------------------------------------------------------------

class _Encoder:
    """Turns values into tagged JSON, collecting their arrays under member names."""

    def __init__(self, owner: str):
        self.owner = owner
        self.arrays: Dict[str, np.ndarray] = {}

    def array(self, name: str, value: np.ndarray, where: str) -> str:
        if value.dtype.hasobject:
            value = self._object_strings(value, where)
        if value.dtype.kind not in "biufcUSmM" or value.dtype.names is not None:
            raise TypeError(f"{self.owner}: {where} is an array of dtype {value.dtype}; fastcf can save arrays of "
                            f"numbers, booleans and strings.")
        if not (value.flags.c_contiguous or value.flags.f_contiguous):
            value = np.ascontiguousarray(value)
        if name in self.arrays:
            raise ValueError(f"{self.owner}: two values would be stored as member {name!r}.")
        self.arrays[name] = value
        return name

    def _object_strings(self, value: np.ndarray, where: str) -> np.ndarray:
        # pandas gives string IDs as object arrays; NumPy can only store them pickled.
        flat = value.ravel()
        if not all(type(v) is str for v in flat):
            kinds = sorted({type(v).__name__ for v in flat})
            raise TypeError(f"{self.owner}: {where} is an object array holding {', '.join(kinds)}; fastcf saves "
                            f"object arrays only when every element is a str.")
        if any(v.endswith("\0") for v in flat):
            raise ValueError(f"{self.owner}: {where} holds strings ending in NUL, which NumPy's fixed-width "
                             f"strings cannot keep.")
        return np.asarray(flat.tolist() if flat.size else [], dtype=str).reshape(value.shape)

    def value(self, value: Any, where: str, member: str):
        from fastcf.data.id_map import IdMap

        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, np.integer):
            return value
        if isinstance(value, float) and not isinstance(value, np.floating):
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, np.ndarray) and not isinstance(value, np.matrix):
            node = {"$array": self.array(member, value, where)}
            if value.dtype.hasobject:
                node["object"] = True
            return node
        if isinstance(value, np.generic):
            return {"$scalar": self.array(member, np.asarray(value), where)}
        if sp.issparse(value):
            csr = value.tocsr()
            return {"$sparse": {
                "class": "csr_array" if isinstance(value, sp.sparray) else "csr_matrix",
                "shape": [int(n) for n in csr.shape],
                "data": self.array(f"{member}.data", csr.data, f"{where}.data"),
                "indices": self.array(f"{member}.indices", csr.indices, f"{where}.indices"),
                "indptr": self.array(f"{member}.indptr", csr.indptr, f"{where}.indptr"),
            }}
        if isinstance(value, IdMap):
            return {"$idmap": {"name": value.name,
                               "raw_ids": self.value(value.raw_ids, f"{where}.raw_ids", f"{member}.raw_ids")}}
        if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
            return {"$dtype": np.dtype(value).str, "type": isinstance(value, type)}
        if isinstance(value, (list, tuple)):
            items = [self.value(v, f"{where}[{i}]", f"{member}.{i}") for i, v in enumerate(value)]
            return {"$tuple": items} if isinstance(value, tuple) else items
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise TypeError(f"{self.owner}: {where} is a dict with a key {bad[0]!r} that is not a str; "
                                f"fastcf saves dicts with str keys.")
            return {"$dict": {k: self.value(v, f"{where}[{k!r}]", f"{member}.{k}") for k, v in value.items()}}
        raise TypeError(f"{self.owner}: {where} is a {type(value).__module__}.{type(value).__qualname__}, which "
                        f"fastcf cannot save; it saves {_SUPPORTED}.")


def fitted_state(model) -> Dict[str, Any]:
    """The model's fitted attributes: every public attribute whose name ends in "_"."""
    return {name: value for name, value in vars(model).items()
            if name.endswith("_") and not name.startswith("_")}


def restorable_attributes(cls) -> frozenset:
    """The fitted attributes ``load`` may set on a ``cls``: the ``_restorable_`` names of the
    class and its bases (each class declares the ones it adds)."""
    names = set()
    for klass in cls.__mro__:
        names.update(klass.__dict__.get("_restorable_", ()))
    return frozenset(names)


def save(model, path, *, metadata: Optional[dict] = None) -> Path:
    """Write a fitted model to ``path`` (see the module docstring); returns the path.

    The file is written next to its destination and renamed into place, so a crash leaves
    either the old file or the new one. Parameters that are callables (``callback``) are
    runtime hooks, not part of the model: they are saved as None, with a warning.

    Parameters
    ----------
    model : a fitted fastcf Recommender
    path : str or path-like; kept as given (no suffix is added)
    metadata : dict, optional
        JSON-serialisable facts to keep with the model (what it was trained on, ...); read
        them back with :func:`read_header`.
    """
    from fastcf._version import __version__
    from fastcf.models.base import Recommender

    name = type(model).__name__
    owner = f"{name}.save"
    if not isinstance(model, Recommender):
        raise TypeError(f"save: 'model' must be a fastcf Recommender; got {type(model).__name__}.")
    model._check_fitted("save")
    encoder = _Encoder(owner)
    params, dropped = {}, []
    for key, value in model.get_params().items():
        if callable(value) and not isinstance(value, type):
            logger.warning("%s: parameter %r (%s) is a runtime hook and is not saved; the loaded model has "
                           "%s=None.", owner, key, type(value).__name__, key)
            dropped.append(key)
            value = None
        params[key] = encoder.value(value, f"parameter {key!r}", f"param.{key}")
    state = {key: encoder.value(value, f"fitted attribute {key!r}", key) for key, value in fitted_state(model).items()}
    undeclared = sorted(set(state) - restorable_attributes(type(model)))
    if undeclared:
        # Refused here, not at load: a file that cannot be loaded back must not be written.
        raise TypeError(f"{owner}: fitted attribute {undeclared[0]!r} is not declared restorable; add it to "
                        f"{name}._restorable_ so that load may set it.")
    if metadata is not None:
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{owner}: 'metadata' must be JSON-serialisable; {exc}.") from None
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastcf_version": __version__,
        "model": {"class": name, "module": type(model).__module__},
        "params": params,
        "dropped_params": dropped,
        "state": state,
        "arrays": {member: _describe(array) for member, array in encoder.arrays.items()},
        "metadata": metadata or {},
    }
    text = json.dumps(header, allow_nan=False, indent=1).encode("utf-8")

    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            _write_member(zf, raw, HEADER_MEMBER, np.frombuffer(text, dtype=np.uint8))
            for member, array in encoder.arrays.items():
                _write_member(zf, raw, f"{member}.npy", array)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    logger.info("%s: wrote %s (%d arrays, %.1f MB)", owner, path, len(encoder.arrays), path.stat().st_size / 1e6)
    return path


def _contiguous_bytes(array: np.ndarray) -> np.ndarray:
    """The array's bytes in storage order (C, or Fortran for F-contiguous arrays), no copy."""
    if array.ndim > 1 and not array.flags.c_contiguous:
        array = array.T  # F-contiguous: its transpose is C-contiguous over the same bytes
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _describe(array: np.ndarray) -> dict:
    return {"shape": list(array.shape), "dtype": array.dtype.str,
            "fortran_order": bool(array.ndim > 1 and not array.flags.c_contiguous),
            "sha256": hashlib.sha256(_contiguous_bytes(array)).hexdigest()}


def _write_member(zf: zipfile.ZipFile, raw, name: str, array: np.ndarray) -> None:
    """One .npy member, stored, its array data starting at a multiple of 64 bytes in the file.

    The .npy header is padded by NumPy so that the data begins at a multiple of 64 within
    the member; a padding extra field in the zip local header makes the member itself start
    at such an offset, so that memory-mapped arrays are aligned.
    """
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    encoded = name.encode("utf-8")
    offset = raw.tell()
    # 30 fixed bytes, the name, our padding field (4 + pad) and the zip64 field zipfile adds (20).
    pad = (-(offset + _LOCAL_HEADER.size + len(encoded) + 4 + 20)) % _ALIGN
    info.extra = struct.pack("<HH", _PAD_FIELD_ID, pad) + b"\0" * pad
    with zf.open(info, "w", force_zip64=True) as out:
        np.lib.format.write_array(out, array, allow_pickle=False)


# --- loading ---------------------------------------------------------------------------------

def read_header(path) -> dict:
    """The JSON header of a model file (format, class, parameters, metadata, ...), checked."""
    path = Path(os.fspath(path))
    with _open_zip(path) as zf:
        return _header(zf, path)


def load(path, *, mmap: bool = False, verify: bool = True):
    """Load a model written by :func:`save` (``model.save(path)``).

    Parameters
    ----------
    path : str or path-like
    mmap : bool
        Map the arrays read-only from the file (``np.memmap``) instead of reading them; the
        file must stay in place while the model is used.
    verify : bool
        Check every array's SHA-256 against the header (with ``mmap=False`` the zip CRC is
        checked in any case).

    Raises
    ------
    ModelFileError
        The file is missing, truncated, corrupted, not a fastcf model, of a newer format, or
        holds a state that does not fit its model; the message names the file and what failed.
    """
    import fastcf.models  # noqa: F401  (registers fastcf's models)

    path = Path(os.fspath(path))
    try:
        cls, params, state, header = _read(path, mmap, verify)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, struct.error, zlib.error, NotImplementedError, ValueError, KeyError,
            OverflowError, OSError) as exc:  # anything a damaged zip can make zipfile or NumPy raise
        raise ModelFileError(f"{path}: the file is damaged ({exc}).") from None
    except (TypeError, AttributeError, IndexError, MemoryError, RecursionError) as exc:
        raise ModelFileError(f"{path}: the file is damaged ({type(exc).__name__}: {str(exc)[:200]}).") from None
    try:
        model = cls(**params)
        if hasattr(model, "_check_params"):  # estimators store parameters verbatim and check them in fit
            model._check_params()
    except Exception as exc:  # a constructor or check may refuse a value with any error
        raise ModelFileError(f"{path}: the saved parameters do not fit {cls.__name__} ({exc}); the file was written "
                             f"by fastcf {str(header.get('fastcf_version'))[:40]}.") from None
    for key, value in state.items():  # names checked against the class's allow-list in _read
        setattr(model, key, value)
    try:
        model._check_state()
    except Exception as exc:  # a hostile state may break the check in any way: never let it through
        raise ModelFileError(f"{path}: the fitted state does not fit {cls.__name__} ({str(exc)[:300]}).") from None
    return model


def _read(path: Path, mmap: bool, verify: bool):
    """(class, parameters, fitted state, header) of a model file, every array checked."""
    from fastcf.models.base import Recommender

    with _open_zip(path) as zf:
        header = _header(zf, path)
        cls = Recommender._registered_class(header["model"]["class"], header["model"].get("module"))
        if cls is None:
            known = ", ".join(sorted({qualname for _, qualname in Recommender._registry}))
            raise ModelFileError(f"{path}: model class {header['model']['class']!r} is not a fastcf model this "
                                 f"installation knows (known: {known}); was it saved by a newer fastcf or a plugin "
                                 f"that is not imported?")
        state_nodes = _mapping(header, "state", path)
        allowed = restorable_attributes(cls)
        foreign = sorted(key for key in state_nodes if key not in allowed)
        if foreign:
            raise ModelFileError(f"{path}: the state sets {_short(foreign[0])!r}, which is not a restorable attribute of "
                                 f"{cls.__name__} (restorable: {', '.join(sorted(allowed))}); the file is refused.")
        params_nodes = _mapping(header, "params", path)
        accepted = _init_parameters(cls)
        retired = getattr(cls, "_retired_parameters", {})
        unknown = [key for key in params_nodes if key not in accepted and key not in retired]
        if unknown:
            raise ModelFileError(f"{path}: the saved parameters do not fit {cls.__name__}: it takes no parameter "
                                 f"{_short(unknown[0])!r} (it takes {', '.join(accepted)}).")
        arrays = _Arrays(zf, path, header["arrays"], mmap, verify)
        decoder = _Decoder(path, arrays)
        params = {key: decoder.value(node, f"parameter {key!r}") for key, node in params_nodes.items()}
        for key in [key for key in params if key in retired and key not in accepted]:
            # A parameter a later fastcf removed loads only with the one value it still means.
            value = params.pop(key)
            # Compared by type first: a hostile file's array must not reach an ambiguous ==.
            if type(value) is not type(retired[key]) or value != retired[key]:
                raise ModelFileError(f"{path}: the file was saved with {cls.__name__}({key}={value!r}), which this "
                                     f"fastcf no longer has (only {key}={retired[key]!r} remains, as the default "
                                     f"behaviour); refit the model.")
        state = {key: decoder.value(node, f"fitted attribute {key!r}") for key, node in state_nodes.items()}
        unused = set(header["arrays"]) - arrays.used
        if unused:
            raise ModelFileError(f"{path}: the header lists arrays that no value uses: {sorted(unused)[:5]}.")
    return cls, params, state, header


def _short(text, limit: int = 80) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _init_parameters(cls) -> list:
    import inspect

    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file.")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error, NotImplementedError, OverflowError):
        size = path.stat().st_size
        with open(path, "rb") as f:
            start = f.read(4)
        what = ("a zip archive that is truncated or damaged" if start == b"PK\x03\x04" else
                "a pickle, which fastcf never loads" if start[:1] == b"\x80" else "not a zip archive")
        raise ModelFileError(f"{path}: not a readable fastcf model file ({what}; {size:,} bytes).") from None
    try:
        _check_members(zf, path)
    except BaseException:
        zf.close()
        raise
    return zf


def _check_members(zf: zipfile.ZipFile, path: Path) -> None:
    """Bound what reading the members can cost before any is read.

    fastcf stores members uncompressed, so each member's size is bounded by the file's: a
    compressed member (a small file that would inflate to gigabytes) is refused outright.
    """
    size = path.stat().st_size
    for info in zf.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(f"{path}: member {_short(info.filename)!r} is compressed; fastcf model files store "
                                 f"their members uncompressed, so the file was not written by fastcf.save.")
        if info.file_size != info.compress_size or info.header_offset + info.file_size > size:
            raise ModelFileError(f"{path}: member {_short(info.filename)!r} declares {info.file_size:,} bytes, more "
                                 f"than the file holds; the file is damaged.")
    header = zf.NameToInfo.get(HEADER_MEMBER)
    if header is not None and header.file_size > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path}: the header is {header.file_size:,} bytes; fastcf headers are at most "
                             f"{MAX_HEADER_BYTES:,}.")


def _read_member(zf: zipfile.ZipFile, path: Path, member: str) -> bytes:
    try:
        return zf.read(member)
    except KeyError:
        raise ModelFileError(f"{path}: member {member!r} is missing; the file is incomplete.") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: member {member!r} is damaged ({exc}).") from None


def _header(zf: zipfile.ZipFile, path: Path) -> dict:
    if HEADER_MEMBER not in zf.NameToInfo:
        raise ModelFileError(f"{path}: not a fastcf model file (no {HEADER_MEMBER} member; members: "
                             f"{zf.namelist()[:5]}).")
    raw = _read_member(zf, path, HEADER_MEMBER)
    try:
        array = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        if array.dtype != np.uint8 or array.ndim != 1:
            raise ValueError(f"a {array.dtype} array of shape {array.shape}, expected 1-D uint8")
        header = json.loads(array.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: the header is damaged ({_short(exc, 200)}).") from None
    except RecursionError:
        raise ModelFileError(f"{path}: the header is nested too deeply (at most {MAX_DEPTH} levels).") from None
    depth = _depth(header)
    if depth > MAX_DEPTH + 4:  # + the header's own levels (state -> attribute -> tag)
        raise ModelFileError(f"{path}: the header is nested {depth} levels deep; at most {MAX_DEPTH} are allowed.")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a fastcf model file (header format {header.get('format')!r}, "
                             f"expected {FORMAT!r}).")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: 'format_version' must be an int >= 1; got {version!r}.")
    if version > FORMAT_VERSION:
        from fastcf._version import __version__

        raise ModelFileError(f"{path}: written in model format {version} by fastcf "
                             f"{header.get('fastcf_version', '?')}; this fastcf {__version__} reads formats up to "
                             f"{FORMAT_VERSION}. Upgrade fastcf to load it.")
    model = header.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("class"), str):
        raise ModelFileError(f"{path}: the header names no model class.")
    for key in ("params", "state", "arrays"):
        _mapping(header, key, path)
    return header


def _depth(value) -> int:
    """Nesting depth of a JSON value, without recursion (a hostile file may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH + 4:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def _mapping(header: dict, key: str, path: Path) -> dict:
    value = header.get(key)
    if not isinstance(value, dict):
        raise ModelFileError(f"{path}: header field {key!r} must be an object; got {type(value).__name__}.")
    return value


class _Arrays:
    """The file's arrays, each checked against the header before it is handed out."""

    def __init__(self, zf: zipfile.ZipFile, path: Path, table: dict, mmap: bool, verify: bool):
        self.zf, self.path, self.table, self.mmap, self.verify = zf, path, table, mmap, verify
        self.used = set()

    def get(self, member, where: str) -> np.ndarray:
        path = self.path
        if not isinstance(member, str) or member not in self.table:
            raise ModelFileError(f"{path}: {where} refers to array {member!r}, which the header does not list.")
        if member in self.used:
            raise ModelFileError(f"{path}: array {member!r} is used twice.")
        self.used.add(member)
        spec = self.table[member]
        try:
            if not isinstance(spec["shape"], list) or not all(type(n) is int for n in spec["shape"]):
                raise TypeError(f"shape {_short(spec['shape'])} is not a list of ints")
            shape = tuple(spec["shape"])
            dtype = np.dtype(spec["dtype"])
            fortran = bool(spec.get("fortran_order", False))
            digest = spec["sha256"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: the header's entry for array {member!r} is malformed ({exc}).") from None
        if dtype.hasobject or dtype.names is not None or min(shape, default=0) < 0:
            raise ModelFileError(f"{path}: array {member!r} is declared as {dtype} {shape}; fastcf files hold only "
                                 f"plain arrays of numbers, booleans and strings (never Python objects).")
        name = f"{member}.npy"
        info = self.zf.NameToInfo.get(name)
        if info is None:
            raise ModelFileError(f"{path}: member {name!r} is missing; the file is incomplete.")
        with self.zf.open(info) as stream:
            try:
                version = np.lib.format.read_magic(stream)
                file_shape, file_fortran, file_dtype = _read_npy_header(stream, version)
                data_start = stream.tell()
            except (ValueError, EOFError, zipfile.BadZipFile, OSError) as exc:
                raise ModelFileError(f"{path}: member {name!r} is not a valid .npy array ({exc}).") from None
        if file_dtype.hasobject:
            raise ModelFileError(f"{path}: member {name!r} holds Python objects (a pickled array); fastcf never "
                                 f"unpickles, so the file is refused.")
        if (tuple(file_shape), file_dtype, bool(file_fortran)) != (shape, dtype, fortran):
            raise ModelFileError(f"{path}: member {name!r} holds a {file_dtype} array of shape {tuple(file_shape)}; "
                                 f"the header declares {dtype} {shape}.")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a hostile shape cannot overflow
        if info.file_size != data_start + nbytes:
            raise ModelFileError(f"{path}: member {name!r} has {info.file_size - data_start:,} bytes of data; "
                                 f"a {dtype} array of shape {shape} needs {nbytes:,}. The file is truncated or damaged.")
        if self.mmap:
            array = self._mapped(info, name, data_start, shape, dtype, fortran)
        else:
            try:
                with self.zf.open(info) as stream:
                    array = np.lib.format.read_array(stream, allow_pickle=False)
            except (ValueError, EOFError, zipfile.BadZipFile, OSError) as exc:
                raise ModelFileError(f"{path}: member {name!r} is damaged ({exc}).") from None
        if array.shape != shape or array.dtype != dtype:  # what read_array gave must be what was declared
            raise ModelFileError(f"{path}: member {name!r} read as {array.dtype} {array.shape}, declared {dtype} {shape}.")
        if not isinstance(digest, str):
            raise ModelFileError(f"{path}: the header's entry for array {member!r} has no SHA-256.")
        if self.verify and hashlib.sha256(_contiguous_bytes(array)).hexdigest() != digest:
            raise ModelFileError(f"{path}: array {member!r} fails its SHA-256 check; the file is corrupted.")
        return array

    def _mapped(self, info, name, data_start, shape, dtype, fortran) -> np.ndarray:
        if info.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(f"{self.path}: member {name!r} is compressed and cannot be memory-mapped; "
                                 f"load with mmap=False.")
        with open(self.path, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(_LOCAL_HEADER.size)
        if len(local) != _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
            raise ModelFileError(f"{self.path}: the zip entry of member {name!r} is damaged.")
        fields = _LOCAL_HEADER.unpack(local)
        start = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1] + data_start
        if start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > self.path.stat().st_size:
            raise ModelFileError(f"{self.path}: member {name!r} runs past the end of the file; it is truncated.")
        if int(np.prod(shape, dtype=np.int64)) == 0:
            return np.zeros(shape, dtype=dtype, order="F" if fortran else "C")
        return np.memmap(self.path, dtype=dtype, mode="r", offset=start, shape=shape, order="F" if fortran else "C")


def _read_npy_header(stream, version):
    """(shape, fortran_order, dtype) from a .npy header, without reading the data."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy format version {version} is not one fastcf writes")
    return readers[version](stream, max_header_size=10_000)


class _Decoder:
    """Tagged JSON back to values, arrays taken from the checked file."""

    def __init__(self, path: Path, arrays: _Arrays):
        self.path, self.arrays = path, arrays

    def value(self, node, where: str):
        from fastcf.data.id_map import IdMap

        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict) or len(node) == 0 or not isinstance(next(iter(node)), str):
            raise ModelFileError(f"{self.path}: {where} has an unreadable value {str(node)[:60]!r}.")
        tag = next(iter(node))
        body = node[tag]
        try:
            if tag == "$array":
                array = self.arrays.get(body, where)
                return array.astype(object) if node.get("object") else array
            if tag == "$scalar":
                array = self.arrays.get(body, where)
                if array.ndim != 0:
                    raise ValueError(f"a scalar must be a 0-d array; got shape {array.shape}")
                return array[()]
            if tag == "$float":
                if body not in ("nan", "inf", "-inf"):
                    raise ValueError(f"'$float' must be 'nan', 'inf' or '-inf'; got {body!r}")
                return float(body)
            if tag == "$dtype":
                dtype = np.dtype(body)
                if dtype.hasobject:
                    raise ValueError("object dtypes are not allowed")
                return dtype.type if node.get("type") else dtype
            if tag in ("$tuple", "$dict", "$sparse", "$idmap") and not isinstance(body, list if tag == "$tuple" else dict):
                raise TypeError(f"{tag!r} must hold a {'list' if tag == '$tuple' else 'dict'}")
            if tag == "$tuple":
                return tuple(self.value(v, f"{where}[{i}]") for i, v in enumerate(body))
            if tag == "$dict":
                return {k: self.value(v, f"{where}[{k!r}]") for k, v in body.items()}
            if tag == "$idmap":
                raw_ids = self.value(body["raw_ids"], f"{where}.raw_ids")
                return IdMap(raw_ids, str(body["name"]))
            if tag == "$sparse":
                return self._sparse(body, where)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{self.path}: {where} cannot be restored ({exc}).") from None
        raise ModelFileError(f"{self.path}: {where} has an unknown tag {tag!r}.")

    def _sparse(self, body: dict, where: str):
        shape = tuple(int(n) for n in body["shape"])
        data = self.arrays.get(body["data"], f"{where}.data")
        indices = self.arrays.get(body["indices"], f"{where}.indices")
        indptr = self.arrays.get(body["indptr"], f"{where}.indptr")
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"shape {shape} is not a matrix shape")
        if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
            raise ValueError(f"indices and indptr must be integers; got {indices.dtype} and {indptr.dtype}")
        if data.ndim != 1 or indices.shape != data.shape or indptr.shape != (shape[0] + 1,):
            raise ValueError(f"CSR parts of shapes data {data.shape}, indices {indices.shape}, indptr {indptr.shape} "
                             f"do not fit a {shape[0]} x {shape[1]} matrix")
        if indptr[0] != 0 or indptr[-1] != data.size or (np.diff(indptr) < 0).any():
            raise ValueError("indptr must rise from 0 to the number of entries")
        if indices.size and (indices.min() < 0 or indices.max() >= shape[1]):
            raise ValueError(f"column indices must lie in [0, {shape[1]})")
        cls = sp.csr_array if body.get("class") == "csr_array" else sp.csr_matrix
        matrix = cls(shape, dtype=data.dtype)
        # Assigned, not passed to the constructor, which would copy and may narrow the index dtype.
        matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
        return matrix
