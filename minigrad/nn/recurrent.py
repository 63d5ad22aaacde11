"""Recurrent layers: the cells (one step) and the multi-layer, optionally bidirectional
sequence layers, with PyTorch's signatures, parameter names, gate orders and init.

The seed's h_t = tanh(W_x x_t + W_h h_{t−1} + b) is ``RNNCell``. ``RNN`` runs each
direction of each layer as one graph node over the whole sequence (``_elman.py``);
``GRU`` and ``LSTM`` unroll their step over time and backpropagate through the graph
(BPTT). For speed the input projection x_t W_ihᵀ + b_ih of every step is one matmul
before the time loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import functional as F
from ..creation import zeros
from ..ops import Concat, Stack
from ..tensor import Tensor
from . import init
from ._elman import elman_sequence
from ._factory import new_parameter
from ._recurrence import RNN_STEPS, gru_step, lstm_step, unroll
from ._split import unbind
from .module import Module


def _rnn_step(nonlinearity: str) -> Callable:
    if nonlinearity not in RNN_STEPS:
        raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return RNN_STEPS[nonlinearity]


def _reset_uniform(module: Module, hidden_size: int) -> None:
    """PyTorch's recurrent init: every weight and bias ~ U(−1/√H, 1/√H)."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


# -- cells -----------------------------------------------------------------------------------


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool, device: Any, dtype: Any) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self.gates * hidden_size
        self.weight_ih = new_parameter(rows, input_size, device=device, dtype=dtype)
        self.weight_hh = new_parameter(rows, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = new_parameter(rows, device=device, dtype=dtype)
            self.bias_hh = new_parameter(rows, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_uniform(self, self.hidden_size)

    def _input(self, x: Tensor) -> tuple[Tensor, bool]:
        """The input as a batch (N, input_size), and whether it came unbatched."""
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise self.input_error(f"input of shape (batch, {self.input_size}) or ({self.input_size},)", x)
        return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)

    def _state(self, h: Tensor | None, x: Tensor, unbatched: bool) -> Tensor:
        if h is None:
            return zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        if tuple(h.shape) != expected:
            raise ValueError(
                f"{self._header()}: expected hidden state of shape {expected}, got shape {h.shape}"
            )
        return h.unsqueeze(0) if unbatched else h

    def _step(self, x: Tensor, state: Any, step: Callable) -> Any:
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        return step(gi, state, self.weight_hh.T, self.bias_hh)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(_CellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), for one time step."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
        device: Any = None, dtype: Any = None,
    ) -> None:
        step = _rnn_step(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity
        self._step_fn = step

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        x, unbatched = self._input(x)
        h = self._step(x, self._state(hx, x, unbatched), self._step_fn)
        return h.squeeze(0) if unbatched else h

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else f"{s}, nonlinearity={self.nonlinearity}"


class GRUCell(_CellBase):
    """One GRU step (gates r, z, n as PyTorch): h' = (1 − z) ⊙ n + z ⊙ h."""

    gates = 3

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        x, unbatched = self._input(x)
        h = self._step(x, self._state(hx, x, unbatched), gru_step)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    """One LSTM step (gates i, f, g, o as PyTorch): returns (h', c')."""

    gates = 4

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._input(x)
        h0, c0 = (None, None) if hx is None else hx
        state = (self._state(h0, x, unbatched), self._state(c0, x, unbatched))
        h, c = self._step(x, state, lstm_step)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


# -- sequence layers ------------------------------------------------------------------------------


class _RNNBase(Module):
    """Shared by RNN, GRU and LSTM: parameters per layer and direction, named as PyTorch
    (``weight_ih_l0``, ``bias_hh_l1_reverse`` …), and the unrolled forward pass."""

    gates = 1
    step: Callable

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
        dropout: float, bidirectional: bool, device: Any, dtype: Any,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be at least 1, got {num_layers}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                self._add_weights(f"l{layer}{suffix}", width, device, dtype)
        self.reset_parameters()

    def _add_weights(self, name: str, width: int, device: Any, dtype: Any) -> None:
        """weight_ih_<name> (G·H, width), weight_hh_<name> (G·H, H) and the two biases."""
        rows = self.gates * self.hidden_size
        shapes = {"weight_ih": (rows, width), "weight_hh": (rows, self.hidden_size)}
        if self.bias:
            shapes.update(bias_ih=(rows,), bias_hh=(rows,))
        for kind, shape in shapes.items():
            self.register_parameter(f"{kind}_{name}", new_parameter(*shape, device=device, dtype=dtype))

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        _reset_uniform(self, self.hidden_size)

    def _weights(self, layer: int, suffix: str) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        p = self._parameters
        name = f"l{layer}{suffix}"
        return (
            p[f"weight_ih_{name}"], p[f"weight_hh_{name}"],
            p.get(f"bias_ih_{name}"), p.get(f"bias_hh_{name}"),
        )

    # -- checking and shaping inputs --
    def _sequence(self, x: Tensor) -> tuple[Tensor, bool]:
        """The input as (T, N, input_size), and whether it came unbatched."""
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(batch, seq, {0})" if self.batch_first else "(seq, batch, {0})"
            raise self.input_error(
                f"input of shape {layout.format(self.input_size)} or (seq, {self.input_size})", x
            )
        if x.ndim == 2:
            return x.unsqueeze(1), True
        return (x.swapaxes(0, 1) if self.batch_first else x), False

    def _initial(self, h: Tensor | None, x: Tensor, unbatched: bool, what: str) -> list[Tensor]:
        """One (N, H) initial state per layer and direction (zeros when ``h`` is None)."""
        layers = self.num_layers * self.num_directions
        batch = x.shape[1]
        if h is None:
            zero = zeros(batch, self.hidden_size, dtype=x.dtype, device=x.device)
            return [zero] * layers
        expected = (layers, self.hidden_size) if unbatched else (layers, batch, self.hidden_size)
        if tuple(h.shape) != expected:
            raise ValueError(f"{self._header()}: expected {what} of shape {expected}, got shape {h.shape}")
        return list(unbind(h.unsqueeze(1) if unbatched else h, 0))

    # -- the unrolled recurrence --
    def _run_direction(self, x: Tensor, state: Any, layer: int, suffix: str) -> tuple[Tensor, Any]:
        """All outputs (T, N, H) of one direction of one layer, and its final state."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
        gi = F.linear(x, w_ih, b_ih)  # x W_ihᵀ + b_ih for every step in one matmul
        return self._recur(gi, state, w_hh, b_hh, reverse=bool(suffix))

    def _recur(
        self, gi: Tensor, state: Any, w_hh: Tensor, b_hh: Tensor | None, reverse: bool
    ) -> tuple[Tensor, Any]:
        """(outputs (T, N, H), final state) of the recurrence over the input projection ``gi``."""
        return unroll(self.step, gi, state, w_hh.T, b_hh, reverse)

    def _unroll(self, x: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]]:
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                out, final = self._run_direction(x, states[layer * self.num_directions + d], layer, suffix)
                outs.append(out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else Concat.apply(*outs, axis=x.ndim - 1)
            if self.dropout and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return x, finals

    def _output(self, out: Tensor, unbatched: bool) -> Tensor:
        if unbatched:
            return out.squeeze(1)
        return out.swapaxes(0, 1) if self.batch_first else out

    @staticmethod
    def _stack_states(states: list[Tensor], unbatched: bool) -> Tensor:
        h = Stack.apply(*states, axis=0)
        return h.squeeze(1) if unbatched else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class _SingleStateRNN(_RNNBase):
    """RNN and GRU: the state is one tensor h."""

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (T, N, input) [or (N, T, input) with batch_first, or (T, input)] →
        (out (T, N, D·H), h_n (num_layers·D, N, H))."""
        x, unbatched = self._sequence(x)
        out, finals = self._unroll(x, self._initial(hx, x, unbatched, "hidden state"))
        return self._output(out, unbatched), self._stack_states(finals, unbatched)


class RNN(_SingleStateRNN):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) (or relu), per layer.
    Each direction of each layer is one graph node over the whole sequence (``_elman.py``)."""

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
        bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        _rnn_step(nonlinearity)  # rejects an unknown nonlinearity before any weight is made
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)
        self.nonlinearity = nonlinearity

    def _recur(
        self, gi: Tensor, state: Tensor, w_hh: Tensor, b_hh: Tensor | None, reverse: bool
    ) -> tuple[Tensor, Tensor]:
        return elman_sequence(gi, state, w_hh, b_hh, self.nonlinearity, reverse)


class GRU(_SingleStateRNN):
    """Multi-layer GRU with PyTorch's gates (r, z, n)."""

    gates = 3

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)
        self.step = gru_step


class LSTM(_RNNBase):
    """Multi-layer LSTM with PyTorch's gates (i, f, g, o)."""

    gates = 4

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)
        self.step = lstm_step

    def forward(
        self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x → (out, (h_n, c_n)), shapes as for ``GRU``."""
        x, unbatched = self._sequence(x)
        h0, c0 = (None, None) if hx is None else hx
        states = list(zip(self._initial(h0, x, unbatched, "h0"), self._initial(c0, x, unbatched, "c0")))
        out, finals = self._unroll(x, states)
        h_n = self._stack_states([h for h, _ in finals], unbatched)
        c_n = self._stack_states([c for _, c in finals], unbatched)
        return self._output(out, unbatched), (h_n, c_n)
