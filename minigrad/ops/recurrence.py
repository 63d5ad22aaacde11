"""Recurrences over a whole sequence as one graph node: what ``nn.RNN``, ``nn.GRU`` and
``nn.LSTM`` run, and the step equations their cells (``nn.RNNCell`` …) use one step at a time.

Unrolled with generic ops, every time step is 4 (RNN) to 15 (GRU) graph nodes, each keeping a
buffer alive until backward and costing Python time. :class:`Recurrence` loops over time on
backend arrays instead and keeps what a hand-written NumPy recurrence keeps.

Who does what:

* a **cell** (:class:`ElmanStep`, :class:`GRUStep`, :class:`LSTMStep`) gives the equations of
  one step: ``step(m, gi, gh, state)``, written once for arrays and Tensors alike (``m`` is
  :class:`ArrayMath` or :class:`TensorMath`), and ``backward_step`` on arrays. A new cell type
  is these two functions and nothing else;
* the **engine** (:class:`Recurrence`) owns the time loop, the direction, the state buffers,
  the padding rule, the hidden projection gh = h W_hhᵀ + b_hh with its gradients, and second
  order: under ``create_graph=True`` it replays the steps as Tensor ops (:class:`TensorMath`)
  and differentiates those, so gradients of gradients stay exact.

Layout (PyTorch's packed sequences): the input projection gi = x W_ihᵀ + b_ih of every step is
one matmul before the loop, on *rows*: time step t owns ``batch_sizes[t]`` consecutive rows,
one per sequence still running (sequences sorted longest first). The padding rule: a sequence
of length ≤ t takes no step t and its state is carried unchanged, so the final state is the
one after its last real token in either direction (running backwards, a short sequence starts
from h0 at its own last token). An unpadded (T, N, ·) batch is batch_sizes = (N,)*T, whose rows
are x.reshape(T·N, ·).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..autograd import Function, grad, is_grad_enabled
from ..kernels import fused_for
from .elementwise import SigmoidGrad, TanhGrad, sigmoid_array
from .shape import Chunk, Concat

__all__ = ["ArrayMath", "TensorMath", "ElmanStep", "GRUStep", "LSTMStep", "Recurrence"]


# -- the operations a step is written in ------------------------------------------------------


class ArrayMath:
    """A cell step's operations on backend arrays (the fast path of :class:`Recurrence`)."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def kernels(self, *arrays: Any) -> Any:
        """The fused kernels for a step on these arrays (minigrad.kernels), or None."""
        return fused_for(self.xp, *arrays)

    def sigmoid(self, x: Any) -> Any:
        return sigmoid_array(self.xp, x)

    def tanh(self, x: Any) -> Any:
        return self.xp.tanh(x)

    def relu(self, x: Any) -> Any:
        return self.xp.maximum(x, 0)

    @staticmethod
    def split(x: Any, sizes: Sequence[int], axis: int = -1) -> tuple[Any, ...]:
        """Consecutive pieces of ``x`` along ``axis`` (views)."""
        lead = (slice(None),) * (axis % x.ndim)
        pieces, start = [], 0
        for n in sizes:
            pieces.append(x[lead + (slice(start, start + n),)])
            start += n
        return tuple(pieces)

    def concat(self, parts: Sequence[Any]) -> Any:
        return self.xp.concatenate(parts, axis=0)

    @staticmethod
    def affine(h: Any, w_t: Any, b: Any) -> Any:
        out = h @ w_t
        if b is not None:
            out += b
        return out


class TensorMath:
    """The same operations as Tensor ops (graph nodes): the cells' layers and the replay."""

    @staticmethod
    def kernels(*arrays: Any) -> None:
        """Tensor steps build graph nodes: no fused kernels."""
        return None

    @staticmethod
    def sigmoid(x: Any) -> Any:
        return x.sigmoid()

    @staticmethod
    def tanh(x: Any) -> Any:
        return x.tanh()

    @staticmethod
    def relu(x: Any) -> Any:
        return x.relu()

    @staticmethod
    def split(x: Any, sizes: Sequence[int], axis: int = -1) -> tuple[Any, ...]:
        return Chunk.apply(x, sizes=tuple(sizes), axis=axis % x.ndim)  # one node, O(1) backward each

    @staticmethod
    def concat(parts: Sequence[Any]) -> Any:
        return parts[0] if len(parts) == 1 else Concat.apply(*parts, axis=0)

    @staticmethod
    def affine(h: Any, w_t: Any, b: Any) -> Any:
        out = h @ w_t
        return out if b is None else out + b


def chunk(m: Any, x: Any, n: int) -> tuple[Any, ...]:
    """``x`` cut into ``n`` equal pieces along its last axis (the gates)."""
    return m.split(x, (x.shape[-1] // n,) * n)


# -- the cells: one step forward (arrays or Tensors) and backward (arrays) --------------------


class ElmanStep:
    """h' = φ(gi + gh), φ = tanh or relu: the seed's h_t = tanh(W_x x_t + W_h h_{t−1} + b).
    Backward: ∂gi = ∂gh = ∂h' ⊙ φ'(a), φ' read off h': 1 − h'² (tanh), [h' > 0] (relu)."""

    gates, states, shared_input_grad = 1, 1, True

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def step(self, m: Any, gi: Any, gh: Any, state: tuple) -> tuple[tuple, tuple]:
        return (getattr(m, self.nonlinearity)(gi + gh),), ()

    def backward_step(self, xp, d_new, prev, new, saved, d_gi, d_gh) -> tuple:
        (dh,), (h,) = d_new, new
        slope = TanhGrad.local(h) if self.nonlinearity == "tanh" else (h > 0).astype(h.dtype)
        xp.multiply(dh, slope, out=d_gi)
        return (None,)


class GRUStep:
    """PyTorch's GRU (gates r, z, n; b_hn stays inside r ⊙ (·)):
    r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h' = n + z ⊙ (h − n).
    Backward: ∂a_n = ∂h'(1 − z)(1 − n²), ∂a_z = ∂h'(h − n) z(1 − z), ∂a_r = ∂a_n gh_n r(1 − r);
    ∂gi = [∂a_r, ∂a_z, ∂a_n], ∂gh = [∂a_r, ∂a_z, ∂a_n ⊙ r], and ∂h = ∂h' z directly."""

    gates, states, shared_input_grad = 3, 1, False

    def step(self, m: Any, gi: Any, gh: Any, state: tuple) -> tuple[tuple, tuple]:
        (h,) = state
        gi_r, gi_z, gi_n = chunk(m, gi, 3)
        gh_r, gh_z, gh_n = chunk(m, gh, 3)
        k = m.kernels(gi, gh, h)
        if k is not None:  # the same formulas in one pass (minigrad.kernels)
            h_new, r, z, n = k.gru_step(gi, gh, h)
            return (h_new,), (r, z, n, gh_n)
        r = m.sigmoid(gi_r + gh_r)
        z = m.sigmoid(gi_z + gh_z)
        n = m.tanh(gi_n + r * gh_n)
        return (n + z * (h - n),), (r, z, n, gh_n)

    def backward_step(self, xp, d_new, prev, new, saved, d_gi, d_gh) -> tuple:
        (dh,), (h,) = d_new, prev
        r, z, n, gh_n = saved
        k = fused_for(xp, dh, h, r, z, n, gh_n)
        if k is not None:  # the same formulas in one pass (minigrad.kernels)
            return (k.gru_backward_step(dh, h, r, z, n, gh_n, d_gi, d_gh),)
        da_r, da_z, da_n = chunk(ArrayMath, d_gi, 3)
        dgh_rz, dgh_n = ArrayMath.split(d_gh, (2 * dh.shape[-1], dh.shape[-1]))
        xp.multiply(dh * (1 - z), TanhGrad.local(n), out=da_n)
        xp.multiply(dh * (h - n), SigmoidGrad.local(z), out=da_z)
        xp.multiply(da_n * gh_n, SigmoidGrad.local(r), out=da_r)
        dgh_rz[...] = d_gi[:, : dgh_rz.shape[-1]]
        xp.multiply(da_n, r, out=dgh_n)
        return (dh * z,)


class LSTMStep:
    """PyTorch's LSTM (gates i, f, g, o of gi + gh): i, f, o = σ(·), g = tanh(·);
    c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
    Backward: ∂c' += ∂h' o (1 − tanh² c'); through σ' = y(1 − y), tanh' = 1 − y²:
    ∂a_i = ∂c' g σ'(i), ∂a_f = ∂c' c σ'(f), ∂a_g = ∂c' i tanh'(g), ∂a_o = ∂h' tanh c' σ'(o);
    ∂gi = ∂gh = [∂a_i, ∂a_f, ∂a_g, ∂a_o], and ∂c = ∂c' f directly."""

    gates, states, shared_input_grad = 4, 2, True

    def step(self, m: Any, gi: Any, gh: Any, state: tuple) -> tuple[tuple, tuple]:
        _, c = state
        k = m.kernels(gi, gh, c)
        if k is not None:  # the same formulas in one pass (minigrad.kernels)
            h_new, c_new, *saved = k.lstm_step(gi, gh, c)
            return (h_new, c_new), tuple(saved)
        i, f, g, o = chunk(m, gi + gh, 4)
        i, f, g, o = m.sigmoid(i), m.sigmoid(f), m.tanh(g), m.sigmoid(o)
        c_new = f * c + i * g
        tanh_c = m.tanh(c_new)
        return (o * tanh_c, c_new), (i, f, g, o, tanh_c)

    def backward_step(self, xp, d_new, prev, new, saved, d_gi, d_gh) -> tuple:
        (dh, dc), (_, c) = d_new, prev
        i, f, g, o, tanh_c = saved
        k = fused_for(xp, dh, dc, c, i, f, g, o, tanh_c)
        if k is not None:  # the same formulas in one pass (minigrad.kernels); ∂gh is ∂gi
            return (None, k.lstm_backward_step(dh, dc, c, i, f, g, o, tanh_c, d_gi))
        dc = dc + dh * o * TanhGrad.local(tanh_c)
        da_i, da_f, da_g, da_o = chunk(ArrayMath, d_gi, 4)
        xp.multiply(dc * g, SigmoidGrad.local(i), out=da_i)
        xp.multiply(dc * c, SigmoidGrad.local(f), out=da_f)
        xp.multiply(dc * i, TanhGrad.local(g), out=da_g)
        xp.multiply(dh * tanh_c, SigmoidGrad.local(o), out=da_o)
        return (None, dc * f)



# -- the engine -----------------------------------------------------------------------------


def _time_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def unroll(
    m: Any, cell: Any, gi: Any, w_hh_t: Any, b_hh: Any, state: tuple, batch_sizes: Sequence[int],
    reverse: bool,
) -> tuple[tuple, list, tuple]:
    """Run ``cell`` over the rows of ``gi`` (module docstring), on arrays or Tensors as ``m``
    says: (every step's new state, one column (R, H) per state part, in row order; what each
    step saved for backward; the final state)."""
    n = state[0].shape[0]
    pieces = m.split(gi, batch_sizes, axis=0)
    news: list[Any] = [None] * len(batch_sizes)
    saves: list[Any] = [None] * len(batch_sizes)
    for t in _time_order(len(batch_sizes), reverse):
        rows = batch_sizes[t]
        active = state if rows == n else tuple(m.split(s, (rows, n - rows), axis=0)[0] for s in state)
        gh = m.affine(active[0], w_hh_t, b_hh)
        new, saves[t] = cell.step(m, pieces[t], gh, active)
        news[t] = new
        if rows == n:
            state = new
        else:  # the sequences that took no step keep their state
            state = tuple(m.concat([a, m.split(s, (rows, n - rows), axis=0)[1]]) for a, s in zip(new, state))
    columns = tuple(m.concat([new[k] for new in news]) for k in range(cell.states))
    return columns, saves, state


class Recurrence(Function):
    """(out, *final) of ``cell`` over packed rows (module docstring): out (R, H) holds h of every
    step in row order, final the state (h_n[, c_n]) (N, H) after each sequence's last step.
    Inputs: gi (R, G·H), w_hh (G·H, H), b_hh (G·H) or None, the initial state (N, H) per part.
    ∂ through time, δ_t = ∂L/∂state_t (from out_t and from step t+1): the cell gives ∂gi_t,
    ∂gh_t and its direct ∂state; δ_{t−1} = direct + ∂gh_t W_hh (h part);
    ∂W_hh = Σ_t ∂gh_tᵀ h_{t−1};  ∂b_hh = Σ_t ∂gh_t."""

    @staticmethod
    def forward(ctx, gi, w_hh, b_hh, *state, cell, batch_sizes, reverse=False):
        ctx.cell, ctx.batch_sizes, ctx.reverse = cell, tuple(batch_sizes), reverse
        ctx.set_materialize_grads(False)  # often only out or only h_n is used
        columns, saves, final = unroll(ArrayMath(ctx.device.xp), cell, gi, w_hh.T, b_hh, state,
                                       ctx.batch_sizes, reverse)
        ctx.per_step = len(saves[0]) if saves else 0
        ctx.save_for_backward(*columns, *(a for saved in saves for a in saved))
        return (columns[0], *(s.copy() for s in final))

    @staticmethod
    def backward(ctx, g_out, *g_final):
        if is_grad_enabled():  # only while create_graph=True
            return _replayed_grads(ctx, g_out, g_final)
        return _BackwardThroughTime(ctx).run(g_out, g_final)


class _BackwardThroughTime:
    """The first-order backward of :class:`Recurrence` on arrays."""

    def __init__(self, ctx: Recurrence) -> None:
        self.ctx, self.cell, self.xp = ctx, ctx.cell, ctx.device.xp
        self.gi, self.w_hh, self.b_hh, *state = (x.data if x is not None else None for x in ctx.inputs)
        self.state0 = tuple(state)
        saved = [t.data for t in ctx.saved_tensors]
        k = self.cell.states
        self.columns, flat = saved[:k], saved[k:]
        per = ctx.per_step
        self.saves = [flat[i * per:(i + 1) * per] for i in range(len(ctx.batch_sizes))]
        self.offsets = _offsets(ctx.batch_sizes)
        self.order = _time_order(len(ctx.batch_sizes), ctx.reverse)

    def previous(self, k: int) -> tuple:
        """The state that the k-th step run (in run order) started from: its rows only."""
        t = self.order[k]
        rows = self.ctx.batch_sizes[t]
        if k == 0:
            return tuple(s[:rows] for s in self.state0)
        p = self.order[k - 1]
        start, before = self.offsets[p], self.ctx.batch_sizes[p]
        if before >= rows:
            return tuple(col[start:start + rows] for col in self.columns)
        # running backwards, sequences that start at this step begin from the initial state
        return tuple(self.xp.concatenate([col[start:start + before], s[before:rows]])
                     for col, s in zip(self.columns, self.state0))

    def run(self, g_out: Any, g_final: tuple) -> tuple:
        xp, cell, sizes = self.xp, self.cell, self.ctx.batch_sizes
        dtype = self.columns[0].dtype
        d_gi = xp.empty(self.gi.shape, dtype=dtype)
        d_gh = d_gi if cell.shared_input_grad else xp.empty(self.gi.shape, dtype=dtype)
        # h_{t−1} of every row, for ∂W_hh; unpadded, those rows are out shifted by one step
        h_prev = None if self.unpadded else xp.empty(self.columns[0].shape, dtype=dtype)
        delta = [xp.zeros(s.shape, dtype=dtype) if g is None else g.data.astype(dtype, copy=True)
                 for s, g in zip(self.state0, g_final)]
        for k in range(len(self.order) - 1, -1, -1):
            t = self.order[k]
            start, rows = self.offsets[t], sizes[t]
            here = slice(start, start + rows)
            d_new = [d[:rows] for d in delta]
            if g_out is not None:
                d_new[0] += g_out.data[here]
            prev = self.previous(k)
            new = tuple(col[here] for col in self.columns)
            direct = cell.backward_step(xp, d_new, prev, new, self.saves[t], d_gi[here], d_gh[here])
            if h_prev is not None:
                h_prev[here] = prev[0]
            d_h = d_gh[here] @ self.w_hh
            if direct[0] is not None:
                d_h += direct[0]
            if rows == len(delta[0]):
                delta[0] = d_h
            else:
                delta[0][:rows] = d_h
            for d, g in zip(delta[1:], direct[1:]):
                d[:rows] = g
        d_b = None if self.b_hh is None else d_gh.sum(axis=0)
        return _as_input_grads(self.ctx, (d_gi, self.weight_grad(d_gh, h_prev), d_b, *delta))

    @property
    def unpadded(self) -> bool:
        sizes = self.ctx.batch_sizes
        return all(rows == sizes[0] for rows in sizes)

    def weight_grad(self, d_gh: Any, h_prev: Any) -> Any:
        """∂W_hh = Σ_t ∂gh_tᵀ h_{t−1}: one matmul over all rows, or, unpadded, two without
        copying h_{t−1}: the first step's rows against h0, the others against out shifted."""
        if h_prev is not None:
            return d_gh.T @ h_prev
        out, h0, n = self.columns[0], self.state0[0], len(self.state0[0])
        if self.ctx.reverse:  # step t started from step t+1's state
            return d_gh[:-n].T @ out[n:] + d_gh[-n:].T @ h0
        return d_gh[n:].T @ out[:-n] + d_gh[:n].T @ h0


def _offsets(batch_sizes: Sequence[int]) -> list[int]:
    offsets, start = [], 0
    for rows in batch_sizes:
        offsets.append(start)
        start += rows
    return offsets


def _as_input_grads(ctx: Function, grads: tuple) -> tuple:
    from ..tensor import Tensor

    return tuple(
        Tensor._wrap(g.astype(x.dtype, copy=False), ctx.device) if need else None
        for g, x, need in zip(grads, ctx.inputs, ctx.needs_input_grad)
    )


def _replayed_grads(ctx: Recurrence, g_out: Any, g_final: tuple) -> tuple:
    """The same gradients, by differentiating the steps replayed as Tensor ops with
    create_graph=True, so that they can be differentiated again."""
    gi, w_hh, b_hh, *state = ctx.inputs
    columns, _, final = unroll(TensorMath, ctx.cell, gi, w_hh.T, b_hh, tuple(state), ctx.batch_sizes,
                               ctx.reverse)
    used = [(root, g) for root, g in zip((columns[0], *final), (g_out, *g_final)) if g is not None]
    needs = ctx.needs_input_grad
    wrt = [x for x, need in zip(ctx.inputs, needs) if need]
    grads = iter(grad([r for r, _ in used], wrt, [g for _, g in used], create_graph=True, allow_unused=True))
    return tuple(next(grads) if need else None for need in needs)
