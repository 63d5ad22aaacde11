"""minigrad: a readable reverse-mode autodiff framework on NumPy (CPU) and CuPy (GPU)."""

from . import distributed, functional, nn, optim, serialization, viz
from .anomaly import detect_anomaly
from .autograd import Function, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import Device, get_default_device, get_rng_state, manual_seed, set_default_device, set_rng_state
from .creation import (
    arange,
    as_tensor,
    empty,
    eye,
    from_numpy,
    full,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops.elementwise import where
from .routines import abs as abs  # public, but out of __all__: see below
from .routines import (
    argmax,
    cat,
    concat,
    erf,
    exp,
    gather,
    log,
    matmul,
    maximum,
    minimum,
    relu,
    scatter_add,
    sigmoid,
    sqrt,
    stack,
    tanh,
    transpose,
    tril,
    triu,
)
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

# PyTorch's dtype names. They, and ``abs``, stay out of __all__ so that
# ``from minigrad import *`` never shadows Python's builtins.
long = int64
float = float32
double = float64


__all__ = [
    "Tensor", "Function", "Device", "GradcheckError",
    "tensor", "as_tensor", "zeros", "ones", "full", "empty", "randn", "rand", "arange", "eye",
    "zeros_like", "ones_like", "manual_seed",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_",
    "from_numpy", "randint",
    "concat", "cat", "stack", "where", "maximum", "minimum", "matmul", "transpose", "triu", "tril", "argmax",
    "gather", "scatter_add",
    "exp", "log", "tanh", "sigmoid", "relu", "sqrt", "erf",
    "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "gradcheck", "gradgradcheck",
    "set_default_device", "get_default_device",
    "functional", "nn", "distributed",
    "detect_anomaly", "viz",
    "optim", "serialization", "save", "load", "get_rng_state", "set_rng_state",
]
