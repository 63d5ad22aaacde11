"""ops.Recurrence, the one engine under nn.RNN/GRU/LSTM: for every cell, with and without
padding, both directions, gradients against central differences (float64), second order
through the replayed steps, and the per-step Tensor graph as a second reference."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops.recurrence import ElmanStep, GRUStep, LSTMStep, Recurrence, TensorMath, unroll

N, H = 3, 2
CELLS = {"tanh": ElmanStep("tanh"), "relu": ElmanStep("relu"), "gru": GRUStep(), "lstm": LSTMStep()}
BATCH_SIZES = {"unpadded": (3, 3, 3, 3), "padded": (3, 3, 2, 1)}


def _inputs(cell, batch_sizes, bias=True, seed=0, device="cpu", dtype=np.float64):
    g = np.random.default_rng(seed)

    def leaf(*shape):
        return mg.tensor((0.6 * g.standard_normal(shape)).astype(dtype), requires_grad=True, device=device)

    rows, width = sum(batch_sizes), cell.gates * H
    state = [leaf(N, H) for _ in range(cell.states)]
    return [leaf(rows, width), leaf(width, H), leaf(width) if bias else None, *state]


def _run(cell, batch_sizes, reverse, used="all"):
    def fn(gi, w, b, *state):
        out, *final = Recurrence.apply(gi, w, b, *state, cell=cell, batch_sizes=batch_sizes, reverse=reverse)
        return {"all": (out, *final), "out": out, "final": tuple(final)}[used]

    return fn


def _without_none(inputs):
    """gradcheck wants tensors only: a missing bias is bound into the function instead."""
    return [x for x in inputs if x is not None]


CASES = [(c, p, r) for c in CELLS for p in BATCH_SIZES for r in (False, True)]


@pytest.mark.parametrize("cell, padding, reverse", CASES)
@pytest.mark.parametrize("used", ["all", "out", "final"])
def test_gradients_match_central_differences(cell, padding, reverse, used, device):
    inputs = _inputs(CELLS[cell], BATCH_SIZES[padding], device=device)
    assert mg.gradcheck(_run(CELLS[cell], BATCH_SIZES[padding], reverse, used), inputs)


@pytest.mark.parametrize("cell", list(CELLS))
def test_without_bias(cell):
    fn = _run(CELLS[cell], BATCH_SIZES["padded"], reverse=True)
    gi, w, _, *state = _inputs(CELLS[cell], BATCH_SIZES["padded"], bias=False)
    assert mg.gradcheck(lambda gi, w, *s: fn(gi, w, None, *s), [gi, w, *state])


@pytest.mark.parametrize("cell, padding, reverse", [c for c in CASES if c[0] != "relu"])
def test_second_order_through_the_replayed_steps(cell, padding, reverse, device):
    inputs = _inputs(CELLS[cell], BATCH_SIZES[padding], seed=1, device=device)
    assert mg.gradgradcheck(_run(CELLS[cell], BATCH_SIZES[padding], reverse), inputs)


@pytest.mark.parametrize("cell, padding, reverse", CASES)
def test_values_and_gradients_equal_the_per_step_graph(cell, padding, reverse, device):
    step, sizes = CELLS[cell], BATCH_SIZES[padding]
    results = []
    for fused in (True, False):
        gi, w, b, *state = _inputs(step, sizes, seed=2, device=device)
        if fused:
            outs = Recurrence.apply(gi, w, b, *state, cell=step, batch_sizes=sizes, reverse=reverse)
        else:
            columns, _, final = unroll(TensorMath, step, gi, w.T, b, tuple(state), sizes, reverse)
            outs = (columns[0], *final)
        g = np.random.default_rng(3)
        total = sum((o * mg.tensor(g.standard_normal(o.shape), device=device)).sum() for o in outs)
        total.backward()
        results.append([o.numpy() for o in outs] + [x.grad.numpy() for x in (gi, w, b, *state)])
    for fused, unfused in zip(*results):
        np.testing.assert_allclose(fused, unfused, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_stays_float32(cell):
    step = CELLS[cell]
    gi, w, b, *state = _inputs(step, BATCH_SIZES["padded"], dtype=np.float32)
    out, *final = Recurrence.apply(gi, w, b, *state, cell=step, batch_sizes=BATCH_SIZES["padded"])
    assert {o.dtype for o in (out, *final)} == {mg.float32}
    (out.sum() + final[0].sum()).backward()
    assert {x.grad.dtype for x in (gi, w, b, *state)} == {mg.float32}


def test_outputs_and_final_state_alias_no_input():
    step = CELLS["gru"]
    gi, w, b, h0 = _inputs(step, (3,))
    out, h_n = Recurrence.apply(gi, w, b, h0, cell=step, batch_sizes=(3,))
    for o in (out, h_n):
        for x in (gi, w, b, h0):
            assert not np.shares_memory(o.data, x.data)
