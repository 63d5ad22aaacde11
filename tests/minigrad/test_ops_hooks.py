"""CallAfterBackward: an identity whose backward() runs a callback once, after every .grad is written."""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.ops import CallAfterBackward

from ._opcheck import OpCase, each, floats


def _identity_with_a_callback(x):
    return CallAfterBackward.apply(x, lambda: None)


# Its row of the op table (test_op_table.py).
CASES = [
    OpCase("call_after_backward", (CallAfterBackward,), _identity_with_a_callback, lambda x: x, each(floats)),
]


def test_identity_with_the_gradient_of_an_identity():
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2)), requires_grad=True)
    assert mg.gradcheck(lambda t: CallAfterBackward.apply(t, lambda: None) * t, [x])


def test_the_callback_runs_once_after_the_leaf_gradients_are_written():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    y = CallAfterBackward.apply(w * 3.0, lambda: seen.append(w.grad.numpy().copy()))
    (y.sum() + y.sum()).backward()  # y is reached twice: the callback still runs once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [6.0, 6.0])


def test_mg_grad_writes_no_grad_and_runs_no_callback():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    y = CallAfterBackward.apply(w * w, lambda: seen.append(True))
    (g,) = mg.grad(y.sum(), [w])
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert seen == [] and w.grad is None
