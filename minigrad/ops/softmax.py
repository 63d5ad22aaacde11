"""The softmax family over one axis: softmax, masked softmax (attention's), log-softmax.

All three take the stable log-sum-exp from ``reduction.shifted_exp``; softmax and masked
softmax differ only in what an all −∞ row gives, and share one backward.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..kernels import fused_for
from ._recompute import first_order_kernels
from .elementwise import _const
from .reduction import shifted_exp


def softmax_backward(y: Any, grad: Any, axis: int = -1) -> Any:
    """∂L/∂x of y = softmax(x) over ``axis``: y ⊙ (g − Σ g ⊙ y), in Tensor ops (so it is
    differentiable again); also the score gradient inside fused attention. One fused pass
    (``kernels.*.softmax_backward``) for first-order gradients over the last axis."""
    k = first_order_kernels(y.device, y.data, grad.data) if axis in (-1, y.ndim - 1) else None
    if k is not None and y.shape == grad.shape:
        return _const(y, k.softmax_backward(y.data, grad.data))
    return y * (grad - (grad * y).sum(axis=axis, keepdims=True))


def _last_axis_kernels(xp: Any, x: Any, axis: int) -> Any:
    """The fused kernels for a forward over the last axis of ``x`` (None: run the plain code)."""
    return fused_for(xp, x) if axis in (-1, x.ndim - 1) else None


class Softmax(Function):
    """y = e^(x − max) / Σ e^(x − max);  ∂L/∂x = y ⊙ (g − Σ g ⊙ y)."""

    masked = False  # MaskedSoftmax: an all −∞ row gives 0, not NaN

    @classmethod
    def probabilities(cls, xp: Any, x: Any, axis: int) -> Any:
        k = _last_axis_kernels(xp, x, axis)
        if k is not None:  # the same formula in one pass over each row (minigrad.kernels)
            return k.softmax(x, cls.masked)
        s = shifted_exp(xp, x, axis)
        total = xp.where(s.total == 0, 1.0, s.total) if cls.masked else s.total
        return xp.divide(s.exp, total, out=s.exp)

    @classmethod
    def forward(cls, ctx, x, axis=-1):
        ctx.axis = axis
        y = cls.probabilities(ctx.device.xp, x, axis)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return softmax_backward(y, grad, ctx.axis)


class MaskedSoftmax(Softmax):
    """y = softmax(s) over the last axis, 0 on rows that are all −∞ (PyTorch's attention
    convention: a query that may attend to nothing gets no weight, not NaN);
    ∂L/∂s = y ⊙ (g − Σ g ⊙ y)."""

    masked = True


class LogSoftmax(Function):
    """y = x − logsumexp(x);  ∂L/∂x = g − softmax(x) · Σ g."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.device.xp
        ctx.axis = axis
        k = _last_axis_kernels(xp, x, axis)
        if k is not None:  # the same formula in one pass over each row
            out = k.log_softmax(x)
        else:
            s = shifted_exp(xp, x, axis)
            out = s.shifted - xp.log(s.total)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        k = first_order_kernels(ctx.device, out.data, grad.data) if ctx.axis in (-1, out.ndim - 1) else None
        if k is not None:
            return _const(ctx, k.log_softmax_backward(out.data, grad.data))
        return grad - out.exp() * grad.sum(axis=ctx.axis, keepdims=True)
