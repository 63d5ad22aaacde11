"""Fused kernels for the hot ops: numba on the CPU (``pip install -e ".[fast]"``), CuPy
kernels on the GPU.

An op in ``minigrad/ops`` asks ``fused(device, *arrays)`` for the kernel module of its
device; it gets one when fused kernels are on (``MINIGRAD_FUSED=0`` or ``set_enabled(False)``
turns them off), the device's engine is installed, and the arrays suit it (one float dtype,
large enough that a kernel launch pays). Otherwise it gets None and runs its
plain code, which stays the definition; the kernels compute the same values in fewer passes.
Fused kernels serve first-order work only: under ``create_graph=True`` every backward runs
its Tensor ops, so higher-order gradients are unchanged.

``cpu`` and ``cuda`` define the same kernel functions with the same arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy

ENV_FLAG = "MINIGRAD_FUSED"
ENGINES = {"cpu": ("cpu", "numba"), "cuda": ("cuda", "cupy")}  # device type -> (module, package)
_DEVICE_OF_XP = {"numpy": "cpu", "cupy": "cuda"}

# Below this many elements the plain NumPy call is as fast as a kernel launch (a few µs).
MIN_SIZE = 4096

_settings = {"enabled": os.environ.get(ENV_FLAG, "1") != "0", "min_size": MIN_SIZE}
_loaded: dict[str, ModuleType | None] = {}
_FLOATS = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def installed(device_type: str) -> str | None:
    """The engine package for ``device_type`` ("numba", "cupy") if it is installed, else None."""
    package = ENGINES[device_type][1]
    return package if importlib.util.find_spec(package) is not None else None


def is_enabled() -> bool:
    return _settings["enabled"]


def set_enabled(enabled: bool) -> None:
    """Turn fused kernels on or off for this process (``MINIGRAD_FUSED=0`` sets off at start)."""
    _settings["enabled"] = bool(enabled)


@contextmanager
def settings(enabled: bool | None = None, min_size: int | None = None) -> Iterator[None]:
    """Temporarily switch kernels on/off or change the size below which ops run plain code
    (tests use ``min_size=0`` to run every op of a small graph on the fused path)."""
    before = dict(_settings)
    if enabled is not None:
        _settings["enabled"] = bool(enabled)
    if min_size is not None:
        _settings["min_size"] = int(min_size)
    try:
        yield
    finally:
        _settings.update(before)


def _engine(device_type: str) -> ModuleType | None:
    """The kernel module of a device type, imported (and its JIT cache opened) on first use."""
    if device_type not in _loaded:
        module = None
        if installed(device_type):
            module = importlib.import_module(f"{__name__}.{ENGINES[device_type][0]}")
        _loaded[device_type] = module
    return _loaded[device_type]


def fused(device: Any, *arrays: Any) -> ModuleType | None:
    """The kernel module for ``arrays`` on ``device`` (a Device or its type, "cpu"/"cuda"),
    or None when the op should run its plain code: kernels off or not installed, mixed or
    non-float dtypes, or fewer than ``min_size`` elements in the first array."""
    if not _settings["enabled"] or arrays[0].size < _settings["min_size"]:
        return None
    dtype = arrays[0].dtype
    if dtype not in _FLOATS:
        return None
    for a in arrays:
        if a.dtype != dtype:
            return None
    return _engine(getattr(device, "type", device))


def fused_for(xp: ModuleType, *arrays: Any) -> ModuleType | None:
    """``fused`` for code that holds an array module rather than a device (recurrence steps)."""
    device_type = _DEVICE_OF_XP.get(xp.__name__)
    return fused(device_type, *arrays) if device_type else None
