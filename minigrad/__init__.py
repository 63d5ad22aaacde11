"""minigrad: a readable reverse-mode autodiff framework on NumPy (CPU) and CuPy (GPU)."""

from . import distributed, functional, nn, optim, viz
from .anomaly import detect_anomaly
from .autograd import Function, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import Device, get_default_device, get_rng_state, manual_seed, set_default_device, set_rng_state
from .creation import arange, empty, eye, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops.elementwise import where
from .serialization import load, save
from .tensor import (
    Tensor,
    bool_,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)


def concat(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    from .ops import Concat

    return Concat.apply(*tensors, axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    from .ops import Stack

    return Stack.apply(*tensors, axis=axis)


def maximum(a, b) -> Tensor:
    """Elementwise max; at ties the gradient is split evenly."""
    from .ops import Maximum
    from .tensor import as_tensor_like

    ref = a if isinstance(a, Tensor) else b
    return Maximum.apply(as_tensor_like(a, ref), as_tensor_like(b, ref))


def minimum(a, b) -> Tensor:
    """Elementwise min; at ties the gradient is split evenly."""
    from .ops import Minimum
    from .tensor import as_tensor_like

    ref = a if isinstance(a, Tensor) else b
    return Minimum.apply(as_tensor_like(a, ref), as_tensor_like(b, ref))


__all__ = [
    "Tensor", "Function", "Device", "GradcheckError",
    "tensor", "zeros", "ones", "full", "empty", "randn", "rand", "arange", "eye",
    "zeros_like", "ones_like", "manual_seed",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_",
    "concat", "stack", "where", "maximum", "minimum",
    "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "gradcheck", "gradgradcheck",
    "set_default_device", "get_default_device",
    "functional", "nn", "distributed",
    "detect_anomaly", "viz",
    "optim", "save", "load", "get_rng_state", "set_rng_state",
]
