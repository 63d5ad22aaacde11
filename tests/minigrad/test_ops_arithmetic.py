"""Arithmetic: + − × ÷ ** and negation, with broadcasting and scalars on either side."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops import Add, Div, Mul, Neg, Pow, Sub
from minigrad.testing import away_from, smooth_floats

from .._torch import requires_torch, torch
from ._opcheck import OpCase, binary_operands, each, floats

_ANY = smooth_floats()
_NONZERO = away_from([0.0], margin=0.5)
_POSITIVE = smooth_floats(0.5, 2.5)  # a power's base: ln a and a^(b−1) stay tame

def _binary(name, op, function, a_elements, b_elements):
    return OpCase(name, (function,), op, op, lambda d: binary_operands(d, a_elements, b_elements))


def _integer_powers(device):
    # An integer exponent makes a ** k smooth for a < 0 too (except at 0 when k < 0).
    bases = floats(device, elements=away_from([0.0], margin=0.3))
    return st.tuples(bases, st.sampled_from([-2, -1, 1, 2, 3]))


CASES = [
    _binary("add", operator.add, Add, _ANY, _ANY),
    _binary("sub", operator.sub, Sub, _ANY, _ANY),
    _binary("mul", operator.mul, Mul, _ANY, _ANY),
    _binary("truediv", operator.truediv, Div, _ANY, _NONZERO),
    # tensor ** tensor, tensor ** scalar and scalar ** tensor (e.g. 2.0 ** x)
    _binary("pow", operator.pow, Pow, _POSITIVE, smooth_floats(-2.0, 2.0)),
    OpCase("pow_integer_exponent", (Pow,), operator.pow, operator.pow, _integer_powers),
    OpCase("neg", (Neg,), operator.neg, operator.neg, each(floats)),
]


def test_numpy_scalars_do_not_promote_a_float32_graph(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    # NumPy 2 itself promotes here; the Tensor operators turn NumPy scalars into Python ones.
    assert (np.ones(2, np.float32) * np.float64(2.0)).dtype == np.float64
    results = [
        x * np.float64(2.0),
        np.float64(2.0) * x,
        x + np.array(3.0),
        x / np.float64(4.0),
        x ** np.float64(2.0),
        np.float64(2.0) ** x,
        2.0**x,
        mg.maximum(x, np.float64(1.5)),
        mg.where(x > 1.5, x, np.float64(0.0)),
    ]
    for y in results:
        assert y.dtype == mg.float32
    sum(y.sum() for y in results).backward()
    assert x.grad.dtype == mg.float32


def test_python_int_scalars_work_anywhere(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = 3 - 2 * x + x / 2 + 1 ** x
    np.testing.assert_allclose(y.numpy(), 3 - 2 * x.numpy() + x.numpy() / 2 + 1)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.5, -1.5])
    assert y.dtype == x.grad.dtype == mg.float32


def test_pow_exponent_gradient_at_zero_base_is_zero(device):
    # z = a ** b with a = 0: ∂z/∂b = z·ln a is taken as 0 (z = 0 for b > 0), not NaN.
    a = mg.tensor([0.0, 2.0], device=device, dtype=mg.float64)
    b = mg.tensor([1.5, 1.5], device=device, dtype=mg.float64, requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 2.0**1.5 * np.log(2.0)])


def _pow_grads_at_zero(exponent, device):
    """First and second derivative of x ** exponent at x = 0 (a derivative that does not
    depend on x counts as 0, as PyTorch's materialize_grads gives)."""
    x = mg.tensor(0.0, dtype=mg.float64, device=device, requires_grad=True)
    (g,) = mg.grad(x**exponent, x, create_graph=True)
    (gg,) = mg.grad(g, x, allow_unused=True) if g.requires_grad else (None,)
    return g.item(), 0.0 if gg is None else gg.item()


_POW_AT_ZERO = [0, 0.0, 1, 1.0, 2]


@pytest.mark.parametrize("exponent", _POW_AT_ZERO)
def test_pow_base_gradients_at_zero_are_finite(device, exponent):
    # d(a⁰)/da = 0 even at a = 0 (not 0·a^(−1) = NaN), so the second derivative of a¹ is 0 too.
    expected = {0: (0.0, 0.0), 1: (1.0, 0.0), 2: (0.0, 2.0)}[int(exponent)]
    assert _pow_grads_at_zero(exponent, device) == expected


@requires_torch
@pytest.mark.parametrize("exponent", _POW_AT_ZERO)
def test_pow_base_gradients_at_zero_match_pytorch(exponent):
    x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(x**exponent, x, create_graph=True)
    gg = torch.autograd.grad(g, x, allow_unused=True, materialize_grads=True)[0] if g.requires_grad else 0.0
    assert _pow_grads_at_zero(exponent, "cpu") == (g.item(), float(gg))


def test_pow_with_a_zero_tensor_exponent_has_zero_base_gradient(device):
    a = mg.tensor([0.0, 0.0, 2.0], dtype=mg.float64, device=device, requires_grad=True)
    b = mg.tensor([0.0, 1.0, 0.0], dtype=mg.float64, device=device)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** −1 in the branch that is not taken
        (a**b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 1.0, 0.0])
