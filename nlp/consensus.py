"""Several summarisers agreeing on one summary: minimum Bayes risk (MBR) selection
(``--model A --model B --combine consensus``, :class:`Consensus`).

Each member model proposes candidates for a text (the finished hypotheses of its beam
search, or its greedy summary), and the summary chosen is the candidate that agrees best
with all the others, agreement measured by the metric the summaries are judged by,
character ROUGE-L F1 (Kumar & Byrne, 2004)::

    ŷ = argmax_{c ∈ C}  Σ_{c' ∈ C, c' ≠ c}  ROUGE-L(c, c')

The candidates stand in for samples of what a good summary looks like, so the choice
is the one with the least expected loss against them. Unlike an ensemble
(:mod:`nlp.ensemble`, which mixes the members' distributions at every step), members
never share a decoding step, so their vocabularies, tokenizers and sizes may differ;
the cost is one decoding per member.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import Any

from .metrics import chars, rouge_l
from .summarizer import BatchSummarizer, Summarizer, TruncationWarning, _check_texts

__all__ = ["Consensus", "consensus_choice"]


def consensus_choice(candidates: Sequence[str]) -> int:
    """The index of the candidate with the highest summed character ROUGE-L F1 against
    the other candidates (the first such on ties; a lone candidate is chosen)."""
    if not candidates:
        raise ValueError("consensus_choice needs at least one candidate")
    tokens = [chars(c) for c in candidates]
    agreement = [0.0] * len(tokens)
    for i, j in combinations(range(len(tokens)), 2):  # F1 is symmetric: each pair once
        f = rouge_l(tokens[i], tokens[j])["f"]
        agreement[i] += f
        agreement[j] += f
    return max(range(len(tokens)), key=agreement.__getitem__)


class Consensus(BatchSummarizer):
    """Summarisers that propose candidates; each text's summary is their consensus
    (:func:`consensus_choice`). Summarises like a :class:`Summarizer` (every member decodes
    with the same settings)."""

    def __init__(self, members: Sequence[Summarizer]) -> None:
        if len(members) < 2:
            raise ValueError(f"a consensus needs at least two models, got {len(members)}")
        self.members = list(members)

    @classmethod
    def load(cls, folders: Sequence[str | os.PathLike], device: Any = None) -> Consensus:
        """One member per model folder (each a single model; see :meth:`Summarizer.load`)."""
        return cls([Summarizer.load(folder, device) for folder in folders])

    def summarize_batches(
        self, texts: Sequence[str], beam_size: int = 1, batch_size: int = 64, **options: Any
    ) -> Iterator[tuple[list[int], list[str]]]:
        """As :meth:`Summarizer.summarize_batches`: ``(indices, summaries)`` for
        ``batch_size`` texts at a time, in order."""
        texts = list(texts)
        _check_texts(texts)
        self._warn_if_truncated(texts)
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            with warnings.catch_warnings():  # said once for all texts, above
                warnings.simplefilter("ignore", TruncationWarning)
                proposed = [m.candidates(chunk, beam_size, batch_size, **options) for m in self.members]
            pools = [[c for member in proposed for c in member[i]] for i in range(len(chunk))]
            yield list(range(start, start + len(chunk))), [pool[consensus_choice(pool)] for pool in pools]

    def _warn_if_truncated(self, texts: list[str]) -> None:
        """Each member's truncation warning once (members with the same limit say the same)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncationWarning)
            for member in self.members:
                member._warn_if_truncated(texts)
        for message in dict.fromkeys(str(w.message) for w in caught):
            warnings.warn(message, TruncationWarning, stacklevel=4)
