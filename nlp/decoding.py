"""Greedy and beam search for the summarisation models, batched.

A model decodes through two methods (both models in :mod:`nlp.models` have them):

* ``start_decoding(src, src_mask, src_ext, max_oov) -> state``: encode a (N, S) batch
  once. ``state`` is a dict; every Tensor/ndarray value in it has the batch on axis 0,
  so a search can reorder or repeat rows (``_take``) without knowing the model.
* ``decode_step(state, prefix) -> (log_probs, state)``: ``prefix`` (N, t) holds the ids
  chosen so far (BOS first; copy ids ``>= vocab_size`` allowed); ``log_probs`` is a
  (N, vocab_size + max_oov) numpy array over the *extended* vocabulary, so a copied
  source OOV word is just one more id and :meth:`nlp.vocab.Vocab.decode` with the
  example's ``oovs`` maps it back to the word.

Search controls: ``min_length`` (EOS is blocked before it), ``max_length`` (tokens
generated, EOS excluded), ``no_repeat_ngram_size`` (a token that would repeat an n-gram
already in the hypothesis is blocked), and for beam search ``beam_size`` and
``length_penalty`` α (a finished hypothesis is ranked by ``sum log p / len**α``).
``<pad>``, ``<s>`` and (by default) ``<unk>`` are never generated: with copying, an
unknown source word is produced as itself instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad import Tensor, as_tensor, no_grad

from .data import Batch
from .vocab import Vocab

__all__ = ["SearchConfig", "generate", "greedy_search", "beam_search", "beam_hypotheses", "inference"]

NEG_INF = -1e30


@dataclass
class SearchConfig:
    """How to decode. ``beam_size`` 1 is greedy search."""

    max_length: int = 30
    min_length: int = 1
    beam_size: int = 1
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    block_unk: bool = True

    def __post_init__(self) -> None:
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")
        if not 0 <= self.min_length <= self.max_length:
            raise ValueError(
                f"min_length must be in [0, max_length={self.max_length}], got {self.min_length}"
            )
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.no_repeat_ngram_size < 0:
            raise ValueError(f"no_repeat_ngram_size must be >= 0, got {self.no_repeat_ngram_size}")


def _take(state: dict, rows: np.ndarray) -> dict:
    """Rows ``rows`` of every batch-first value of ``state`` (others are kept as is)."""
    out = {}
    for k, v in state.items():
        if isinstance(v, Tensor):
            out[k] = as_tensor(v.data[v.device.xp.asarray(rows)])
        elif isinstance(v, np.ndarray):
            out[k] = v[rows]
        else:
            out[k] = v
    return out


def _banned_ngram_tokens(seq: list[int], n: int) -> list[int]:
    """Tokens that would complete an n-gram already present in ``seq``."""
    if n <= 0 or len(seq) < n:
        return []
    if n == 1:
        return list(seq)
    tail = tuple(seq[len(seq) - n + 1 :])
    return [seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == tail]


def _mask_scores(logp: np.ndarray, hyps: list[list[int]], cfg: SearchConfig) -> np.ndarray:
    """Apply the search constraints to (N, V') log-probs of N hypotheses (in place)."""
    logp[:, [Vocab.pad_id, Vocab.bos_id]] = NEG_INF
    if cfg.block_unk:
        logp[:, Vocab.unk_id] = NEG_INF
    for row, seq in enumerate(hyps):
        if len(seq) < cfg.min_length:
            logp[row, Vocab.eos_id] = NEG_INF
        banned = _banned_ngram_tokens(seq, cfg.no_repeat_ngram_size)
        if banned:
            logp[row, banned] = NEG_INF
    return logp


def _prefix(hyps: list[list[int]]) -> np.ndarray:
    """(N, t+1) array: BOS then each hypothesis (all of equal length t)."""
    n = len(hyps)
    width = len(hyps[0]) if hyps else 0
    arr = np.full((n, width + 1), Vocab.bos_id, dtype=np.int64)
    if width:
        arr[:, 1:] = np.asarray(hyps, dtype=np.int64)
    return arr


def greedy_search(model: Any, src, src_mask, src_ext, max_oov: int, cfg: SearchConfig) -> list[list[int]]:
    """The most probable token at every step, for all N rows at once; returns each
    row's ids (EOS excluded)."""
    state = model.start_decoding(src, src_mask, src_ext, max_oov)
    n = src.shape[0]
    hyps: list[list[int]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    for _ in range(cfg.max_length):
        logp, state = model.decode_step(state, _prefix(hyps))
        best = _mask_scores(logp, hyps, cfg).argmax(axis=1)
        for b in range(n):
            if done[b]:
                hyps[b].append(Vocab.pad_id)  # keeps the prefix rectangular
            elif best[b] == Vocab.eos_id:
                done[b] = True
                hyps[b].append(Vocab.pad_id)
            else:
                hyps[b].append(int(best[b]))
        if done.all():
            break
    return [[t for t in h if t != Vocab.pad_id] for h in hyps]


def _normalised(score: float, length: int, alpha: float) -> float:
    return score / max(length, 1) ** alpha


def _settled(finished: list, best_live: float, length: int, cfg: SearchConfig) -> bool:
    """An example is done once it holds ``beam_size`` finished hypotheses, the worst of
    which already beats the best live beam at its current length (as in HF's
    ``early_stopping=False``: a live beam's sum of log-probs only falls from here)."""
    if len(finished) < cfg.beam_size:
        return False
    return finished[-1][0] >= _normalised(best_live, length, cfg.length_penalty)


def beam_search(model: Any, src, src_mask, src_ext, max_oov: int, cfg: SearchConfig) -> list[list[int]]:
    """Beam search with ``cfg.beam_size`` beams per example, all examples batched; returns
    each example's best hypothesis by length-normalised score (see :func:`beam_hypotheses`)."""
    found = beam_hypotheses(model, src, src_mask, src_ext, max_oov, cfg)
    return [hyps[0][1] if hyps else [] for hyps in found]


def beam_hypotheses(
    model: Any, src, src_mask, src_ext, max_oov: int, cfg: SearchConfig
) -> list[list[tuple[float, list[int]]]]:
    """Every example's finished hypotheses, best first, as ``(normalised score, ids)``.

    Every step expands the live beams of all examples in one ``decode_step``; an example
    stops once it holds ``beam_size`` finished hypotheses (or at ``max_length``, when its
    live beams count as finished).
    """
    k = cfg.beam_size
    n = src.shape[0]
    state = model.start_decoding(src, src_mask, src_ext, max_oov)
    state = _take(state, np.repeat(np.arange(n), k))
    hyps: list[list[int]] = [[] for _ in range(n * k)]
    # Only the first beam of each example is live at the start (the others are copies).
    scores = np.full((n, k), NEG_INF)
    scores[:, 0] = 0.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
    active = np.ones(n, dtype=bool)
    for step in range(cfg.max_length):
        logp, state = model.decode_step(state, _prefix(hyps))
        logp = _mask_scores(logp, hyps, cfg)
        vsize = logp.shape[1]
        total = scores[:, :, None] + logp.reshape(n, k, vsize)
        flat = total.reshape(n, k * vsize)
        top = np.argpartition(-flat, 2 * k - 1, axis=1)[:, : 2 * k] if k * vsize > 2 * k else None
        rows = np.zeros((n, k), dtype=np.int64)
        new_hyps: list[list[int]] = []
        new_scores = np.full((n, k), NEG_INF)
        for b in range(n):
            base = b * k
            if not active[b]:
                rows[b] = base
                new_hyps.extend([hyps[base] + [Vocab.pad_id]] * k)
                continue
            cand = top[b] if top is not None else np.arange(k * vsize)
            cand = cand[np.argsort(-flat[b, cand], kind="stable")]
            kept = 0
            for c in cand:
                score = float(flat[b, c])
                if score <= NEG_INF / 2:
                    break
                beam, tok = divmod(int(c), vsize)
                seq = hyps[base + beam]
                if tok == Vocab.eos_id:
                    finished[b].append((_normalised(score, len(seq) + 1, cfg.length_penalty), seq))
                    continue
                rows[b, kept] = base + beam
                new_scores[b, kept] = score
                new_hyps.append(seq + [tok])
                kept += 1
                if kept == k:
                    break
            for j in range(kept, k):  # dead slots: copies that can never win
                rows[b, j] = base
                new_hyps.append(hyps[base] + [Vocab.pad_id])
            finished[b] = sorted(finished[b], key=lambda sc: -sc[0])[:k]
            if kept == 0 or _settled(finished[b], new_scores[b, 0], step + 2, cfg):
                active[b] = False
        hyps, scores = new_hyps, new_scores
        state = _take(state, rows.reshape(-1))
        if not active.any():
            break
    for b in range(n):
        if active[b] or not finished[b]:
            for j in range(k):
                if scores[b, j] > NEG_INF / 2:
                    seq = [t for t in hyps[b * k + j] if t != Vocab.pad_id]
                    finished[b].append((_normalised(scores[b, j], len(seq) + 1, cfg.length_penalty), seq))
    return [sorted(f, key=lambda sc: -sc[0]) for f in finished]


def generate(
    model: Any,
    src: Any,
    src_mask: np.ndarray | None = None,
    src_ext: np.ndarray | None = None,
    max_oov: int = 0,
    config: SearchConfig | None = None,
    n_best: bool = False,
    **options: Any,
) -> list[list[int]] | list[list[list[int]]]:
    """Decode a (N, S) batch of source ids; returns N lists of output ids (extended
    vocabulary, EOS excluded). ``src`` may be a :class:`nlp.data.Batch`, which brings its
    own mask and copy ids; otherwise ``src_mask`` defaults to ``src != pad`` and
    ``src_ext`` to ``src`` (nothing to copy beyond the vocabulary). Options are
    :class:`SearchConfig` fields (``max_length=``, ``beam_size=``, …). With ``n_best``,
    each row gets a list of summaries instead, best first: beam search's finished
    hypotheses (up to ``beam_size``), or greedy search's one."""
    if isinstance(src, Batch):
        src, src_mask, src_ext, max_oov = src.src, src.src_mask, src.src_ext, src.max_oov
    src = np.asarray(src, dtype=np.int64)
    if src.ndim != 2:
        raise ValueError(f"generate expects a (batch, length) array of ids, got shape {src.shape}")
    cfg = config or SearchConfig(**options)
    mask = src != Vocab.pad_id if src_mask is None else np.asarray(src_mask, dtype=bool)
    ext = src if src_ext is None else np.asarray(src_ext, dtype=np.int64)
    with inference(model):
        if cfg.beam_size == 1:
            found = greedy_search(model, src, mask, ext, max_oov, cfg)
            return [[ids] for ids in found] if n_best else found
        if n_best:
            found = beam_hypotheses(model, src, mask, ext, max_oov, cfg)
            return [[ids for _, ids in hyps] or [[]] for hyps in found]
        return beam_search(model, src, mask, ext, max_oov, cfg)


@contextmanager
def inference(model: Any) -> Iterator[None]:
    """Run ``model`` in eval mode (no dropout) without building a graph; a model that was
    training is put back into training mode afterwards."""
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        with no_grad():
            yield
    finally:
        if was_training:
            model.train()
