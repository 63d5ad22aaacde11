"""Summarisation models built only from minigrad ops and layers.

* ``"rnn"``: :class:`RNNSummarizer`, BiGRU encoder + GRU decoder with attention and copy
  (the default: at ~9k training pairs it is the one that beats the extractive baselines);
* ``"transformer"``: :class:`TransformerSummarizer`, the seed's encoder–decoder done
  right, with optional copy;
* ``"clause"``: :class:`ClauseExtractor`, a BiGRU that learns to pick the source clause
  closest to a summary (trained on oracle clauses); the Lead and TextRank baselines it
  competes with are in :mod:`nlp.extractive`.

Both train with ``loss = model(batch)`` and decode through ``model.generate(src, …)``
(see :mod:`nlp.decoding`). :class:`ModelConfig` holds everything needed to rebuild a
model, and is what a checkpoint stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from minigrad import nn

from .clause import ClauseExtractor, is_clause_end
from .rnn import RNNSummarizer

__all__ = ["ModelConfig", "build_model", "RNNSummarizer", "ClauseExtractor", "MODEL_TYPES", "is_clause_end"]

MODEL_TYPES = ("rnn", "transformer", "clause")


@dataclass
class ModelConfig:
    """Architecture settings. ``hidden_size`` is the GRU size (rnn) or d_model
    (transformer); ``layers``, ``heads`` and ``ff_size`` are for the transformer;
    ``clause_end_ids`` (the punctuation tokens' ids) for the clause model;
    ``coverage`` weighs the rnn's coverage loss (0: off); ``label_smoothing`` is the
    seq2seq models' ε (:func:`nlp.models.copying.summary_loss`)."""

    model: str = "rnn"
    vocab_size: int = 0
    emb_dim: int = 128
    hidden_size: int = 256
    dropout: float = 0.2
    copy: bool = True
    layers: int = 3
    heads: int = 4
    ff_size: int = 1024
    max_positions: int = 512
    clause_end_ids: list[int] = field(default_factory=list)
    coverage: float = 0.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.model not in MODEL_TYPES:
            raise ValueError(f"model must be one of {MODEL_TYPES}, got {self.model!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> ModelConfig:
        if obj.get("model") == "extractive":  # the clause model's name in older model folders
            obj = {**obj, "model": "clause"}
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}")
        return cls(**obj)


def build_model(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised model for ``cfg`` (seed with ``mg.manual_seed`` first)."""
    if cfg.vocab_size < 5:
        raise ValueError(f"vocab_size must cover the 4 special tokens and more, got {cfg.vocab_size}")
    if cfg.model == "rnn":
        return RNNSummarizer(
            cfg.vocab_size, cfg.emb_dim, cfg.hidden_size, cfg.dropout, cfg.copy, cfg.coverage,
            cfg.label_smoothing,
        )
    if cfg.model == "clause":
        return ClauseExtractor(cfg.vocab_size, cfg.clause_end_ids, cfg.emb_dim, cfg.hidden_size, cfg.dropout)
    from .transformer import TransformerSummarizer

    return TransformerSummarizer(
        cfg.vocab_size, cfg.hidden_size, cfg.heads, cfg.layers, cfg.ff_size, cfg.dropout, cfg.copy,
        cfg.max_positions, cfg.label_smoothing,
    )
