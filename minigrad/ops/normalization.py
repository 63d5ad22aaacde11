"""Layer normalisation as one node."""

from __future__ import annotations

from ..autograd import Function
from ..kernels import fused
from ._recompute import first_order_kernels, saved_or_recomputed
from .elementwise import _const


def _normalize(x, axes: tuple[int, ...], eps: float):
    """x̂ = (x − μ)/√(σ² + eps) and 1/√(σ² + eps) over ``axes``, in differentiable ops."""
    centred = x - x.mean(axis=axes, keepdims=True)
    rstd = ((centred * centred).mean(axis=axes, keepdims=True) + eps) ** -0.5
    return centred * rstd, rstd


def _features(x, n_axes: int) -> int:
    """How many elements one normalisation spans: the product of the last ``n_axes`` dims."""
    n = 1
    for d in x.shape[x.ndim - n_axes:]:
        n *= d
    return n


class LayerNorm(Function):
    """y = x̂ ⊙ w + b, x̂ = (x − μ)·r, r = 1/√(σ² + eps) over the last axes;
    ∂L/∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ ⊙ x̂)) with ĝ = g ⊙ w;  ∂L/∂w = Σ g ⊙ x̂;  ∂L/∂b = Σ g."""

    @staticmethod
    def forward(ctx, x, weight, bias, n_axes, eps):
        xp = ctx.device.xp
        axes = tuple(range(x.ndim - n_axes, x.ndim))
        ctx.axes, ctx.eps = axes, eps
        k = fused(ctx.device, x, *(p for p in (weight, bias) if p is not None))
        if k is not None:
            y, xhat, rstd = k.layer_norm_forward(x, weight, bias, _features(x, n_axes), eps)
            ctx.save_for_backward(xhat, rstd.reshape(x.shape[: x.ndim - n_axes] + (1,) * n_axes))
            return y
        xhat = x - x.mean(axis=axes, keepdims=True)
        rstd = 1.0 / xp.sqrt((xhat * xhat).mean(axis=axes, keepdims=True) + eps)
        xhat *= rstd
        ctx.save_for_backward(xhat, rstd)
        y = xhat if weight is None else xhat * weight
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, _, _ = ctx.inputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xhat, rstd = saved_or_recomputed(ctx.saved_tensors, lambda: _normalize(x, ctx.axes, ctx.eps))
        per_feature = (-1,) + tuple(x.shape[ctx.axes[0]:])  # batch axes flattened
        gx = gw = gb = None
        k = first_order_kernels(ctx.device, grad.data, xhat.data) if need_x else None
        if k is not None:
            w = None if weight is None else weight.data
            n = _features(x, len(ctx.axes))
            gx = _const(ctx, k.layer_norm_backward(grad.data, xhat.data, rstd.data, w, n))
        elif need_x:
            gh = grad if weight is None else grad * weight
            mean_g = gh.mean(axis=ctx.axes, keepdims=True)
            mean_gx = (gh * xhat).mean(axis=ctx.axes, keepdims=True)
            gx = rstd * (gh - mean_g - xhat * mean_gx)
        if need_w:
            gw = (grad * xhat).reshape(per_feature).sum(axis=0)
        if need_b:
            gb = grad.reshape(per_feature).sum(axis=0)
        return gx, gw, gb, None, None
