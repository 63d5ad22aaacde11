"""Splitting one tensor into pieces as a single graph node.

Slicing a piece out with ``x[i]`` costs a full-size zero gradient in backward; doing that
for each of T time steps (or gates) makes backward O(T²). One multi-output node whose
backward joins the pieces' gradients keeps it O(T).
"""

from __future__ import annotations

from ..autograd import Function
from ..ops import Concat, Stack
from ..tensor import Tensor


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


def unbind(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis`` (which disappears), e.g. the time steps of a sequence."""
    return Unbind.apply(x, axis=axis % x.ndim)


def split(x: Tensor, sizes: tuple[int, ...], axis: int = -1) -> tuple[Tensor, ...]:
    """``x`` cut into consecutive pieces of the given ``sizes`` along ``axis``."""
    if sum(sizes) != x.shape[axis]:
        raise ValueError(f"split: sizes {sizes} do not add up to the axis length {x.shape[axis]}")
    return Chunk.apply(x, sizes=tuple(sizes), axis=axis % x.ndim)


def chunk(x: Tensor, n: int, axis: int = -1) -> tuple[Tensor, ...]:
    """``x`` cut into ``n`` equal pieces along ``axis`` (e.g. the gates of an LSTM)."""
    size, rest = divmod(x.shape[axis], n)
    if rest:
        raise ValueError(f"chunk: axis of size {x.shape[axis]} does not split into {n} equal pieces")
    return split(x, (size,) * n, axis)
