"""Devices and array modules: one code path for NumPy (cpu) and CuPy (cuda).

Every op asks its tensor's device for the array module (``x.device.xp``) instead of
calling numpy directly, so the same forward/backward code runs on either backend.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

import numpy

__all__ = [
    "Device",
    "device",
    "get_default_device",
    "set_default_device",
    "to_device",
    "device_of_array",
    "manual_seed",
    "rng",
    "get_rng_state",
    "set_rng_state",
    "scatter_add",
    "fused_kernels",
    "set_fused",
]

_INSTALL_HINT = "pip install cupy-cuda12x  (or: pip install -e '.[gpu]')"


def _import_cupy() -> ModuleType:
    """Import CuPy; a separate function so tests can inject a stand-in module."""
    import cupy

    return cupy


def _cuda_module(index: int) -> ModuleType:
    """Return CuPy after checking that it is installed and that GPU ``index`` exists."""
    try:
        cupy = _import_cupy()
    except ImportError as e:
        raise RuntimeError(
            f"device 'cuda:{index}' was requested but CuPy is not installed ({e}). "
            f"Install it with: {_INSTALL_HINT}, or use device='cpu'."
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises its own CUDARuntimeError when no driver is present
        raise RuntimeError(
            f"device 'cuda:{index}' was requested but no CUDA GPU is usable: {e}. "
            "Check the NVIDIA driver (nvidia-smi), or use device='cpu'."
        ) from None
    if count == 0:
        raise RuntimeError(
            f"device 'cuda:{index}' was requested but no CUDA GPU is visible (CuPy is installed "
            "and found 0 devices). Check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, "
            "or use device='cpu'."
        )
    if index >= count:
        raise RuntimeError(
            f"device 'cuda:{index}' was requested but only {count} CUDA GPU(s) are visible. "
            "Pick an index below that, or use device='cpu'."
        )
    return cupy


class Device:
    """A compute device: ``cpu`` (NumPy) or ``cuda:N`` (CuPy).

    Instances are interned, so ``Device("cuda") is Device("cuda:0")``; ops compare
    devices by identity on the fast path.
    """

    __slots__ = ("type", "index", "xp", "__weakref__")
    _cache: dict[tuple[str, int | None], Device] = {}
    _lock = threading.Lock()

    type: str
    index: int | None
    xp: ModuleType

    def __new__(cls, spec: str | Device = "cpu") -> Device:
        if isinstance(spec, Device):
            return spec
        kind, index = _parse(spec)
        key = (kind, index)
        cached = cls._cache.get(key)
        if cached is not None:
            return cached
        with cls._lock:
            xp = numpy if kind == "cpu" else _cuda_module(index)
            self = object.__new__(cls)
            object.__setattr__(self, "type", kind)
            object.__setattr__(self, "index", index)
            object.__setattr__(self, "xp", xp)
            return cls._cache.setdefault(key, self)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Device is immutable")

    def __repr__(self) -> str:
        return f"device('{self}')"

    def __str__(self) -> str:
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                return _parse(other) == (self.type, self.index)
            except ValueError:
                return False
        return self is other

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (Device, (str(self),))

    def use(self):
        """Context manager making this device CuPy's current one (a no-op on cpu)."""
        if self.type == "cpu":
            return _NullContext()
        return self.xp.cuda.Device(self.index)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _parse(spec: str) -> tuple[str, int | None]:
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0' or a Device, got {spec!r}")
    text = spec.strip().lower()
    if text == "cpu":
        return "cpu", None
    if text == "cuda" or text == "gpu":
        return "cuda", 0
    if text.startswith("cuda:"):
        num = text[5:]
        if num.isdigit():
            return "cuda", int(num)
    raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N' (N = GPU index)")


def device(spec: str | Device | None = None) -> Device:
    """Resolve ``spec`` (a string, a Device or None for the default) to a Device."""
    return get_default_device() if spec is None else Device(spec)


_default: Device | None = None


def _device_from_env() -> Device:
    """The device named by ``MINIGRAD_DEVICE`` (cpu when unset); fails at once if unusable."""
    spec = os.environ.get("MINIGRAD_DEVICE", "").strip()
    if not spec:
        return Device("cpu")
    try:
        return Device(spec)
    except (ValueError, RuntimeError) as e:
        raise type(e)(f"MINIGRAD_DEVICE={spec!r}: {e}") from None


def get_default_device() -> Device:
    """The device new tensors go to when none is given."""
    global _default
    if _default is None:
        _default = _device_from_env()
    return _default


def set_default_device(spec: str | Device) -> None:
    """Make ``spec`` the default device; raises at once if it is unusable."""
    global _default
    _default = Device(spec)


def device_of_array(array: Any) -> Device:
    """The device an array lives on: cpu for NumPy arrays, cuda:N for CuPy arrays (and for
    any array whose ``.device.id`` names a GPU, such as a stand-in CuPy array in tests)."""
    if type(array) is numpy.ndarray:
        return Device("cpu")
    index = getattr(getattr(array, "device", None), "id", None)
    if index is not None:
        return Device(f"cuda:{index}")
    if isinstance(array, numpy.ndarray):
        return Device("cpu")
    raise TypeError(f"cannot tell the device of {type(array).__name__}")


def to_device(array: Any, dev: Device) -> Any:
    """Copy ``array`` to ``dev`` (no copy when it is already there)."""
    src = device_of_array(array)
    if src is dev:
        return array
    if dev.type == "cpu":
        return src.xp.asnumpy(array)
    with dev.use():
        return dev.xp.asarray(array)


def scatter_add(dev: Device, target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` with repeated indices accumulating (``np.add.at``)."""
    if dev.type == "cpu":
        dev.xp.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)


# Random numbers: one generator per device, all reseeded by manual_seed.
_rngs: dict[Device, Any] = {}
_seed: list[int | None] = [None]


def rng(dev: Device) -> Any:
    """The random generator of ``dev`` (numpy Generator / cupy RandomState).

    A device first used after ``manual_seed`` starts from that seed too, so runs repeat.
    """
    gen = _rngs.get(dev)
    if gen is None:
        gen = _rngs[dev] = _new_rng(dev, _seed[0])
    return gen


def _new_rng(dev: Device, seed: int | None) -> Any:
    if dev.type == "cpu":
        return numpy.random.default_rng(seed)
    with dev.use():
        return dev.xp.random.RandomState(seed)


def manual_seed(seed: int) -> None:
    """Seed the generator of every backend, so runs repeat exactly."""
    _seed[0] = int(seed)
    for dev in list(_rngs):
        _rngs[dev] = _new_rng(dev, _seed[0])


def get_rng_state() -> dict[str, Any]:
    """Every generator's state, ``{"seed": ..., "devices": {"cpu": {...}, ...}}``, as plain
    ints and strings (``mg.save`` stores it in a checkpoint).

    CuPy cannot export a generator's state, so for a GPU the snapshot reseeds that device's
    generator from its own stream and records the seed: the run that took the snapshot and a
    run restored from it draw the same numbers afterwards.
    """
    devices = {}
    for dev, gen in list(_rngs.items()):
        if dev.type == "cpu":
            devices[str(dev)] = gen.bit_generator.state
        else:
            with dev.use():
                seed = int(gen.randint(0, 2**31 - 1))
            _rngs[dev] = _new_rng(dev, seed)
            devices[str(dev)] = {"seed": seed}
    return {"seed": _seed[0], "devices": devices}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from ``get_rng_state()``; raises ValueError, changing nothing,
    if ``state`` is not such a snapshot. Devices this machine cannot open (no CuPy or GPU)
    are skipped: nothing random can be drawn on them here."""
    try:
        seed = None if state["seed"] is None else int(state["seed"])
        restored = {}
        for name, dev_state in state["devices"].items():
            try:
                dev = Device(name)
            except RuntimeError:
                continue
            restored[dev] = _restored_rng(dev, dev_state)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(
            f"set_rng_state: expected a state from mg.get_rng_state() ({type(e).__name__}: {e})"
        ) from None
    _seed[0] = seed
    _rngs.clear()
    _rngs.update(restored)


def _restored_rng(dev: Device, dev_state: dict[str, Any]) -> Any:
    if dev.type == "cpu":
        gen = numpy.random.default_rng()
        gen.bit_generator.state = dev_state
        return gen
    return _new_rng(dev, int(dev_state["seed"]))


def fused_kernels(spec: str | Device = "cpu") -> str | None:
    """Which engine runs the fused kernels of the hot ops on a device type ("numba" on the
    CPU with the ``fast`` extra, "cupy" on CUDA), or None when the plain NumPy/CuPy ops run
    (engine not installed, ``MINIGRAD_FUSED=0``, or ``set_fused(False)``)."""
    from . import kernels

    dev_type = spec.type if isinstance(spec, Device) else _parse(spec)[0]
    return kernels.installed(dev_type) if kernels.is_enabled() else None


def set_fused(enabled: bool) -> None:
    """Turn the fused kernels on or off for this process (``MINIGRAD_FUSED=0`` starts off)."""
    from . import kernels

    kernels.set_enabled(enabled)
