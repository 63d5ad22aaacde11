"""Hand-written post-LN Transformer encoder block step (PyTorch's TransformerEncoderLayer with
ReLU, dropout 0, batch_first), MSE loss, SGD:

    a = MultiHeadAttention(x);  n = LayerNorm₁(x + a);  out = LayerNorm₂(n + W₂ relu(W₁ n + b₁) + b₂)
"""

from __future__ import annotations

from typing import Any

from .layers import layer_norm, layer_norm_backward, linear_backward, sgd

EPS = 1e-5


class NumpyTransformer:
    """Weights named as in PyTorch's state dict (``self_attn.in_proj_weight``, ``linear1.weight``, …)."""

    def __init__(self, xp: Any, weights: dict[str, Any], x: Any, target: Any, heads: int, lr: float) -> None:
        self.xp = xp
        self.w = {k: xp.array(v) for k, v in weights.items()}
        self.x, self.target, self.heads, self.lr = xp.array(x), xp.array(target), heads, lr
        self._grads: dict[str, Any] = {}

    def step(self) -> float:
        xp, w = self.xp, self.w
        b, length, d = self.x.shape
        heads = self.heads
        x = self.x.reshape(-1, d)

        # forward: attention
        qkv = x @ w["self_attn.in_proj_weight"].T
        qkv += w["self_attn.in_proj_bias"]
        q, k, v = qkv.reshape(b, length, 3, heads, d // heads).transpose(2, 0, 3, 1, 4)  # (b, h, L, dh)
        scale = (d // heads) ** -0.5
        scores = q @ k.swapaxes(-1, -2)
        scores *= scale
        p = xp.exp(scores - scores.max(axis=-1, keepdims=True), out=scores)
        p /= p.sum(axis=-1, keepdims=True)
        ctx = (p @ v).transpose(0, 2, 1, 3).reshape(-1, d)
        attn = ctx @ w["self_attn.out_proj.weight"].T
        attn += w["self_attn.out_proj.bias"]
        attn += x
        n1, cache1 = layer_norm(attn, w["norm1.weight"], w["norm1.bias"], EPS)
        # forward: feed-forward
        hidden = n1 @ w["linear1.weight"].T
        hidden += w["linear1.bias"]
        xp.maximum(hidden, 0, out=hidden)
        ff = hidden @ w["linear2.weight"].T
        ff += w["linear2.bias"]
        ff += n1
        out, cache2 = layer_norm(ff, w["norm2.weight"], w["norm2.bias"], EPS)

        diff = out.reshape(self.target.shape) - self.target
        loss = float((diff * diff).mean())
        dout = diff.reshape(-1, d)
        dout *= 2.0 / diff.size

        g = {}
        # backward: feed-forward (the residual passes dn1 straight through)
        dff, g["norm2.weight"], g["norm2.bias"] = layer_norm_backward(dout, w["norm2.weight"], cache2)
        dhidden, g["linear2.weight"], g["linear2.bias"] = linear_backward(hidden, w["linear2.weight"], dff)
        dhidden *= hidden > 0
        dn1, g["linear1.weight"], g["linear1.bias"] = linear_backward(n1, w["linear1.weight"], dhidden)
        dn1 += dff
        # backward: attention
        dattn, g["norm1.weight"], g["norm1.bias"] = layer_norm_backward(dn1, w["norm1.weight"], cache1)
        dctx, g["self_attn.out_proj.weight"], g["self_attn.out_proj.bias"] = linear_backward(
            ctx, w["self_attn.out_proj.weight"], dattn
        )
        dctx = dctx.reshape(b, length, heads, d // heads).transpose(0, 2, 1, 3)
        dqkv = xp.empty((3, b, heads, length, d // heads), dtype=x.dtype)
        xp.matmul(p.swapaxes(-1, -2), dctx, out=dqkv[2])
        dp = dctx @ v.swapaxes(-1, -2)
        dp -= (dp * p).sum(axis=-1, keepdims=True)
        dp *= p  # softmax': ds = p ⊙ (dp − Σ dp ⊙ p)
        dp *= scale
        xp.matmul(dp, k, out=dqkv[0])
        xp.matmul(dp.swapaxes(-1, -2), q, out=dqkv[1])
        dqkv = dqkv.transpose(1, 3, 0, 2, 4).reshape(-1, 3 * d)
        _, g["self_attn.in_proj_weight"], g["self_attn.in_proj_bias"] = linear_backward(
            x, w["self_attn.in_proj_weight"], dqkv, need_dx=False
        )
        self._grads = g
        sgd(w, g, self.lr)
        return loss

    def grads(self) -> dict[str, Any]:
        return self._grads
