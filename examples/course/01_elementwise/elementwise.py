"""Assignment 1: elementwise ops and broadcasting.

Write the ``backward`` of each op below (the forwards are done) and ``sum_to_shape``,
which the broadcasting ``Mul`` needs. Each backward receives ``grad`` = ∂L/∂y as a
Tensor and returns ∂L/∂x = grad · dy/dx. Write it with Tensor operations (``*``, ``/``,
``-``, ``.exp()``, ``.sigmoid()``, ``.sum(axis, keepdims=True)`` …), never on ``.data``:
then your backward is itself differentiable and the second-order check passes.

Check your work as you go (see README.md for the math):

    python -m minigrad.check elementwise.py --order 2     # every op, with the failing input
    python -m minigrad.check .                            # the graded run, with points
"""

from __future__ import annotations

from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import away_from, broadcastable_shapes, checkable, tensors


class Exp(mg.Function):
    """y = eˣ."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.device.xp.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # BEGIN SOLUTION
        return grad * y  # dy/dx = eˣ = y
        # END SOLUTION


@checkable(tensors(shape=(2, 3), elements=away_from([0.0], min_value=0.2, max_value=5.0)))
class Log(mg.Function):
    """y = ln x, for x > 0 (the checker draws x from [0.2, 5])."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.device.xp.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # BEGIN SOLUTION
        return grad / x  # dy/dx = 1/x
        # END SOLUTION


class Tanh(mg.Function):
    """y = tanh x."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.device.xp.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # BEGIN SOLUTION
        return grad * (1 - y * y)  # dy/dx = 1 − tanh²x
        # END SOLUTION


class Sigmoid(mg.Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ)."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.device.xp
        y = 0.5 * (1 + xp.tanh(0.5 * x))  # σ written through tanh: never overflows
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # BEGIN SOLUTION
        return grad * y * (1 - y)  # dy/dx = σ(x)(1 − σ(x))
        # END SOLUTION


class Softplus(mg.Function):
    """y = log(1 + eˣ), computed as logaddexp(0, x) so that it never overflows."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.device.xp.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # BEGIN SOLUTION
        return grad * x.sigmoid()  # dy/dx = eˣ/(1 + eˣ) = σ(x)
        # END SOLUTION


def sum_to_shape(g: mg.Tensor, shape: tuple[int, ...]) -> mg.Tensor:
    """Sum ``g`` down to ``shape``, undoing NumPy broadcasting: sum away the leading axes
    broadcasting added, then sum (keeping the axis) where ``shape`` has a 1 that was
    stretched."""
    # BEGIN SOLUTION
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g
    # END SOLUTION


# Two shapes that broadcast together, drawn once per example and shared by both inputs.
_SHAPES = st.shared(broadcastable_shapes(2, max_dims=3, max_side=3), key="course.01.mul")


@checkable(tensors(shape=_SHAPES.map(lambda s: s[0])), tensors(shape=_SHAPES.map(lambda s: s[1])))
class Mul(mg.Function):
    """y = a · b, elementwise with broadcasting."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # BEGIN SOLUTION
        return sum_to_shape(grad * b, a.shape), sum_to_shape(grad * a, b.shape)
        # END SOLUTION
