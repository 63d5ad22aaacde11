"""Composite and fused functions (PyTorch's ``torch.nn.functional`` names and semantics).

The seed's equations live here: y = f(Wx + b) is ``linear`` + an activation,
L = mean (y − ŷ)² is ``mse_loss``, P(y) = softmax(W_o h + b_o) is ``softmax`` /
``cross_entropy``, and Attention(Q, K, V) = softmax(QKᵀ/√d_k)V is
``scaled_dot_product_attention``.

Where it pays, a function is one fused ``Function`` with a hand-derived backward
(softmax cross-entropy, layer norm, attention): one graph node instead of a
dozen, and no large temporaries kept for backward beyond what the formula needs. Their
backward is written in Tensor ops; the intermediates it uses (softmax, normalised input)
are the saved arrays when only first-order gradients are wanted, and are recomputed with
differentiable ops under ``create_graph=True``, so higher-order gradients stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._keywords import numpy_keywords
from .autograd import Function, is_grad_enabled
from .backend import rng
from .ops.elementwise import where
from .ops.shape import IndexAdd, unbroadcast
from .routines import relu, sigmoid, tanh
from .tensor import Tensor

__all__ = [
    "linear", "relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy",
    "mse_loss", "layer_norm", "dropout", "embedding", "scaled_dot_product_attention", "attention",
]


def _intermediate(saved: Any, recompute: Callable[[], Any]) -> Any:
    """Forward intermediates needed by backward: the saved tensors (constants) for
    first-order gradients; under ``create_graph`` (grad mode on inside backward) recomputed
    from the inputs with Tensor ops, so their own dependence on them is differentiated too."""
    return recompute() if is_grad_enabled() else saved


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


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x·Φ(x) with the exact erf by default; ``approximate="tanh"`` for the tanh form."""
    return x.gelu(approximate)


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


class SoftmaxCrossEntropy(Function):
    """loss_i = −Σ_c q_ic log softmax(x_i)_c, q_i = kept_i·((1 − ε) w_{t_i} onehot(t_i) + (ε/C) w);
    ∂loss_i/∂x_i = (Σ_c q_ic) softmax(x_i) − q_i."""

    @staticmethod
    def forward(ctx, logits, target, kept, class_weight, smoothing):
        xp = ctx.device.xp
        n_classes = logits.shape[1]
        rows = xp.arange(logits.shape[0])
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = xp.exp(shifted)
        total = probs.sum(axis=1, keepdims=True)
        probs /= total
        lse = xp.log(total[:, 0])  # −log softmax_c = lse − shifted_c
        w_t = class_weight[target] if class_weight is not None else 1.0
        loss = (lse - shifted[rows, target]) * (w_t * (1.0 - smoothing))
        if smoothing:
            w_sum = class_weight.sum() if class_weight is not None else n_classes
            weighted = shifted @ class_weight if class_weight is not None else shifted.sum(axis=1)
            loss += (smoothing / n_classes) * (lse * w_sum - weighted)
        loss *= kept
        ctx.smoothing = smoothing
        ctx.save_for_backward(probs, target, kept, class_weight)
        return loss

    @staticmethod
    def backward(ctx, grad):
        (logits,) = ctx.inputs
        saved_probs, target, kept, class_weight = ctx.saved_tensors
        probs = _intermediate(saved_probs, lambda: softmax(logits, axis=1))
        q = _target_distribution(ctx, target.data, kept.data, class_weight, ctx.smoothing)
        mass = Tensor._wrap(q.sum(axis=1, keepdims=True), ctx.device)
        return (probs * mass - Tensor._wrap(q, ctx.device)) * grad.unsqueeze(-1)


def _target_distribution(
    ctx: Function, target: Any, kept: Any, class_weight: Tensor | None, eps: float
) -> Any:
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


def _normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor]:
    """x̂ = (x − μ)/√(σ² + eps) and 1/√(σ² + eps) over ``axes``, in differentiable ops."""
    centred = x - x.mean(axis=axes, keepdims=True)
    rstd = ((centred * centred).mean(axis=axes, keepdims=True) + eps) ** -0.5
    return centred * rstd, rstd


class LayerNorm(Function):
    """y = x̂ ⊙ w + b, x̂ = (x − μ)·r, r = 1/√(σ² + eps) over the last axes;
    ∂L/∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ ⊙ x̂)) with ĝ = g ⊙ w;  ∂L/∂w = Σ g ⊙ x̂;  ∂L/∂b = Σ g."""

    @staticmethod
    def forward(ctx, x, weight, bias, n_axes, eps):
        xp = ctx.device.xp
        axes = tuple(range(x.ndim - n_axes, x.ndim))
        ctx.axes, ctx.eps = axes, eps
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
        xhat, rstd = _intermediate(ctx.saved_tensors, lambda: _normalize(x, ctx.axes, ctx.eps))
        per_feature = (-1,) + tuple(x.shape[ctx.axes[0]:])  # batch axes flattened
        gx = gw = gb = None
        if need_x:
            gh = grad if weight is None else grad * weight
            mean_g = gh.mean(axis=ctx.axes, keepdims=True)
            mean_gx = (gh * xhat).mean(axis=ctx.axes, keepdims=True)
            gx = rstd * (gh - mean_g - xhat * mean_gx)
        if need_w:
            gw = (grad * xhat).reshape(per_feature).sum(axis=0)
        if need_b:
            gb = grad.reshape(per_feature).sum(axis=0)
        return gx, gw, gb, None, None


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
    return x * Tensor._wrap(_dropout_multiplier(x.device, x.shape, p, x.dtype), x.device)


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


def _masked_softmax_array(xp: Any, scores: Any) -> Any:
    """Softmax over the last axis where a row whose every score is −∞ gives all zeros
    (PyTorch's attention convention) instead of NaN."""
    top = scores.max(axis=-1, keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0.0)
    e = xp.exp(scores - top)
    total = e.sum(axis=-1, keepdims=True)
    e /= xp.where(total == 0, 1.0, total)
    return e


class MaskedSoftmax(Function):
    """y = softmax(s) over the last axis, 0 on rows that are all −∞;  ∂L/∂s = y ⊙ (g − Σ g ⊙ y)."""

    @staticmethod
    def forward(ctx, scores):
        y = _masked_softmax_array(ctx.device.xp, scores)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=-1, keepdims=True))


def _attention_scores(q: Tensor, k: Tensor, bias: Tensor | None, allowed: Any, scale: float) -> Tensor:
    """scale·QKᵀ + bias with disallowed entries at −∞, in differentiable ops."""
    s = (q @ k.swapaxes(-1, -2)) * scale
    if bias is not None:
        s = s + bias
    if allowed is not None:
        s = where(Tensor._wrap(allowed, q.device), s, -math.inf)
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
        p = _masked_softmax_array(xp, s)
        keep = _dropout_multiplier(ctx.device, p.shape, dropout_p, p.dtype) if dropout_p else None
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
        p = _intermediate(
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
        gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
        gq = unbroadcast((gs @ k) * ctx.scale, q.shape) if need_q else None
        gk = unbroadcast((gs.swapaxes(-1, -2) @ q) * ctx.scale, k.shape) if need_k else None
        gb = unbroadcast(gs, bias.shape) if need_b else None
        return gq, gk, gv, gb


def _dropout_multiplier(dev: Any, shape: tuple[int, ...], p: float, dtype: Any) -> Any:
    """The inverted-dropout multiplier: 0 with probability p, else 1/(1 − p)."""
    if p >= 1.0:
        return dev.xp.zeros(shape, dtype=dtype)
    gen = rng(dev)
    with dev.use():
        u = gen.random(shape) if dev.type == "cpu" else gen.random_sample(shape)
        return (u >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))


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
