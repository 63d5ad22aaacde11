"""Gather and scatter-add along one axis, with PyTorch's ``gather`` / ``scatter_add`` meaning:
for ``axis`` = 1 of 2-D tensors, y[i, j] = x[i, index[i, j]] and y[i, index[i, j]] += src[i, j]
(any rank; ``index`` has the rank of x). Each is the other's adjoint (repeated indices
accumulate)."""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import scatter_add as _scatter_add_arrays

__all__ = ["Gather", "ScatterAdd"]


def _positions(xp: Any, index: Any, axis: int) -> tuple[Any, ...]:
    """The full NumPy index that ``index`` along ``axis`` means: index itself on that axis,
    each element's own position on the others."""
    ndim = index.ndim
    return tuple(
        index if a == axis else xp.arange(n).reshape([-1 if b == a else 1 for b in range(ndim)])
        for a, n in enumerate(index.shape)
    )


class Gather(Function):
    """y = x[…, index, …] taken along ``axis`` element by element (y has index's shape);
    ∂L/∂x = zeros with ∂L/∂y scatter-added back at ``index``."""

    @staticmethod
    def forward(ctx, x, index, axis):
        ctx.index, ctx.axis, ctx.shape = index, axis, x.shape
        return x[_positions(ctx.device.xp, index, axis)]

    @staticmethod
    def backward(ctx, grad):
        from ..tensor import Tensor

        zeros = Tensor._wrap(ctx.device.xp.zeros(ctx.shape, dtype=grad.dtype), ctx.device)
        return ScatterAdd.apply(zeros, grad, index=ctx.index, axis=ctx.axis)


class ScatterAdd(Function):
    """y = x, then y[…, index, …] += src along ``axis`` (src has index's shape; repeated
    indices accumulate);  ∂L/∂x = ∂L/∂y,  ∂L/∂src = gather(∂L/∂y, index)."""

    @staticmethod
    def forward(ctx, x, src, index, axis):
        ctx.index, ctx.axis = index, axis
        out = x.copy()
        _scatter_add_arrays(ctx.device, out, _positions(ctx.device.xp, index, axis), src)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, Gather.apply(grad, index=ctx.index, axis=ctx.axis)
