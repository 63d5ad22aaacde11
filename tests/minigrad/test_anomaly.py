"""Anomaly mode: NaN/Inf raise at the op that made them, pointing at the user's line."""

from __future__ import annotations

import os

import numpy
import pytest

import minigrad as mg
from minigrad import autograd
from minigrad.anomaly import AnomalyError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns on log(-1)
THIS_FILE = os.path.basename(__file__)


def _line_of(marker: str) -> int:
    """The number of the line of this file that ends with the comment ``# marker``."""
    with open(__file__, encoding="utf-8") as f:
        return next(n for n, line in enumerate(f, 1) if line.rstrip().endswith(f"# {marker}"))


def test_forward_nan_names_op_and_user_line() -> None:
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, mg.detect_anomaly():
        x.log()  # MARK-forward-nan
    msg = str(info.value)
    assert msg.startswith("Log forward produced nan in output 0")
    assert f"{THIS_FILE}\", line {_line_of('MARK-forward-nan')}" in msg
    assert "x.log()" in msg
    assert "_pytest" not in msg  # library frames (pytest's own) are left out


def test_anomaly_error_is_a_runtime_and_floating_point_error() -> None:
    assert issubclass(AnomalyError, RuntimeError)
    assert issubclass(AnomalyError, FloatingPointError)


def test_backward_inf_names_op_input_and_creation_line() -> None:
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, mg.detect_anomaly():
        y = x.sqrt().sum()  # MARK-sqrt
        y.backward()
    msg = str(info.value)
    # Inside Sqrt's backward a Div makes the inf; the error is about Sqrt, not that Div.
    assert msg.startswith("Sqrt backward produced inf in gradient of input 0")
    assert "Sqrt was created at:" in msg
    assert f"{THIS_FILE}\", line {_line_of('MARK-sqrt')}" in msg


def test_backward_of_graph_built_outside_the_mode_says_origin_unknown() -> None:
    x = mg.tensor([0.0], requires_grad=True)
    y = x.sqrt().sum()
    with pytest.raises(AnomalyError, match="created outside detect_anomaly"), mg.detect_anomaly():
        y.backward()


def test_nan_coming_in_with_the_data_is_said_to_come_from_outside() -> None:
    x = mg.tensor([numpy.nan, 1.0], requires_grad=True)
    with pytest.raises(AnomalyError, match="input 0 already contained nan/inf"), mg.detect_anomaly():
        x * 2.0


def test_overflow_to_inf_in_forward_is_caught() -> None:
    x = mg.tensor([1000.0], requires_grad=True)
    with pytest.raises(AnomalyError, match="Exp forward produced inf"), mg.detect_anomaly():
        x.exp()


def test_clean_graph_raises_nothing_and_gradients_are_unchanged() -> None:
    x = mg.tensor([[0.5, -1.0], [2.0, 3.0]], requires_grad=True)
    with mg.detect_anomaly():
        loss = (x.tanh() * x.exp()).sum() + x.relu().mean()
        loss.backward()
    in_mode = x.grad.numpy().copy()
    x.grad = None
    ((x.tanh() * x.exp()).sum() + x.relu().mean()).backward()
    numpy.testing.assert_array_equal(in_mode, x.grad.numpy())


def test_mode_is_off_by_default_and_restored_after_block() -> None:
    assert autograd._anomaly is None
    with mg.detect_anomaly():
        assert autograd._anomaly is not None
    assert autograd._anomaly is None


def test_mode_restored_when_block_raises() -> None:
    x = mg.tensor([-1.0], requires_grad=True)
    with pytest.raises(AnomalyError), mg.detect_anomaly():
        x.log()
    assert autograd._anomaly is None
    with pytest.raises(KeyError), mg.detect_anomaly():
        raise KeyError("unrelated")
    assert autograd._anomaly is None


def test_nested_blocks_restore_the_outer_mode() -> None:
    with mg.detect_anomaly():
        outer = autograd._anomaly
        with mg.detect_anomaly():
            assert autograd._anomaly is not outer
        assert autograd._anomaly is outer
    assert autograd._anomaly is None


def test_nothing_recorded_outside_the_mode() -> None:
    x = mg.tensor([1.0], requires_grad=True)
    y = x.exp()
    assert not hasattr(y.grad_fn, "_anomaly_sites")
    with mg.detect_anomaly():
        z = x.exp()
    assert z.grad_fn._anomaly_sites[-1][0] == __file__
