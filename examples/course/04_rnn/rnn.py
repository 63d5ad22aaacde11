"""Assignment 4: the RNN recurrence, with backpropagation through time as one Function.

    h_t = tanh(W_x x_t + W_h h_{t−1} + b),   t = 1 … T

``RNN.forward`` runs the whole sequence and returns every h_t. Write ``RNN.backward``:
given ∂L/∂h_t for every t (the loss may read any of them), walk the sequence backwards
and return the gradients of x, h_0, W_x, W_h and b. README.md has the equations.
``train_first_bit`` (written for you) then trains a small classifier with your Function.

    python -m minigrad.check rnn.py
    python -m minigrad.check .
"""

from __future__ import annotations

import numpy
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.testing import checkable, tensors

# Sizes drawn once per example: T steps, N sequences, D inputs, H hidden units.
_SIZES = st.shared(st.tuples(*(st.integers(1, n) for n in (4, 2, 3, 3))), key="course.04")


def _drawn(shape_of):
    return tensors(shape=_SIZES.map(lambda s: shape_of(*s)), elements=st.floats(-1, 1))


@checkable(_drawn(lambda t, n, d, h: (t, n, d)), _drawn(lambda t, n, d, h: (n, h)),
           _drawn(lambda t, n, d, h: (h, d)), _drawn(lambda t, n, d, h: (h, h)),
           _drawn(lambda t, n, d, h: (h,)))
class RNN(mg.Function):
    """hs[t] = tanh(x[t] W_xᵀ + hs[t−1] W_hᵀ + b) for a batch: x (T, N, D), h0 (N, H),
    W_x (H, D), W_h (H, H), b (H,); returns hs (T, N, H), hs[−1] being h_0."""

    @staticmethod
    def forward(ctx, x, h0, w_x, w_h, b):
        xp = ctx.device.xp
        h, hs = h0, []
        for x_t in x:
            h = xp.tanh(x_t @ w_x.T + h @ w_h.T + b)
            hs.append(h)
        out = xp.stack(hs)
        ctx.save_for_backward(x, h0, w_x, w_h, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, h0, w_x, w_h, hs = ctx.saved_tensors
        # BEGIN SOLUTION
        dx, dw_x, dw_h, db = [], 0, 0, 0
        dh_next = 0  # ∂L/∂h_t through h_{t+1}: nothing after the last step
        for t in reversed(range(x.shape[0])):
            h_prev = hs[t - 1] if t else h0
            da = (grad[t] + dh_next) * (1 - hs[t] * hs[t])  # through tanh: a_t = W_x x_t + W_h h_{t−1} + b
            dx.append(da @ w_x)
            dw_x = dw_x + da.T @ x[t]
            dw_h = dw_h + da.T @ h_prev
            db = db + da.sum(axis=0)
            dh_next = da @ w_h
        return mg.stack(dx[::-1]), dh_next, dw_x, dw_h, db
        # END SOLUTION


def first_bit_task(n: int, steps: int, rng: numpy.random.Generator) -> tuple[mg.Tensor, mg.Tensor]:
    """``n`` sequences of ``steps`` random bits, one-hot (steps, n, 2), labelled with their
    first bit: the model must carry it through every later step (BPTT over the sequence)."""
    bits = rng.integers(0, 2, size=(steps, n))
    x = numpy.eye(2, dtype=numpy.float32)[bits]
    return mg.tensor(x), mg.tensor(bits[0].astype(numpy.int64))


def train_first_bit(train_steps: int = 120, seq_len: int = 12, hidden: int = 16, seed: int = 0) -> float:
    """Train RNN + a linear read-out of the last h_t to recall the first bit of the
    sequence; returns the accuracy on 512 fresh sequences."""
    mg.manual_seed(seed)
    rng = numpy.random.default_rng(seed)
    w_x = nn.Parameter(mg.randn(hidden, 2) * 0.5)
    w_h = nn.Parameter(mg.randn(hidden, hidden) * (0.5 / hidden**0.5))
    b = nn.Parameter(mg.zeros(hidden))
    readout = nn.Linear(hidden, 2)
    opt = optim.Adam([w_x, w_h, b, *readout.parameters()], lr=0.03)

    def logits(x: mg.Tensor) -> mg.Tensor:
        h0 = mg.zeros(x.shape[1], hidden)
        return readout(RNN.apply(x, h0, w_x, w_h, b)[-1])

    for _ in range(train_steps):
        x, y = first_bit_task(64, seq_len, rng)
        opt.zero_grad()
        F.cross_entropy(logits(x), y).backward()
        opt.step()
    x, y = first_bit_task(512, seq_len, rng)
    with mg.no_grad():
        predicted = logits(x).numpy().argmax(axis=1)
    return float((predicted == y.numpy()).mean())
