"""Assignment: write the backward pass of softplus.

    softplus(x) = log(1 + eˣ)

Forward is done (computed as logaddexp(0, x), which never overflows). Your task is
``Softplus.backward``: given ``grad`` = ∂L/∂y, return ∂L/∂x = grad · dy/dx. Work out
dy/dx on paper first, then write it with Tensor operations (``*``, ``/``, ``.exp()``,
``.sigmoid()``, ...) so that second derivatives work too.

Check your answer (it fails until you are done):

    python -m minigrad.check examples/assignment/ops.py
    python -m minigrad.check examples/assignment/ops.py --order 2
"""

import minigrad as mg


class Softplus(mg.Function):
    """y = log(1 + eˣ)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.device.xp.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # TODO: multiply grad by dy/dx, written in terms of x.
        return grad  # wrong on purpose: this claims dy/dx = 1 everywhere
