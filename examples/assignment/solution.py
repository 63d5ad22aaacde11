"""Reference solution to the softplus assignment (ops.py).

    y = log(1 + eˣ)   ⇒   dy/dx = eˣ / (1 + eˣ) = 1 / (1 + e⁻ˣ) = sigmoid(x)

Written with a Tensor op (``x.sigmoid()``), the backward is itself differentiable, so
``--order 2`` passes as well:

    python -m minigrad.check examples/assignment/solution.py --order 2
"""

import minigrad as mg


class Softplus(mg.Function):
    """y = log(1 + eˣ);  dy/dx = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.device.xp.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.sigmoid()
