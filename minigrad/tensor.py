"""Tensor: a backend array plus its place in the graph. Operators delegate to ``ops``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy

from . import autograd
from ._keywords import numpy_keywords
from .backend import Device, device_of_array, get_default_device

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")
bool_ = numpy.dtype("bool")

# Float "indices" are often the values half of NumPy's x.max(d), unpacked the PyTorch way.
FLOAT_INDICES_HINT = (
    "if they came from `values, indices = x.max(d)`: max/min keep NumPy's meaning and return "
    "values only; x.max(dim=d) returns (values, indices) as in PyTorch"
)

_DTYPES = {d.name: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)}


def resolve_dtype(dtype: Any) -> numpy.dtype:
    """``mg.float32``, ``numpy.float32``, ``"float32"`` or ``float`` → a supported dtype."""
    if dtype is float:
        return float32
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    try:
        d = numpy.dtype(dtype)
    except TypeError:
        d = None
    if d is None or d.name not in _DTYPES:
        raise TypeError(
            f"unknown dtype {dtype!r}: use one of {', '.join('mg.' + n for n in _DTYPES)}"
        )
    return d


def _is_device_spec(x: Any) -> bool:
    return isinstance(x, Device) or (
        isinstance(x, str) and x.split(":")[0].strip().lower() in ("cpu", "cuda", "gpu")
    )


def _is_array(x: Any) -> bool:
    return isinstance(x, numpy.ndarray) or hasattr(x, "__cuda_array_interface__")


def _from_python(data: Any, dtype: numpy.dtype | None) -> numpy.ndarray:
    """Nested Python data → ndarray: floats → float32, ints → int64, bools → bool."""
    try:
        arr = numpy.asarray(data, dtype=dtype)
    except ValueError as e:
        raise ValueError(
            f"tensor(): cannot build a tensor from a ragged nested sequence — every row must "
            f"have the same length ({e})"
        ) from None
    if arr.dtype == object:
        raise TypeError(f"tensor(): cannot build a tensor from {type(data).__name__} data of mixed types")
    if dtype is not None:
        return arr
    if arr.dtype.kind == "f" and not isinstance(data, numpy.generic):
        arr = arr.astype(float32)
    elif arr.dtype.kind in "iu" and arr.dtype != int64 and not isinstance(data, numpy.generic):
        arr = arr.astype(int64)
    return arr


class ValuesIndices(NamedTuple):
    """What PyTorch's ``x.max(dim=d)`` / ``x.min(dim=d)`` return."""

    values: Tensor
    indices: Tensor


class ElementCount(int):
    """``x.size``: NumPy's number of elements, an int; also callable as PyTorch's
    ``x.size()`` (the shape) and ``x.size(d)`` (the length of dim ``d``)."""

    shape: tuple[int, ...]

    def __new__(cls, shape: tuple[int, ...]) -> ElementCount:
        count = super().__new__(cls, math.prod(shape))
        count.shape = tuple(shape)
        return count

    def __call__(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]


class Tensor:
    """An n-dimensional array on a device, recording the ops that made it.

    ``data`` is the live backend array (numpy or cupy); ``grad`` accumulates gradients
    of leaves; ``requires_grad`` marks tensors to differentiate with respect to.
    """

    __slots__ = ("data", "grad", "_rg", "_ctx", "_idx", "device", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # make ``ndarray + Tensor`` call Tensor.__radd__
    __hash__ = object.__hash__

    def __init__(
        self,
        data: Any,
        dtype: Any = None,
        device: str | Device | None = None,
        requires_grad: bool = False,
    ) -> None:
        if isinstance(data, Tensor):
            arr, src = data.data, data.device
        elif _is_array(data):
            arr, src = data, device_of_array(data)
        else:
            arr, src = _from_python(data, resolve_dtype(dtype) if dtype is not None else None), None
        dev = Device(device) if device is not None else (src or get_default_device())
        if src is not None and src is not dev:
            from .backend import to_device

            arr = to_device(arr, dev)
        elif src is None and dev.type != "cpu":
            from .backend import to_device

            arr = to_device(arr, dev)
        target = resolve_dtype(dtype) if dtype is not None else arr.dtype
        resolve_dtype(target)
        self._become_leaf(dev.xp.array(arr, dtype=target, copy=True), dev, requires_grad)

    def _become_leaf(self, array: Any, device: Device, requires_grad: bool) -> None:
        """Hold ``array`` as a fresh leaf (no creator, no gradient); ``requires_grad`` checked."""
        self.data = array
        self.device = device
        self.grad = None
        self._ctx = None
        self._idx = 0
        self._retains_grad = False
        self._rg = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(
        cls, array: Any, device: Device, requires_grad: bool = False, ctx: Any = None, idx: int = 0
    ) -> Tensor:
        """Fast constructor for arrays already on ``device`` (no copy, no checks). Every op's
        output is made here, so it sets the fields itself rather than through _become_leaf."""
        t = object.__new__(cls)
        t.data = array
        t.device = device
        t.grad = None
        t._rg = requires_grad
        t._ctx = ctx
        t._idx = idx
        t._retains_grad = False
        return t

    # -- attributes ------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self.data.dtype.kind != "f":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, but this one is "
                f"{self.data.dtype}; convert it first, e.g. x.astype(mg.float32)"
            )
        if not flag and self._ctx is not None:
            raise RuntimeError("requires_grad can only be turned off on leaves; use detach()")
        self._rg = bool(flag)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> ElementCount:
        """NumPy's element count (an int); ``x.size()`` / ``x.size(d)`` work as in PyTorch."""
        return ElementCount(self.data.shape)

    def numel(self) -> int:
        """The number of elements (PyTorch's name for ``x.size``)."""
        return self.data.size

    def dim(self) -> int:
        """The number of dimensions (PyTorch's name for ``x.ndim``)."""
        return self.data.ndim

    @property
    def dtype(self) -> numpy.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The Function node that created this tensor (None for leaves)."""
        return self._ctx

    def __repr__(self) -> str:
        body = numpy.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = []
        if self.device.type != "cpu":
            extra.append(f"device='{self.device}'")
        if self.data.dtype not in (float32, int64, bool_):
            extra.append(f"dtype={self.data.dtype.name}")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{type(self._ctx).__name__}>")
        elif self._rg:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    # -- conversion --------------------------------------------------------------
    def numpy(self) -> numpy.ndarray:
        """The values as a NumPy array (shared on cpu, copied from a GPU)."""
        if self.device.type == "cpu":
            return self.data
        return self.device.xp.asnumpy(self.data)

    def item(self) -> Any:
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data, self.device)

    def clone(self) -> Tensor:
        """A copy that owns its memory; gradients flow through it."""
        return ops.Clone.apply(self)

    def astype(self, dtype: Any) -> Tensor:
        d = resolve_dtype(dtype)
        if d == self.data.dtype:
            return self
        if d.kind != "f":  # integers and bools carry no gradient: the result is a constant
            return Tensor._wrap(self.data.astype(d), self.device)
        return ops.Cast.apply(self, d)

    def float(self) -> Tensor:
        """``x.astype(mg.float32)``, PyTorch's spelling."""
        return self.astype(float32)

    def double(self) -> Tensor:
        """``x.astype(mg.float64)``, PyTorch's spelling."""
        return self.astype(float64)

    def long(self) -> Tensor:
        """``x.astype(mg.int64)``, PyTorch's spelling."""
        return self.astype(int64)

    def to(self, target: Any = None, dtype: Any = None) -> Tensor:
        """``x.to("cuda")``, ``x.to(mg.float64)`` or ``x.to("cpu", dtype=mg.float64)``."""
        if target is not None and dtype is None and not _is_device_spec(target):
            target, dtype = None, target
        out = self
        if target is not None:
            dev = Device(target)
            if dev is not self.device:
                out = ops.ToDevice.apply(self, dev)
                out.device = dev
        return out if dtype is None else out.astype(dtype)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        return self.to(f"cuda:{index}")

    # -- autograd ----------------------------------------------------------------
    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad."""
        autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self._ctx is not None:
            self._retains_grad = True
            self._ctx._watched = True
        return self

    # -- arithmetic ----------------------------------------------------------------
    def _operand(self, other: Any) -> Any:
        """Python scalars pass through (weak: they keep float32); arrays become tensors.
        NumPy scalars become Python scalars first (np.float64 subclasses float, yet would
        promote a float32 graph to float64)."""
        kind = type(other)
        if kind is Tensor or kind is float or kind is int:  # the common cases, tested first
            return other
        if isinstance(other, numpy.generic) or (isinstance(other, numpy.ndarray) and other.ndim == 0):
            return other.item()
        if isinstance(other, (Tensor, int, float)):
            return other
        return Tensor(other, device=self.device)

    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, self._operand(other))

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(self._operand(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, self._operand(other))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self._operand(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, self._operand(other))

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self._operand(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self._operand(other), self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(self, self._operand(other))

    def __rpow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(self._operand(other), self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, self._tensor(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self._tensor(other), self)

    def _tensor(self, other: Any) -> Tensor:
        return other if isinstance(other, Tensor) else Tensor(other, device=self.device)

    # -- comparisons: plain boolean tensors, outside the graph ------------------------
    def _compare(self, other: Any, fn: Any) -> Tensor:
        if isinstance(other, Tensor):
            if other.device is not self.device:
                autograd._device_mismatch("compare", (self, other))
            other = other.data
        return Tensor._wrap(fn(self.data, other), self.device)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, lambda a, b: a >= b)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, lambda a, b: a != b)

    def __invert__(self) -> Tensor:
        return Tensor._wrap(~self.data, self.device)

    def __and__(self, other: Any) -> Tensor:
        return self._compare(other, lambda a, b: a & b)

    def __or__(self, other: Any) -> Tensor:
        return self._compare(other, lambda a, b: a | b)

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    @numpy_keywords
    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._wrap(self.data.argmax(axis=axis, keepdims=keepdims), self.device)

    @numpy_keywords
    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._wrap(self.data.argmin(axis=axis, keepdims=keepdims), self.device)

    # -- elementwise ---------------------------------------------------------------
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def gelu(self, approximate: str = "none") -> Tensor:
        return ops.Gelu.apply(self, approximate=approximate)

    def erf(self) -> Tensor:
        return ops.Erf.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor:
        return ops.Clip.apply(self, lo, hi)

    # -- reductions ----------------------------------------------------------------
    @numpy_keywords
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    @numpy_keywords
    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        axes = ops.reduction.normalize_axis(axis, self.ndim)
        count = math.prod(self.shape[a] for a in axes)
        return self.sum(axis=axes, keepdims=keepdims) * ops.reduction.inverse_count(count)

    @numpy_keywords
    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance, ddof=0 by default as in NumPy."""
        axes = ops.reduction.normalize_axis(axis, self.ndim)
        count = math.prod(self.shape[a] for a in axes)
        centred = self - self.mean(axis=axes, keepdims=True)
        scale = ops.reduction.inverse_count(count, ddof, variance=True)
        return (centred * centred).sum(axis=axes, keepdims=keepdims) * scale

    @numpy_keywords
    def max(self, axis: Any = None, keepdims: bool = False, dim: int | None = None) -> Any:
        """NumPy's meaning: the largest values over ``axis`` (values only, also for
        ``x.max(1)``). PyTorch's ``x.max(dim=1)`` returns ``(values, indices)``."""
        return self._extremum(ops.Max, axis, keepdims, dim)

    @numpy_keywords
    def min(self, axis: Any = None, keepdims: bool = False, dim: int | None = None) -> Any:
        """NumPy's meaning: the smallest values over ``axis`` (values only, also for
        ``x.min(1)``). PyTorch's ``x.min(dim=1)`` returns ``(values, indices)``."""
        return self._extremum(ops.Min, axis, keepdims, dim)

    def _extremum(self, op: Any, axis: Any, keepdims: bool, dim: int | None) -> Any:
        name = op.reduce
        if isinstance(axis, Tensor):
            raise TypeError(
                f"x.{name}(other) takes an axis, not a tensor (NumPy's meaning); for PyTorch's "
                f"elementwise {name}imum of two tensors write mg.{name}imum(x, other)"
            )
        if dim is None:
            return op.apply(self, axis=axis, keepdims=keepdims)
        if not isinstance(dim, int):
            raise TypeError(
                f"x.{name}(dim=...) takes one int and returns (values, indices) as in PyTorch, got "
                f"{dim!r}; for the {name} over several axes (values only) write x.{name}(axis={dim!r})"
            )
        position = self.argmax if name == "max" else self.argmin
        return ValuesIndices(op.apply(self, axis=dim, keepdims=keepdims), position(dim, keepdims))

    @numpy_keywords
    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.LogSumExp.apply(self, axis=axis, keepdims=keepdims)

    # -- shape ---------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if tuple(shape) == self.shape:
            return self
        return ops.Reshape.apply(self, shape)

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    def view(self, *shape: Any) -> Tensor:
        """``x.reshape(*shape)``, PyTorch's spelling."""
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        """NumPy's meaning: no arguments reverse the axes; otherwise ``axes`` is a
        permutation of all of them, so on a 2-D tensor ``x.transpose(0, 1)`` is the identity.
        PyTorch's ``x.transpose(d0, d1)`` (swap two dims) is ``x.swapaxes(d0, d1)`` or
        ``mg.transpose(x, d0, d1)`` here."""
        torch_like = len(axes) == 2 and all(isinstance(a, int) for a in axes)
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            return self.T
        if len(axes) != self.ndim:
            swap = f"; to swap two axes as PyTorch's x.transpose(d0, d1) does, write x.swapaxes{axes}" \
                if torch_like else ""
            raise ValueError(
                f"transpose{axes}: a tensor of {self.ndim} dims takes a permutation of all its "
                f"{self.ndim} axes (NumPy's meaning){swap}"
            )
        perm = tuple([a % self.ndim for a in axes])
        if torch_like and perm == (0, 1):
            warnings.warn(
                f"x.transpose{axes} on a 2-D tensor keeps NumPy's meaning, the identity (axes in the "
                "order 0, 1); to swap them as PyTorch does, write x.T, x.swapaxes(0, 1) or "
                "mg.transpose(x, 0, 1)",
                stacklevel=2,
            )
        return self._permute(perm)

    def permute(self, *dims: Any) -> Tensor:
        """``x.transpose(*dims)`` with every dim listed, PyTorch's spelling."""
        return self.transpose(*dims)

    @property
    def T(self) -> Tensor:
        return self._permute(tuple(range(self.ndim - 1, -1, -1)))

    def swapaxes(self, a: int, b: int) -> Tensor:
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self._permute(tuple(axes))

    def _permute(self, axes: tuple[int, ...]) -> Tensor:
        """Transpose by ``axes`` (non-negative); the identity permutation returns self."""
        if axes == tuple(range(self.ndim)):
            return self
        return ops.Transpose.apply(self, axes)

    @numpy_keywords
    def squeeze(self, axis: Any = None) -> Tensor:
        if axis is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        axes = ops.reduction.normalize_axis(axis, self.ndim)
        for a in axes:
            if self.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} has size {self.shape[a]}, not 1 (shape {self.shape})")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in axes))

    @numpy_keywords
    def unsqueeze(self, axis: int) -> Tensor:
        ndim = self.ndim + 1
        if not -ndim <= axis < ndim:
            raise ValueError(f"unsqueeze: axis {axis} is out of range for a result of {ndim} dims")
        axis %= ndim
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        shape = tuple(shape)
        if shape == self.shape:
            return self
        return ops.BroadcastTo.apply(self, shape)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=_normalize_index(index, self.device))

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """``value`` where ``mask`` is True, ``self`` elsewhere (PyTorch's ``masked_fill``;
        the same as ``mg.where(mask, value, x)``); the gradient flows where the mask is False."""
        kind = getattr(mask, "dtype", type(mask).__name__)
        if kind != bool_:
            raise TypeError(
                f"masked_fill: the mask must be a bool tensor or array, got {kind}; build it with a "
                "comparison (e.g. ids == pad) or .astype(mg.bool_)"
            )
        return ops.where(mask, value, self)


def _normalize_index(index: Any, dev: Device) -> Any:
    """Tensors, lists and NumPy arrays inside an index become arrays on ``dev``."""
    if isinstance(index, tuple):
        return tuple(_normalize_index_part(p, dev) for p in index)
    return _normalize_index_part(index, dev)


def _normalize_index_part(p: Any, dev: Device) -> Any:
    if isinstance(p, Tensor):
        if p.dtype.kind not in "biu":
            raise IndexError(
                f"tensors used as indices must be integer or bool, got {p.dtype} ({FLOAT_INDICES_HINT})"
            )
        return p.data if p.device is dev else p.to(dev).data
    if isinstance(p, list):
        p = numpy.asarray(p)
    if isinstance(p, numpy.ndarray) and dev.type != "cpu":
        return dev.xp.asarray(p)
    return p


def as_tensor_like(value: Any, ref: Tensor | None) -> Tensor:
    """``value`` as a Tensor on ``ref``'s device; Python scalars take ``ref``'s float dtype."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numpy.generic):
        value = value.item()
    if ref is None:
        return Tensor(value)
    scalar = isinstance(value, (int, float, bool))
    dtype = ref.dtype if scalar and ref.dtype.kind == "f" and not isinstance(value, bool) else None
    return Tensor(value, dtype=dtype, device=ref.device)


from . import ops  # noqa: E402  (ops use Tensor methods, so they load after the class)
