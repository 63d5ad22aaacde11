"""Assignment 3: y = f(Wx + b) with the MSE loss, by hand, then trained.

Write the ``backward`` of ``Linear`` and ``MSELoss`` and the training loop ``fit``.
README.md has the equations to derive; the grader compares your gradients with finite
differences and with the closed form, then trains a regression with your ``fit``.

    python -m minigrad.check linear.py --order 2
    python -m minigrad.check .
"""

from __future__ import annotations

from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim
from minigrad.testing import checkable, tensors

# Shapes drawn once per example: N samples, D inputs, O outputs.
_DIMS = st.shared(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)), key="course.03")


@checkable(tensors(shape=_DIMS.map(lambda d: (d[0], d[1]))),
           tensors(shape=_DIMS.map(lambda d: (d[2], d[1]))),
           tensors(shape=_DIMS.map(lambda d: (d[2],))))
class Linear(mg.Function):
    """Y = X Wᵀ + b for a batch X (N, D), weight W (O, D), bias b (O,): row i is W xᵢ + b."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.T + b

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        # BEGIN SOLUTION
        # grad is ∂L/∂Y (N, O): ∂L/∂X = ∂L/∂Y · W, ∂L/∂W = (∂L/∂Y)ᵀ X, ∂L/∂b = Σᵢ ∂L/∂Yᵢ
        return grad @ w, grad.T @ x, grad.sum(axis=0)
        # END SOLUTION


@checkable(tensors(shape=_DIMS.map(lambda d: (d[0], d[2]))), tensors(shape=_DIMS.map(lambda d: (d[0], d[2]))))
class MSELoss(mg.Function):
    """L = 1/(2N) Σᵢ ‖ŷᵢ − yᵢ‖² for predictions ŷ and targets y of shape (N, O)."""

    @staticmethod
    def forward(ctx, pred, target):
        ctx.save_for_backward(pred, target)
        diff = pred - target
        return (diff * diff).sum() / (2 * pred.shape[0])

    @staticmethod
    def backward(ctx, grad):
        pred, target = ctx.saved_tensors
        # BEGIN SOLUTION
        d = grad * (pred - target) / pred.shape[0]  # ∂L/∂ŷ = (ŷ − y)/N
        return d, -d
        # END SOLUTION


def model(x: mg.Tensor, w: mg.Tensor, b: mg.Tensor) -> mg.Tensor:
    """ŷ = f(W x + b) with f = tanh, for each row x of the batch."""
    return Linear.apply(x, w, b).tanh()


def fit(x: mg.Tensor, y: mg.Tensor, steps: int = 300, lr: float = 0.5,
        seed: int = 0) -> tuple[mg.Tensor, mg.Tensor, list[float]]:
    """Train ``model`` on (x, y) with plain gradient descent on ``MSELoss``, from W drawn
    from N(0, 0.1²) (seeded with ``seed``) and b = 0, for ``steps`` steps of size ``lr``.
    Returns W, b and the loss before each step."""
    mg.manual_seed(seed)
    w = nn.Parameter(mg.randn(y.shape[1], x.shape[1]) * 0.1)
    b = nn.Parameter(mg.zeros(y.shape[1]))
    losses: list[float] = []
    # BEGIN SOLUTION
    opt = optim.SGD([w, b], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = MSELoss.apply(model(x, w, b), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # END SOLUTION
    return w, b, losses
