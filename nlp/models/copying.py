"""The copy mechanism (pointer-generator, See et al. 2017), shared by both models.

At each target step the model gives a vocabulary distribution ``P_vocab`` (softmax of
``logits``), an attention distribution ``a`` over source positions, and a switch
``p_gen`` in (0, 1). The output distribution over the *extended* vocabulary (the
vocabulary plus the example's source OOV words, ids ``V, V+1, …``; see :mod:`nlp.data`)::

    P(w) = p_gen · P_vocab(w) + (1 − p_gen) · Σ_{s : src_ext[s] = w} a_s

Training needs only P(target), which is computed by a gather and a masked sum instead
of materialising the (B, T, V + max_oov) distribution; decoding builds the full
distribution for one step at a time.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor

from ..data import Batch

__all__ = ["copy_nll", "vocab_nll", "summary_loss", "uniform_ce", "extended_log_probs", "masked_attention",
           "coverage_penalty"]

EPS = 1e-9  # keeps log finite where the reference token has no probability mass yet
_NEG = -1e9


def masked_attention(scores: Tensor, src_mask: np.ndarray) -> Tensor:
    """Softmax of (B, T, S) ``scores`` over source positions where ``src_mask`` (B, S)
    is True."""
    keep = mg.as_tensor(src_mask[:, None, :], device=scores.device)
    return F.softmax(mg.where(keep, scores, _NEG), axis=-1)


def _const(array, like: Tensor) -> Tensor:
    return mg.as_tensor(np.asarray(array, dtype=like.dtype), device=like.device)


def copy_nll(
    logits: Tensor,
    attn: Tensor,
    p_gen: Tensor,
    src_ext: np.ndarray,
    tgt_out_ext: np.ndarray,
    tgt_mask: np.ndarray,
) -> Tensor:
    """Mean negative log-likelihood per real target token of the mixed distribution.

    ``logits`` (B, T, V), ``attn`` (B, T, S) (zero at source padding), ``p_gen``
    (B, T, 1); ``src_ext`` (B, S), ``tgt_out_ext`` (B, T) extended ids; ``tgt_mask``
    (B, T) True at real target tokens.
    """
    B, T, V = logits.shape
    in_vocab = tgt_out_ext < V
    ids = np.where(in_vocab, tgt_out_ext, 0)
    logp = F.log_softmax(logits, axis=-1)
    bi, ti = np.meshgrid(np.arange(B), np.arange(T), indexing="ij")
    p_vocab = logp[bi, ti, ids].exp() * _const(in_vocab, logits)
    same = src_ext[:, None, :] == tgt_out_ext[:, :, None]  # (B, T, S): where the target can be copied from
    p_copy = (attn * _const(same, attn)).sum(axis=-1)
    gate = p_gen.squeeze(-1)
    p = gate * p_vocab + (1.0 - gate) * p_copy
    weights = _const(tgt_mask, logits)
    return -((p + EPS).log() * weights).sum() * (1.0 / max(int(tgt_mask.sum()), 1))


def coverage_penalty(attn: Tensor, tgt_mask: np.ndarray) -> Tensor:
    """See et al.'s coverage loss, mean over real target steps: Σ_s min(a_ts, c_ts) with
    c_t = Σ_{t'<t} a_t' the attention already spent, which penalises attending to the same
    source again (the cause of repeated phrases). ``attn`` (B, T, S)."""
    T = attn.shape[1]
    earlier = _const(np.tril(np.ones((T, T)), k=-1), attn)  # row t sums steps t' < t
    overlap = mg.minimum(attn, earlier @ attn).sum(axis=-1)
    return (overlap * _const(tgt_mask, attn)).sum() * (1.0 / max(int(tgt_mask.sum()), 1))


def vocab_nll(logits: Tensor, tgt_out: np.ndarray, label_smoothing: float = 0.0) -> Tensor:
    """Plain cross-entropy of (B, T, V) logits (for models without copy); padding is
    ignored."""
    B, T, V = logits.shape
    return F.cross_entropy(
        logits.reshape(B * T, V), tgt_out.reshape(-1), ignore_index=0, label_smoothing=label_smoothing
    )


def uniform_ce(logits: Tensor, tgt_mask: np.ndarray) -> Tensor:
    """Mean over real target steps of −(1/V) Σ_w log P_vocab(w): the cross-entropy of the
    vocabulary distribution against the uniform one, label smoothing's second term."""
    per_step = -F.log_softmax(logits, axis=-1).mean(axis=-1)
    return (per_step * _const(tgt_mask, logits)).sum() * (1.0 / max(int(tgt_mask.sum()), 1))


def summary_loss(
    logits: Tensor, attn: Tensor | None, p_gen: Tensor | None, batch: Batch, label_smoothing: float = 0.0
) -> Tensor:
    """A seq2seq model's training loss: the NLL of the references under the copy mixture
    (or under ``P_vocab`` without copy, ``p_gen`` None), with label smoothing ε mixing in
    :func:`uniform_ce`: ``(1 − ε)·NLL + ε·uniform_ce``. Without copy this equals
    ``F.cross_entropy(..., label_smoothing=ε)``; with copy the smoothing mass goes to the
    vocabulary distribution only (the extended distribution is never built in training)."""
    if p_gen is None:
        return vocab_nll(logits, batch.tgt_out, label_smoothing)
    loss = copy_nll(logits, attn, p_gen, batch.src_ext, batch.tgt_out_ext, batch.tgt_mask)
    if not label_smoothing:
        return loss
    return loss * (1.0 - label_smoothing) + uniform_ce(logits, batch.tgt_mask) * label_smoothing


def extended_log_probs(
    logits: Tensor, attn: Tensor | None, p_gen: Tensor | None, src_ext: np.ndarray, max_oov: int
) -> np.ndarray:
    """Log of the extended-vocabulary distribution for one step, as a numpy array
    (N, V + max_oov): ``logits`` (N, V), ``attn`` (N, S), ``p_gen`` (N, 1). Without copy
    (``attn`` None) the OOV ids get probability 0."""
    xp = logits.device.xp
    with mg.no_grad():
        p_vocab = F.softmax(logits, axis=-1).data
    N, V = p_vocab.shape
    dist = xp.zeros((N, V + max_oov), dtype=p_vocab.dtype)
    if attn is None:
        dist[:, :V] = p_vocab
    else:
        gate = p_gen.data
        dist[:, :V] = gate * p_vocab
        copied = mg.as_tensor((1.0 - gate) * attn.data)  # each source position's copy mass
        dist = mg.scatter_add(mg.as_tensor(dist), 1, src_ext, copied).data
    out = xp.log(dist + 1e-30)
    return out if xp is np else xp.asnumpy(out)
