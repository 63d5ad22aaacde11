"""Matrix products: matmul, and the affine map of a linear layer as one node."""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from .shape import unbroadcast


class MatMul(Function):
    """C = A @ B (1-D, 2-D and batched, batch dims broadcast);
    ∂L/∂A = ∂L/∂C · Bᵀ,  ∂L/∂B = Aᵀ · ∂L/∂C."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}")
        k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if a.shape[-1] != k_b:
            raise ValueError(
                f"matmul shapes {a.shape} and {b.shape} do not match: the last dim of the first "
                f"({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} dim "
                f"of the second ({k_b})"
            )
        if a.ndim > 2 and b.ndim == 2:
            # (…, M, K) @ (K, N) as one (…·M, K) @ (K, N) product: NumPy runs the batched
            # form as many small products, ~30x slower for layer-sized shapes.
            return ctx.device.xp.matmul(a.reshape(-1, k_b), b).reshape(*a.shape[:-1], b.shape[-1])
        return ctx.device.xp.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        # View 1-D operands as matrices (and grad to match) so one formula covers every case.
        a2 = a if a.ndim > 1 else a.reshape(1, a.shape[0])
        b2 = b if b.ndim > 1 else b.reshape(b.shape[0], 1)
        if a.ndim == 1 and b.ndim == 1:
            g = grad.reshape(1, 1)
        elif a.ndim == 1:
            g = grad.unsqueeze(-2)
        elif b.ndim == 1:
            g = grad.unsqueeze(-1)
        else:
            g = grad
        ga = gb = None
        if need_a:  # G·Bᵀ, as (B·Gᵀ)ᵀ when A is laid out transposed (see _transposed)
            if _transposed(a.data):
                ga = (b2 @ g.swapaxes(-1, -2)).swapaxes(-1, -2)
            else:
                ga = g @ b2.swapaxes(-1, -2)
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if need_b and a.ndim > 2 and b.ndim == 2:
            # Sum over the batch by folding it into the product, not by forming (…, K, N).
            a2, g = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
        if need_b:  # Aᵀ·G, as (Gᵀ·A)ᵀ when B is laid out transposed
            if _transposed(b.data):
                gb = (g.swapaxes(-1, -2) @ a2).swapaxes(-1, -2)
            else:
                gb = a2.swapaxes(-1, -2) @ g
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb


def _transposed(array: Any) -> bool:
    """Whether ``array``'s last two axes are swapped in memory, as in ``W.T``. Its gradient is
    then computed in the same layout, (Gᵀ·A)ᵀ instead of Aᵀ·G, so that the transpose's
    backward hands the weight a contiguous gradient: the optimizer update and gradient sums
    over a mixed-layout pair run ~10x slower."""
    if array.ndim < 2 or array.shape[-1] == 1 or array.shape[-2] == 1:
        return False
    return array.strides[-2] < array.strides[-1]


class Linear(Function):
    """y = x Wᵀ + b over the last axis of x (any leading dims, or none);
    ∂L/∂x = g W,  ∂L/∂W = gᵀ x and ∂L/∂b = Σ g, both summed over the leading dims.

    One node instead of three (MatMul, Transpose, Add). Leading dims are folded into one
    (N, in) @ (in, out) product, and W's gradient is formed directly in W's own contiguous
    (out, in) layout, so the optimizer update runs on contiguous arrays."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        y = x.reshape(-1, x.shape[-1]) @ weight.T
        if bias is not None:
            y += bias
        return y.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias = ctx.inputs
        need_x, need_w, need_b = ctx.needs_input_grad
        g = grad if grad.ndim == 2 else grad.reshape(-1, weight.shape[0])
        gx = gw = gb = None
        if need_x:
            gx = g @ weight
            if x.ndim != 2:
                gx = gx.reshape(x.shape)
        if need_w:
            gw = g.T @ (x if x.ndim == 2 else x.reshape(-1, weight.shape[1]))
        if need_b:
            gb = g.sum(axis=0)
        return gx, gw, gb
