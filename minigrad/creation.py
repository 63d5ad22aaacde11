"""Factory functions: tensor, as_tensor, from_numpy, zeros, ones, full, empty, randn, rand,
randint, arange, eye, *_like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from .backend import Device, device_of_array, get_default_device, rng
from .tensor import Tensor, _is_array, float32, int64, resolve_dtype


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor (always a copy). Python floats → float32, ints → int64;
    NumPy arrays keep their dtype."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a Tensor, without a copy when it can be shared (PyTorch's ``as_tensor``):
    a Tensor of the wanted dtype and device comes back itself; a NumPy/CuPy array already on
    the device, in the dtype, is wrapped as a constant (no grad) sharing its memory, so writes
    to one are seen by the other. Anything else is converted as ``tensor`` does."""
    want = resolve_dtype(dtype) if dtype is not None else None
    dev = Device(device) if device is not None else None
    if isinstance(data, Tensor):
        same = (want is None or data.dtype == want) and (dev is None or data.device is dev)
        return data if same else data.to(dev or data.device, dtype=want or data.dtype)
    if _is_array(data):
        src = device_of_array(data)
        if (dev is None or src is dev) and (want is None or data.dtype == want):
            resolve_dtype(data.dtype)  # an unsupported dtype is a clear error here
            return Tensor._wrap(data, src)
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A CPU tensor that shares ``array``'s memory and keeps its dtype (PyTorch's
    ``torch.from_numpy``): writes to either are seen by the other."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(
            f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}; use mg.tensor(data) for "
            "other data"
        )
    return as_tensor(array, device="cpu")


def _shape(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


def _make(fill: str, shape: Any, dtype: Any, device: Any, requires_grad: bool, *args: Any) -> Tensor:
    dev = Device(device) if device is not None else get_default_device()
    d = resolve_dtype(dtype) if dtype is not None else float32
    with dev.use():
        arr = getattr(dev.xp, fill)(shape, *args, dtype=d)
    t = Tensor._wrap(arr, dev)
    t.requires_grad = requires_grad
    return t


def zeros(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _make("zeros", _shape(shape), dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _make("ones", _shape(shape), dtype, device, requires_grad)


def empty(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _make("empty", _shape(shape), dtype, device, requires_grad)


def full(
    shape: Any, fill_value: float, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make("full", shape, dtype, device, requires_grad, fill_value)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def _random(kind: str, shape: tuple[int, ...], dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    dev = Device(device) if device is not None else get_default_device()
    d = resolve_dtype(dtype) if dtype is not None else float32
    gen = rng(dev)
    with dev.use():
        if kind == "normal":
            arr = gen.standard_normal(shape)
        else:
            arr = gen.random(shape) if dev.type == "cpu" else gen.random_sample(shape)
        arr = arr.astype(d, copy=False)
    t = Tensor._wrap(arr, dev)
    t.requires_grad = requires_grad
    return t


def randn(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the device's generator (seeded by ``manual_seed``)."""
    return _random("normal", _shape(shape), dtype, device, requires_grad)


def rand(*shape: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the device's generator (seeded by ``manual_seed``)."""
    return _random("uniform", _shape(shape), dtype, device, requires_grad)


def randint(
    low: int, high: int | Sequence[int] | None = None, size: int | Sequence[int] | None = None,
    dtype: Any = None, device: Any = None,
) -> Tensor:
    """Integers drawn uniformly from [low, high), int64 by default, from the device's generator.
    PyTorch's argument order: ``randint(high, size)`` or ``randint(low, high, size)``."""
    if high is None:  # randint(high, size=...)
        low, high = 0, low
    elif size is None and not isinstance(high, int):  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: give the size, as randint(high, size) or randint(low, high, size)")
    shape = (size,) if isinstance(size, int) else tuple(size)
    dev = Device(device) if device is not None else get_default_device()
    gen = rng(dev)
    with dev.use():
        draw = gen.integers if dev.type == "cpu" else gen.randint
        arr = draw(low, high, shape).astype(resolve_dtype(dtype) if dtype is not None else int64, copy=False)
    return Tensor._wrap(arr, dev)


def arange(
    start: float, stop: float | None = None, step: float = 1, dtype: Any = None, device: Any = None
) -> Tensor:
    """Like numpy.arange: int64 for integer arguments, float32 otherwise."""
    if stop is None:
        start, stop = 0, start
    ints = all(isinstance(v, int) for v in (start, stop, step))
    d = resolve_dtype(dtype) if dtype is not None else (resolve_dtype("int64") if ints else float32)
    dev = Device(device) if device is not None else get_default_device()
    with dev.use():
        return Tensor._wrap(dev.xp.arange(start, stop, step).astype(d, copy=False), dev)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None) -> Tensor:
    dev = Device(device) if device is not None else get_default_device()
    d = resolve_dtype(dtype) if dtype is not None else float32
    with dev.use():
        return Tensor._wrap(dev.xp.eye(n, m, dtype=d), dev)
