"""The fused GRU recurrence: gradients against finite differences, padding semantics."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from nlp.gru import GRU, gru_sequence

MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)


def _inputs(B=3, S=5, H=4, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [
        mg.tensor(rng.standard_normal((B, S, 3 * H)).astype(dtype), requires_grad=True),
        mg.tensor(rng.standard_normal((B, H)).astype(dtype), requires_grad=True),
        mg.tensor((rng.standard_normal((3 * H, H)) * 0.5).astype(dtype), requires_grad=True),
        mg.tensor(rng.standard_normal(3 * H).astype(dtype), requires_grad=True),
    ]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mask", [None, MASK])
def test_gradients_match_finite_differences(reverse, mask):
    assert mg.gradcheck(lambda gi, h0, w, b: gru_sequence(gi, h0, w, b, mask, reverse), _inputs())


def _reference_step(g, h, w, b):
    gh = h @ w.T + b
    H = h.shape[1]
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    r, z = sig(g[:, :H] + gh[:, :H]), sig(g[:, H : 2 * H] + gh[:, H : 2 * H])
    n = np.tanh(g[:, 2 * H :] + r * gh[:, 2 * H :])
    return (1 - z) * n + z * h


def test_forward_is_the_pytorch_recurrence_and_padding_carries_the_state():
    gi, h0, w, b = (t.numpy() for t in _inputs())
    out = gru_sequence(*(mg.tensor(a) for a in (gi, h0, w, b)), MASK).numpy()
    h = h0
    for t in range(5):
        h_new = _reference_step(gi[:, t], h, w, b)
        h = np.where(MASK[:, t, None], h_new, h)
        np.testing.assert_allclose(out[:, t], h, rtol=1e-10)
    # the last output holds the state after each row's last real token
    np.testing.assert_allclose(out[2, -1], _reference_step(gi[2:3, 0], h0[2:3], w, b)[0])


def test_reverse_starts_at_the_last_real_token():
    gi, h0, w, b = (t.numpy() for t in _inputs())
    out = gru_sequence(*(mg.tensor(a) for a in (gi, h0, w, b)), MASK, reverse=True).numpy()
    # row 1 has 3 real tokens: its reverse pass starts from h0 at position 2
    np.testing.assert_allclose(out[1, 4], h0[1])
    np.testing.assert_allclose(out[1, 2], _reference_step(gi[1:2, 2], h0[1:2], w, b)[0])


def test_second_order_gradients_are_refused():
    gi, h0, w, b = _inputs()
    (g,) = mg.grad(gru_sequence(gi, h0, w, b).sum(), [gi], create_graph=False)
    assert g.shape == gi.shape
    with pytest.raises(NotImplementedError, match="first-order"):
        mg.grad(gru_sequence(gi, h0, w, b).sum(), [gi], create_graph=True)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_matches_nn_gru_outputs_and_parameter_gradients(bidirectional):
    mg.manual_seed(3)
    fused = GRU(4, 5, bidirectional=bidirectional).to(mg.float64)
    generic = mg.nn.GRU(4, 5, batch_first=True, bidirectional=bidirectional).to(mg.float64)
    generic.load_state_dict(fused.state_dict())
    x = mg.randn(3, 6, 4, dtype=mg.float64)
    upstream = mg.randn(3, 6, 5 * (2 if bidirectional else 1), dtype=mg.float64)
    results = []
    for layer in (fused, generic):
        out, h_n = layer(x)
        (out * upstream).sum().backward()
        grads = {name: p.grad.numpy() for name, p in layer.named_parameters()}
        results.append((out.numpy(), h_n.numpy(), grads))
    (out_f, h_f, g_f), (out_g, h_g, g_g) = results
    np.testing.assert_allclose(out_f, out_g, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_f, h_g, rtol=1e-10, atol=1e-12)
    assert g_f.keys() == g_g.keys()
    for name in g_f:
        np.testing.assert_allclose(g_f[name], g_g[name], rtol=1e-9, atol=1e-11, err_msg=name)
