"""Running a batch-first recurrent layer over a padded batch, each row to its own length."""

from __future__ import annotations

import numpy as np

from minigrad import Tensor, nn
from minigrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["run_padded"]


def run_padded(layer: nn.Module, x: Tensor, mask: np.ndarray) -> tuple[Tensor, Tensor]:
    """``layer`` (a batch-first ``nn.GRU``) over ``x`` (B, S, E) whose rows are real where
    ``mask`` (B, S) is True (a prefix of each row): (out (B, S, D·H), zero at padding;
    h_n (D, B, H), each direction's state after the row's last real token)."""
    packed = pack_padded_sequence(x, mask.sum(axis=1), batch_first=True, enforce_sorted=False)
    out, h_n = layer(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], h_n
