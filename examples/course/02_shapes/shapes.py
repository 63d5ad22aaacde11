"""Assignment 2: reductions and shapes.

Write the ``backward`` of each op below (the forwards are done). Non-Tensor arguments
(``axis``, ``shape``, ``index``) reach ``forward`` unchanged; ``backward`` returns one
gradient per argument of ``forward``, ``None`` for those that are not tensors.

Every backward here moves or copies gradient entries without changing them, so each can
be written with Tensor operations only (``reshape``, ``broadcast_to``, ``transpose``,
``*``, ``@``): the second-order check then passes too. See README.md for the math.

    python -m minigrad.check shapes.py --order 2
    python -m minigrad.check .
"""

from __future__ import annotations

import numpy
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import checkable, tensors

# The checker draws a 3-d input and, for the reductions, an axis (None: all of them).
_X = tensors(shape=(2, 3, 4))
_AXES = st.sampled_from([None, 0, 1, 2, -1])


def kept_shape(shape: tuple[int, ...], axis: int | None) -> tuple[int, ...]:
    """``shape`` with the reduced axis (every axis, for None) kept as a 1."""
    if axis is None:
        return (1,) * len(shape)
    axis = axis % len(shape)
    return shape[:axis] + (1,) + shape[axis + 1:]


@checkable(_X, _AXES)
class Sum(mg.Function):
    """y = Σ x over ``axis`` (every axis for None)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.shape, ctx.axis = x.shape, axis
        return x.sum(axis=axis)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION
        # ∂y/∂x_i = 1 for every x_i summed into y: copy grad back along the reduced axis.
        return grad.reshape(kept_shape(ctx.shape, ctx.axis)).broadcast_to(ctx.shape), None
        # END SOLUTION


@checkable(_X, _AXES)
class Mean(mg.Function):
    """y = (1/n) Σ x over ``axis``, n the number of entries averaged."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.shape, ctx.axis = x.shape, axis
        return x.mean(axis=axis)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION
        n = numpy.prod(ctx.shape) // numpy.prod(kept_shape(ctx.shape, ctx.axis))
        return grad.reshape(kept_shape(ctx.shape, ctx.axis)).broadcast_to(ctx.shape) / n, None
        # END SOLUTION


# Distinct values a quarter apart: no ties for the maximum, and finite differences
# (a step of 1e-6) never change which entry is the largest.
@checkable(tensors(shape=(2, 3, 4), elements=st.integers(-40, 40).map(lambda k: k / 4), unique=True),
           st.sampled_from([0, 1, 2]))
class Max(mg.Function):
    """y = max x over ``axis``; the gradient goes to the entry that is the maximum."""

    @staticmethod
    def forward(ctx, x, axis):
        y = x.max(axis=axis, keepdims=True)
        ctx.is_max = x == y  # a boolean mask: piecewise constant, so no derivative is lost
        ctx.shape, ctx.axis = x.shape, axis
        return y.squeeze(axis)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION
        mask = mg.tensor(ctx.is_max, dtype=grad.dtype, device=grad.device)
        return grad.reshape(kept_shape(ctx.shape, ctx.axis)) * mask, None
        # END SOLUTION


@checkable(_X, st.sampled_from([(24,), (4, 6), (6, 2, 2), (-1, 2)]))
class Reshape(mg.Function):
    """y = x with its entries laid out in ``shape`` (row-major order)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION
        return grad.reshape(ctx.shape), None
        # END SOLUTION


@checkable(_X, st.permutations([0, 1, 2]).map(tuple))
class Transpose(mg.Function):
    """y = x with its axes permuted: y.shape[i] = x.shape[axes[i]]."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION
        inverse = tuple(int(i) for i in numpy.argsort(ctx.axes))  # undo the permutation
        return grad.transpose(*inverse), None
        # END SOLUTION


@checkable(tensors(shape=(4, 3)), st.lists(st.integers(0, 3), min_size=1, max_size=6).map(tuple))
class Take(mg.Function):
    """y = x[index] along axis 0: rows picked by ``index``, repeats allowed."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.rows, ctx.index = x.shape[0], index
        return x[list(index)]

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION
        # A row picked k times receives the sum of its k gradients: grad_x = Pᵀ · grad, with
        # P[j, i] = 1 when index[j] = i (a one-hot matrix, so it stays a Tensor operation).
        picks = numpy.zeros((len(ctx.index), ctx.rows))
        picks[numpy.arange(len(ctx.index)), ctx.index] = 1.0
        p = mg.tensor(picks, dtype=grad.dtype, device=grad.device)
        return p.T @ grad, None
        # END SOLUTION
