"""Shape ops: reshape, transpose, broadcast_to, indexing, embedding lookup, concat, stack,
and their inverses unbind/split.

Their backward moves the gradient back to where each input element came from.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..backend import scatter_add


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    The one place where the chain rule meets broadcasting: every binary op uses it.
    """
    if grad.shape == shape or grad.shape == tuple(shape):  # the common case, checked cheaply
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if not stretched:  # only leading axes were added (a bias): summing them leaves ``shape``
        return grad.sum(axis=tuple(range(lead)))
    return grad.sum(axis=tuple(range(lead)) + stretched, keepdims=True).reshape(shape)


class Reshape(Function):
    """y = reshape(x);  ∂L/∂x = reshape(∂L/∂y, x.shape)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape), None


class Transpose(Function):
    """y = x.transpose(axes);  ∂L/∂x = (∂L/∂y).transpose(argsort(axes))."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        inverse = tuple(sorted(range(len(ctx.axes)), key=ctx.axes.__getitem__))
        return grad.transpose(inverse), None


class BroadcastTo(Function):
    """y = broadcast_to(x, shape);  ∂L/∂x = sum of ∂L/∂y over the broadcast axes."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return ctx.device.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.in_shape), None


def _has_array(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") and not isinstance(p, (int, slice)) for p in parts)


class GetItem(Function):
    """y = x[index];  ∂L/∂x = zeros_like(x) with ∂L/∂y added at index (repeats accumulate)."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape = x.shape
        ctx.index = index
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        return IndexAdd.apply(grad, ctx.in_shape, ctx.index)


class IndexAdd(Function):
    """y = zeros(shape); y[index] += g  (as np.add.at);  ∂L/∂g = (∂L/∂y)[index]."""

    @staticmethod
    def forward(ctx, g, shape, index):
        ctx.index = index
        out = ctx.device.xp.zeros(shape, dtype=g.dtype)
        if _has_array(index):
            scatter_add(ctx.device, out, index, g)
        else:  # basic indexing selects each element at most once
            out[index] = g
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.index], None, None


class EmbeddingLookup(Function):
    """y = W[ids];  ∂L/∂W = ∂L/∂y scatter-added into the rows ``ids`` (none into padding_idx)."""

    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        ctx.ids, ctx.padding_idx, ctx.shape = ids, padding_idx, weight.shape
        return weight[ids]

    @staticmethod
    def backward(ctx, grad):
        if ctx.padding_idx is not None:
            from .elementwise import _const

            keep = (ctx.ids != ctx.padding_idx)[..., None].astype(grad.dtype)
            grad = grad * _const(ctx, keep)
        return IndexAdd.apply(grad, ctx.shape, ctx.ids), None


class Concat(Function):
    """y = concat(x_1..x_n, axis);  ∂L/∂x_i = the slice of ∂L/∂y that x_i filled."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in xs]
        return ctx.device.xp.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        lead = (slice(None),) * (ctx.axis % grad.ndim)
        grads, start = [], 0
        for n in ctx.sizes:
            grads.append(grad[lead + (slice(start, start + n),)])
            start += n
        return tuple(grads)


class Stack(Function):
    """y = stack(x_1..x_n, axis);  ∂L/∂x_i = (∂L/∂y) taken at position i along axis."""

    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        return ctx.device.xp.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        lead = (slice(None),) * (ctx.axis % grad.ndim)
        return tuple(grad[lead + (i,)] for i in range(grad.shape[ctx.axis]))


# Splitting one tensor into pieces as a single node: slicing a piece out with ``x[i]`` costs
# a full-size zero gradient in backward; doing that for each of T time steps (or gates)
# makes backward O(T²). One multi-output node whose backward joins the pieces' gradients
# keeps it O(T).


class Unbind(Function):
    """(y_0, …, y_{n−1}) = (x[i] along axis);  ∂L/∂x = stack(∂L/∂y_i) along axis."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        lead = (slice(None),) * axis
        return tuple(x[lead + (i,)] for i in range(x.shape[axis]))

    @staticmethod
    def backward(ctx, *grads):
        return Stack.apply(*grads, axis=ctx.axis)


class Chunk(Function):
    """(y_0, …) = consecutive slices of x along axis with the given sizes;
    ∂L/∂x = concat(∂L/∂y_i) along axis."""

    @staticmethod
    def forward(ctx, x, sizes, axis):
        ctx.axis = axis
        lead = (slice(None),) * axis
        pieces, start = [], 0
        for n in sizes:
            pieces.append(x[lead + (slice(start, start + n),)])
            start += n
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):
        return Concat.apply(*grads, axis=ctx.axis)
