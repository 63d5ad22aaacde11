"""The Elman recurrence over a whole sequence as one graph node: what ``nn.RNN`` runs.

Unrolled with generic ops, every time step is four nodes, each keeping an (N, H) buffer
alive until backward, and ~35 µs of Python. One node that loops over time on arrays keeps
just the states h_t (what a hand-written NumPy RNN keeps) and writes ∂L/∂gi into one buffer.

With gi_t = x_t W_ihᵀ + b_ih precomputed for all steps (one matmul), and φ = tanh or relu::

    a_t = gi_t + h_{t−1} W_hhᵀ + b_hh        h_t = φ(a_t)

Backward through time, δ_t the gradient reaching h_t (from out_t and from step t+1)::

    ∂a_t = δ_t ⊙ φ'(a_t)      φ' read off h_t: 1 − h_t² (tanh), [h_t > 0] (relu)
    ∂gi_t = ∂a_t      δ_{t−1} += ∂a_t W_hh      ∂W_hh = Σ_t ∂a_tᵀ h_{t−1}      ∂b_hh = Σ_t Σ_n ∂a_t

That backward works on arrays. Gradients of gradients (``create_graph=True``) replay the
steps as Tensor ops (``rnn_tanh_step``, …) and differentiate those, so they stay exact.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function, grad, is_grad_enabled
from ..ops import Stack
from ..tensor import Tensor
from ._recurrence import RNN_STEPS
from ._split import unbind


def _tanh_(xp: Any, a: Any) -> None:
    xp.tanh(a, out=a)


def _relu_(xp: Any, a: Any) -> None:
    xp.maximum(a, 0, out=a)


def _times_tanh_slope_(da: Any, h: Any) -> None:
    da *= 1 - h * h


def _times_relu_slope_(da: Any, h: Any) -> None:
    da *= (h > 0).astype(da.dtype)  # a float mask: float × bool is ~2x slower in NumPy


# nonlinearity -> (φ in place, ∂a ⊙= φ'(a) read off h = φ(a))
_ACTIVATIONS = {"tanh": (_tanh_, _times_tanh_slope_), "relu": (_relu_, _times_relu_slope_)}


def _time_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


class ElmanSequence(Function):
    """(out, h_n) = all states h_t (T, N, H), in time order, and the last one computed (N, H),
    of the recurrence in the module docstring. ``reverse`` runs time from the end."""

    @staticmethod
    def forward(ctx, gi, h0, w_hh, b_hh, nonlinearity="tanh", reverse=False):
        xp = ctx.device.xp
        activate = _ACTIVATIONS[nonlinearity][0]
        ctx.nonlinearity, ctx.reverse = nonlinearity, reverse
        ctx.set_materialize_grads(False)  # often only h_n is used: no (T, N, H) zeros for out
        parts = (gi, h0, w_hh) if b_hh is None else (gi, h0, w_hh, b_hh)
        out = xp.empty(gi.shape, dtype=xp.result_type(*parts))
        w_t, h = w_hh.T, h0
        for t in _time_order(len(gi), reverse):
            a = out[t]
            xp.matmul(h, w_t, out=a)
            a += gi[t]
            if b_hh is not None:
                a += b_hh
            activate(xp, a)
            h = a
        ctx.save_for_backward(h0, w_hh, out)
        return out, h.copy()

    @staticmethod
    def backward(ctx, g_out, g_last):
        if is_grad_enabled():  # only while create_graph=True
            return _replayed_grads(ctx, g_out, g_last)
        h0, w_hh, out = (t.data for t in ctx.saved_tensors)
        gi, _, _, b_hh = ctx.inputs
        xp = ctx.device.xp
        times_slope = _ACTIVATIONS[ctx.nonlinearity][1]
        order = _time_order(len(out), ctx.reverse)
        d_a = xp.empty_like(out)  # ∂a_t for every t: also ∂gi
        d_w = xp.zeros(w_hh.shape, dtype=out.dtype)
        dh = None if g_last is None else g_last.data  # δ carried back from step t+1
        for k in range(len(order) - 1, -1, -1):
            t = order[k]
            da = d_a[t]
            if g_out is None:
                da[...] = dh
            elif dh is None:
                da[...] = g_out.data[t]
            else:
                xp.add(dh, g_out.data[t], out=da)
            times_slope(da, out[t])
            h_prev = h0 if k == 0 else out[order[k - 1]]
            d_w += da.T @ h_prev
            dh = da @ w_hh
        need_gi, need_h0, need_w, need_b = ctx.needs_input_grad[:4]
        return (
            _grad_like(d_a, gi, ctx) if need_gi else None,
            _grad_like(dh, ctx.inputs[1], ctx) if need_h0 else None,
            _grad_like(d_w, ctx.inputs[2], ctx) if need_w else None,
            _grad_like(d_a.reshape(-1, d_a.shape[-1]).sum(axis=0), b_hh, ctx) if need_b else None,
        )


def _grad_like(g: Any, x: Tensor, ctx: Function) -> Tensor:
    """An array gradient as a Tensor of its input's dtype (the states may be wider)."""
    return Tensor._wrap(g.astype(x.dtype, copy=False), ctx.device)


def _replayed_grads(ctx: Function, g_out: Tensor | None, g_last: Tensor | None) -> tuple:
    """The same gradients, computed by differentiating the steps as Tensor ops with
    create_graph=True, so that they can be differentiated again."""
    gi, h0, w_hh, b_hh = ctx.inputs
    step = RNN_STEPS[ctx.nonlinearity]
    steps = unbind(gi, 0)
    w_t, h = w_hh.T, h0
    states: list[Any] = [None] * len(steps)
    for t in _time_order(len(steps), ctx.reverse):
        h = states[t] = step(steps[t], h, w_t, b_hh)
    roots, root_grads = [], []
    if g_out is not None:
        roots.append(Stack.apply(*states, axis=0))
        root_grads.append(g_out)
    if g_last is not None:
        roots.append(h)
        root_grads.append(g_last)
    needs = ctx.needs_input_grad[:4]
    wrt = [x for x, need in zip(ctx.inputs, needs) if need]
    grads = iter(grad(roots, wrt, root_grads, create_graph=True, allow_unused=True))
    return tuple(next(grads) if need else None for need in needs)


def elman_sequence(
    gi: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh",
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """States (T, N, H) and final state (N, H) of h_t = φ(gi_t + h_{t−1} W_hhᵀ + b_hh)."""
    return ElmanSequence.apply(gi, h0, w_hh, b_hh, nonlinearity=nonlinearity, reverse=reverse)
