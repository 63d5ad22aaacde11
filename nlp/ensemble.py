"""Several trained summarisers decoding as one (``--model A --model B``,
``Summarizer.load([A, B])``).

At every step each member gives its distribution over the extended vocabulary (see
:mod:`nlp.decoding`), and the ensemble's is their mean::

    P(w) = (1/n) Σ_i P_i(w)        log P(w) = logsumexp_i(log P_i(w)) − log n

The members must share the vocabulary (so that an id, and a copied word's extended id,
means the same word to each); models trained on the same data with the same vocabulary
settings do. Each member keeps its own decoder state; the search reorders all of them
together, because the ensemble's state is one dict whose keys are prefixed by the member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Ensemble"]


class Ensemble:
    """Members that follow the decoding protocol (``start_decoding``/``decode_step``),
    averaged in probability at every step."""

    def __init__(self, members: Sequence[Any]) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two models, got {len(members)}")
        self.members = list(members)

    @property
    def training(self) -> bool:
        return any(m.training for m in self.members)

    def eval(self) -> Ensemble:
        for m in self.members:
            m.eval()
        return self

    def train(self, mode: bool = True) -> Ensemble:
        for m in self.members:
            m.train(mode)
        return self

    def start_decoding(self, src, src_mask, src_ext, max_oov: int) -> dict[str, Any]:
        states = [m.start_decoding(src, src_mask, src_ext, max_oov) for m in self.members]
        return _join(states)

    def decode_step(self, state: dict[str, Any], prefix: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        parts = _split(state, len(self.members))
        steps = [m.decode_step(part, prefix) for m, part in zip(self.members, parts)]
        logps = np.stack([logp for logp, _ in steps])
        top = logps.max(axis=0)
        mixed = top + np.log(np.exp(logps - top).mean(axis=0))  # log of the mean probability, stably
        return mixed, _join([s for _, s in steps])


def _join(states: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"{i}/{key}": value for i, state in enumerate(states) for key, value in state.items()}


def _split(state: dict[str, Any], n: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in state.items():
        member, name = key.split("/", 1)
        parts[int(member)][name] = value
    return parts
