"""ops.Recurrence, the one engine under nn.RNN/GRU/LSTM: for every cell, with and without
padding, both directions, gradients against central differences (float64), second order
through the replayed steps, and the per-step Tensor graph as a second reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.recurrence import ElmanStep, GRUStep, LSTMStep, Recurrence, TensorMath, unroll
from minigrad.testing import smooth_floats

from ._opcheck import OpCase, floats

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


# -- the op table's rows: a NumPy reference written from the equations, one row per cell ------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_step(kind, gi, gh, state):
    """One step of each cell, straight from PyTorch's documented equations."""
    h = state[0]
    if kind in ("tanh", "relu"):
        a = gi + gh
        return [np.tanh(a) if kind == "tanh" else np.maximum(a, 0)]
    if kind == "gru":
        (gi_r, gi_z, gi_n), (gh_r, gh_z, gh_n) = np.split(gi, 3, axis=1), np.split(gh, 3, axis=1)
        r, z = _sigmoid(gi_r + gh_r), _sigmoid(gi_z + gh_z)
        n = np.tanh(gi_n + r * gh_n)
        return [(1 - z) * n + z * h]
    i, f, g, o = np.split(gi + gh, 4, axis=1)
    c = _sigmoid(f) * state[1] + _sigmoid(i) * np.tanh(g)
    return [_sigmoid(o) * np.tanh(c), c]


def _np_recurrence(kind, gi, w, b, *state, batch_sizes, reverse):
    """Every step's h (in row order) then the final state parts, stacked as rows."""
    state = [s.copy() for s in state]
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    out = np.zeros((len(gi), w.shape[1]), dtype=gi.dtype)
    for t in (reversed if reverse else iter)(range(len(batch_sizes))):
        n, rows = batch_sizes[t], slice(starts[t], starts[t] + batch_sizes[t])
        gh = state[0][:n] @ w.T + (0 if b is None else b)
        new = _np_step(kind, gi[rows], gh, [s[:n] for s in state])
        out[rows] = new[0]
        for s, v in zip(state, new):
            s[:n] = v
    return np.concatenate([out, *state])


@st.composite
def _recurrence_case(draw, device, kind):
    step = CELLS[kind]
    sizes = draw(st.sampled_from([(2, 2, 2), (3, 2, 2, 1), (1,), (2, 1)]))
    n, rows, width = sizes[0], sum(sizes), step.gates * H
    # relu's kink at 0: values away from 0 keep every pre-activation off it (central differences)
    elements = smooth_floats(-1.5, 1.5) if kind != "relu" else st.sampled_from([-1, 1]).flatmap(
        lambda sign: smooth_floats(0.25, 1.5).map(lambda v: sign * v))
    leaf = lambda *shape: draw(floats(device, shape=shape, elements=elements))  # noqa: E731
    bias = leaf(width) if draw(st.booleans()) else None
    return (leaf(rows, width), leaf(width, H), bias, *(leaf(n, H) for _ in range(step.states)),
            sizes, draw(st.booleans()))


def _recurrence_row(kind: str, order: int) -> OpCase:
    step = CELLS[kind]

    def fn(gi, w, b, *rest):
        *state, sizes, reverse = rest
        out, *final = Recurrence.apply(gi, w, b, *state, cell=step, batch_sizes=sizes, reverse=reverse)
        return mg.concat([out, *final], axis=0)

    def reference(gi, w, b, *rest):
        *state, sizes, reverse = rest
        return _np_recurrence(kind, gi, w, b, *state, batch_sizes=sizes, reverse=reverse)

    return OpCase(f"recurrence-{kind}", (Recurrence,), fn, reference,
                  lambda device: _recurrence_case(device, kind), order=order, max_examples=4)


CASES = [_recurrence_row("tanh", 2), _recurrence_row("relu", 1), _recurrence_row("gru", 2),
         _recurrence_row("lstm", 2)]


class LeakyStep:
    """A cell the engine has never seen, written as its two step functions only:
    h' = h + α (tanh(gi + gh) − h);  ∂a = ∂h' α (1 − u²) with u = tanh(gi + gh), ∂h = ∂h' (1 − α)."""

    gates, states, shared_input_grad = 1, 1, True
    alpha = 0.3

    def step(self, m, gi, gh, state):
        (h,) = state
        u = m.tanh(gi + gh)
        return (h + self.alpha * (u - h),), (u,)

    def backward_step(self, xp, d_new, prev, new, saved, d_gi, d_gh):
        (dh,), (u,) = d_new, saved
        xp.multiply(dh * self.alpha, 1 - u * u, out=d_gi)
        return (dh * (1 - self.alpha),)


@pytest.mark.parametrize("padding", list(BATCH_SIZES))
def test_a_new_cell_is_its_two_step_functions(padding):
    step, sizes = LeakyStep(), BATCH_SIZES[padding]
    inputs = _inputs(step, sizes, seed=4)
    fn = _run(step, sizes, reverse=True)
    assert mg.gradcheck(fn, inputs)
    assert mg.gradgradcheck(fn, inputs)
