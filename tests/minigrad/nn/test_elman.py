"""The fused Elman recurrence (one node per sequence) that nn.RNN runs: gradients against
central differences in float64, second order through the replayed steps, the unfused
per-step graph as a second reference, and which outputs a backward needs."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn._elman import ElmanSequence, elman_sequence
from minigrad.nn._recurrence import RNN_STEPS, unroll

T, N, H = 4, 2, 3


def _inputs(bias: bool, seed: int = 0, device: str = "cpu"):
    g = np.random.default_rng(seed)

    def leaf(*shape):
        return mg.tensor(0.6 * g.standard_normal(shape), requires_grad=True, device=device)

    return leaf(T, N, H), leaf(N, H), leaf(H, H), leaf(H) if bias else None


def _unfused(gi, h0, w_hh, b_hh, nonlinearity, reverse):
    """The per-step graph of generic ops that nn.RNN built before (and GRU/LSTM still build)."""
    return unroll(RNN_STEPS[nonlinearity], gi, h0, w_hh.T, b_hh, reverse)


CASES = [(nl, rev, bias) for nl in ("tanh", "relu") for rev in (False, True) for bias in (True, False)]


@pytest.mark.parametrize("nonlinearity, reverse, bias", CASES)
@pytest.mark.parametrize("used", ["both", "out", "h_n"])
def test_gradients_match_central_differences(nonlinearity, reverse, bias, used, device):
    inputs = [x for x in _inputs(bias, device=device) if x is not None]

    def fn(gi, h0, w, *b):
        out, h_n = elman_sequence(gi, h0, w, b[0] if b else None, nonlinearity, reverse)
        return {"both": (out, h_n), "out": out, "h_n": h_n}[used]

    assert mg.gradcheck(fn, inputs)


@pytest.mark.parametrize("reverse", [False, True])
def test_second_order_gradients_through_the_replayed_steps(reverse, device):
    inputs = list(_inputs(bias=True, seed=1, device=device))
    assert mg.gradgradcheck(lambda *a: elman_sequence(*a, "tanh", reverse), inputs)


@pytest.mark.parametrize("nonlinearity, reverse, bias", CASES)
def test_forward_and_gradients_equal_the_per_step_graph(nonlinearity, reverse, bias, device):
    fused_in, unfused_in = _inputs(bias, seed=2, device=device), _inputs(bias, seed=2, device=device)
    v_out, v_h = np.random.default_rng(3).standard_normal((2, T, N, H))
    results = []
    for run, args in ((elman_sequence, fused_in), (_unfused, unfused_in)):
        out, h_n = run(*args, nonlinearity, reverse)
        v, w = mg.tensor(v_out, device=device), mg.tensor(v_h[0], device=device)
        ((out * v).sum() + (h_n * w).sum()).backward()
        results.append([out.numpy(), h_n.numpy()] + [x.grad.numpy() for x in args if x is not None])
    for fused, unfused in zip(*results):
        np.testing.assert_allclose(fused, unfused, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_no_zeros_for_the_unused_output():
    gi, h0, w, b = (x.detach().astype(mg.float32).requires_grad_() for x in _inputs(bias=True))
    out, h_n = elman_sequence(gi, h0, w, b)
    assert out.dtype == h_n.dtype == mg.float32
    seen = []
    original = ElmanSequence.backward

    def spy(ctx, g_out, g_last):
        seen.append((g_out, g_last))
        return original(ctx, g_out, g_last)

    ElmanSequence.backward = staticmethod(spy)
    try:
        h_n.sum().backward()
    finally:
        ElmanSequence.backward = staticmethod(original)
    assert seen[0][0] is None and seen[0][1].shape == (N, H)
    assert all(x.grad.dtype == mg.float32 for x in (gi, h0, w, b))


def test_empty_sequence_returns_the_initial_state():
    gi = mg.zeros(0, N, H, dtype=mg.float64, requires_grad=True)
    _, h0, w, b = _inputs(bias=True)
    out, h_n = elman_sequence(gi, h0, w, b)
    assert out.shape == (0, N, H)
    np.testing.assert_array_equal(h_n.numpy(), h0.numpy())
    out.sum().backward()  # a gradient for the empty `out` alone reaches nothing
    assert gi.grad.shape == (0, N, H) and not h0.grad.numpy().any()
