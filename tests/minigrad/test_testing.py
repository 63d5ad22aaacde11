"""minigrad.testing: the strategies draw what they promise, and check_gradients finds a
wrong gradient, shrinks the input, and reports it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import (
    Checkable,
    GradientCheckFailure,
    away_from,
    broadcastable_shapes,
    check_gradients,
    checkable,
    shapes,
    smooth_floats,
    tensors,
)

# -- strategies ----------------------------------------------------------------------------------


@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_their_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@given(broadcastable_shapes(3))
def test_broadcastable_shapes_broadcast_together(shape_list):
    assert len(shape_list) == 3
    np.broadcast_shapes(*shape_list)  # raises if they do not


def test_broadcastable_shapes_include_differing_ranks_and_size_one_axes():
    find(broadcastable_shapes(2), lambda s: len(s[0]) != len(s[1]))
    find(broadcastable_shapes(2), lambda s: any(n == 1 for n in s[0]) and len(s[0]) == len(s[1]) >= 2
         and s[0] != s[1])


@given(smooth_floats(-2.0, 5.0))
def test_smooth_floats_are_finite_and_bounded(v):
    assert -2.0 <= v <= 5.0


@given(away_from([0.0, 1.0], margin=0.2, min_value=-1.0, max_value=2.0))
def test_away_from_keeps_its_margin(v):
    assert -1.0 <= v <= 2.0
    tolerance = 1e-12  # 1.0 + 0.2 − 1.0 is 0.19999999999999996 in floating point
    assert abs(v) >= 0.2 - tolerance and abs(v - 1.0) >= 0.2 - tolerance


def test_away_from_with_no_room_left_is_an_error():
    with pytest.raises(ValueError, match="no value"):
        away_from([0.0], margin=2.0, min_value=-1.0, max_value=1.0)


def test_tensors_follow_shape_dtype_device_and_elements(device):
    @given(tensors(shape=(2, 3), dtype=mg.float32, elements=smooth_floats(0.5, 1.0), device=device))
    def floats32(t):
        assert t.shape == (2, 3) and t.dtype == mg.float32 and t.device == device and t.requires_grad
        assert ((t.numpy() >= 0.5) & (t.numpy() <= 1.0)).all()

    @given(tensors(shape=shapes(max_dims=2), dtype=mg.int64, device=device))
    def ints(t):
        assert t.dtype == mg.int64 and not t.requires_grad

    @given(tensors(shape=(6,), elements=st.integers(-3, 3).map(float), unique=True, device=device))
    def distinct(t):
        assert len(set(t.tolist())) == 6

    floats32()
    ints()
    distinct()


def test_noncontiguous_tensors_are_views_with_the_requested_shape():
    @given(tensors(shape=shapes(min_dims=1, max_dims=3, min_side=2, max_side=4), noncontiguous=True))
    def views(t):
        assert not t.data.flags.c_contiguous and t.data.base is not None

    views()
    find(tensors(shape=(3, 2), noncontiguous=True), lambda t: t.data.strides[0] < t.data.strides[1])
    find(tensors(shape=(3, 2), noncontiguous=True), lambda t: t.data.strides[-1] < 0)


# -- check_gradients -----------------------------------------------------------------------------------


class WrongAboveOne(mg.Function):
    """y = x³; the backward doubles the gradient where x > 1 (a bug only some inputs show)."""

    @staticmethod
    def forward(ctx, x):
        return x**3

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * 3 * x**2 * (1 + (x > 1).astype(x.dtype))


def test_a_correct_function_passes():
    result = check_gradients(lambda x, y: (x * y).tanh(), *[tensors(shape=(2, 2))] * 2, max_examples=10,
                             order=2)
    assert result.order == 2 and 0 < result.examples <= 10


def test_a_wrong_gradient_is_shrunk_to_the_smallest_failing_input():
    with pytest.raises(GradientCheckFailure) as info:
        check_gradients(WrongAboveOne, tensors(), max_examples=50)
    err = info.value
    assert err.function == "WrongAboveOne" and err.kind == "mismatch" and err.order == 1
    (x,) = err.inputs
    assert x.shape == ()  # shrunk from whatever shape first failed down to a single value
    assert x.item() > 1.0 and err.element_index == ()
    assert err.analytic / err.numeric == pytest.approx(2.0, rel=1e-5)
    assert err.input_index == 0 and err.examples > 0
    assert "smallest failing input" in str(err) and "WrongAboveOne" in str(err)


def test_the_element_index_points_at_a_wrong_element():
    with pytest.raises(GradientCheckFailure) as info:
        check_gradients(WrongAboveOne.apply, tensors(shape=(4,)), max_examples=50)
    (x,) = info.value.inputs
    assert x.numpy()[info.value.element_index] > 1.0


class CubeWithConstantBackward(mg.Function):
    """dy/dx = 3x² as a constant: right value, lost second derivative."""

    @staticmethod
    def forward(ctx, x):
        return x**3

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * mg.Tensor._wrap(3 * x.data**2, x.device)


def test_order_two_catches_what_order_one_cannot():
    check_gradients(CubeWithConstantBackward, tensors(shape=(3,)), max_examples=5)
    with pytest.raises(GradientCheckFailure) as info:
        check_gradients(CubeWithConstantBackward, tensors(shape=(3,)), max_examples=5, order=2)
    assert info.value.order == 2 and "second-order" in str(info.value)


def test_shrinking_stops_after_shrink_time_with_the_failure_found():
    def wrong(x):
        return x * x.detach()  # the detached factor's share of the gradient is lost

    with pytest.raises(GradientCheckFailure) as info:
        check_gradients(wrong, tensors(shape=(3,), elements=away_from([0.0])), max_examples=5,
                        shrink_time=0.0)
    assert info.value.examples == 1  # reported as found: not one shrinking step
    assert info.value.kind == "mismatch"


def test_not_implemented_is_reported_at_once_without_shrinking():
    class Unwritten(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            raise NotImplementedError("write this part")

    with pytest.raises(GradientCheckFailure) as info:
        check_gradients(Unwritten, tensors(shape=(3,)), max_examples=10)
    assert info.value.kind == "not-implemented" and info.value.examples == 1
    assert "not written yet" in str(info.value) and "write this part" in str(info.value)


def test_forward_errors_are_reported_with_the_input():
    def picky(x):
        if (x.numpy() < 0).any():
            raise ValueError("negative input")
        return x * 2

    # ±1 only, so the finite-difference nudges never cross 0: only forward itself can raise.
    values = st.sampled_from([1.0, -1.0])
    with pytest.raises(GradientCheckFailure, match="forward raised") as info:
        check_gradients(picky, tensors(shape=(2,), elements=values), max_examples=20)
    assert info.value.kind == "forward-error" and (info.value.inputs[0].numpy() < 0).any()


def test_a_kink_is_reported_as_a_non_differentiable_point():
    with np.errstate(invalid="ignore", divide="ignore"), pytest.raises(GradientCheckFailure) as info:
        check_gradients(lambda x: x.sqrt(), tensors(shape=(2,), elements=st.sampled_from([1.0, 0.0])))
    assert info.value.kind == "non-differentiable" and "non-differentiable point" in str(info.value)


def test_seeded_runs_repeat():
    runs = []
    for _ in range(2):
        with pytest.raises(GradientCheckFailure) as info:
            check_gradients(WrongAboveOne, tensors(shape=(3,)), max_examples=30, seed=7)
        runs.append((info.value.inputs[0].tolist(), info.value.examples))
    assert runs[0] == runs[1]


def test_invalid_order_is_rejected():
    with pytest.raises(ValueError, match="order"):
        check_gradients(lambda x: x, tensors(), order=3)


# -- @checkable ---------------------------------------------------------------------------------------


def test_checkable_records_strategies_and_order_and_returns_the_function():
    strategy = tensors(shape=(3,), elements=away_from([0.0]))

    def soft_abs(x):
        return (x * x + 1).sqrt()

    marked = checkable(strategy, order=2)(soft_abs)
    assert marked is soft_abs
    assert marked.__minigrad_checkable__ == Checkable((strategy,), 2)
    strategies, order = marked.__minigrad_checkable__
    check_gradients(marked, *strategies, order=order, max_examples=5)


@pytest.mark.parametrize("args,kwargs", [((), {}), ((tensors(),), {"order": 3})])
def test_checkable_rejects_bad_declarations(args, kwargs):
    with pytest.raises(ValueError):
        checkable(*args, **kwargs)
