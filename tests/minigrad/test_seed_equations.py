"""The seed's equations, checked against closed forms and finite differences.

y = Wx + b with L = 1/(2N) Σ‖y_i − ŷ_i‖²;  h_t = tanh(W_x x_t + W_h h_{t−1} + b);
Attention(Q, K, V) = softmax(QKᵀ/√d_k) V.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F


def _param(rng, *shape, device, requires_grad=True):
    return mg.tensor(rng.standard_normal(shape), dtype=mg.float64, device=device, requires_grad=requires_grad)


# -- y = Wx + b, L = 1/(2N) Σ‖y_i − ŷ_i‖² ------------------------------------------------------


def _half_mean_squared_error(y, target):
    n = y.shape[0]
    diff = y - target
    return (diff * diff).sum() * (1.0 / (2 * n))


def test_linear_regression_gradients_equal_the_closed_form(device):
    rng = np.random.default_rng(0)
    n, d_in, d_out = 7, 4, 3
    X = _param(rng, n, d_in, device=device, requires_grad=False)
    target = _param(rng, n, d_out, device=device, requires_grad=False)
    W = _param(rng, d_out, d_in, device=device)
    b = _param(rng, d_out, device=device)

    y = F.linear(X, W, b)  # y_i = W x_i + b, row by row
    loss = _half_mean_squared_error(y, target)
    loss.backward()

    x_np, t_np, w_np, b_np = X.numpy(), target.numpy(), W.numpy(), b.numpy()
    residual = x_np @ w_np.T + b_np - t_np  # y_i − ŷ_i
    np.testing.assert_allclose(loss.item(), (residual**2).sum() / (2 * n), rtol=1e-12)
    # ∂L/∂W = (1/N) Σ (y_i − ŷ_i) x_iᵀ,  ∂L/∂b = (1/N) Σ (y_i − ŷ_i)
    dW = sum(np.outer(residual[i], x_np[i]) for i in range(n)) / n
    db = residual.sum(axis=0) / n
    np.testing.assert_allclose(W.grad.numpy(), dW, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), db, rtol=1e-12)
    # The same loss is 0.5·D·mse_loss (PyTorch's mean over every element).
    np.testing.assert_allclose(0.5 * d_out * F.mse_loss(y, target).item(), loss.item(), rtol=1e-12)
    assert mg.gradcheck(lambda w, c: _half_mean_squared_error(F.linear(X, w, c), target), (W, b))


# -- h_t = tanh(W_x x_t + W_h h_{t−1} + b) ------------------------------------------------------


def _unrolled_rnn(xs, h0, w_x, w_h, b):
    """xs: (T, N, D); returns every h_t stacked: (T, N, H)."""
    h, states = h0, []
    for t in range(xs.shape[0]):
        h = (xs[t] @ w_x.T + h @ w_h.T + b).tanh()
        states.append(h)
    return mg.stack(states, axis=0)


def test_rnn_recurrence_unrolled_over_t_steps_passes_gradcheck(device):
    rng = np.random.default_rng(1)
    steps, n, d, hidden = 5, 2, 3, 4
    inputs = (
        _param(rng, steps, n, d, device=device),
        _param(rng, n, hidden, device=device),
        _param(rng, hidden, d, device=device),
        _param(rng, hidden, hidden, device=device),
        _param(rng, hidden, device=device),
    )
    assert mg.gradcheck(_unrolled_rnn, inputs)
    assert mg.gradcheck(lambda *a: _unrolled_rnn(*a)[-1], inputs)  # loss on h_T only: full BPTT


def test_rnn_forward_matches_numpy(device):
    rng = np.random.default_rng(2)
    xs, h0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 5))
    w_x, w_h, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    out = _unrolled_rnn(*(mg.tensor(a, device=device) for a in (xs, h0, w_x, w_h, b)))
    h = h0
    for t in range(4):
        h = np.tanh(xs[t] @ w_x.T + h @ w_h.T + b)
        np.testing.assert_allclose(out.numpy()[t], h, rtol=1e-12)


# -- Attention(Q, K, V) = softmax(QKᵀ/√d_k) V --------------------------------------------------------


def _attention_by_hand(q, k, v):
    return F.softmax((q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1])), axis=-1) @ v


def _np_attention(q, k, v):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True) @ v


@pytest.fixture
def qkv(device):
    rng = np.random.default_rng(3)
    return (_param(rng, 2, 3, 4, device=device), _param(rng, 2, 5, 4, device=device),
            _param(rng, 2, 5, 3, device=device))


def test_attention_forward_matches_numpy(qkv):
    expected = _np_attention(*(t.numpy() for t in qkv))
    np.testing.assert_allclose(_attention_by_hand(*qkv).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(F.scaled_dot_product_attention(*qkv).numpy(), expected, rtol=1e-12)


def test_attention_passes_gradcheck(qkv):
    assert mg.gradcheck(_attention_by_hand, qkv)
    assert mg.gradcheck(F.scaled_dot_product_attention, qkv)
    assert mg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=True), qkv)


def test_attention_second_order(qkv):
    small = tuple(t[:1, :2] for t in qkv)  # keeps gradgradcheck quick
    small = tuple(mg.tensor(t.numpy(), dtype=mg.float64, device=t.device, requires_grad=True) for t in small)
    assert mg.gradgradcheck(F.scaled_dot_product_attention, small)
