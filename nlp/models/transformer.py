"""The seed's Transformer encoder–decoder summariser, done right, with optional copy.

What the seed got wrong and this fixes: positions are encoded over *sequence* positions
(sinusoids, ``nn.PositionalEncoding``), not over the vocabulary; the decoder reads the
summary shifted right (``BOS + summary``) and predicts ``summary + EOS``; a causal mask
stops it from seeing the future; padding is masked on both sides. One embedding table
is shared by source, target and the output projection (the vocabularies are the same).

Copy: a single-head attention from the last decoder layer onto the encoder output gives
the copy distribution and a context vector; ``p_gen`` mixes it with the vocabulary
distribution as in :mod:`nlp.models.copying`. Decoding re-runs the decoder over the prefix
at each step (summaries are short, and it keeps the model free of cache plumbing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn

from .. import decoding
from ..data import Batch
from ..vocab import Vocab
from . import copying
from .cost import weights_per_position

__all__ = ["TransformerSummarizer"]


class TransformerSummarizer(nn.Module):
    """Transformer encoder–decoder (post-norm, batch first) with shared embeddings."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 256,
        heads: int = 4,
        layers: int = 3,
        ff_size: int = 1024,
        dropout: float = 0.1,
        copy: bool = True,
        max_positions: int = 512,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size, self.copy, self.d_model = vocab_size, copy, d_model
        self.label_smoothing = label_smoothing
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=Vocab.pad_id)
        nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
        self.embedding.weight.data[Vocab.pad_id] = 0
        self.positions = nn.PositionalEncoding(
            d_model, max_len=max_positions, dropout=dropout, batch_first=True
        )
        self.transformer = nn.Transformer(d_model, heads, layers, layers, ff_size, dropout, batch_first=True)
        self.out_bias = nn.Parameter(mg.zeros(vocab_size))
        self.copy_query = nn.Linear(d_model, d_model) if copy else None
        self.gen = nn.Linear(3 * d_model, 1) if copy else None

    def _embed(self, ids: np.ndarray) -> Tensor:
        ids = np.where(ids < self.vocab_size, ids, Vocab.unk_id)  # a copied OOV is fed back as <unk>
        return self.positions(self.embedding(ids) * math.sqrt(self.d_model))

    def encode(self, src: np.ndarray, src_mask: np.ndarray) -> Tensor:
        return self.transformer.encoder(self._embed(src), src_key_padding_mask=~src_mask)

    def _decode(
        self, tgt_in: np.ndarray, memory: Tensor, src_mask: np.ndarray
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """logits (B, T, V), copy attention (B, T, S) and p_gen (B, T, 1) (None without copy)."""
        T = tgt_in.shape[1]
        emb_in = self._embed(tgt_in)
        future = np.triu(np.ones((T, T), dtype=bool), k=1)  # True = may not attend (PyTorch's bool mask)
        states = self.transformer.decoder(emb_in, memory, tgt_mask=future,
                                          memory_key_padding_mask=~src_mask)
        logits = states @ self.embedding.weight.T + self.out_bias
        if not self.copy:
            return logits, None, None
        scores = (self.copy_query(states) @ memory.swapaxes(1, 2)) * (1.0 / math.sqrt(self.d_model))
        attn = copying.masked_attention(scores, src_mask)
        ctx = attn @ memory
        p_gen = self.gen(mg.concat([states, ctx, emb_in], axis=-1)).sigmoid()
        return logits, attn, p_gen

    def teacher_forced(
        self, src: np.ndarray, src_mask: np.ndarray, tgt_in: np.ndarray
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """logits (B, T, V), copy attention (B, T, S) and p_gen (B, T, 1) (both None
        without copy) when the decoder reads ``tgt_in`` (BOS first)."""
        return self._decode(tgt_in, self.encode(src, src_mask), src_mask)

    def forward(self, batch: Batch) -> Tensor:
        """The training loss of a batch: mean NLL per target token (teacher forcing)."""
        logits, attn, p_gen = self.teacher_forced(batch.src, batch.src_mask, batch.tgt_in)
        return copying.summary_loss(logits, attn, p_gen, batch, self.label_smoothing)

    def loss_terms(self, batch: Batch) -> int:
        """How many terms :meth:`forward`'s mean is over: the batch's real target tokens."""
        return batch.num_tgt_tokens

    def step_cost(self, rows, src_len, tgt_len):
        """Multiply-adds of a forward pass on a padded batch (:mod:`nlp.models.cost`); works
        elementwise on arrays. Attention adds 2·d multiply-adds per position attended to, per layer."""
        d, encoder, decoder = self.d_model, self.transformer.encoder, self.transformer.decoder
        per_source = weights_per_position(encoder) + 2 * d * encoder.num_layers * src_len
        per_target = weights_per_position(decoder, self.embedding, self.copy_query, self.gen) \
            + 2 * d * decoder.num_layers * (tgt_len + src_len) + (2 * d * src_len if self.copy else 0)
        return rows * (src_len * per_source + tgt_len * per_target)

    def start_decoding(self, src, src_mask, src_ext, max_oov: int) -> dict[str, Any]:
        return {"memory": self.encode(src, src_mask), "src_mask": src_mask, "src_ext": src_ext,
                "max_oov": max_oov}

    def decode_step(self, state: dict[str, Any], prefix: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        logits, attn, p_gen = self._decode(prefix, state["memory"], state["src_mask"])
        last = logits.shape[1] - 1
        logp = copying.extended_log_probs(
            logits[:, last], attn[:, last] if self.copy else None, p_gen[:, last] if self.copy else None,
            state["src_ext"], state["max_oov"],
        )
        return logp, state

    def generate(self, src: Any, max_length: int = 30, **options: Any) -> list[list[int]]:
        """Summarise a (B, S) array of source ids, or a :class:`Batch`; returns B lists of
        extended-vocabulary ids (see :func:`nlp.decoding.generate`)."""
        return decoding.generate(self, src, max_length=max_length, **options)
