"""Arithmetic: +, -, *, /, negation and powers, with NumPy broadcasting.

Python scalars pass through as constants (they get no gradient and, being "weak" under
NumPy 2's promotion rules, keep a float32 graph in float32).
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd import Function
from ..tensor import Tensor
from .elementwise import _const, where
from .shape import unbroadcast


def _shape(v: Any) -> tuple[int, ...]:
    return getattr(v, "shape", ())


def _grads(ctx, ga: Any, gb: Any) -> tuple[Any, Any]:
    """Reduce each input's gradient to its shape; skip inputs that need none."""
    need_a, need_b = ctx.needs_input_grad
    return (
        unbroadcast(ga, _shape(ctx.inputs[0])) if need_a else None,
        unbroadcast(gb, _shape(ctx.inputs[1])) if need_b else None,
    )


def _scalar_log(a: float) -> float:
    """ln a for a constant base; 0 at a = 0 (as for tensor bases), NaN below."""
    if a > 0:
        return math.log(a)
    return 0.0 if a == 0 else math.nan


def _base_grad(ctx, grad: Any, a: Any, b: Any) -> Any:
    """grad · b·a^(b−1), with 0 where b = 0: a⁰ is the constant 1 even at a = 0, where
    a^(−1) is inf and 0·inf would make the gradient (and that of x¹'s gradient) NaN. A
    tensor exponent is masked only where a = 0 too, so ∂/∂b of this (a^(−1) at b = 0)
    stays right wherever it is finite."""
    if not isinstance(b, Tensor):
        if b == 0:
            return _const(ctx, ctx.device.xp.zeros(grad.shape, grad.dtype))
        return grad * b * a ** (b - 1)
    return grad * where((a == 0) & (b == 0), 0, b * a ** (b - 1))


class Add(Function):
    """z = a + b;  ∂z/∂a = 1,  ∂z/∂b = 1."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return _grads(ctx, grad, grad)


class Sub(Function):
    """z = a − b;  ∂z/∂a = 1,  ∂z/∂b = −1."""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return _grads(ctx, grad, -grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """z = a · b;  ∂z/∂a = b,  ∂z/∂b = a."""

    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        return _grads(ctx, grad * b if need_a else None, grad * a if need_b else None)


class Div(Function):
    """z = a / b;  ∂z/∂a = 1/b,  ∂z/∂b = −a/b²."""

    @staticmethod
    def forward(ctx, a, b):
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        ga = grad / b if need_a else None
        gb = -grad * a / (b * b) if need_b else None
        return _grads(ctx, ga, gb)


class Neg(Function):
    """z = −a;  ∂z/∂a = −1."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """z = a ** b;  ∂z/∂a = b·a^(b−1) (0 where b = 0),  ∂z/∂b = z·ln a  (0 where a = 0)."""

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            ga = _base_grad(ctx, grad, a, b)
        if need_b:
            (out,) = ctx.saved_tensors
            if isinstance(a, (int, float)):
                gb = grad * out * _scalar_log(a)
            else:
                gb = grad * out * where(a == 0, 1, a).log()
        return _grads(ctx, ga, gb)
