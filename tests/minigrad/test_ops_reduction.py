"""Reductions: sum mean var max min logsumexp over axis None / int / negative / tuple, keepdims."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops import LogSumExp, Max, Min, Sum
from minigrad.testing import shapes

from .._torch import requires_torch, torch
from ._opcheck import OpCase, floats


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


def _reduction(name, functions, method, **tensor_kwargs):
    def reference(x, a, k):
        return _np_logsumexp(x, a, k) if method == "logsumexp" else getattr(np, method)(x, axis=a, keepdims=k)

    return OpCase(
        name, functions, lambda x, a, k: getattr(x, method)(axis=a, keepdims=k), reference,
        lambda d: _reduction_case(d, **tensor_kwargs), rtol=1e-9, max_examples=60,
    )


# Distinct values at least 1/8 apart: no ties, and an eps-sized nudge never changes the winner.
_TIE_FREE = st.integers(-24, 24).map(lambda k: k / 8)

CASES = [
    _reduction("sum", (Sum,), "sum"),
    _reduction("mean", (Sum,), "mean"),
    _reduction("var", (Sum,), "var"),
    _reduction("logsumexp", (LogSumExp,), "logsumexp"),
    _reduction("max", (Max,), "max", elements=_TIE_FREE, unique=True),
    _reduction("min", (Min,), "min", elements=_TIE_FREE, unique=True),
]


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



# What is reduced is empty: an all-False mask, or a zero-width slice reduced over its empty axis.
_EMPTY = {"all-False mask": (lambda x: x[x > 10], None), "empty axis": (lambda x: x[:, :0], 1)}
_NOTHING = [(how, reduce) for how in _EMPTY for reduce in ("mean", "var")]


def _reduce_nothing(x, how, reduce):
    """(result, the RuntimeWarning messages raised) of mean/var over nothing, on any library."""
    select, axis = _EMPTY[how]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(x, mg.Tensor):
            out = getattr(select(x), reduce)(axis=axis)
        elif isinstance(x, np.ndarray):
            with np.errstate(invalid="ignore"):
                out = getattr(select(x), reduce)(axis=axis)
        elif reduce == "mean":  # PyTorch; its var is unbiased by default, minigrad's (NumPy's) ddof=0
            out = select(x).mean() if axis is None else select(x).mean(dim=axis)
        else:
            out = select(x).var(correction=0) if axis is None else select(x).var(dim=axis, correction=0)
    return out, [str(w.message) for w in caught if w.category is RuntimeWarning]


@pytest.mark.parametrize("how,reduce", _NOTHING)
def test_mean_and_var_of_nothing_are_nan_with_numpys_warning(device, how, reduce):
    values = np.arange(6.0).reshape(2, 3)
    x = mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)
    out, messages = _reduce_nothing(x, how, reduce)
    expected, expected_messages = _reduce_nothing(values, how, reduce)
    assert out.shape == expected.shape and np.isnan(out.numpy()).all() and np.isnan(expected).all()
    assert expected_messages[0] in messages  # "Mean of empty slice" / "Degrees of freedom <= 0 ..."
    out.sum().backward()  # the empty selection gets no gradient, and nothing raises
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(values))


@requires_torch
@pytest.mark.parametrize("how,reduce", _NOTHING)
def test_mean_and_var_of_nothing_match_pytorch(how, reduce):
    values = np.arange(6.0).reshape(2, 3)
    out, _ = _reduce_nothing(mg.tensor(values), how, reduce)
    expected, _ = _reduce_nothing(torch.tensor(values, dtype=torch.float32), how, reduce)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_var_with_ddof_at_least_the_count_divides_by_zero_like_numpy(device):
    values = np.array([1.0, 2.0])
    for ddof in (2, 3):
        with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
            out = mg.tensor(values, device=device).var(ddof=ddof).item()
        with pytest.warns(RuntimeWarning):
            assert out == np.var(values, ddof=ddof) == np.inf
