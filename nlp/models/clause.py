"""A learned extractive summariser: pick the source clause most like a summary.

At ~9k training pairs the best single source clause (by ROUGE-L against the reference)
is a far better summary than anything a model trained from scratch writes, so this model
learns to *choose* it. A BiGRU reads the whole text; each clause (split after
``，。！？；：、`` …, as :func:`nlp.extractive.split_clauses` does) is represented by the mean
of its states, the mean over the document and an embedding of its position, and scored
by a small MLP. Training: cross-entropy against the oracle clause, the one with the
highest ROUGE-L F1 against the reference summary (computed on the fly from the batch's
extended ids, so a character model's oracle is exactly character ROUGE-L).

It decodes through the same interface as the abstractive models: ``start_decoding``
picks each row's best clause and ``decode_step`` emits it token by token (without its
trailing punctuation), so search, the CLI and evaluation need no special case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor, nn

from .. import decoding
from ..data import Batch
from ..metrics import lcs_length
from ..vocab import Vocab
from .cost import weights_per_position
from .padded import run_padded

__all__ = ["ClauseExtractor", "clause_spans", "is_clause_end"]

CLAUSE_END = "。！？!?；;.，,、：:"
_NEG = -1e9


def is_clause_end(token: str) -> bool:
    """Whether ``token`` ends a clause (it is made only of clause-ending punctuation)."""
    return bool(token) and all(ch in CLAUSE_END for ch in token)


def clause_spans(ids: np.ndarray, length: int, end_ids: set[int]) -> list[tuple[int, int, int]]:
    """Clauses of one source row as ``(start, stop, end)``: the clause occupies
    ``[start, end)`` (its closing punctuation included) and its words ``[start, stop)``.
    Pieces made only of punctuation are skipped; a text without any is one clause."""
    spans = []
    start = 0
    for i in range(length):
        if int(ids[i]) in end_ids or i == length - 1:
            stop = i + 1
            while stop > start and int(ids[stop - 1]) in end_ids:
                stop -= 1
            if stop > start:
                spans.append((start, stop, i + 1))
            start = i + 1
    return spans or [(0, max(length, 1), max(length, 1))]


def _rouge_l(a: list[int], b: list[int]) -> float:
    if not a or not b:
        return 0.0
    lcs = lcs_length(a, b)
    return 2 * lcs / (len(a) + len(b))


class ClauseExtractor(nn.Module):
    """Scores the clauses of a text and summarises with the best one."""

    def __init__(
        self,
        vocab_size: int,
        clause_end_ids: list[int],
        emb_dim: int = 128,
        hidden_size: int = 256,
        dropout: float = 0.2,
        max_clauses: int = 16,
    ) -> None:
        super().__init__()
        if not clause_end_ids:
            raise ValueError("ClauseExtractor needs the ids of the clause-ending punctuation tokens")
        self.vocab_size, self.end_ids, self.max_clauses = vocab_size, set(clause_end_ids), max_clauses
        H = hidden_size
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=Vocab.pad_id)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.encoder = nn.GRU(emb_dim, H // 2, bidirectional=True, batch_first=True)
        self.position = nn.Embedding(max_clauses, 2 * H)
        nn.init.normal_(self.position.weight, std=0.1)
        self.hidden = nn.Linear(2 * H, H)
        self.score = nn.Linear(H, 1)
        self.drop = nn.Dropout(dropout)

    # ----------------------------------------------------------------- scoring
    def _spans(self, src: np.ndarray, src_mask: np.ndarray) -> list[list[tuple[int, int, int]]]:
        lengths = src_mask.sum(axis=1)
        return [clause_spans(row, int(n), self.end_ids) for row, n in zip(src, lengths)]

    def _scores(self, src: np.ndarray, src_mask: np.ndarray, spans: list) -> Tensor:
        """(B, C) clause scores; clauses beyond a row's count score −1e9."""
        B, S = src.shape
        C = max(len(s) for s in spans)
        pool = np.zeros((B, C, S), dtype=np.float32)  # row c averages clause c's states
        exists = np.zeros((B, C), dtype=bool)
        for b, row in enumerate(spans):
            for c, (start, _, end) in enumerate(row):
                pool[b, c, start:end] = 1.0 / (end - start)
                exists[b, c] = True
        states, _ = run_padded(self.encoder, self.drop(self.embedding(src)), src_mask)
        dev = states.device
        clause = mg.as_tensor(pool, device=dev) @ states  # (B, C, H)
        doc_w = src_mask / src_mask.sum(axis=1, keepdims=True)
        doc = mg.as_tensor(doc_w[:, None, :].astype(np.float32), device=dev) @ states
        position = self.position(np.minimum(np.arange(C), self.max_clauses - 1))
        features = mg.concat([clause, doc.broadcast_to(clause.shape)], axis=-1) + position
        hidden = self.drop(self.hidden(features).tanh())
        scores = self.score(hidden).squeeze(-1)
        return mg.where(mg.as_tensor(exists, device=dev), scores, _NEG)

    def oracle(self, batch: Batch, spans: list) -> np.ndarray:
        """Index of each row's clause with the best ROUGE-L F1 against its summary."""
        labels = np.zeros(len(batch), dtype=np.int64)
        for b, row in enumerate(spans):
            ref = [int(t) for t, m in zip(batch.tgt_out_ext[b], batch.tgt_mask[b]) if m and t != Vocab.eos_id]
            src = batch.src_ext[b]
            best = [_rouge_l([int(t) for t in src[start:stop]], ref) for start, stop, _ in row]
            labels[b] = int(np.argmax(best))
        return labels

    def forward(self, batch: Batch) -> Tensor:
        """Cross-entropy of the clause scores against the oracle clause."""
        spans = self._spans(batch.src, batch.src_mask)
        return F.cross_entropy(self._scores(batch.src, batch.src_mask, spans), self.oracle(batch, spans))

    def loss_terms(self, batch: Batch) -> int:
        """How many terms :meth:`forward`'s mean is over: one per row (its oracle clause)."""
        return len(batch)

    def step_cost(self, rows, src_len, tgt_len):
        """Multiply-adds of a forward pass on a padded batch (:mod:`nlp.models.cost`): the
        encoder over the source; the summary only picks the oracle clause."""
        return rows * src_len * weights_per_position(self.encoder)

    # ---------------------------------------------------------------- decoding
    def start_decoding(self, src, src_mask, src_ext, max_oov: int) -> dict[str, Any]:
        spans = self._spans(src, src_mask)
        best = self._scores(src, src_mask, spans).data.argmax(axis=1)
        best = best if isinstance(best, np.ndarray) else best.get()
        chosen = [src_ext[b, spans[b][int(c)][0] : spans[b][int(c)][1]] for b, c in enumerate(best)]
        width = max(len(c) for c in chosen)
        clause = np.full((len(chosen), width + 1), Vocab.eos_id, dtype=np.int64)
        for b, c in enumerate(chosen):
            clause[b, : len(c)] = c
        return {"clause": clause, "size": self.vocab_size + max_oov}

    def decode_step(self, state: dict[str, Any], prefix: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Certainty on the chosen clause's next token (EOS after it); EOS stays a
        distant second so a search constraint that blocks the token ends the summary."""
        clause = state["clause"]
        t = min(prefix.shape[1] - 1, clause.shape[1] - 1)
        logp = np.full((len(clause), state["size"]), _NEG)
        logp[:, Vocab.eos_id] = -1e4
        logp[np.arange(len(clause)), clause[:, t]] = 0.0
        return logp, state

    def generate(self, src: Any, max_length: int = 30, **options: Any) -> list[list[int]]:
        """The best clause of each row, as extended-vocabulary ids."""
        return decoding.generate(self, src, max_length=max_length, **options)
