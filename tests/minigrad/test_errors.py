"""Bad input gets a clear error naming the op and the shapes/devices/dtypes involved.

(Mixing devices needs a second device: see test_backend.py, which fakes a GPU.)
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import InvalidGradientError


def _names_both_shapes(message: str, a: tuple, b: tuple) -> bool:
    return str(a) in message and str(b) in message


@pytest.mark.parametrize(
    "op,name",
    [(lambda a, b: a + b, "Add"), (lambda a, b: a * b, "Mul"), (lambda a, b: a / b, "Div"),
     (mg.maximum, "Maximum")],
    ids=["add", "mul", "div", "maximum"],
)
def test_shape_mismatch_in_a_binary_op_names_the_op_and_both_shapes(device, op, name):
    a, b = mg.ones(2, 3, device=device), mg.ones(4, device=device)
    with pytest.raises(ValueError, match=name) as info:
        op(a, b)
    assert _names_both_shapes(str(info.value), (2, 3), (4,))


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3), (4,)), ((2, 3), (2, 3)), ((5, 2, 3), (4, 2))])
def test_matmul_shape_mismatch_names_the_op_and_both_shapes(device, a_shape, b_shape):
    a, b = mg.ones(*a_shape, device=device), mg.ones(*b_shape, device=device)
    with pytest.raises(ValueError, match="(?i)matmul") as info:
        a @ b
    assert _names_both_shapes(str(info.value), a_shape, b_shape)


def test_matmul_of_a_0d_operand_is_an_error(device):
    with pytest.raises(ValueError, match="at least 1-D"):
        mg.tensor(2.0, device=device) @ mg.ones(2, device=device)


def test_backward_on_a_non_scalar_without_grad(device):
    y = mg.ones(3, device=device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=re.escape("scalar outputs") + ".*shape \\(3,\\)"):
        y.backward()


def test_backward_twice_without_retain_graph(device):
    loss = (mg.ones(3, device=device, requires_grad=True) * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()


def test_backward_with_a_grad_of_the_wrong_shape(device):
    y = mg.ones(3, device=device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=re.escape("grad has shape (2,) but the output has shape (3,)")):
        y.backward(mg.ones(2, device=device))


def test_backward_on_a_tensor_that_does_not_require_grad(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.ones(3, device=device).sum().backward()
    with mg.no_grad():
        y = (mg.ones(3, device=device, requires_grad=True) * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


@pytest.mark.parametrize(
    "make",
    [
        lambda d: mg.tensor([1, 2], device=d, requires_grad=True),
        lambda d: mg.zeros(2, dtype=mg.int64, device=d, requires_grad=True),
        lambda d: mg.tensor([True], device=d).requires_grad_(),
    ],
    ids=["tensor", "zeros", "requires_grad_"],
)
def test_requires_grad_on_an_integer_or_bool_tensor(device, make):
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients"):
        make(device)


@pytest.mark.parametrize("data", [[[1.0, 2.0], [3.0]], [1.0, [2.0, 3.0]], [[[1.0]], [[1.0, 2.0]]]])
def test_ragged_python_list(device, data):
    with pytest.raises(ValueError, match="ragged"):
        mg.tensor(data, device=device)


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "cuda:-1", ""])
def test_unknown_device_string(spec):
    with pytest.raises(ValueError, match="unknown device.*'cpu', 'cuda' or 'cuda:N'"):
        mg.tensor([1.0], device=spec)


def test_device_of_the_wrong_type():
    with pytest.raises(TypeError, match="device must be"):
        mg.Device(3)


@pytest.mark.parametrize("dtype", ["float128", "complex64", "bfloat16", "floaty", object])
def test_unknown_dtype(device, dtype):
    with pytest.raises(TypeError, match="unknown dtype.*mg.float32"):
        mg.tensor([1.0], dtype=dtype, device=device)


class _TooManyGrads(mg.Function):
    """y = 2x, with a backward that wrongly returns two gradients for one input."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, grad * 2


class _WrongShapeGrad(mg.Function):
    """y = 2x, with a backward that wrongly returns a summed gradient."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return (grad * 2).sum()


def test_function_backward_returning_the_wrong_number_of_gradients(device):
    x = mg.ones(3, device=device, requires_grad=True)
    with pytest.raises(InvalidGradientError, match="_TooManyGrads.backward returned 2 gradient.*1 input"):
        _TooManyGrads.apply(x).sum().backward()


def test_function_backward_returning_a_gradient_of_the_wrong_shape(device):
    x = mg.ones(3, device=device, requires_grad=True)
    with pytest.raises(InvalidGradientError, match=re.escape("shape () for input 0, whose shape is (3,)")):
        _WrongShapeGrad.apply(x).sum().backward()
    assert issubclass(InvalidGradientError, RuntimeError)


def test_reshape_to_an_incompatible_size_names_the_op_and_shape(device):
    with pytest.raises(ValueError, match=re.escape("Reshape") + ".*" + re.escape("(2, 3)")):
        mg.ones(2, 3, device=device).reshape(5)


def test_reduction_axis_out_of_range(device):
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        mg.ones(2, 3, device=device).sum(axis=2)


def test_grad_input_that_does_not_require_grad(device):
    x = mg.ones(2, device=device)
    w = mg.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.grad((x * w).sum(), x)


def test_item_of_a_tensor_with_several_elements(device):
    with pytest.raises(ValueError, match="one element"):
        mg.tensor(np.ones(3), device=device).item()


class _SavesNothing(mg.Function):
    """y = x², with a backward that reads saved values that forward never saved."""

    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x


class _SavesOneOfTwo(mg.Function):
    """z = x·y, with a forward that saves x but a backward that unpacks x and y."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y, grad * x


class _SavesTwoOfOne(_SavesOneOfTwo):
    """The same with a forward that saves one value more than backward unpacks."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y, x * y)
        return x * y


class _ReturnsAFloat(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return float(x.sum())


def test_saved_tensors_when_forward_saved_nothing_says_so_not_freed(device):
    x = mg.ones(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_SavesNothing.forward saved nothing.*save_for_backward") as e:
        _SavesNothing.apply(x).sum().backward()
    assert "freed" not in str(e.value)


@pytest.mark.parametrize("op,count,problem", [
    (_SavesOneOfTwo, 1, "not enough values to unpack (expected 2, got 1)"),
    (_SavesTwoOfOne, 3, "too many values to unpack (expected 2"),
])
def test_unpacking_the_wrong_number_of_saved_tensors_says_what_forward_saved(device, op, count, problem):
    x = mg.ones(3, device=device, requires_grad=True)
    with pytest.raises(ValueError) as e:
        op.apply(x, x * 2).sum().backward()
    message = str(e.value)
    assert message.startswith(f"{op.__name__}.backward: {problem}")
    assert "`x, y = ctx.saved_tensors`" in message and f"saved {count} value(s)" in message
    assert "ctx.save_for_backward(x, y)" in message


def test_a_forward_that_returns_a_python_number_for_tensors_is_a_clear_error(device):
    x = mg.ones(3, device=device)
    with pytest.raises(TypeError, match=r"_ReturnsAFloat.forward returned float: forward must return backend "
                                        r"arrays.*ctx.device.xp"):
        _ReturnsAFloat.apply(x)
