"""One time step of each recurrence, shared by the cells and the multi-layer layers.

Each takes ``gi`` = x_t W_ihᵀ + b_ih (computed for all steps at once by the layers),
the previous state, W_hhᵀ (transposed once per sequence) and b_hh, and returns the new
state. Gate orders are PyTorch's, so weights convert by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops import Stack
from ..tensor import Tensor
from ._split import chunk, split, unbind


def _hidden_projection(h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    gh = h @ w_hh_t
    return gh if b_hh is None else gh + b_hh


def rnn_tanh_step(gi: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return (gi + _hidden_projection(h, w_hh_t, b_hh)).tanh()


def rnn_relu_step(gi: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """h' = relu(W_ih x + b_ih + W_hh h + b_hh)."""
    return (gi + _hidden_projection(h, w_hh_t, b_hh)).relu()


RNN_STEPS = {"tanh": rnn_tanh_step, "relu": rnn_relu_step}


def unroll(
    step: Callable, gi: Tensor, state: Any, w_hh_t: Tensor, b_hh: Tensor | None, reverse: bool = False
) -> tuple[Tensor, Any]:
    """``step`` applied over the time steps of ``gi`` (T, N, G·H), time running from the end if
    ``reverse``: (every output h_t stacked in time order (T, N, H), the final state)."""
    steps = unbind(gi, 0)
    outputs = []
    for g in reversed(steps) if reverse else steps:
        state = step(g, state, w_hh_t, b_hh)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    if reverse:
        outputs.reverse()
    return Stack.apply(*outputs, axis=0), state


def gru_step(gi: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """r, z = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z});
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h."""
    hidden = h.shape[-1]
    gh = _hidden_projection(h, w_hh_t, b_hh)
    gi_rz, gi_n = split(gi, (2 * hidden, hidden))
    gh_rz, gh_n = split(gh, (2 * hidden, hidden))
    r, z = chunk((gi_rz + gh_rz).sigmoid(), 2)
    n = (gi_n + r * gh_n).tanh()
    return n + z * (h - n)


def lstm_step(
    gi: Tensor, state: tuple[Tensor, Tensor], w_hh_t: Tensor, b_hh: Tensor | None
) -> tuple[Tensor, Tensor]:
    """i, f, o = σ(·), g = tanh(·) of W_ih x + b_ih + W_hh h + b_hh (in the order i, f, g, o);
    c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')."""
    h, c = state
    i, f, g, o = chunk(gi + _hidden_projection(h, w_hh_t, b_hh), 4)
    c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_next.tanh(), c_next

