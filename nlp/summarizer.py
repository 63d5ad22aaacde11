"""Summarise raw text with a trained model: tokenise, encode (with copy ids), decode,
detokenise. Used by ``evaluate``, ``summarize`` and ``demo``, and by training's dev
evaluation."""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad import nn

from .checkpoint import ModelDirError, ModelMeta, load_model
from .data import batches, collate, encode_pairs
from .decoding import SearchConfig, generate, inference
from .ensemble import Ensemble
from .tokenizer import Tokenizer
from .vocab import Vocab

__all__ = ["Summarizer", "Explanation", "EmptyTextError", "TruncationWarning"]


class EmptyTextError(ValueError):
    """The text to summarise is empty or only whitespace."""


class TruncationWarning(UserWarning):
    """A text was longer than the model's maximum source length and was cut."""


@dataclass
class Explanation:
    """What :meth:`Summarizer.explain` returns. ``attention[t, s]`` is the weight output
    token ``t`` gave source token ``s`` (rows sum to 1); ``p_copy[t]`` is the probability
    that token ``t`` was copied from the source rather than generated from the vocabulary
    (None for a model without copy)."""

    source: list[str]
    summary_tokens: list[str]
    summary: str
    attention: np.ndarray  # (len(summary_tokens), len(source))
    p_copy: np.ndarray | None  # (len(summary_tokens),)


class BatchSummarizer(ABC):
    """What every summariser offers once it can summarise in batches
    (``summarize_batches``): summaries of one text or of a list, in order."""

    @abstractmethod
    def summarize_batches(
        self, texts: Sequence[str], beam_size: int = 1, batch_size: int = 64, **options: Any
    ) -> Iterator[tuple[list[int], list[str]]]:
        """``(indices, summaries)`` for one batch of ``texts`` after another."""

    def summarize(
        self, texts: str | Sequence[str], beam_size: int = 1, batch_size: int = 64, **options: Any
    ) -> str | list[str]:
        """Summaries of ``texts`` (one string in, one string out). Raises
        :class:`EmptyTextError` for empty/whitespace text; warns
        (:class:`TruncationWarning`) when a text is cut to the model's maximum length.
        ``options`` are :class:`nlp.decoding.SearchConfig` fields."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        out = [""] * len(texts)
        for indices, summaries in self.summarize_batches(texts, beam_size, batch_size, **options):
            for i, summary in zip(indices, summaries):
                out[i] = summary
        return out[0] if single else out


class Summarizer(BatchSummarizer):
    """A model with its vocabulary and tokenizer, ready to summarise text."""

    def __init__(self, model: nn.Module, vocab: Vocab, meta: ModelMeta) -> None:
        self.model, self.vocab, self.meta = model, vocab, meta
        self.tokenizer = Tokenizer(meta.tokenizer)

    @classmethod
    def load(cls, folder: str | os.PathLike | Sequence[str | os.PathLike], device: Any = None) -> Summarizer:
        """Load the best model saved in ``folder`` (see :mod:`nlp.checkpoint`). Given
        several folders, their models decode as one :class:`nlp.ensemble.Ensemble`; they
        must share vocabulary, tokenizer and source length."""
        if isinstance(folder, (str, os.PathLike)):
            return cls(*load_model(folder, device))
        loaded = [load_model(f, device) for f in folder]
        if len(loaded) == 1:
            return cls(*loaded[0])
        _check_ensemble([str(f) for f in folder], [meta for _, _, meta in loaded])
        (_, vocab, meta) = loaded[0]
        return cls(Ensemble([model for model, _, _ in loaded]), vocab, meta)

    def search_config(self, beam_size: int = 1, **options: Any) -> SearchConfig:
        """Decoding settings: at most the training summary length (a whole clause for
        the clause model), no repeated bigrams with beam search (greedy decodes as
        trained)."""
        picks_a_clause = self.meta.model.model == "clause"
        longest = self.meta.max_src_len if picks_a_clause else self.meta.max_tgt_len
        defaults = {"max_length": longest, "min_length": 1, "beam_size": beam_size,
                    "no_repeat_ngram_size": 2 if beam_size > 1 else 0}
        return SearchConfig(**{**defaults, **options})

    def summarize_batches(
        self, texts: Sequence[str], beam_size: int = 1, batch_size: int = 64, **options: Any
    ) -> Iterator[tuple[list[int], list[str]]]:
        """Summarise ``texts`` batch by batch, yielding ``(indices, summaries)`` as each
        batch is decoded: positions in ``texts`` and their summaries. Batches group texts
        of similar length (less padding), so the indices are not in order. For progress
        bars and for writing results while the rest is still being decoded."""
        for indices, found in self._decoded(texts, beam_size, batch_size, n_best=False, **options):
            yield indices, [summary for (summary,) in found]

    def candidates(
        self, texts: Sequence[str], beam_size: int = 1, batch_size: int = 64, **options: Any
    ) -> list[list[str]]:
        """For each text, every summary the search finished with, best first: up to
        ``beam_size`` from beam search (its n-best list), the one greedy summary for
        ``beam_size`` 1. What :class:`nlp.consensus.Consensus` chooses from."""
        out: list[list[str]] = [[] for _ in texts]
        for indices, found in self._decoded(texts, beam_size, batch_size, n_best=True, **options):
            for i, summaries in zip(indices, found):
                out[i] = summaries
        return out

    def _decoded(
        self, texts: Sequence[str], beam_size: int, batch_size: int, n_best: bool, **options: Any
    ) -> Iterator[tuple[list[int], list[list[str]]]]:
        """``(indices, summaries of each text)`` batch by batch: the best summary alone, or
        with ``n_best`` all that the search finished with."""
        texts = list(texts)
        _check_texts(texts)
        self._warn_if_truncated(texts)
        cfg = self.search_config(beam_size, **options)
        encoded = encode_pairs([(t, "") for t in texts], self.tokenizer, self.vocab, self.meta.max_src_len)
        for batch in batches(encoded, batch_size, shuffle=False):
            found = generate(self.model, batch, config=cfg, n_best=True)
            if not n_best:
                found = [ids[:1] for ids in found]
            yield batch.indices, [[self._detokenize(ids, oovs) for ids in each]
                                  for each, oovs in zip(found, batch.oovs)]

    def explain(self, text: str, beam_size: int = 1, **options: Any) -> Explanation:
        """The summary of ``text`` with what the model read while writing it: for every
        output token, the attention over the source tokens and (copy model) the
        probability that it copied. ``beam_size`` and ``options`` as for
        :meth:`summarize`, whose summary this is."""
        if isinstance(self.model, Ensemble):
            raise ValueError("explain shows what one model read: load a single model folder, not an "
                             "ensemble")
        if not hasattr(self.model, "teacher_forced"):
            raise ValueError(f"explain needs a model that attends to the text while it writes (rnn or "
                             f"transformer); this one is a {self.meta.model.model!r} model")
        _check_texts([text])
        self._warn_if_truncated([text])
        (example,) = encode_pairs([(text, "")], self.tokenizer, self.vocab, self.meta.max_src_len)
        batch = collate([example])
        (ids,) = generate(self.model, batch, config=self.search_config(beam_size, **options))
        with inference(self.model):
            _, attn, p_gen = self.model.teacher_forced(
                batch.src, batch.src_mask, np.asarray([[Vocab.bos_id, *ids]], dtype=np.int64)
            )
        if attn is None:
            raise ValueError("explain needs attention onto the source: this transformer was trained "
                             "without copy (--no-copy), so it has no single attention to show")
        steps = len(ids)  # the last row reads EOS (or nothing, at max_length): not a summary token
        return Explanation(
            source=list(example.src_tokens), summary_tokens=self.vocab.decode(ids, oovs=example.oovs),
            summary=self._detokenize(ids, example.oovs), attention=attn.numpy()[0, :steps],
            p_copy=None if p_gen is None else 1.0 - p_gen.numpy()[0, :steps, 0],
        )

    def _detokenize(self, ids: list[int], oovs: list[str]) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids, oovs=oovs))

    def _warn_if_truncated(self, texts: list[str]) -> None:
        limit = self.meta.max_src_len
        long = [i for i, t in enumerate(texts) if len(self.tokenizer.tokenize(t)) > limit]
        if long:
            which = "the text" if len(texts) == 1 else f"{len(long)} of {len(texts)} texts"
            warnings.warn(
                f"{which} exceeded the model's maximum of {limit} tokens: only the first {limit} "
                "tokens are summarised", TruncationWarning, stacklevel=4,
            )


def _check_texts(texts: list) -> None:
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            where = "the text" if len(texts) == 1 else f"text {i + 1}"
            raise EmptyTextError(f"{where} is empty or only whitespace: nothing to summarise")


def _check_ensemble(folders: list[str], metas: list[ModelMeta]) -> None:
    """Members must read and write the same ids: same vocabulary, tokenizer and source
    length, and all of them seq2seq models."""
    first = metas[0]
    for folder, meta in zip(folders, metas):
        if meta.model.model == "clause":
            raise ModelDirError(f"{folder} holds a clause model, which cannot join an ensemble of "
                                "summarisers (it picks a clause rather than writing a summary)")
        same = (meta.vocab_fingerprint, meta.tokenizer, meta.max_src_len) == (
            first.vocab_fingerprint, first.tokenizer, first.max_src_len)
        if not same:
            raise ModelDirError(
                f"{folder} and {folders[0]} cannot decode together: an ensemble needs the same vocabulary "
                f"(fingerprints {meta.vocab_fingerprint} and {first.vocab_fingerprint}), tokenizer and "
                "--max-src-len; train the models on the same data with the same vocabulary settings"
            )
