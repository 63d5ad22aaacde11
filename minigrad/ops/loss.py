"""Softmax cross-entropy against integer targets as one node (the training loss of every
classifier and language model here)."""

from __future__ import annotations

from typing import Any

from ..autograd import Function
from ..kernels import fused
from ._recompute import first_order_kernels, saved_or_recomputed
from .elementwise import _const
from .reduction import shifted_exp
from .softmax import Softmax


class SoftmaxCrossEntropy(Function):
    """loss_i = −Σ_c q_ic log softmax(x_i)_c, q_i = kept_i·((1 − ε) w_{t_i} onehot(t_i) + (ε/C) w);
    ∂loss_i/∂x_i = (Σ_c q_ic) softmax(x_i) − q_i."""

    @staticmethod
    def forward(ctx, logits, target, kept, class_weight, smoothing):
        ctx.smoothing = smoothing
        weights = () if class_weight is None else (class_weight,)
        k = fused(ctx.device, logits, kept, *weights)
        if k is not None:  # the same formulas in one pass over each row (minigrad.kernels)
            probs, loss = k.cross_entropy(logits, target, kept, class_weight, smoothing)
        else:
            probs, loss = SoftmaxCrossEntropy.plain_forward(ctx.device.xp, logits, target, kept, class_weight,
                                                            smoothing)
        ctx.save_for_backward(probs, target, kept, class_weight)
        return loss

    @staticmethod
    def plain_forward(xp, logits, target, kept, class_weight, smoothing):
        """(softmax(x), loss) in NumPy/CuPy calls: the definition the kernels follow."""
        n_classes = logits.shape[1]
        rows = xp.arange(logits.shape[0])
        s = shifted_exp(xp, logits, 1)
        probs = xp.divide(s.exp, s.total, out=s.exp)
        lse = xp.log(s.total[:, 0])  # −log softmax_c = lse − shifted_c
        w_t = class_weight[target] if class_weight is not None else 1.0
        loss = (lse - s.shifted[rows, target]) * (w_t * (1.0 - smoothing))
        if smoothing:
            w_sum = class_weight.sum() if class_weight is not None else n_classes
            weighted = s.shifted @ class_weight if class_weight is not None else s.shifted.sum(axis=1)
            loss += (smoothing / n_classes) * (lse * w_sum - weighted)
        loss *= kept
        return probs, loss

    @staticmethod
    def backward(ctx, grad):
        (logits,) = ctx.inputs
        saved_probs, target, kept, class_weight = ctx.saved_tensors
        k = first_order_kernels(ctx.device, saved_probs.data, grad.data)
        if k is not None:
            w = None if class_weight is None else class_weight.data
            return _const(ctx, k.cross_entropy_backward(
                saved_probs.data, target.data, kept.data, w, ctx.smoothing, grad.data))
        probs = saved_or_recomputed(saved_probs, lambda: Softmax.apply(logits, axis=1))
        q = _target_distribution(ctx, target.data, kept.data, class_weight, ctx.smoothing)
        mass = _const(ctx, q.sum(axis=1, keepdims=True))
        return (probs * mass - _const(ctx, q)) * grad.unsqueeze(-1)


def _target_distribution(ctx: Function, target: Any, kept: Any, class_weight: Any, eps: float) -> Any:
    """The (unnormalised) target distribution q of SoftmaxCrossEntropy, as a dense array."""
    xp = ctx.device.xp
    n, n_classes = target.shape[0], ctx.inputs[0].shape[1]
    w = class_weight.data if class_weight is not None else None
    q = xp.zeros((n, n_classes), dtype=kept.dtype)
    if eps:
        q += (eps / n_classes) * (w if w is not None else 1.0)
    q[xp.arange(n), target] += (1.0 - eps) * (w[target] if w is not None else 1.0)
    q *= kept[:, None]
    return q
