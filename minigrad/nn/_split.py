"""Splitting one tensor into pieces (time steps, gates) as a single graph node each:
``ops.Unbind`` and ``ops.Chunk``, which keep backward O(T) instead of O(T²)."""

from __future__ import annotations

from ..ops import Chunk, Unbind
from ..tensor import Tensor


def unbind(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis`` (which disappears), e.g. the time steps of a sequence."""
    return Unbind.apply(x, axis=axis % x.ndim)


def split(x: Tensor, sizes: tuple[int, ...], axis: int = -1) -> tuple[Tensor, ...]:
    """``x`` cut into consecutive pieces of the given ``sizes`` along ``axis``."""
    if sum(sizes) != x.shape[axis]:
        raise ValueError(f"split: sizes {sizes} do not add up to the axis length {x.shape[axis]}")
    return Chunk.apply(x, sizes=tuple(sizes), axis=axis % x.ndim)


def chunk(x: Tensor, n: int, axis: int = -1) -> tuple[Tensor, ...]:
    """``x`` cut into ``n`` equal pieces along ``axis`` (e.g. the gates of an LSTM)."""
    size, rest = divmod(x.shape[axis], n)
    if rest:
        raise ValueError(f"chunk: axis of size {x.shape[axis]} does not split into {n} equal pieces")
    return split(x, (size,) * n, axis)
