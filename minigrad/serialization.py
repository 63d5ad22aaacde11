"""Checkpoints: nested state dicts saved as one ``.npz``, atomically, and never pickled.

Arrays become ``.npy`` entries named by their path in the nesting (``model/linear.weight``),
so ``numpy.load`` can read them too. Everything else (the nesting, ints, floats, bools,
strings, None, dict keys) goes into a JSON manifest stored as a uint8 entry. Loading reads
entries with ``allow_pickle=False`` after checking each header, so loading a file never
runs code.
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
from typing import IO, Any

import numpy

from . import backend
from .backend import Device, to_device
from .tensor import Tensor, resolve_dtype

__all__ = ["save", "load", "atomic_write", "CheckpointError", "UnsafeCheckpointError"]

MANIFEST = "__minigrad_manifest__"
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
    an existing checkpoint is never left half-written."""
    arrays: dict[str, numpy.ndarray] = {}
    tree = _encode(obj, (), arrays)
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[MANIFEST] = numpy.frombuffer(manifest.encode("utf-8"), dtype=numpy.uint8)
    _write_atomically(os.fspath(path), arrays)


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


def _write_atomically(path: str, arrays: dict[str, numpy.ndarray]) -> None:
    with atomic_write(path, "wb") as f:
        _write_npz(f, arrays)


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
    arrays = _read_archive(path)
    if MANIFEST not in arrays:  # also what a damaged central directory that hides entries looks like
        raise _invalid(path, "no manifest; for an .npz written by numpy.savez use numpy.load(path, "
                             "allow_pickle=False)")
    tree = _read_manifest(path, arrays.pop(MANIFEST))
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


def _read_manifest(path: str, manifest: numpy.ndarray) -> Any:
    try:
        if manifest.dtype != numpy.uint8 or manifest.ndim != 1:
            raise ValueError(f"the manifest is a {manifest.dtype} array of shape {manifest.shape}, not bytes")
        header = json.loads(manifest.tobytes().decode("utf-8"))
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
