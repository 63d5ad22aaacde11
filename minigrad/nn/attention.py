"""Multi-head attention with PyTorch's parameters (``in_proj_weight``, ``in_proj_bias``,
``out_proj``) and masks (``key_padding_mask`` True at padding; a bool ``attn_mask`` True
where attending is NOT allowed, a float one added to the scores)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from . import init
from ._factory import new_parameter
from ._split import chunk
from .linear import Linear
from .module import Module


class MultiHeadAttention(Module):
    """Attention(Q, K, V) = softmax(QKᵀ/√d_k) V in ``num_heads`` subspaces of size
    embed_dim/num_heads, with input projections packed in ``in_proj_weight`` (3E, E) and an
    output projection ``out_proj``. A query whose keys are all masked gets a zero attention
    output (never NaN)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.in_proj_weight = new_parameter(3 * embed_dim, embed_dim, device=device, dtype=dtype)
        if bias:
            self.in_proj_bias = new_parameter(3 * embed_dim, device=device, dtype=dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's: xavier-uniform input projection, zero biases (out_proj keeps Linear's weight init)."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s + (", batch_first=True" if self.batch_first else "")

    # -- shapes --
    def _batch_major(self, x: Tensor, name: str) -> Tensor:
        """(N, L, E) view of a batched input, whatever the layout; checks the embedding size."""
        if x.ndim not in (2, 3) or x.shape[-1] != self.embed_dim:
            layout = "(batch, seq, {0})" if self.batch_first else "(seq, batch, {0})"
            raise self.input_error(
                f"{name} of shape {layout.format(self.embed_dim)} or (seq, {self.embed_dim})", x
            )
        self.check_input_dtype(x, self.in_proj_weight, name)
        if x.ndim == 2:
            return x.unsqueeze(0)
        return x if self.batch_first else x.swapaxes(0, 1)

    def _heads(self, x: Tensor) -> Tensor:
        """(N, L, E) → (N, H, L, d)."""
        n, length = x.shape[:2]
        return x.reshape(n, length, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if query is key and key is value:  # self-attention: one matmul for Q, K and V
            return chunk(F.linear(query, self.in_proj_weight, self.in_proj_bias), 3)
        weights = chunk(self.in_proj_weight, 3, 0)
        biases = chunk(self.in_proj_bias, 3, 0) if self.in_proj_bias is not None else (None,) * 3
        return tuple(F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))

    def _masks(
        self, key_padding_mask: Any, attn_mask: Any, is_causal: bool, n: int, lq: int, lk: int, like: Tensor
    ) -> tuple[Tensor | None, Any]:
        """The masks as (float bias added to the scores, bool array of allowed pairs),
        both broadcastable to the scores' (N, H, L, S)."""
        xp = like.device.xp
        bias, allowed = None, None
        if attn_mask is None and is_causal:
            allowed = xp.tril(xp.ones((lq, lk), dtype=bool))
        if attn_mask is not None:
            attn_mask = _as_tensor(attn_mask, like)
            if attn_mask.shape not in ((lq, lk), (n * self.num_heads, lq, lk)):
                raise ValueError(
                    f"{self._header()}: attn_mask must have shape {(lq, lk)} or "
                    f"{(n * self.num_heads, lq, lk)}, got {attn_mask.shape}"
                )
            if attn_mask.ndim == 3:
                attn_mask = attn_mask.reshape(n, self.num_heads, lq, lk)
            if attn_mask.dtype == bool:
                allowed = ~attn_mask.data
            else:
                self.check_input_dtype(attn_mask, self.in_proj_weight, "attn_mask")
                bias = attn_mask
        if key_padding_mask is not None:
            key_padding_mask = _as_tensor(key_padding_mask, like)
            if tuple(key_padding_mask.shape) != (n, lk):
                raise ValueError(
                    f"{self._header()}: key_padding_mask must have shape {(n, lk)} (batch, key length), "
                    f"got {key_padding_mask.shape}"
                )
            kpm = key_padding_mask.reshape(n, 1, 1, lk)
            if kpm.dtype == bool:
                allowed = ~kpm.data if allowed is None else allowed & ~kpm.data
            else:
                self.check_input_dtype(kpm, self.in_proj_weight, "key_padding_mask")
                bias = kpm if bias is None else bias + kpm
        return bias, allowed

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """→ (output shaped like ``query``, attention weights (N, L, S) averaged over heads,
        or (N, H, L, S), or None without ``need_weights``)."""
        unbatched = query.ndim == 2
        q_in, k_in, v_in = (self._batch_major(x, name) for x, name in
                            ((query, "query"), (key, "key"), (value, "value")))
        if key.shape != value.shape or q_in.shape[0] != k_in.shape[0]:
            raise ValueError(
                f"{self._header()}: key and value must have the same shape and the batch size of "
                f"query; got query {query.shape}, key {key.shape}, value {value.shape}"
            )
        if query is key and key is value:
            k_in = v_in = q_in
        n, lq, lk = q_in.shape[0], q_in.shape[1], k_in.shape[1]
        q, k, v = (self._heads(t) for t in self._project(q_in, k_in, v_in))
        bias, allowed = self._masks(key_padding_mask, attn_mask, is_causal, n, lq, lk, query)
        dropout_p = self.dropout if self.training else 0.0
        result = F.attention(q, k, v, bias, allowed, None, dropout_p, need_weights)
        out, weights = result if need_weights else (result, None)
        out = self.out_proj(out.transpose(0, 2, 1, 3).reshape(n, lq, self.embed_dim))
        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)
        if unbatched:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        return (out if self.batch_first else out.swapaxes(0, 1)), weights


def _as_tensor(mask: Any, like: Tensor) -> Tensor:
    return mask if isinstance(mask, Tensor) else Tensor(mask, device=like.device)
