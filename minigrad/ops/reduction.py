"""Reductions over axes (None = all, int, negative, tuple; keepdims as in NumPy)."""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

from ..autograd import Function


def normalize_axis(axis: Any, ndim: int) -> tuple[int, ...]:
    """Axes as a sorted tuple of non-negative ints; None means every axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for a tensor of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def backend_axis(axes: tuple[int, ...], ndim: int) -> tuple[int, ...] | None:
    """``axes`` as handed to NumPy/CuPy: None when every axis is reduced. CuPy sends None to
    its whole-array reduction (CUB) but an explicit tuple of all axes to a one-segment
    segmented reduction, milliseconds instead of microseconds on 8M elements (cupy#8092):
    the MSE mean of the GPU Transformer benchmark spent 3.7 ms there."""
    return None if len(axes) == ndim else axes


def inverse_count(count: int, ddof: int = 0, variance: bool = False) -> float:
    """The factor that turns a sum over ``count`` elements into a mean or a variance:
    1/(count − ddof). With nothing left to divide by it is what NumPy's division
    gives, with NumPy's warning: NaN for an empty slice (a mean of nothing is undefined, not
    0), inf for a variance with ddof ≥ count > 0 (so a positive sum becomes inf, as in NumPy)."""
    if count > ddof:
        return 1.0 / (count - ddof)
    if not variance:
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=3)
        return math.nan
    warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
    return math.inf if count > 0 else math.nan


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with every reduced axis set to 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """y = Σ_axes x;  ∂y/∂x = 1 (the gradient is broadcast back over the reduced axes)."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axis(axis, x.ndim)
        ctx.in_shape = x.shape
        ctx.keep_shape = keepdims_shape(x.shape, axes)
        return ctx.device.xp.sum(x, axis=backend_axis(axes, x.ndim), keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.keep_shape).broadcast_to(ctx.in_shape)


class _Extremum(Function):
    """Shared max/min: the gradient goes to the extremal elements, split evenly at ties."""

    reduce = "max"

    @classmethod
    def forward(cls, ctx, x, axis=None, keepdims=False):
        xp = ctx.device.xp
        axes = normalize_axis(axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"{cls.reduce}() of an empty tensor has no identity")
        over = backend_axis(axes, x.ndim)
        out = getattr(xp, cls.reduce)(x, axis=over, keepdims=True)
        hit = x == out
        ctx.weights = hit / xp.sum(hit, axis=over, keepdims=True).astype(x.dtype)
        ctx.keep_shape = out.shape
        return out if keepdims else out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import _const

        return grad.reshape(ctx.keep_shape) * _const(ctx, ctx.weights.astype(grad.dtype, copy=False))


class Max(_Extremum):
    """y = max_axes x;  ∂y/∂x_i = 1/k for the k elements equal to the max, else 0."""

    reduce = "max"


class Min(_Extremum):
    """y = min_axes x;  ∂y/∂x_i = 1/k for the k elements equal to the min, else 0."""

    reduce = "min"


class ShiftedExp(NamedTuple):
    """x − m, e^(x − m) and Σ e^(x − m) (size-1 reduced axes) for m = max x over the axes."""

    shifted: Any
    exp: Any
    total: Any
    max: Any


def shifted_exp(xp: Any, x: Any, axis: Any) -> ShiftedExp:
    """The stable log-sum-exp, written once for every op that needs it (logsumexp, the
    softmaxes, cross-entropy): log Σ eˣ = log Σ e^(x − m) + m never overflows, and
    log-probabilities are taken as (x − m) − log Σ e^(x − m), exact for huge logits. A row
    that is all −∞ (or has a +∞) gets m = 0: −∞ (or NaN) out, not NaN from ∞ − ∞."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    shifted = x - m
    e = xp.exp(shifted)
    return ShiftedExp(shifted, e, xp.sum(e, axis=axis, keepdims=True), m)


class LogSumExp(Function):
    """y = log Σ_axes eˣ;  ∂y/∂x = e^(x − y) = softmax(x) over the axes."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = ctx.device.xp
        axes = normalize_axis(axis, x.ndim)
        s = shifted_exp(xp, x, backend_axis(axes, x.ndim))
        out = xp.log(s.total) + s.max
        ctx.keep_shape = out.shape
        if not keepdims:
            out = out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        x = ctx.inputs[0]
        return grad.reshape(ctx.keep_shape) * (x - out.reshape(ctx.keep_shape)).exp()
