"""Elementwise ops: forward vs NumPy, gradients vs finite differences, kink conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import away_from, broadcastable_shapes, smooth_floats

from ._opcheck import binary_operands, check_op, floats, scalars

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu_exact(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# (name, op, NumPy reference, element strategy: away from kinks and domain edges)
SMOOTH = [
    ("exp", lambda x: x.exp(), np.exp, smooth_floats()),
    ("log", lambda x: x.log(), np.log, smooth_floats(0.1, 4.0)),
    ("tanh", lambda x: x.tanh(), np.tanh, smooth_floats()),
    ("sigmoid", lambda x: x.sigmoid(), _sigmoid, smooth_floats(-6.0, 6.0)),
    ("erf", lambda x: x.erf(), _erf, smooth_floats()),
    ("gelu", lambda x: x.gelu(), _gelu_exact, smooth_floats()),
    ("gelu_tanh", lambda x: x.gelu(approximate="tanh"), _gelu_tanh, smooth_floats()),
    ("sqrt", lambda x: x.sqrt(), np.sqrt, smooth_floats(0.1, 4.0)),
    ("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0.0), away_from([0.0])),
    ("abs", lambda x: x.abs(), np.abs, away_from([0.0])),
]


@pytest.mark.parametrize("name,op,reference,elements", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_unary_op(device, name, op, reference, elements):
    # Away from the kinks every one of these has a well-defined second derivative too.
    check_op(op, reference, floats(device, elements=elements), order=2)


@st.composite
def _clip_case(draw, device):
    lo = draw(st.one_of(st.none(), smooth_floats(-2.0, 0.0)))
    hi = draw(st.one_of(st.none(), smooth_floats(0.5, 2.0)))
    kinks = [b for b in (lo, hi) if b is not None]
    x = draw(floats(device, elements=away_from(kinks, margin=0.05)))
    return x, lo, hi


def _np_clip(x, lo, hi):
    return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def test_clip_two_and_one_sided(device):
    check_op(lambda x, lo, hi: x.clip(lo, hi), _np_clip, args=_clip_case(device), order=2)


# maximum/minimum never tie here: `a` takes values in [2k, 2k + 0.8], `b` in [2k + 1, 2k + 1.8],
# so either side can win but they are always at least 0.2 apart.
def _lattice(offset: float) -> st.SearchStrategy[float]:
    return st.builds(lambda k, f: 2 * k + offset + f, st.integers(-2, 1), smooth_floats(0.0, 0.8))


@pytest.mark.parametrize(
    "op,reference", [(mg.maximum, np.maximum), (mg.minimum, np.minimum)], ids=["maximum", "minimum"]
)
def test_maximum_minimum(device, op, reference):
    check_op(op, reference, args=binary_operands(device, _lattice(0.0), _lattice(1.0)), order=2)


@st.composite
def _where_case(draw, device):
    sc, sa, sb = draw(broadcastable_shapes(3, max_dims=3, max_side=4))
    cond = draw(floats(device, shape=sc, dtype=mg.bool_))
    a = draw(st.one_of(floats(device, shape=sa), scalars(smooth_floats())))
    b = draw(floats(device, shape=sb))
    return (cond, a, b) if draw(st.booleans()) else (cond, b, a)


def test_where(device):
    check_op(mg.where, np.where, args=_where_case(device), order=2)


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
