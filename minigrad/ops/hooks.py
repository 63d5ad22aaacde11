"""Identity ops that let a caller act on the backward pass without changing any value."""

from __future__ import annotations

from ..autograd import Function, queue_callback


class CallAfterBackward(Function):
    """y = x, and the backward() that reaches y runs ``callback()`` once it has written every
    leaf's ``.grad`` (DistributedDataParallel averages gradients there);  ∂L/∂x = ∂L/∂y."""

    @staticmethod
    def forward(ctx, x, callback):
        ctx.callback = callback
        return x.view()

    @staticmethod
    def backward(ctx, grad):
        queue_callback(ctx.callback)
        return grad, None
