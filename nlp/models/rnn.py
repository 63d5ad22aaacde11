"""The recurrent summariser: BiGRU encoder (H/2 per direction), GRU decoder (H), attention
and copy.

Luong-style (attention reads the decoder state *after* its GRU step), so teacher-forced
training runs the decoder GRU over all target steps at once and then attends and
projects for every step in single batched matmuls; only the two GRU recurrences are
sequential (``nn.GRU``, one graph node per direction; the encoder runs on packed
sequences, so each source is read to its own length in both directions). Per step::

    s_t = GRU(s_{t−1}, emb(y_{t−1}))                       s_0 = tanh(W_b [h→_S; h←_1])
    a_t = softmax_s(s_t · K_s)      K = H_enc W_k (computed once per source)
    c_t = Σ_s a_ts H_enc,s
    o_t = tanh(W_c [s_t; c_t])      P_vocab = softmax(o_t Eᵀ + b)   (E: the embedding, tied)
    p_gen = σ(w_g [s_t; c_t; emb(y_{t−1})])
and the copy mix of :mod:`nlp.models.copying`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn

from .. import decoding
from ..data import Batch
from ..vocab import Vocab
from . import copying
from .cost import weights_per_position
from .padded import run_padded

__all__ = ["RNNSummarizer"]


class RNNSummarizer(nn.Module):
    """GRU encoder–decoder with attention and (optionally) copy; see the module docstring."""

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int = 128,
        hidden_size: int = 256,
        dropout: float = 0.2,
        copy: bool = True,
        coverage: float = 0.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two encoder directions), got {hidden_size}")
        self.vocab_size, self.copy, self.coverage = vocab_size, copy, coverage
        self.label_smoothing = label_smoothing
        H = hidden_size
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=Vocab.pad_id)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        # H/2 per direction: the recurrence costs ∝ size², and the memory is still H wide
        self.encoder = nn.GRU(emb_dim, H // 2, bidirectional=True, batch_first=True)
        self.bridge = nn.Linear(H, H)
        self.decoder = nn.GRU(emb_dim, H, batch_first=True)
        self.attn_key = nn.Linear(H, H, bias=False)
        self.combine = nn.Linear(2 * H, emb_dim)
        self.out_bias = nn.Parameter(mg.zeros(vocab_size))
        self.gen = nn.Linear(2 * H + emb_dim, 1) if copy else None
        self.drop = nn.Dropout(dropout)

    # ------------------------------------------------------------------ pieces
    def _embed(self, ids: np.ndarray) -> Tensor:
        ids = np.where(ids < self.vocab_size, ids, Vocab.unk_id)  # a copied OOV is fed back as <unk>
        return self.drop(self.embedding(ids))

    def encode(self, src: np.ndarray, src_mask: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        """(memory (B, S, H), attention keys (B, S, H), first decoder state (B, H))."""
        memory, h_n = run_padded(self.encoder, self._embed(src), src_mask)
        s0 = self.bridge(mg.concat([h_n[0], h_n[1]], axis=-1)).tanh()
        return memory, self.attn_key(memory), s0

    def _step_outputs(
        self, states: Tensor, emb_in: Tensor, memory: Tensor, keys: Tensor, src_mask: np.ndarray
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """logits (B, T, V), attention (B, T, S), p_gen (B, T, 1) for decoder states
        (B, T, H)."""
        attn = copying.masked_attention(states @ keys.swapaxes(1, 2), src_mask)
        ctx = attn @ memory
        both = mg.concat([states, ctx], axis=-1)
        out = self.drop(self.combine(both).tanh())
        logits = out @ self.embedding.weight.T + self.out_bias
        p_gen = self.gen(mg.concat([both, emb_in], axis=-1)).sigmoid() if self.copy else None
        return logits, attn, p_gen

    # ---------------------------------------------------------------- training
    def teacher_forced(
        self, src: np.ndarray, src_mask: np.ndarray, tgt_in: np.ndarray
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """logits (B, T, V), attention (B, T, S) and p_gen (B, T, 1) (None without copy)
        when the decoder reads ``tgt_in`` (BOS first): in one pass, what decoding computes
        step by step."""
        memory, keys, s0 = self.encode(src, src_mask)
        emb_in = self._embed(tgt_in)
        states, _ = self.decoder(emb_in, s0.unsqueeze(0))
        return self._step_outputs(states, emb_in, memory, keys, src_mask)

    def forward(self, batch: Batch) -> Tensor:
        """The training loss of a batch: mean NLL per target token (teacher forcing)."""
        logits, attn, p_gen = self.teacher_forced(batch.src, batch.src_mask, batch.tgt_in)
        loss = copying.summary_loss(logits, attn, p_gen, batch, self.label_smoothing)
        if self.coverage:
            loss = loss + self.coverage * copying.coverage_penalty(attn, batch.tgt_mask)
        return loss

    def loss_terms(self, batch: Batch) -> int:
        """How many terms :meth:`forward`'s mean is over: the batch's real target tokens."""
        return batch.num_tgt_tokens

    def step_cost(self, rows, src_len, tgt_len):
        """Multiply-adds of a forward pass on a padded batch (:mod:`nlp.models.cost`); works
        elementwise on arrays."""
        per_source = weights_per_position(self.encoder, self.attn_key)
        per_target = weights_per_position(self.decoder, self.combine, self.embedding, self.gen) \
            + 2 * self.decoder.hidden_size * src_len  # attention: scores and context over the source
        return rows * (src_len * per_source + tgt_len * per_target)

    # ---------------------------------------------------------------- decoding
    def start_decoding(self, src, src_mask, src_ext, max_oov: int) -> dict[str, Any]:
        memory, keys, s0 = self.encode(src, src_mask)
        return {"memory": memory, "keys": keys, "h": s0, "src_mask": src_mask, "src_ext": src_ext,
                "max_oov": max_oov}

    def decode_step(self, state: dict[str, Any], prefix: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        emb_in = self._embed(prefix[:, -1:])
        states, h_n = self.decoder(emb_in, state["h"].unsqueeze(0))
        logits, attn, p_gen = self._step_outputs(
            states, emb_in, state["memory"], state["keys"], state["src_mask"]
        )
        logp = copying.extended_log_probs(
            logits[:, 0], attn[:, 0] if self.copy else None, p_gen[:, 0] if self.copy else None,
            state["src_ext"], state["max_oov"],
        )
        return logp, {**state, "h": h_n[0]}

    def generate(self, src: Any, max_length: int = 30, **options: Any) -> list[list[int]]:
        """Summarise a (B, S) array of source ids, or a :class:`Batch` (whose copy ids are
        then used); returns B lists of extended-vocabulary ids. Options: the fields of
        :class:`nlp.decoding.SearchConfig` (``beam_size=``, ``min_length=``, …)."""
        return decoding.generate(self, src, max_length=max_length, **options)
