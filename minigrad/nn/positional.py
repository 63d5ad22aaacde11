"""Sinusoidal positional encoding (Vaswani et al., 2017) over sequence positions."""

from __future__ import annotations

import math
from typing import Any

from .. import functional as F
from ..backend import device as resolve_device
from ..tensor import Tensor, float32, float64, resolve_dtype
from .module import Module


def sinusoids(max_len: int, d_model: int, device: Any = None, dtype: Any = None) -> Tensor:
    """(max_len, d_model) table: PE[pos, 2i] = sin(pos·ω_i), PE[pos, 2i+1] = cos(pos·ω_i),
    ω_i = 10000^(−2i/d_model)."""
    dev = resolve_device(device)
    xp = dev.xp
    with dev.use():
        position = xp.arange(max_len, dtype=float64)[:, None]
        omega = xp.exp(xp.arange(0, d_model, 2, dtype=float64) * (-math.log(10000.0) / d_model))
        angle = position * omega
        pe = xp.zeros((max_len, d_model), dtype=float64)
        pe[:, 0::2] = xp.sin(angle)
        pe[:, 1::2] = xp.cos(angle[:, : d_model // 2])  # an odd d_model has one cosine fewer
        return Tensor._wrap(pe.astype(resolve_dtype(dtype) if dtype is not None else float32), dev)


class PositionalEncoding(Module):
    """x + PE[position] (then dropout), for (seq, batch, d_model) input, or
    (batch, seq, d_model) with ``batch_first``, or unbatched (seq, d_model).

    The table is a non-persistent buffer: it moves with ``to()`` but is not saved, since it
    is a fixed function of the position.
    """

    def __init__(
        self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"PositionalEncoding: dropout must be in [0, 1], got {dropout}")
        self.d_model = d_model
        self.max_len = max_len
        self.dropout = dropout
        self.batch_first = batch_first
        self.register_buffer("pe", sinusoids(max_len, d_model, device, dtype), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            layout = "(batch, seq, {0})" if self.batch_first else "(seq, batch, {0})"
            expected = f"input of shape {layout.format(self.d_model)} or (seq, {self.d_model})"
            raise self.input_error(expected, x)
        seq_axis = 1 if self.batch_first and x.ndim == 3 else 0
        length = x.shape[seq_axis]
        if length > self.max_len:
            raise self.input_error(f"a sequence of at most max_len={self.max_len} positions", x)
        pe = self.pe[:length]
        if seq_axis == 0 and x.ndim == 3:
            pe = pe.unsqueeze(1)
        return F.dropout(x + pe, self.dropout, self.training)

    def extra_repr(self) -> str:
        s = f"d_model={self.d_model}, max_len={self.max_len}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s + (", batch_first=True" if self.batch_first else "")
