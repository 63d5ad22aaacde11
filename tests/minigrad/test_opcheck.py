"""The shared op check itself: each of its assertions fires on an op with that bug."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import smooth_floats

from ._opcheck import check_op, floats


class MutatesInput(mg.Function):
    """y = 2x, computed in place in x's own buffer (a forward that mutates its input)."""

    @staticmethod
    def forward(ctx, x):
        x *= 2
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class GradAliasesInput(mg.Function):
    """y = x²/2 whose backward hands out the input's own buffer as the gradient (dy/dx = x,
    right only for a ones upstream gradient, and sharing memory with x)."""

    @staticmethod
    def forward(ctx, x):
        return x * x / 2

    @staticmethod
    def backward(ctx, grad):
        return mg.Tensor._wrap(ctx.inputs[0].data, ctx.device)


class PromotesToFloat64(mg.Function):
    """y = 2x computed with a float64 NumPy scalar, which NumPy 2 lets promote float32."""

    @staticmethod
    def forward(ctx, x):
        return x * np.float64(2.0)

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class WrongGradient(mg.Function):
    """y = x³ with dy/dx = 2x²."""

    @staticmethod
    def forward(ctx, x):
        return x**3

    @staticmethod
    def backward(ctx, grad):
        return grad * 2 * ctx.inputs[0] ** 2


BUGS = [
    ("wrong forward", lambda x: x.exp(), np.sin, "Not equal to tolerance"),
    ("mutates input", MutatesInput.apply, lambda x: 2 * x, "mutated"),
    ("gradient aliases input", GradAliasesInput.apply, lambda x: x * x / 2, "aliases an input"),
    ("float64 promotion", PromotesToFloat64.apply, lambda x: 2 * x, "float32 graph produced float64"),
    ("wrong gradient", WrongGradient.apply, lambda x: x**3, "wrong gradient"),
]


@pytest.mark.parametrize("name,op,reference,message", BUGS, ids=[b[0] for b in BUGS])
def test_check_op_catches(name, op, reference, message):
    with pytest.raises(AssertionError, match=message):
        check_op(op, reference, floats("cpu", shape=(2,), elements=smooth_floats(0.5, 2.0)))


def test_check_op_catches_a_table_row_that_covers_another_function():
    with pytest.raises(AssertionError, match=r"never contained \['Tanh'\]"):
        check_op(lambda x: x.exp(), np.exp, floats("cpu", shape=(2,)), covers=(mg.ops.Tanh,))
