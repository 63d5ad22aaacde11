"""Conversions that keep the graph: dtype casts and device transfers."""

from __future__ import annotations

from ..autograd import Function
from ..backend import to_device


class Cast(Function):
    """y = x.astype(dtype);  ∂L/∂x = (∂L/∂y).astype(x.dtype)."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.in_dtype), None


class ToDevice(Function):
    """y = x copied to another device;  ∂L/∂x = ∂L/∂y copied back."""

    @staticmethod
    def forward(ctx, x, device):
        ctx.source = ctx.device
        return to_device(x, device)

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.source), None


class Clone(Function):
    """y = a fresh copy of x (owns its memory);  ∂L/∂x = ∂L/∂y."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad
