"""Assignment 5: attention as one Function, with a hand-written backward, to second order.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V

``Attention.forward`` is written; write ``Attention.backward``: the gradients of Q, K and
V given ∂L/∂O. Recompute the attention weights in backward with Tensor operations (the
helper ``attention_weights`` does it) rather than saving them from forward: an array
saved in forward reaches backward as a constant, and the second-order check fails.
README.md has the derivation. ``train_char_model`` (written for you) then trains a small
next-character model on the nlp demo corpus with your Function.

    python -m minigrad.check attention.py --order 2
    python -m minigrad.check .
"""

from __future__ import annotations

import json
import math

import numpy
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.testing import checkable, tensors
from nlp.demo import DEMO_CORPUS


def attention_weights(q: mg.Tensor, k: mg.Tensor, causal: bool) -> mg.Tensor:
    """P = softmax(Q Kᵀ/√d_k) over the keys; with ``causal``, query i sees keys j ≤ i only."""
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        future = numpy.triu(numpy.ones(scores.shape[-2:], dtype=bool), k=1)
        scores = mg.where(mg.tensor(future, device=q.device), -math.inf, scores)
    return F.softmax(scores, axis=-1)


# Sizes drawn once per example: B batches, L positions, d_k and d_v features.
_SIZES = st.shared(st.tuples(*(st.integers(1, n) for n in (2, 3, 3, 2))), key="course.05")


@checkable(tensors(shape=_SIZES.map(lambda s: (s[0], s[1], s[2]))),
           tensors(shape=_SIZES.map(lambda s: (s[0], s[1], s[2]))),
           tensors(shape=_SIZES.map(lambda s: (s[0], s[1], s[3]))),
           st.booleans())
class Attention(mg.Function):
    """O = softmax(Q Kᵀ/√d_k) V for Q (…, L_q, d_k), K (…, L_k, d_k), V (…, L_k, d_v);
    ``causal`` (a bool, passed positionally) hides the keys after each query."""

    @staticmethod
    def forward(ctx, q, k, v, causal):
        ctx.causal = causal
        ctx.save_for_backward(q, k, v)
        with mg.no_grad():
            p = attention_weights(mg.tensor(q, device=ctx.device), mg.tensor(k, device=ctx.device), causal)
        return p.data @ v

    @staticmethod
    def backward(ctx, grad):
        q, k, v = ctx.saved_tensors
        # BEGIN SOLUTION
        p = attention_weights(q, k, ctx.causal)  # recomputed in Tensor ops: differentiable
        dv = p.swapaxes(-1, -2) @ grad  # O = P V
        dp = grad @ v.swapaxes(-1, -2)
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))  # through each row's softmax
        scale = 1 / math.sqrt(q.shape[-1])  # S = Q Kᵀ/√d_k
        return ds @ k * scale, ds.swapaxes(-1, -2) @ q * scale, dv, None
        # END SOLUTION


# -- a small model on the demo corpus (written for you) ------------------------------------


def demo_text() -> str:
    """The texts of nlp's demo corpus, one after another."""
    with open(DEMO_CORPUS, encoding="utf-8") as f:
        return "".join(json.loads(line)["text"] for line in f)


class CharModel(nn.Module):
    """Next-character model: embeddings + positions, one causal attention layer (your
    Function) with a residual connection, and a read-out to the vocabulary."""

    def __init__(self, vocab: int, context: int, dim: int = 32) -> None:
        super().__init__()
        self.embed, self.position = nn.Embedding(vocab, dim), nn.Embedding(context, dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def forward(self, ids: mg.Tensor) -> mg.Tensor:
        x = self.embed(ids) + self.position(mg.arange(ids.shape[1]))
        x = x + Attention.apply(self.q(x), self.k(x), self.v(x), True)
        return self.out(x)


def character_ids(text: str, keep: int = 128) -> numpy.ndarray:
    """Each character's id by frequency: the ``keep`` most frequent have their own
    (0 = the most frequent), every rarer one shares id ``keep``."""
    chars, counts = numpy.unique(list(text), return_counts=True)
    ranked = chars[numpy.argsort(-counts, kind="stable")]
    ids = {c: min(i, keep) for i, c in enumerate(ranked)}
    return numpy.array([ids[c] for c in text])


def train_char_model(train_steps: int = 200, context: int = 16, batch: int = 32,
                     seed: int = 0) -> tuple[float, float]:
    """Train ``CharModel`` on the first 90% of the demo text (characters as
    ``character_ids``); returns its next-character loss on the last 10% and that of the
    unigram model (character frequencies) there."""
    text = demo_text()
    ids = character_ids(text)
    vocab = int(ids.max()) + 1
    split = int(len(ids) * 0.9)
    train, held_out = ids[:split], ids[split:]
    rng = numpy.random.default_rng(seed)
    mg.manual_seed(seed)
    model = CharModel(vocab, context)
    opt = optim.Adam(model.parameters(), lr=0.01)

    def loss_on(windows: numpy.ndarray) -> mg.Tensor:
        logits = model(mg.tensor(windows[:, :-1]))
        return F.cross_entropy(logits.reshape(-1, vocab), mg.tensor(windows[:, 1:].reshape(-1)))

    for _ in range(train_steps):
        starts = rng.integers(0, len(train) - context - 1, size=batch)
        opt.zero_grad()
        loss_on(numpy.stack([train[s:s + context + 1] for s in starts])).backward()
        opt.step()
    starts = range(0, len(held_out) - context - 1, context)
    windows = numpy.stack([held_out[s:s + context + 1] for s in starts])
    with mg.no_grad():
        model_loss = loss_on(windows).item()
    counts = numpy.bincount(train, minlength=vocab) + 1.0  # add-one: unseen characters too
    unigram_loss = float(-numpy.log(counts[windows[:, 1:]] / counts.sum()).mean())
    return model_loss, unigram_loss
