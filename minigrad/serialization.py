"""Checkpoints: nested state dicts saved as one file, atomically, and never pickled.

Two containers, chosen by the file's suffix, hold the same thing. Arrays are named by their
path in the nesting (``model/linear.weight``; a flat model state dict keeps its own keys).
Everything else (the nesting, ints, floats, bools, strings, None, dict keys) goes into a
JSON manifest.

* ``.safetensors``: the safetensors format (the ``safetensors`` package's NumPy API), which
  PyTorch and Hugging Face tools read and write (``safetensors.torch.load_file``). The
  manifest sits in the header's metadata; a file without one (written by another tool)
  loads as a flat dict of name → Tensor.
* any other name (``.npz`` by convention): a ``.npz`` that ``numpy.load`` can read, the
  manifest stored as a uint8 entry. Loading reads entries with ``allow_pickle=False`` after
  checking each header.

Neither format can hold code, so loading a file never runs any.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

import numpy

from . import backend
from .backend import Device, to_device
from .tensor import Tensor, resolve_dtype

__all__ = ["save", "load", "atomic_write", "CheckpointError", "UnsafeCheckpointError"]

MANIFEST = "__minigrad_manifest__"
CHECKSUMS = "__minigrad_crc32__"  # safetensors only (a zip has its own CRCs)
FORMAT = "minigrad-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is not a valid minigrad checkpoint (truncated, corrupted, or something else)."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds pickled Python objects, which minigrad refuses to load."""


# -- saving -------------------------------------------------------------------------------


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays, numbers, strings, None)
    to exactly ``path``: a temporary file in the same directory, then an atomic rename, so
    an existing checkpoint is never left half-written. A name ending in ``.safetensors``
    gets the safetensors format, any other a ``.npz``."""
    path = os.fspath(path)
    arrays: dict[str, numpy.ndarray] = {}
    tree = _encode(obj, (), arrays)
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    with atomic_write(path, "wb") as f:
        if is_safetensors(path):
            _write_safetensors(f, arrays, manifest)
        else:
            arrays[MANIFEST] = numpy.frombuffer(manifest.encode("utf-8"), dtype=numpy.uint8)
            _write_npz(f, arrays)


def is_safetensors(path: str | os.PathLike) -> bool:
    """Whether ``mg.save``/``mg.load`` use the safetensors format for ``path`` (by its suffix)."""
    return os.fspath(path).lower().endswith(".safetensors")


def _encode(node: Any, path: tuple[str, ...], arrays: dict[str, numpy.ndarray]) -> dict[str, Any]:
    """The manifest node of ``node``; its arrays go into ``arrays`` under fresh names."""
    if isinstance(node, Tensor):
        return _encode_array(node.numpy(), path, arrays)
    if isinstance(node, numpy.ndarray):
        return _encode_array(node, path, arrays)
    if isinstance(node, dict):
        for key in node:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at '{_where(path)}'")
        return {"dict": [[key, _encode(value, path + (str(key),), arrays)] for key, value in node.items()]}
    if isinstance(node, (list, tuple)):
        kind = "list" if isinstance(node, list) else "tuple"
        return {kind: [_encode(value, path + (str(i),), arrays) for i, value in enumerate(node)]}
    if isinstance(node, numpy.generic):
        node = node.item()
    if node is None or isinstance(node, (bool, int, float, str)):
        return {"value": node}
    raise TypeError(
        f"save: cannot store a {type(node).__name__} at '{_where(path)}': checkpoints hold Tensors, arrays, "
        "numbers, strings, None, and dicts/lists/tuples of them (never pickled objects)"
    )


def _encode_array(array: numpy.ndarray, path: tuple[str, ...], arrays: dict[str, numpy.ndarray]) -> dict:
    try:
        resolve_dtype(array.dtype)
    except TypeError as e:
        raise TypeError(f"save: the array at '{_where(path)}' has dtype {array.dtype}: {e}") from None
    base = "/".join(path) or "array"
    name, k = base, 1
    while name in arrays or name == MANIFEST:  # a key containing '/' could clash with a nested one
        name, k = f"{base}~{k}", k + 1
    arrays[name] = array
    return {"array": name}


def _where(path: tuple[str, ...]) -> str:
    return "/".join(path) or "<top level>"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; when the ``with`` block ends
    normally it is flushed to disk and renamed to ``path`` in one step, and when the block
    raises it is removed. Readers therefore see the old file or the whole new one, never
    a torn one. ``mode`` is ``"w"`` (text, ``encoding``) or ``"wb"``. The one atomic
    write of the project: checkpoints and the ``nlp`` files use it."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def _write_npz(f: Any, arrays: dict[str, numpy.ndarray]) -> None:
    """What ``numpy.savez`` writes, but to an open file (savez would add '.npz' to a name)
    and with pickling off."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as entry:
                numpy.lib.format.write_array(entry, array, allow_pickle=False)


def _write_safetensors(f: BinaryIO, arrays: dict[str, numpy.ndarray], manifest: str) -> None:
    """The arrays as safetensors; the header's metadata holds the manifest and a CRC-32 of
    each array (the format has no checksums, and a flipped bit in a weight should not load
    silently), and ``format: pt``, which tells Hugging Face loaders the layout is PyTorch's, as
    minigrad's parameter names and shapes are. safetensors reads each array's memory as it
    lies, so strided views (a transposed weight) are made contiguous first."""
    contiguous = {name: a if a.flags.c_contiguous else a.copy(order="C") for name, a in arrays.items()}
    checksums = json.dumps({name: zlib.crc32(a) for name, a in contiguous.items()})
    metadata = {MANIFEST: manifest, CHECKSUMS: checksums, "format": "pt"}
    f.write(_safetensors().numpy.save(contiguous, metadata=metadata))


def _safetensors() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "reading and writing .safetensors files needs the safetensors package: pip install "
            "safetensors (or pip install -e '.[safetensors]'); or save to a .npz name instead"
        ) from None
    return safetensors


def _mode_for(path: str) -> int:
    """Keep an existing file's permissions; new ones get rw-r--r-- (mkstemp makes 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o644


# -- loading ------------------------------------------------------------------------------


def load(path: str | os.PathLike, device: str | Device | None = None) -> Any:
    """Read a checkpoint written by ``save``; arrays come back as Tensors on ``device`` (or
    the default device).

    Raises ``CheckpointError`` (a ValueError) naming the file if it is truncated or
    corrupted, and ``UnsafeCheckpointError`` if it holds pickled objects, which are never
    unpickled.
    """
    path = os.fspath(path)
    dev = backend.device(device)
    if is_safetensors(path):
        arrays, manifest = _read_safetensors(path)
        if manifest is None:  # written by another tool: its tensors by name
            return {name: _tensor(path, name, array, dev) for name, array in arrays.items()}
    else:
        arrays = _read_archive(path)
        if MANIFEST not in arrays:  # also what a damaged central directory that hides entries looks like
            raise _invalid(path, "no manifest; for an .npz written by numpy.savez use numpy.load(path, "
                                 "allow_pickle=False)")
        manifest = _npz_manifest(path, arrays.pop(MANIFEST))
    tree = _read_manifest(path, manifest)
    try:
        return _decode(path, tree, arrays, dev)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise _invalid(path, f"malformed manifest: {type(e).__name__}: {e}") from None


def _invalid(path: str, reason: Any) -> CheckpointError:
    return CheckpointError(f"{path} is not a valid minigrad checkpoint ({reason})")


def _read_archive(path: str) -> dict[str, numpy.ndarray]:
    with open(path, "rb") as f:  # a missing or unreadable file raises OSError naming it
        try:
            with zipfile.ZipFile(f) as zf:
                return {_entry_key(path, name): _read_entry(path, zf, name) for name in zf.namelist()}
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, KeyError,
                NotImplementedError, RuntimeError, zlib.error) as e:  # zipfile's errors for damaged headers
            raise _invalid(path, f"{type(e).__name__}: {e}") from None


def _entry_key(path: str, name: str) -> str:
    if not name.endswith(".npy"):
        raise _invalid(path, f"unexpected entry {name!r}: every entry of an .npz is an .npy array")
    return name[: -len(".npy")]


_HEADER_READERS = {
    (1, 0): numpy.lib.format.read_array_header_1_0,
    (2, 0): numpy.lib.format.read_array_header_2_0,
}


def _read_entry(path: str, zf: zipfile.ZipFile, name: str) -> numpy.ndarray:
    """One array, after its header shows it holds no Python objects (which would be pickled)."""
    with zf.open(name) as entry:
        version = numpy.lib.format.read_magic(entry)
        if version not in _HEADER_READERS:
            raise _invalid(path, f"entry {name!r} uses .npy format {version}, which minigrad never writes")
        _, _, dtype = _HEADER_READERS[version](entry)
    if dtype.hasobject:
        raise UnsafeCheckpointError(
            f"{path}: refusing to load entry {name!r}: it holds pickled Python objects (dtype {dtype}), and "
            "unpickling can run arbitrary code. minigrad checkpoints never contain pickles."
        )
    with zf.open(name) as entry:
        return numpy.lib.format.read_array(entry, allow_pickle=False)


# safetensors' names for the dtypes minigrad tensors hold (others, e.g. BF16, are refused)
_SAFETENSORS_DTYPES = {
    "F16": numpy.float16, "F32": numpy.float32, "F64": numpy.float64, "I8": numpy.int8, "I16": numpy.int16,
    "I32": numpy.int32, "I64": numpy.int64, "U8": numpy.uint8, "BOOL": numpy.bool_,
}


def _read_safetensors(path: str) -> tuple[dict[str, numpy.ndarray], str | None]:
    """The arrays of a safetensors file and its minigrad manifest (None if it has none),
    after safetensors has checked that the header and every tensor's extent are consistent
    and, in a file minigrad wrote, each array matches its checksum."""
    safetensors = _safetensors()
    with open(path, "rb") as f:  # a missing or unreadable file raises OSError naming it
        data = f.read()
    try:
        entries = safetensors.deserialize(data)
        header_size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
        manifest, checksums = metadata.get(MANIFEST), json.loads(metadata.get(CHECKSUMS, "{}"))
        arrays = {name: _safetensors_array(path, name, entry) for name, entry in entries}
        for name, crc in checksums.items():
            if zlib.crc32(arrays[name]) != crc:
                raise ValueError(f"entry {name!r} does not match its checksum: the file was damaged after "
                                 "it was written")
    except CheckpointError:
        raise
    except (safetensors.SafetensorError, ValueError, AttributeError, KeyError, TypeError) as e:
        raise _invalid(path, f"{type(e).__name__}: {e}") from None
    return arrays, manifest


def _safetensors_array(path: str, name: str, entry: dict[str, Any]) -> numpy.ndarray:
    dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
    if dtype is None:
        raise _invalid(path, f"entry {name!r} has dtype {entry['dtype']}, which minigrad tensors cannot "
                             "hold; convert it first (in PyTorch: tensor.float())")
    # ``data`` is a fresh bytearray, so the array owns writable memory
    return numpy.frombuffer(entry["data"], dtype=dtype).reshape(entry["shape"])


def _npz_manifest(path: str, manifest: numpy.ndarray) -> bytes:
    if manifest.dtype != numpy.uint8 or manifest.ndim != 1:
        raise _invalid(path, f"unreadable manifest: the manifest is a {manifest.dtype} array of shape "
                             f"{manifest.shape}, not bytes")
    return manifest.tobytes()


def _read_manifest(path: str, manifest: bytes | str) -> Any:
    try:
        header = json.loads(manifest)
        if header.get("format") != FORMAT:
            raise ValueError(f"the manifest's format is {header.get('format')!r}, not {FORMAT!r}")
        if not isinstance(header.get("version"), int) or header["version"] > VERSION:
            raise ValueError(f"format version {header.get('version')!r}, newer than this minigrad reads")
        return header["tree"]
    except (ValueError, KeyError, AttributeError, RecursionError) as e:
        raise _invalid(path, f"unreadable manifest: {e}") from None


def _decode(path: str, node: dict[str, Any], arrays: dict[str, numpy.ndarray], dev: Device) -> Any:
    ((kind, body),) = node.items()
    if kind == "dict":
        return {key: _decode(path, value, arrays, dev) for key, value in body}
    if kind == "list":
        return [_decode(path, value, arrays, dev) for value in body]
    if kind == "tuple":
        return tuple(_decode(path, value, arrays, dev) for value in body)
    if kind == "array":
        return _tensor(path, body, arrays[body], dev)
    if kind == "value":
        return body
    raise ValueError(f"unknown node kind {kind!r}")


def _tensor(path: str, name: str, array: numpy.ndarray, dev: Device) -> Tensor:
    try:
        resolve_dtype(array.dtype)
    except TypeError as e:
        raise _invalid(path, f"entry {name!r} has dtype {array.dtype}, which minigrad tensors cannot hold: "
                             f"{e}") from None
    return Tensor._wrap(to_device(array, dev), dev)
