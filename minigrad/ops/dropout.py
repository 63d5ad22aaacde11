"""The random multiplier of inverted dropout (used by ``F.dropout`` and fused attention)."""

from __future__ import annotations

from typing import Any

from ..backend import rng
from ..kernels import fused


def dropout_multiplier(dev: Any, shape: tuple[int, ...], p: float, dtype: Any) -> Any:
    """The inverted-dropout multiplier: 0 with probability p, else 1/(1 − p)."""
    if p >= 1.0:
        return dev.xp.zeros(shape, dtype=dtype)
    gen = rng(dev)
    with dev.use():
        u = gen.random(shape) if dev.type == "cpu" else gen.random_sample(shape)
        k = fused(dev, u)
        if k is not None:
            return k.dropout_multiplier(u, p, dtype)
        return (u >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))
