"""The fused ops behind the functionals (linear, the softmaxes, cross-entropy, layer norm,
attention, embedding lookup): their rows of the op table, with NumPy references written
from the formulas. Comparisons with PyTorch are in test_functional.py."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad.ops import (
    Attention,
    EmbeddingLookup,
    LayerNorm,
    Linear,
    LogSoftmax,
    MaskedSoftmax,
    Softmax,
    SoftmaxCrossEntropy,
)
from minigrad.testing import shapes, smooth_floats

from ._opcheck import OpCase, floats

_SIDE = st.integers(1, 4)


@st.composite
def _linear_case(draw, device):
    n_in, n_out = draw(_SIDE), draw(_SIDE)
    lead = draw(shapes(max_dims=2, max_side=3))
    bias = draw(st.one_of(st.none(), floats(device, shape=(n_out,))))
    return draw(floats(device, shape=lead + (n_in,))), draw(floats(device, shape=(n_out, n_in))), bias


def _np_linear(x, w, b):
    y = x @ w.T
    return y if b is None else y + b


@st.composite
def _axis_case(draw, device):
    x = draw(floats(device, shape=shapes(min_dims=1, max_dims=3, max_side=4)))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


def _np_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_softmax(x, axis=-1):
    return np.exp(_np_log_softmax(x, axis))


@st.composite
def _masked_scores_case(draw, device):
    """Scores and a bool mask of where they count; some rows are masked out entirely."""
    x = draw(floats(device, shape=shapes(min_dims=1, max_dims=3, max_side=4)))
    return x, draw(floats(device, shape=x.shape, dtype=mg.bool_))


def _masked_softmax(s, allowed):
    return MaskedSoftmax.apply(mg.where(allowed, s, -math.inf))


def _np_masked_softmax(s, allowed):
    e = np.where(allowed, np.exp(s - s.max(axis=-1, keepdims=True)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total == 0, 1.0, total)


@st.composite
def _cross_entropy_case(draw, device):
    """(logits (N, C), targets, ignore_index, label smoothing, class weights or None)."""
    n, c = draw(_SIDE), draw(st.integers(2, 4))
    target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    ignore = draw(st.one_of(st.none(), st.integers(0, c - 1)))
    smoothing = draw(st.sampled_from([0.0, 0.2]))
    weight = draw(st.one_of(st.none(), st.lists(smooth_floats(0.5, 2.0), min_size=c, max_size=c)))
    return draw(floats(device, shape=(n, c))), target, ignore, smoothing, weight


def _cross_entropy(logits, target, ignore, smoothing, weight):
    w = None if weight is None else np.asarray(weight)
    return F.cross_entropy(
        logits, target, ignore_index=ignore, reduction="none", label_smoothing=smoothing, weight=w
    )


def _np_cross_entropy(logits, target, ignore, smoothing, weight):
    n, c = logits.shape
    w = np.ones(c) if weight is None else np.asarray(weight)
    q = np.zeros((n, c))
    q[np.arange(n), target] = (1 - smoothing) * w[target]
    q += smoothing / c * w
    q *= (target != ignore)[:, None]
    return -(q * _np_log_softmax(logits, 1)).sum(axis=1)


# Distinct values 1/4 apart: the variance never nears 0, where 1/σ makes x̂ ill-conditioned.
_SPREAD = st.integers(-12, 12).map(lambda k: k / 4)


@st.composite
def _layer_norm_case(draw, device):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
    k = draw(st.integers(1, len(shape)))
    affine = draw(st.booleans())
    params = [draw(floats(device, shape=shape[-k:])) if affine else None for _ in range(2)]
    return draw(floats(device, shape=shape, elements=_SPREAD, unique=True)), k, *params


def _layer_norm(x, k, weight, bias):
    return F.layer_norm(x, x.shape[-k:], weight, bias)


def _np_layer_norm(x, k, weight, bias):
    axes = tuple(range(x.ndim - k, x.ndim))
    xhat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    return xhat * (1.0 if weight is None else weight) + (0.0 if bias is None else bias)


@st.composite
def _attention_case(draw, device):
    """q (B, Lq, d), k and v (B, Lk, ·), an optional float bias and bool mask on the scores,
    and whether the attention weights are a second output."""
    b, lq, lk, d, dv = (draw(_SIDE) for _ in range(5))
    q, k, v = (draw(floats(device, shape=s)) for s in ((b, lq, d), (b, lk, d), (b, lk, dv)))
    bias = draw(st.one_of(st.none(), floats(device, shape=(lq, lk))))
    allowed = draw(st.one_of(st.none(), st.just(np.tril(np.ones((lq, lk), dtype=bool))),
                             floats(device, shape=(lq, lk), dtype=mg.bool_).map(lambda t: t.numpy())))
    return q, k, v, bias, allowed, draw(st.booleans())


def _attention(q, k, v, bias, allowed, need_weights):
    if allowed is not None:
        allowed = q.device.xp.asarray(allowed)
    if not need_weights:
        return F.attention(q, k, v, bias, allowed)
    out, weights = F.attention(q, k, v, bias, allowed, need_weights=True)
    return mg.concat([out, weights], axis=-1)


def _np_attention(q, k, v, bias, allowed, need_weights):
    s = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1]) + (0.0 if bias is None else bias)
    p = _np_masked_softmax(s, np.ones(s.shape, dtype=bool) if allowed is None else allowed)
    out = p @ v
    return np.concatenate([out, p], axis=-1) if need_weights else out


@st.composite
def _embedding_case(draw, device):
    n, dim = draw(_SIDE), draw(_SIDE)
    ids = np.array(draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=6)), dtype=np.int64)
    return draw(floats(device, shape=(n, dim))), ids.reshape(draw(st.sampled_from([(-1,), (1, -1)])))


CASES = [
    OpCase("linear", (Linear,), F.linear, _np_linear, _linear_case, rtol=1e-9),
    OpCase("softmax", (Softmax,), lambda x, a: F.softmax(x, axis=a), _np_softmax, _axis_case, rtol=1e-9),
    OpCase("log_softmax", (LogSoftmax,), lambda x, a: F.log_softmax(x, axis=a), _np_log_softmax, _axis_case,
           rtol=1e-9),
    OpCase("masked_softmax", (MaskedSoftmax,), _masked_softmax, _np_masked_softmax, _masked_scores_case,
           rtol=1e-9),
    OpCase("cross_entropy", (SoftmaxCrossEntropy,), _cross_entropy, _np_cross_entropy, _cross_entropy_case,
           rtol=1e-9),
    OpCase("layer_norm", (LayerNorm,), _layer_norm, _np_layer_norm, _layer_norm_case, rtol=1e-9, atol=1e-10),
    OpCase("attention", (Attention,), _attention, _np_attention, _attention_case, rtol=1e-9, atol=1e-10),
    OpCase("embedding", (EmbeddingLookup,), lambda w, ids: F.embedding(ids, w), lambda w, ids: w[ids],
           _embedding_case),
]
