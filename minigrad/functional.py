"""Composite and fused functions (PyTorch's ``torch.nn.functional`` names and semantics).

The seed's equations live here: y = f(Wx + b) is ``linear`` + an activation,
L = mean (y − ŷ)² is ``mse_loss``, P(y) = softmax(W_o h + b_o) is ``softmax`` /
``cross_entropy``, and Attention(Q, K, V) = softmax(QKᵀ/√d_k)V is
``scaled_dot_product_attention``.
"""

from __future__ import annotations

import math
from typing import Any

from .autograd import Function
from .backend import rng
from .ops.elementwise import where
from .ops.shape import IndexAdd
from .tensor import Tensor

__all__ = [
    "linear", "relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy",
    "mse_loss", "layer_norm", "dropout", "embedding", "scaled_dot_product_attention",
]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as in PyTorch."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the weight expects "
            f"{weight.shape[-1]} (weight shape {weight.shape})"
        )
    y = x @ weight.T
    return y if bias is None else y + bias


def relu(x: Tensor) -> Tensor:
    return x.relu()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x·Φ(x) with the exact erf by default; ``approximate="tanh"`` for the tanh form."""
    return x.gelu(approximate)


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


class Softmax(Function):
    """y = e^(x − max) / Σ e^(x − max);  ∂L/∂x = y ⊙ (g − Σ g ⊙ y)."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.device.xp
        ctx.axis = axis
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        e /= xp.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(e)
        return e

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """y = x − logsumexp(x);  ∂L/∂x = g − softmax(x) · Σ g."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.device.xp
        ctx.axis = axis
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - out.exp() * grad.sum(axis=ctx.axis, keepdims=True)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(x, axis=axis)


def _reduce(loss: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def cross_entropy(
    logits: Tensor,
    target: Any,
    ignore_index: int | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    weight: Tensor | None = None,
) -> Tensor:
    """Softmax cross-entropy of (N, C) or (N, C, d1, …) logits against integer targets
    (N,) / (N, d1, …), or against class probabilities of the logits' shape.

    ``ignore_index`` targets add nothing and the mean is over the kept ones; label
    smoothing mixes the one-hot target with the uniform distribution, as PyTorch does.
    """
    if weight is not None:
        raise NotImplementedError("cross_entropy: class weights are not supported yet")
    if not isinstance(target, Tensor):
        target = Tensor(target, device=logits.device)
    if logits.ndim < 1:
        raise ValueError(f"cross_entropy: logits must have a class axis, got shape {logits.shape}")
    if logits.ndim == 1:  # a single example
        logits, target = logits.unsqueeze(0), target.reshape(1) if target.dtype.kind != "f" else target
    n_classes = logits.shape[1]
    logp = log_softmax(logits, axis=1)
    if target.dtype.kind == "f":
        if target.shape != logits.shape:
            raise ValueError(
                f"cross_entropy: probability targets must match the logits' shape {logits.shape}, "
                f"got {target.shape}"
            )
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        return _reduce(-(target * logp).sum(axis=1), reduction, "cross_entropy")
    expected = (logits.shape[0],) + logits.shape[2:]
    if tuple(target.shape) != expected:
        raise ValueError(
            f"cross_entropy: logits of shape {logits.shape} need integer targets of shape {expected}, "
            f"got {target.shape}"
        )
    if logits.ndim > 2:  # move the class axis last: (N, d…, C)
        logp = logp.transpose((0,) + tuple(range(2, logits.ndim)) + (1,))
    logp = logp.reshape(-1, n_classes)
    t = target.data.reshape(-1)
    xp = logits.device.xp
    keep = t != ignore_index if ignore_index is not None else None
    safe_t = xp.where(keep, t, 0) if keep is not None else t
    if safe_t.size and (int(safe_t.min()) < 0 or int(safe_t.max()) >= n_classes):
        raise IndexError(
            f"cross_entropy: targets must lie in [0, {n_classes}), got values in "
            f"[{int(safe_t.min())}, {int(safe_t.max())}]"
        )
    picked = logp[xp.arange(t.shape[0]), safe_t]
    loss = -picked
    if label_smoothing:
        loss = loss * (1 - label_smoothing) - logp.mean(axis=1) * label_smoothing
    if keep is not None:
        loss = loss * Tensor._wrap(keep.astype(loss.dtype), logits.device)
    if reduction == "none":
        return loss.reshape(target.shape)
    if reduction == "sum":
        return loss.sum()
    if reduction != "mean":
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    count = int(keep.sum()) if keep is not None else t.shape[0]
    return loss.sum() * (1.0 / count) if count else loss.sum() * math.nan


def mse_loss(pred: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """mean (pred − target)², as PyTorch (the seed's L = 1/(2N)Σ‖·‖² is 0.5·D·mse_loss)."""
    if isinstance(target, Tensor) and target.shape != pred.shape:
        raise ValueError(f"mse_loss: pred has shape {pred.shape} but target has shape {target.shape}")
    diff = pred - target
    return _reduce(diff * diff, reduction, "mse_loss")


def layer_norm(
    x: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """(x − mean) / √(var + eps) · weight + bias over the last len(normalized_shape) axes."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: input shape {x.shape} does not end with normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    var = (centred * centred).mean(axis=axes, keepdims=True)
    out = centred * (var + eps) ** -0.5
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1 − p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    gen = rng(x.device)
    u = gen.random(x.shape) if x.device.type == "cpu" else gen.random_sample(x.shape)
    mask = (u >= p).astype(x.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._wrap(mask.astype(x.dtype, copy=False), x.device)


class EmbeddingLookup(Function):
    """y = W[ids];  ∂L/∂W = ∂L/∂y scatter-added into the rows ``ids`` (none into padding_idx)."""

    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        ctx.ids, ctx.padding_idx, ctx.shape = ids, padding_idx, weight.shape
        return weight[ids]

    @staticmethod
    def backward(ctx, grad):
        if ctx.padding_idx is not None:
            keep = (ctx.ids != ctx.padding_idx)[..., None].astype(grad.dtype)
            grad = grad * Tensor._wrap(keep, ctx.device)
        return IndexAdd.apply(grad, ctx.shape, ctx.ids), None


def embedding(ids: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``ids``; repeated ids accumulate gradient and
    the ``padding_idx`` row gets none."""
    if isinstance(ids, Tensor):
        if ids.device is not weight.device:
            raise RuntimeError(f"embedding: ids are on {ids.device} but the weight is on {weight.device}")
        ids = ids.data
    else:  # a list or a NumPy/CuPy array: Tensor() converts and moves it
        ids = Tensor(ids, device=weight.device).data
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got {ids.dtype}")
    n = weight.shape[0]
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
        raise IndexError(
            f"embedding: ids must lie in [0, {n}) for a table of {n} rows, got values in "
            f"[{int(ids.min())}, {int(ids.max())}]"
        )
    return EmbeddingLookup.apply(weight, ids, padding_idx=padding_idx)


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Any = None,
    dropout_p: float = 0.0,
    causal: bool = False,
    training: bool = True,
) -> Tensor:
    """softmax(QKᵀ/√d_k + mask) V over (…, L, d) tensors.

    A bool ``mask`` is True where attending is allowed; a float mask is added to the scores.
    ``causal`` hides future keys.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: q {q.shape} and k {k.shape} differ in d_k")
    scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    xp = q.device.xp
    if causal:
        lq, lk = q.shape[-2], k.shape[-2]
        allowed = xp.tril(xp.ones((lq, lk), dtype=bool))  # top-left aligned, as PyTorch
        scores = where(Tensor._wrap(allowed, q.device), scores, _NEG)
    if mask is not None:
        if not isinstance(mask, Tensor):
            mask = Tensor(mask, device=q.device)
        if mask.dtype == bool:
            scores = where(mask, scores, _NEG)
        else:
            scores = scores + mask
    attn = softmax(scores, axis=-1)
    if dropout_p:
        attn = dropout(attn, dropout_p, training)
    return attn @ v


# Masked scores: a large finite negative, so a fully masked row gives a uniform
# distribution instead of NaN; exp of it underflows to 0 in float32 and float64.
_NEG = -1e9
