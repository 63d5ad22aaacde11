"""Moving whole rows to new places, each row at most once: padded ↔ packed sequences.

``x[index]`` (GetItem) must allow an index to repeat, so its backward adds with ``np.add.at``,
~20× slower than a plain write. When every row moves at most once (a permutation, or an
injection such as the real tokens of a padded batch), the two directions are each other's
adjoint and both are plain copies.
"""

from __future__ import annotations

from ..autograd import Function

__all__ = ["TakeRows", "PutRows"]


class TakeRows(Function):
    """y = x[index] along axis 0, no row taken twice;  ∂L/∂x = PutRows(∂L/∂y): the gradient rows
    written back at ``index``, zeros elsewhere."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.index, ctx.rows = index, x.shape[0]
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        return PutRows.apply(grad, index=ctx.index, rows=ctx.rows)


class PutRows(Function):
    """y = zeros((rows, …)); y[index] = x, no row written twice;  ∂L/∂x = (∂L/∂y)[index]."""

    @staticmethod
    def forward(ctx, x, index, rows):
        ctx.index = index
        out = ctx.device.xp.zeros((rows,) + x.shape[1:], dtype=x.dtype)
        out[index] = x
        return out

    @staticmethod
    def backward(ctx, grad):
        return TakeRows.apply(grad, index=ctx.index)
