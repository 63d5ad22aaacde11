"""Elementwise ops: forward vs NumPy, gradients vs finite differences, kink conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad import ops
from minigrad.testing import away_from, broadcastable_shapes, shapes, smooth_floats

from ._opcheck import OpCase, binary_operands, each, floats, scalars

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu_exact(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _unary(name, function, op, reference, elements):
    # Away from the kinks every one of these has a well-defined second derivative too.
    return OpCase(name, (function,), op, reference, each(lambda d: floats(d, elements=elements)))


@st.composite
def _clip_case(draw, device):
    lo = draw(st.one_of(st.none(), smooth_floats(-2.0, 0.0)))
    hi = draw(st.one_of(st.none(), smooth_floats(0.5, 2.0)))
    kinks = [b for b in (lo, hi) if b is not None]
    x = draw(floats(device, elements=away_from(kinks, margin=0.05)))
    return x, lo, hi


def _np_clip(x, lo, hi):
    return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)


# maximum/minimum never tie here: `a` takes values in [2k, 2k + 0.8], `b` in [2k + 1, 2k + 1.8],
# so either side can win but they are always at least 0.2 apart.
def _lattice(offset: float) -> st.SearchStrategy[float]:
    return st.builds(lambda k, f: 2 * k + offset + f, st.integers(-2, 1), smooth_floats(0.0, 0.8))


def _untied(device):
    return binary_operands(device, _lattice(0.0), _lattice(1.0))


@st.composite
def _where_case(draw, device):
    sc, sa, sb = draw(broadcastable_shapes(3, max_dims=3, max_side=4))
    cond = draw(floats(device, shape=sc, dtype=mg.bool_))
    a = draw(st.one_of(floats(device, shape=sa), scalars(smooth_floats())))
    b = draw(floats(device, shape=sb))
    return (cond, a, b) if draw(st.booleans()) else (cond, b, a)


# The activation backwards as ops of their own: z = g·f'(x) written in f's output y.
@st.composite
def _grad_and_output(draw, device, lo, hi):
    shape = draw(shapes(max_dims=3, max_side=4))
    output = floats(device, shape=shape, elements=smooth_floats(lo, hi))
    return draw(floats(device, shape=shape)), draw(output)


CASES = [
    _unary("exp", ops.Exp, lambda x: x.exp(), np.exp, smooth_floats()),
    _unary("log", ops.Log, lambda x: x.log(), np.log, smooth_floats(0.1, 4.0)),
    _unary("tanh", ops.Tanh, lambda x: x.tanh(), np.tanh, smooth_floats()),
    _unary("sigmoid", ops.Sigmoid, lambda x: x.sigmoid(), _sigmoid, smooth_floats(-6.0, 6.0)),
    _unary("erf", ops.Erf, lambda x: x.erf(), _erf, smooth_floats()),
    _unary("gelu", ops.Gelu, lambda x: x.gelu(), _gelu_exact, smooth_floats()),
    _unary("gelu_tanh", ops.Gelu, lambda x: x.gelu(approximate="tanh"), _gelu_tanh, smooth_floats()),
    _unary("sqrt", ops.Sqrt, lambda x: x.sqrt(), np.sqrt, smooth_floats(0.1, 4.0)),
    _unary("relu", ops.Relu, lambda x: x.relu(), lambda x: np.maximum(x, 0.0), away_from([0.0])),
    _unary("abs", ops.Abs, lambda x: x.abs(), np.abs, away_from([0.0])),
    OpCase("tanh_grad", (ops.TanhGrad,), ops.TanhGrad.apply, lambda g, y: g * (1 - y * y),
           lambda d: _grad_and_output(d, -0.95, 0.95)),
    OpCase("sigmoid_grad", (ops.SigmoidGrad,), ops.SigmoidGrad.apply, lambda g, y: g * y * (1 - y),
           lambda d: _grad_and_output(d, 0.05, 0.95)),
    OpCase("clip", (ops.Clip,), lambda x, lo, hi: x.clip(lo, hi), _np_clip, _clip_case),
    OpCase("maximum", (ops.Maximum,), mg.maximum, np.maximum, _untied),
    OpCase("minimum", (ops.Minimum,), mg.minimum, np.minimum, _untied),
    OpCase("where", (ops.Where,), mg.where, np.where, _where_case),
]


# -- conventions at kinks: pinned by plain unit tests, not finite differences -----------


def test_relu_derivative_at_zero_is_zero(device):
    x = mg.tensor([-1.0, 0.0, 2.0], device=device, requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_abs_derivative_at_zero_is_zero(device):
    x = mg.tensor([-1.5, 0.0, 2.0], device=device, requires_grad=True)
    x.abs().sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("op", [mg.maximum, mg.minimum], ids=["maximum", "minimum"])
def test_elementwise_ties_split_the_gradient_evenly(device, op):
    a = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = mg.tensor([2.0, 2.0, 2.0], device=device, requires_grad=True)
    g = np.array([4.0, 6.0, 8.0])
    op(a, b).backward(mg.tensor(g, device=device))
    a_wins = (a.numpy() > b.numpy()) if op is mg.maximum else (a.numpy() < b.numpy())
    share = np.where(a.numpy() == b.numpy(), 0.5, a_wins.astype(float))
    np.testing.assert_array_equal(a.grad.numpy(), g * share)
    np.testing.assert_array_equal(b.grad.numpy(), g * (1 - share))
    assert a.grad.tolist()[1] == b.grad.tolist()[1] == 3.0


def test_clip_passes_the_gradient_at_its_bounds(device):
    x = mg.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], device=device, requires_grad=True)
    x.clip(-1.0, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_gelu_rejects_an_unknown_approximation(device):
    x = mg.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(ValueError, match="approximate"):
        x.gelu(approximate="fast")
