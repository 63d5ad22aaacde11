"""gradcheck / gradgradcheck: they pass on correct ops and report wrong ones precisely."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F


def _leaf(values, device, requires_grad=True):
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=requires_grad)


def _grid(shape, device, lo=-1.5, hi=1.5, requires_grad=True):
    n = int(np.prod(shape))
    return _leaf(np.linspace(lo, hi, n).reshape(shape), device, requires_grad)


def test_passes_on_correct_ops(device):
    x, w = _grid((3, 4), device), _grid((4, 2), device, 0.2, 0.9)
    assert mg.gradcheck(lambda a, b: (a @ b).tanh().logsumexp(axis=0), (x, w))
    assert mg.gradgradcheck(lambda a, b: (a @ b).sigmoid(), (x, w))
    assert mg.gradcheck(F.softmax, (x,))


# -- a deliberately wrong op: every field of the report ---------------------------------------


class WrongProduct(mg.Function):
    """y = a·b²; the backward wrongly gives ∂y/∂b = a·b (the true one is 2ab)."""

    @staticmethod
    def forward(ctx, a, b):
        return a * b * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.inputs
        return grad * b * b, grad * a * b


def _wrong_loss(a, b):
    # A scalar output: the random upstream gradient v is one number, so analytic/numeric = ½.
    return WrongProduct.apply(a, b).sum()


@pytest.mark.parametrize("a_requires_grad", [True, False], ids=["both-inputs", "second-only"])
def test_report_names_the_input_element_values_and_tolerances(device, a_requires_grad):
    a = _leaf([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], device, requires_grad=a_requires_grad)
    b = _leaf([[1.0, 2.0, -0.5], [0.3, -1.2, 0.8]], device)
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(_wrong_loss, (a, b), eps=1e-5, atol=1e-6, rtol=1e-4)
    err = info.value
    assert err.function == "_wrong_loss"
    assert err.input_index == 1  # the position among all inputs, not among checked ones
    # The worst element is where |analytic − numeric| = |v·a·b| / 1 is largest.
    ab = np.abs(a.numpy() * b.numpy())
    assert err.element_index == np.unravel_index(np.argmax(ab), ab.shape)
    assert err.analytic / err.numeric == pytest.approx(0.5, rel=1e-6)
    assert err.max_abs_error == pytest.approx(abs(err.analytic - err.numeric), rel=1e-6)
    assert err.max_rel_error == pytest.approx(0.5, rel=1e-6)
    assert (err.eps, err.atol, err.rtol) == (1e-5, 1e-6, 1e-4)
    assert err.kind == "mismatch"
    text = str(err)
    for piece in ("_wrong_loss", "input 1", f"element {err.element_index}", "eps=1e-05", "rtol=0.0001"):
        assert piece in text
    assert isinstance(err, AssertionError)


def test_raise_exception_false_returns_false(device):
    a, b = _grid((2, 2), device), _grid((2, 2), device, 0.5, 1.0)
    assert mg.gradcheck(_wrong_loss, (a, b), raise_exception=False) is False


def test_inputs_are_not_mutated_and_get_no_grad(device):
    a, b = _grid((2, 3), device), _grid((2, 3), device, 0.5, 1.0)
    a_before, b_before = a.numpy().copy(), b.numpy().copy()
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(_wrong_loss, (a, b))
    assert mg.gradgradcheck(lambda x, y: x * y * y, (a, b))
    np.testing.assert_array_equal(a.numpy(), a_before)
    np.testing.assert_array_equal(b.numpy(), b_before)
    assert a.grad is None and b.grad is None


def test_float32_inputs_are_checked_in_float64(device):
    x = mg.tensor([[0.3, -0.2], [0.9, 1.1]], dtype=mg.float32, device=device, requires_grad=True)
    assert mg.gradcheck(lambda t: (t * t).exp(), (x,), atol=1e-8, rtol=1e-6)
    assert x.dtype == mg.float32


def test_noncontiguous_inputs_are_perturbed_correctly(device):
    base = _grid((3, 4), device)
    x = mg.Tensor._wrap(base.data.T, base.device, requires_grad=True)  # a transposed view
    assert not x.data.flags.c_contiguous if device == "cpu" else True
    assert mg.gradcheck(lambda t: t.tanh() * t[0:1], (x,))
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: _wrong_loss(t, t * 1.0 + 2.0), (x,))


def test_a_kink_is_reported_as_non_differentiable(device):
    x = _leaf([0.0, 1.0], device)  # sqrt(0 − eps) is NaN
    quiet = np.errstate(invalid="ignore", divide="ignore")
    with quiet, pytest.raises(mg.GradcheckError, match="non-differentiable point") as info:
        mg.gradcheck(lambda t: t.sqrt(), (x,))
    assert info.value.kind == "non-differentiable" and info.value.element_index == (0,)


def test_no_input_requiring_grad_is_an_error(device):
    with pytest.raises(ValueError, match="no input requires grad"):
        mg.gradcheck(lambda t: t * 2, (_grid((2,), device, requires_grad=False),))


# -- fast mode on a large input -----------------------------------------------------------------


class CubeWrongPowerRule(mg.Function):
    """y = x³ with the power rule misremembered: dy/dx = 3x (the true one is 3x²)."""

    @staticmethod
    def forward(ctx, x):
        return x**3

    @staticmethod
    def backward(ctx, grad):
        return grad * 3 * ctx.inputs[0]


def test_fast_mode_catches_a_wrong_gradient_on_a_large_input(device):
    x = _grid((100, 100), device, -1.0, 1.0)  # 10,000 elements: fast mode by default
    with pytest.raises(mg.GradcheckError, match="random direction") as info:
        mg.gradcheck(CubeWrongPowerRule.apply, (x,))
    assert info.value.element_index is None
    assert mg.gradcheck(lambda t: t**3, (x,))  # the correct op passes the same check


def test_fast_mode_can_be_forced_on_small_inputs(device):
    x = _grid((3,), device)
    with pytest.raises(mg.GradcheckError, match="random direction"):
        mg.gradcheck(lambda t: _wrong_loss(t, t + 3.0), (x,), fast_mode=True)


# -- the random upstream gradient -----------------------------------------------------------------


class SoftmaxMissingY(mg.Function):
    """softmax with a wrong backward: g − Σ g·y (the leading ``y ⊙`` forgotten).

    With an upstream gradient of ones it gives 1 − Σ y = 0, which is also the true
    d(Σ softmax)/dx, so a ones-seeded check cannot see the bug."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.device.xp
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        out = e / e.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad - (grad * y).sum(axis=-1, keepdims=True)


def test_random_upstream_gradient_catches_what_a_ones_seed_misses(device):
    x = _grid((2, 4), device)
    # Seeded with ones, analytic and numeric gradients agree (both ≈ 0): vacuous.
    (ones_seeded,) = mg.grad(SoftmaxMissingY.apply(x).sum(), x)
    np.testing.assert_allclose(ones_seeded.numpy(), 0.0, atol=1e-12)
    # gradcheck contracts with a random v instead, and the bug shows.
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(SoftmaxMissingY.apply, (x,))
    assert mg.gradcheck(F.softmax, (x,))


# -- second order ---------------------------------------------------------------------------------


class CubeWithConstantBackward(mg.Function):
    """y = x³ with a backward whose value is right (3x²) but built from a constant, so its own
    derivative (6x) is lost: first order passes, second order must fail."""

    @staticmethod
    def forward(ctx, x):
        return x**3

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * mg.Tensor._wrap(3 * x.data**2, x.device)


def test_gradgradcheck_catches_a_wrong_second_derivative(device):
    x = _grid((4,), device, 0.5, 2.0)
    assert mg.gradcheck(CubeWithConstantBackward.apply, (x,))
    with pytest.raises(mg.GradcheckError, match="grad of"):
        mg.gradgradcheck(CubeWithConstantBackward.apply, (x,))
    assert mg.gradgradcheck(lambda t: t**3, (x,))
