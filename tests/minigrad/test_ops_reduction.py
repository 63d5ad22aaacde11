"""Reductions: sum mean var max min logsumexp over axis None / int / negative / tuple, keepdims."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import shapes

from ._opcheck import check_op, floats


@st.composite
def _reduction_case(draw, device, **tensor_kwargs):
    """(x, axis, keepdims) with axis None, an int (maybe negative) or a tuple (maybe empty,
    maybe with negative entries)."""
    x = draw(floats(device, shape=shapes(max_dims=3, max_side=4), **tensor_kwargs))
    nd = x.ndim
    kind = draw(st.sampled_from(["tuple", "int", "none"] if nd else ["tuple", "none"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), unique=True, max_size=nd)) if nd else []
        axis = tuple(a - nd if draw(st.booleans()) else a for a in axes)
    return x, axis, draw(st.booleans())


def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


SMOOTH = [
    ("sum", lambda x, a, k: x.sum(axis=a, keepdims=k), lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    ("mean", lambda x, a, k: x.mean(axis=a, keepdims=k), lambda x, a, k: np.mean(x, axis=a, keepdims=k)),
    ("var", lambda x, a, k: x.var(axis=a, keepdims=k), lambda x, a, k: np.var(x, axis=a, keepdims=k)),
    ("logsumexp", lambda x, a, k: x.logsumexp(axis=a, keepdims=k), _np_logsumexp),
]


@pytest.mark.parametrize("name,op,reference", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_smooth_reduction(device, name, op, reference):
    check_op(op, reference, args=_reduction_case(device), order=2, rtol=1e-9, max_examples=60)


# Distinct values at least 1/8 apart: no ties, and an eps-sized nudge never changes the winner.
_TIE_FREE = st.integers(-24, 24).map(lambda k: k / 8)

EXTREMA = [
    ("max", lambda x, a, k: x.max(axis=a, keepdims=k), lambda x, a, k: np.max(x, axis=a, keepdims=k)),
    ("min", lambda x, a, k: x.min(axis=a, keepdims=k), lambda x, a, k: np.min(x, axis=a, keepdims=k)),
]


@pytest.mark.parametrize("name,op,reference", EXTREMA, ids=[s[0] for s in EXTREMA])
def test_max_min_without_ties(device, name, op, reference):
    case = _reduction_case(device, elements=_TIE_FREE, unique=True)
    check_op(op, reference, args=case, order=2, max_examples=60)


def test_var_has_ddof_zero_like_numpy(device):
    x = mg.tensor([1.0, 2.0, 4.0], device=device)
    assert x.var().item() == pytest.approx(np.var([1.0, 2.0, 4.0]))
    assert x.var(ddof=1).item() == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1))


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_tied_extrema_split_the_gradient_evenly(device, reduce, axis):
    values = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [3.0, 0.0, 3.0]])
    x = mg.tensor(values, device=device, requires_grad=True)
    out = getattr(x, reduce)(axis=axis, keepdims=True)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    out.backward(mg.tensor(g, device=device))
    hit = values == getattr(np, reduce)(values, axis=axis, keepdims=True)
    expected = g * hit / hit.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
    assert x.grad.numpy().sum() == pytest.approx(g.sum(), rel=1e-6)  # nothing lost or doubled


def test_max_of_an_empty_tensor_is_an_error(device):
    x = mg.zeros(0, device=device, requires_grad=True)
    with pytest.raises(ValueError, match="empty"):
        x.max()


def test_logsumexp_of_huge_values_does_not_overflow(device):
    x = mg.tensor([1000.0, 1000.0], dtype=mg.float64, device=device, requires_grad=True)
    y = x.logsumexp()
    assert y.item() == pytest.approx(1000.0 + np.log(2.0))
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5])
