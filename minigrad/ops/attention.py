"""Scaled dot-product attention as one node: scores, masked softmax, dropout, weighted sum."""

from __future__ import annotations

import math
from typing import Any

from ..autograd import Function
from ._recompute import saved_or_recomputed
from .dropout import dropout_multiplier
from .elementwise import _const, where
from .shape import unbroadcast
from .softmax import MaskedSoftmax, softmax_backward


def _attention_scores(q, k, bias, allowed: Any, scale: float):
    """scale·QKᵀ + bias with disallowed entries at −∞, in differentiable ops."""
    s = (q @ k.swapaxes(-1, -2)) * scale
    if bias is not None:
        s = s + bias
    if allowed is not None:
        s = where(_const(q, allowed), s, -math.inf)
    return s


class Attention(Function):
    """O = P̃V, P̃ = P ⊙ D (dropout), P = softmax(S), S = scale·QKᵀ + B (−∞ where not allowed);
    ∂P = (∂O Vᵀ + ∂P̃) ⊙ D,  ∂S = P ⊙ (∂P − Σ ∂P ⊙ P),  ∂Q = scale·∂S K,  ∂K = scale·∂Sᵀ Q,
    ∂V = P̃ᵀ ∂O,  ∂B = ∂S.  With ``need_weights`` P̃ is a second output."""

    @staticmethod
    def forward(ctx, q, k, v, bias, allowed=None, scale=1.0, dropout_p=0.0, need_weights=False):
        xp = ctx.device.xp
        s = (q @ k.swapaxes(-1, -2)) * scale
        if bias is not None:
            s = s + bias
        if allowed is not None:
            s = xp.where(allowed, s, -xp.inf)
        p = MaskedSoftmax.probabilities(xp, s, -1)
        keep = dropout_multiplier(ctx.device, p.shape, dropout_p, p.dtype) if dropout_p else None
        weights = p if keep is None else p * keep
        ctx.allowed, ctx.scale = allowed, scale
        ctx.save_for_backward(p, keep)
        out = weights @ v
        return (out, weights) if need_weights else out

    @staticmethod
    def backward(ctx, grad, grad_weights=None):
        q, k, v, bias = ctx.inputs
        need_q, need_k, need_v, need_b = ctx.needs_input_grad
        saved_p, keep = ctx.saved_tensors
        p = saved_or_recomputed(
            saved_p, lambda: MaskedSoftmax.apply(_attention_scores(q, k, bias, ctx.allowed, ctx.scale))
        )
        weights = p if keep is None else p * keep
        gv = unbroadcast(weights.swapaxes(-1, -2) @ grad, v.shape) if need_v else None
        if not (need_q or need_k or need_b):
            return None, None, gv, None
        gp = grad @ v.swapaxes(-1, -2)
        if grad_weights is not None:
            gp = gp + grad_weights
        if keep is not None:
            gp = gp * keep
        gs = softmax_backward(p, gp)  # one fused pass for first-order gradients
        gq = unbroadcast((gs @ k) * ctx.scale, q.shape) if need_q else None
        gk = unbroadcast((gs.swapaxes(-1, -2) @ q) * ctx.scale, k.shape) if need_k else None
        gb = unbroadcast(gs, bias.shape) if need_b else None
        return gq, gk, gv, gb
