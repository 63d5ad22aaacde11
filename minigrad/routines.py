"""Function forms of tensor operations: ``mg.concat``, ``mg.exp(x)``, ``mg.triu(x)``, …

NumPy's names, and PyTorch's where they mean the same (``mg.cat``, ``mg.matmul``); every
one delegates to the Tensor method or op that defines it.
"""

from __future__ import annotations

from typing import Any

from ._keywords import numpy_keywords
from .creation import as_tensor
from .ops import Concat, Gather, Maximum, Minimum, ScatterAdd, Stack
from .ops.elementwise import where
from .tensor import Tensor, as_tensor_like


@numpy_keywords
def concat(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    return Concat.apply(*tensors, axis=axis)


cat = concat  # PyTorch's name: torch.cat(tensors, dim)


@numpy_keywords
def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    return Stack.apply(*tensors, axis=axis)


def _index_for(index: Any, like: Tensor, op: str) -> Any:
    """An integer index (Tensor or array) as an array on ``like``'s device, of its rank."""
    arr = as_tensor(index, device=like.device).data
    if arr.dtype.kind not in "iu" or arr.ndim != like.ndim:
        raise ValueError(
            f"{op}: index must be an integer tensor of the input's rank {like.ndim}, got {arr.dtype} "
            f"of shape {tuple(arr.shape)} (input shape {tuple(like.shape)})"
        )
    return arr


def gather(input: Tensor, dim: int, index: Any) -> Tensor:
    """PyTorch's gather: out[i][j] = input[i][index[i][j]] for dim=1 (any rank); out has
    index's shape. The gradient is scatter-added back."""
    return Gather.apply(input, index=_index_for(index, input, "gather"), axis=dim % input.ndim)


def scatter_add(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """PyTorch's scatter_add (out of place): out = input, then out[i][index[i][j]] += src[i][j]
    for dim=1 (any rank); repeated indices accumulate. ``src`` has index's shape."""
    idx = _index_for(index, input, "scatter_add")
    if tuple(src.shape) != tuple(idx.shape):
        raise ValueError(f"scatter_add: src of shape {tuple(src.shape)} must have index's shape "
                         f"{tuple(idx.shape)}")
    return ScatterAdd.apply(input, src, index=idx, axis=dim % input.ndim)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; at ties the gradient is split evenly."""
    ref = a if isinstance(a, Tensor) else b
    return Maximum.apply(as_tensor_like(a, ref), as_tensor_like(b, ref))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min; at ties the gradient is split evenly."""
    ref = a if isinstance(a, Tensor) else b
    return Minimum.apply(as_tensor_like(a, ref), as_tensor_like(b, ref))


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b``."""
    return a @ b


def exp(x: Tensor) -> Tensor:
    return x.exp()


def log(x: Tensor) -> Tensor:
    return x.log()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def relu(x: Tensor) -> Tensor:
    return x.relu()


def sqrt(x: Tensor) -> Tensor:
    return x.sqrt()


def abs(x: Tensor) -> Tensor:  # NumPy's and PyTorch's name; shadows the builtin in this module only
    return x.abs()


def erf(x: Tensor) -> Tensor:
    return x.erf()


@numpy_keywords
def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest value (over the flattened tensor when ``axis`` is None)."""
    return x.argmax(axis, keepdims)


def transpose(x: Tensor, dim0: Any = None, dim1: int | None = None) -> Tensor:
    """``mg.transpose(x, d0, d1)`` swaps two axes (PyTorch's meaning); ``mg.transpose(x)`` and
    ``mg.transpose(x, axes)`` with a tuple permute all of them (NumPy's)."""
    if dim1 is not None:
        return x.swapaxes(dim0, dim1)
    return x.T if dim0 is None else x.transpose(dim0)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The elements on and above diagonal ``diagonal`` of the last two axes, zeros below
    (``np.triu(x, k)``, ``torch.triu(x, diagonal)``); the gradient flows to the kept ones."""
    return _band(x, diagonal, "triu")


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The elements on and below diagonal ``diagonal`` of the last two axes, zeros above
    (``np.tril(x, k)``, ``torch.tril(x, diagonal)``); the gradient flows to the kept ones."""
    return _band(x, diagonal, "tril")


def _band(x: Tensor, diagonal: int, which: str) -> Tensor:
    if x.ndim < 2:
        raise ValueError(f"{which}: needs a tensor of at least 2 dims, got shape {x.shape}")
    dev = x.device
    with dev.use():
        keep = getattr(dev.xp, which)(dev.xp.ones(x.shape[-2:], dtype=bool), diagonal)
    return where(Tensor._wrap(keep, dev), x, 0)
