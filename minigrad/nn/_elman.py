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
steps as Tensor ops (``unroll`` of ``rnn_tanh_step``, …) and differentiate those, so they
stay exact.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Function, grad, is_grad_enabled
from ..ops.elementwise import TanhGrad
from ..tensor import Tensor
from ._recurrence import RNN_STEPS, unroll


def _tanh_(xp: Any, a: Any) -> None:
    xp.tanh(a, out=a)


def _relu_(xp: Any, a: Any) -> None:
    xp.maximum(a, 0, out=a)


def _relu_slope(h: Any) -> Any:
    return (h > 0).astype(h.dtype)  # a float mask: float × bool is ~2x slower in NumPy


# nonlinearity -> (φ in place, φ'(a) read off h = φ(a))
_ACTIVATIONS = {"tanh": (_tanh_, TanhGrad.local), "relu": (_relu_, _relu_slope)}


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
        ctx.save_for_backward(out)
        return out, h.copy()

    @staticmethod
    def backward(ctx, g_out, g_last):
        if is_grad_enabled():  # only while create_graph=True
            return _replayed_grads(ctx, g_out, g_last)
        _, h0, w_hh, b_hh = (x.data if isinstance(x, Tensor) else x for x in ctx.inputs)
        (out,) = (t.data for t in ctx.saved_tensors)
        xp = ctx.device.xp
        slope = _ACTIVATIONS[ctx.nonlinearity][1]
        order = _time_order(len(out), ctx.reverse)
        d_a = xp.empty_like(out)  # ∂a_t for every t: also ∂gi
        d_w = xp.zeros(w_hh.shape, dtype=out.dtype)
        # δ carried back from step t+1; at the last step, h_n's gradient
        dh = xp.zeros(out.shape[1:], dtype=out.dtype) if g_last is None else g_last.data
        for k in range(len(order) - 1, -1, -1):
            t = order[k]
            da = d_a[t]
            if g_out is None:
                da[...] = dh
            else:
                xp.add(dh, g_out.data[t], out=da)
            da *= slope(out[t])
            h_prev = h0 if k == 0 else out[order[k - 1]]
            d_w += da.T @ h_prev
            dh = da @ w_hh
        grads = (d_a, dh, d_w, None if b_hh is None else d_a.reshape(-1, d_a.shape[-1]).sum(axis=0))
        return tuple(
            Tensor._wrap(g.astype(x.dtype, copy=False), ctx.device) if need else None  # states may be wider
            for g, x, need in zip(grads, ctx.inputs, ctx.needs_input_grad)
        )


def _replayed_grads(ctx: Function, g_out: Tensor | None, g_last: Tensor | None) -> tuple:
    """The same gradients, computed by differentiating the steps as Tensor ops with
    create_graph=True, so that they can be differentiated again."""
    gi, h0, w_hh, b_hh = ctx.inputs
    out, h_n = unroll(RNN_STEPS[ctx.nonlinearity], gi, h0, w_hh.T, b_hh, ctx.reverse)
    used = [(root, g) for root, g in ((out, g_out), (h_n, g_last)) if g is not None]
    needs = ctx.needs_input_grad
    wrt = [x for x, need in zip(ctx.inputs, needs) if need]
    grads = iter(grad([r for r, _ in used], wrt, [g for _, g in used], create_graph=True, allow_unused=True))
    return tuple(next(grads) if need else None for need in needs)


def elman_sequence(
    gi: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh",
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """States (T, N, H) and final state (N, H) of h_t = φ(gi_t + h_{t−1} W_hhᵀ + b_hh)."""
    return ElmanSequence.apply(gi, h0, w_hh, b_hh, nonlinearity=nonlinearity, reverse=reverse)
