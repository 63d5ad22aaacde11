"""Padded batches of sequences of different lengths, as PyTorch users know them.

``pack_padded_sequence`` keeps only the real tokens, time step by time step: step t holds
``batch_sizes[t]`` rows, one per sequence still running, longest sequences first. ``nn.RNN``,
``nn.GRU`` and ``nn.LSTM`` take a ``PackedSequence`` as input, run each sequence exactly to its
length (in both directions) and return a ``PackedSequence``; ``pad_packed_sequence`` turns it
back into a padded tensor (zeros at padding) and the lengths.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ...ops import PutRows, TakeRows
from ...ops.elementwise import where
from ...tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence"]


class PackedSequence(NamedTuple):
    """``data`` (sum of lengths, *): the real tokens, time step by time step; ``batch_sizes``
    (int64, on the CPU): how many sequences run at each step; ``sorted_indices`` /
    ``unsorted_indices`` (int64): the batch order longest-first and back, or None when the
    batch came sorted (``enforce_sorted=True``). The fields of PyTorch's ``PackedSequence``."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None


def _lengths(lengths: Any) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.numpy()
    out = np.asarray(lengths)
    if out.ndim != 1 or out.dtype.kind not in "iu":
        raise ValueError(
            f"pack_padded_sequence: lengths must be a 1-D sequence of integers, got {out.dtype} "
            f"of shape {out.shape}"
        )
    return out.astype(np.int64)


def _check_lengths(lengths: np.ndarray, x: Tensor, batch_first: bool, enforce_sorted: bool) -> None:
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    layout = "(batch, seq, *)" if batch_first else "(seq, batch, *)"
    described = f"input of shape {tuple(x.shape)} read as {layout} (batch_first={batch_first})"
    if len(lengths) != batch:
        raise ValueError(
            f"pack_padded_sequence: got {len(lengths)} lengths for a batch of {batch} sequences "
            f"({described}); give one length per sequence, or check batch_first"
        )
    if (lengths <= 0).any():
        raise ValueError(
            f"pack_padded_sequence: every length must be at least 1, got lengths {lengths.tolist()}; "
            "drop empty sequences from the batch first"
        )
    if (lengths > steps).any():
        raise ValueError(
            f"pack_padded_sequence: lengths {lengths.tolist()} exceed the padded length {steps} ({described})"
        )
    if enforce_sorted and (np.diff(lengths) > 0).any():
        raise ValueError(
            f"pack_padded_sequence: lengths {lengths.tolist()} are not sorted longest first; pass "
            "enforce_sorted=False to have them sorted (outputs come back in the original order)"
        )


def _padded_rows(batch_sizes: np.ndarray, order: np.ndarray, steps: int, batch_first: bool) -> np.ndarray:
    """For each packed row (step t, k-th running sequence), its row in the padded batch
    flattened over its first two axes."""
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    k = np.arange(len(t)) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    seq = order[k]
    return seq * steps + t if batch_first else t * len(order) + seq


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch (seq, batch, *) (or (batch, seq, *) with ``batch_first``) whose
    sequences have the given ``lengths``. With ``enforce_sorted=True`` the lengths must be
    sorted longest first; with False any order is accepted (and restored on the way out)."""
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected a padded batch of at least 2 axes, got shape "
                         f"{tuple(input.shape)}")
    lengths = _lengths(lengths)
    _check_lengths(lengths, input, batch_first, enforce_sorted)
    order = np.arange(len(lengths)) if enforce_sorted else np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]).sum(axis=1)
    steps = input.shape[1] if batch_first else input.shape[0]
    rows = _padded_rows(batch_sizes, order, steps, batch_first)
    xp = input.device.xp
    flat = input.reshape(input.shape[0] * input.shape[1], *input.shape[2:])
    data = TakeRows.apply(flat, index=xp.asarray(rows))
    indices = (None, None) if enforce_sorted else (_index(order, input), _index(np.argsort(order), input))
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)), *indices)


def _index(order: np.ndarray, like: Tensor) -> Tensor:
    return Tensor(order.astype(np.int64), device=like.device)


def pad_packed_sequence(
    sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`pack_padded_sequence`: (padded (seq, batch, *) or (batch, seq, *),
    lengths (int64, original batch order)). ``total_length`` pads to that many steps."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data, batch_sizes = sequence.data, sequence.batch_sizes.numpy().astype(np.int64)
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than the longest "
                             f"sequence ({steps} steps)")
        steps = total_length
    batch = int(batch_sizes[0])
    order = np.arange(batch) if sequence.sorted_indices is None else sequence.sorted_indices.numpy()
    rows = _padded_rows(batch_sizes, order, steps, batch_first)
    xp = data.device.xp
    padded = PutRows.apply(data, index=xp.asarray(rows), rows=steps * batch)
    shape = (batch, steps) if batch_first else (steps, batch)
    padded = padded.reshape(*shape, *data.shape[1:])
    lengths = np.empty(batch, dtype=np.int64)
    lengths[order] = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    if padding_value != 0.0:
        real = np.zeros(steps * batch, dtype=bool)
        real[rows] = True
        mask = xp.asarray(real.reshape(shape + (1,) * (data.ndim - 1)))
        padded = where(Tensor(mask, device=data.device), padded, padding_value)
    return padded, Tensor(lengths)
