"""Composite and fused functions (PyTorch's ``torch.nn.functional`` names and semantics).

The seed's equations live here: y = f(Wx + b) is ``linear`` + an activation,
L = mean (y − ŷ)² is ``mse_loss``, P(y) = softmax(W_o h + b_o) is ``softmax`` /
``cross_entropy``, and Attention(Q, K, V) = softmax(QKᵀ/√d_k)V is
``scaled_dot_product_attention``.

This module composes and checks arguments; it defines no ``Function``. Where it pays, a
function is one fused op from ``minigrad.ops`` with a hand-derived backward (linear,
softmax cross-entropy, layer norm, attention): one graph node instead of a dozen.
"""

from __future__ import annotations

import math
from typing import Any

from ._keywords import numpy_keywords
from .ops import (
    Attention,
    EmbeddingLookup,
    LayerNorm,
    Linear,
    LogSoftmax,
    Softmax,
    SoftmaxCrossEntropy,
    dropout_multiplier,
)
from .routines import relu, sigmoid, tanh
from .tensor import Tensor

__all__ = [
    "linear", "relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy",
    "mse_loss", "layer_norm", "dropout", "embedding", "scaled_dot_product_attention", "attention",
]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as in PyTorch."""
    if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} and weight of shape {weight.shape} do not fit: the weight "
            "must be (out_features, in_features) with in_features the input's last dimension"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return Linear.apply(x, weight, bias)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x·Φ(x) with the exact erf by default; ``approximate="tanh"`` for the tanh form."""
    return x.gelu(approximate)


@numpy_keywords
def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return Softmax.apply(x, axis=axis)


@numpy_keywords
def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(x, axis=axis)


def _check_reduction(reduction: str, who: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{who}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str, who: str) -> Tensor:
    _check_reduction(reduction, who)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _classes_last(x: Tensor) -> Tensor:
    """(N, C, d1, …) → (N·d1·…, C): one row per prediction."""
    if x.ndim == 2:
        return x
    return x.transpose((0,) + tuple(range(2, x.ndim)) + (1,)).reshape(-1, x.shape[1])


def _class_weight(weight: Any, n_classes: int, logits: Tensor) -> Tensor | None:
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else Tensor(weight, device=logits.device)
    if tuple(w.shape) != (n_classes,):
        raise ValueError(f"cross_entropy: weight must have one entry per class ({n_classes},), got {w.shape}")
    return w.astype(logits.dtype)


def _hard_targets(target: Tensor, n_classes: int, ignore_index: int | None, dtype: Any) -> tuple[Any, Any]:
    """Class ids (ignored ones replaced by 0, so they index safely) and the 0/1 kept mask."""
    xp = target.device.xp
    t = target.data.reshape(-1)
    kept = t != ignore_index if ignore_index is not None else xp.ones(t.shape, dtype=bool)
    safe = xp.where(kept, t, 0)
    if safe.size and (int(safe.min()) < 0 or int(safe.max()) >= n_classes):
        bad = t[kept & ((t < 0) | (t >= n_classes))]
        raise IndexError(
            f"cross_entropy: targets must lie in [0, {n_classes}) (or equal ignore_index={ignore_index}), "
            f"got {int(bad[0])}"
        )
    return safe, kept.astype(dtype)


def _soft_target_loss(logits: Tensor, probs: Tensor, weight: Tensor | None, eps: float) -> Tensor:
    """−Σ_c w_c p'_c log softmax_c with p' = (1 − ε) p + ε/C; the targets get gradients too."""
    if eps:
        probs = probs * (1.0 - eps) + eps / logits.shape[1]
    if weight is not None:
        probs = probs * weight
    return -(probs * log_softmax(logits, axis=1)).sum(axis=1)


def cross_entropy(
    logits: Tensor,
    target: Any,
    ignore_index: int | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    weight: Any = None,
) -> Tensor:
    """Softmax cross-entropy of (N, C) or (N, C, d1, …) logits (or one example's (C,))
    against integer targets (N,) / (N, d1, …), or against class probabilities of the
    logits' shape, with PyTorch's semantics.

    ``ignore_index`` targets add nothing and the mean is over the kept ones (weighted by
    the per-class ``weight`` when given); ``label_smoothing`` mixes the target with the
    uniform distribution. Integer targets use one fused node (log-sum-exp forward,
    softmax − target backward).
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not isinstance(target, Tensor):
        target = Tensor(target, device=logits.device)
    elif target.device is not logits.device:
        raise RuntimeError(f"cross_entropy: logits are on {logits.device} but the targets on {target.device}")
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits must have a class axis, got a scalar")
    soft = target.dtype.kind == "f"
    single = logits.ndim == 1
    if single:
        logits, target = logits.unsqueeze(0), target.unsqueeze(0)
    n_classes = logits.shape[1]
    out_shape = () if single else (logits.shape[0],) + tuple(logits.shape[2:])
    expected = tuple(logits.shape) if soft else (logits.shape[0],) + tuple(logits.shape[2:])
    if tuple(target.shape) != expected:
        kind = "probability" if soft else "integer"
        raise ValueError(
            f"cross_entropy: logits of shape {logits.shape} need {kind} targets of shape {expected}, "
            f"got {target.shape}"
        )
    w = _class_weight(weight, n_classes, logits)
    rows = _classes_last(logits)
    if soft:
        loss = _soft_target_loss(rows, _classes_last(target), w, label_smoothing)
        count = float(loss.shape[0])
    else:
        t, kept = _hard_targets(target, n_classes, ignore_index, logits.dtype)
        loss = SoftmaxCrossEntropy.apply(
            rows, target=t, kept=kept, class_weight=None if w is None else w.data, smoothing=label_smoothing
        )
        count = float((kept * w.data[t]).sum() if w is not None else kept.sum())
    if reduction == "none":
        return loss.reshape(out_shape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() * (1.0 / count if count else math.nan)  # all ignored: NaN, as PyTorch


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
    """(x − mean) / √(var + eps) · weight + bias over the last len(normalized_shape) axes
    (biased variance, as PyTorch), as one fused node."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(x.shape[x.ndim - len(shape):]) != shape or x.ndim < len(shape):
        raise ValueError(f"layer_norm: input shape {x.shape} does not end with normalized_shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {p.shape}")
    return LayerNorm.apply(x, weight, bias, len(shape), eps)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1 − p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    return x * Tensor._wrap(dropout_multiplier(x.device, x.shape, p, x.dtype), x.device)


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


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    allowed: Any = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> Any:
    """The fused attention node behind ``scaled_dot_product_attention`` and
    ``nn.MultiHeadAttention``: ``allowed`` is a bool array (True = may attend, broadcast
    over the scores), ``bias`` a float tensor added to the scores. Returns the output, or
    (output, attention weights after dropout) with ``need_weights``."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"attention: q, k, v need at least 2 dims (…, L, d), got {q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"attention: q {q.shape} and k {k.shape} must agree in d_k, and k and v {v.shape} in length"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"attention: dropout_p must be in [0, 1], got {dropout_p}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    return Attention.apply(
        q, k, v, bias, allowed=allowed, scale=scale, dropout_p=dropout_p, need_weights=need_weights
    )


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Any = None,
    dropout_p: float = 0.0,
    causal: bool = False,
    training: bool = True,
    scale: float | None = None,
) -> Tensor:
    """softmax(QKᵀ/√d_k + mask) V over (…, L, d) tensors, as one fused node.

    A bool ``mask`` is True where attending is allowed; a float mask is added to the
    scores (−∞ hides a key). ``causal`` hides future keys (top-left aligned, as PyTorch's
    ``is_causal``). A query that may attend to no key gets a zero output, as in PyTorch.
    ``dropout_p`` drops attention weights while ``training``.
    """
    xp = q.device.xp
    allowed = xp.tril(xp.ones((q.shape[-2], k.shape[-2]), dtype=bool)) if causal else None
    bias = None
    if mask is not None:
        if not isinstance(mask, Tensor):
            mask = Tensor(mask, device=q.device)
        if mask.dtype == bool:
            allowed = mask.data if allowed is None else allowed & mask.data
        else:
            bias = mask
    return attention(q, k, v, bias, allowed, scale, dropout_p if training else 0.0)
