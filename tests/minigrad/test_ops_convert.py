"""Conversions and graph-free results: astype, clone, detach, and comparisons."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops import Cast, Clone, ToDevice
from minigrad.testing import smooth_floats

from ._opcheck import OpCase, as_numpy, binary_operands, each, floats


def _round_trip_through_float32(x):
    """float64 → float32 → float64 (a float32 input stays as it is: astype to its own dtype
    is no op)."""
    return x.astype(mg.float32).astype(x.dtype)


def _round_trip_through_cpu(x):
    return x.to("cpu").to(x.device)


CASES = [
    OpCase("clone", (Clone,), lambda x: x.clone(), np.copy, each(floats)),
    # Values and finite-difference steps on a grid of float32-exact numbers.
    OpCase("cast", (Cast,), _round_trip_through_float32, lambda x: x,
           each(lambda d: floats(d, elements=st.integers(-64, 64).map(lambda k: k / 8))), eps=0.125),
    OpCase("to_device", (ToDevice,), _round_trip_through_cpu, lambda x: x, each(floats), devices=("cuda",)),
]


def test_clone_owns_its_memory(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.clone()
    assert not np.shares_memory(y.numpy(), x.numpy()) if device == "cpu" else y.data is not x.data


@pytest.mark.parametrize("source,target", [(mg.float32, mg.float64), (mg.float64, mg.float32)])
def test_astype_between_floats_keeps_the_graph(device, source, target):
    x = mg.tensor([0.5, -1.25, 3.0], dtype=source, device=device, requires_grad=True)
    y = x.astype(target)
    assert y.dtype == target and y.requires_grad
    g = np.array([1.0, -2.0, 0.5])
    (y * y).backward(mg.tensor(g, dtype=target, device=device))
    assert x.grad.dtype == source  # the gradient comes back in the input's dtype
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * g, rtol=1e-6)
    assert x.astype(source) is x


@pytest.mark.parametrize("target", [mg.int64, mg.int32, mg.bool_])
def test_astype_to_integers_or_bool_leaves_the_graph(device, target):
    x = mg.tensor([0.5, -1.25, 3.0], device=device, requires_grad=True)
    y = x.astype(target)
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(target))
    assert not y.requires_grad and y.grad_fn is None


def test_detach_shares_data_but_cuts_the_graph(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    assert x.detach().data is x.data


COMPARISONS = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


@pytest.mark.parametrize("op", COMPARISONS, ids=[c.__name__ for c in COMPARISONS])
def test_comparisons_return_bool_tensors_without_grad(device, op):
    grid = smooth_floats(-2, 2).map(round)  # a coarse grid: ties (the eq/le/ge edge) are common

    @given(binary_operands(device, grid, grid))
    def compare(operands):
        a, b = operands
        out = op(a, b)  # with a scalar on the left Python reflects it onto the tensor
        assert out.dtype == mg.bool_ and not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), op(as_numpy(a), as_numpy(b)))

    compare()
