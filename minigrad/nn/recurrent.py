"""Recurrent layers: the cells (one step) and the multi-layer, optionally bidirectional
sequence layers, with PyTorch's signatures, parameter names, gate orders and init.

The seed's h_t = tanh(W_x x_t + W_h h_{t−1} + b) is ``RNNCell``. The step equations of every
cell live once, in ``minigrad.ops.recurrence``: the cells apply them as Tensor ops, and
``RNN``/``GRU``/``LSTM`` run each direction of each layer as one graph node over the whole
sequence (``ops.Recurrence``), after one matmul for the input projection of every step.
They take a padded tensor or a ``PackedSequence`` (``nn.utils.rnn``).
"""

from __future__ import annotations

import math
from typing import Any

from .. import functional as F
from ..creation import zeros
from ..ops import Concat, Stack, Unbind
from ..ops.recurrence import ElmanStep, GRUStep, LSTMStep, Recurrence, TensorMath
from ..tensor import Tensor
from . import init
from ._factory import new_parameter
from .module import Module
from .utils.rnn import PackedSequence

_GRU, _LSTM = GRUStep(), LSTMStep()


def _reset_uniform(module: Module, hidden_size: int) -> None:
    """PyTorch's recurrent init: every weight and bias ~ U(−1/√H, 1/√H)."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _check_state(layer: Module, h: Any, expected: tuple[int, ...], like: Tensor, what: str) -> None:
    """A given initial state must be a Tensor of the expected shape, on the input's device and
    in the layer's dtype."""
    if not isinstance(h, Tensor):
        raise TypeError(f"{layer._header()}: {what} must be a Tensor, got {type(h).__name__}")
    if tuple(h.shape) != expected:
        raise ValueError(
            f"{layer._header()}: expected {what} of shape {expected}, got shape {tuple(h.shape)}"
        )
    if h.device != like.device:
        raise RuntimeError(
            f"{layer._header()}: {what} is on {h.device} but the input is on {like.device}; "
            f"move it with .to({str(like.device)!r})"
        )
    layer.check_input_dtype(h, like, what)


# -- cells -----------------------------------------------------------------------------------


class _CellBase(Module):
    gates = 1
    equations: Any

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
        self.check_input_dtype(x, self.weight_ih)
        return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)

    def _state(self, h: Tensor | None, x: Tensor, unbatched: bool, what: str) -> Tensor:
        if h is None:
            return zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        _check_state(self, h, expected, x, what)
        return h.unsqueeze(0) if unbatched else h

    def _cell_forward(self, x: Tensor, hx: Any, names: tuple[str, ...]) -> tuple[Tensor, ...]:
        """One step from the given (or zero) state parts; each returned part (N, H) or (H,)."""
        x, unbatched = self._input(x)
        given = hx if isinstance(hx, tuple) else (hx,) * len(names)  # None: every part zero
        state = tuple(self._state(h, x, unbatched, what) for h, what in zip(given, names))
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        gh = F.linear(state[0], self.weight_hh, self.bias_hh)
        new, _ = self.equations.step(TensorMath, gi, gh, state)
        return tuple(s.squeeze(0) for s in new) if unbatched else new

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(_CellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), for one time step."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
        device: Any = None, dtype: Any = None,
    ) -> None:
        equations = ElmanStep(nonlinearity)  # rejects a bad nonlinearity before any weight is made
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.equations, self.nonlinearity = equations, nonlinearity

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._cell_forward(x, hx, ("hx",))[0]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else f"{s}, nonlinearity={self.nonlinearity}"


class GRUCell(_CellBase):
    """One GRU step (gates r, z, n as PyTorch): h' = (1 − z) ⊙ n + z ⊙ h."""

    gates = 3
    equations = _GRU

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._cell_forward(x, hx, ("hx",))[0]


class LSTMCell(_CellBase):
    """One LSTM step (gates i, f, g, o as PyTorch): returns (h', c')."""

    gates = 4
    equations = _LSTM

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        return self._cell_forward(x, hx, ("h0", "c0"))


# -- sequence layers ------------------------------------------------------------------------------


class _Rows:
    """A layer's input as rows for ``ops.Recurrence`` (time step by time step), and how to
    give the outputs back in the input's form."""

    def __init__(self, layer: _RNNBase, x: Any) -> None:
        self.packed = x if isinstance(x, PackedSequence) else None
        if self.packed is not None:
            self.data = x.data
            if self.data.ndim != 2 or self.data.shape[-1] != layer.input_size:
                raise layer.input_error(f"packed data of shape (tokens, {layer.input_size})", self.data)
            self.batch_sizes = tuple(int(n) for n in x.batch_sizes.numpy())
            self.batch, self.unbatched = self.batch_sizes[0], False
            return
        if not isinstance(x, Tensor) or x.ndim not in (2, 3) or x.shape[-1] != layer.input_size:
            layout = "(batch, seq, {0})" if layer.batch_first else "(seq, batch, {0})"
            raise layer.input_error(
                f"input of shape {layout.format(layer.input_size)} or (seq, {layer.input_size}), "
                "or a PackedSequence", x,
            )
        self.unbatched = x.ndim == 2
        if self.unbatched:
            x = x.unsqueeze(1)
        elif layer.batch_first:
            x = x.swapaxes(0, 1)
        steps, self.batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise layer.input_error("a sequence of at least one step", x)
        self.steps, self.batch_first = steps, layer.batch_first
        self.data = x.reshape(steps * self.batch, x.shape[2])
        self.batch_sizes = (self.batch,) * steps

    def state(self, h: Tensor) -> Tensor:
        """A given initial state (layers, N, H), in the rows' batch order."""
        if self.unbatched:
            return h.unsqueeze(1)
        if self.packed is not None and self.packed.sorted_indices is not None:
            return h[:, self.packed.sorted_indices]
        return h

    def final(self, h: Tensor) -> Tensor:
        """A final state (layers, N, H) in the input's batch order."""
        if self.unbatched:
            return h.squeeze(1)
        if self.packed is not None and self.packed.unsorted_indices is not None:
            return h[:, self.packed.unsorted_indices]
        return h

    def output(self, rows: Tensor) -> Any:
        if self.packed is not None:
            return self.packed._replace(data=rows)
        out = rows.reshape(self.steps, self.batch, rows.shape[-1])
        if self.unbatched:
            return out.squeeze(1)
        return out.swapaxes(0, 1) if self.batch_first else out


class _RNNBase(Module):
    """Shared by RNN, GRU and LSTM: parameters per layer and direction, named as PyTorch
    (``weight_ih_l0``, ``bias_hh_l1_reverse`` …), and the forward pass on ``ops.Recurrence``."""

    gates = 1
    equations: Any
    state_names: tuple[str, ...] = ("hx",)

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

    def _initial(self, hx: Any, rows: _Rows) -> list[tuple[Tensor, ...]]:
        """One initial state (a tuple of (N, H) parts) per layer and direction."""
        layers = self.num_layers * self.num_directions
        like = rows.data
        if hx is None:
            zero = zeros(rows.batch, self.hidden_size, dtype=like.dtype, device=like.device)
            return [(zero,) * len(self.state_names)] * layers
        given = hx if isinstance(hx, tuple) else (hx,)
        if len(given) != len(self.state_names):
            raise ValueError(f"{self._header()}: expected the initial state as "
                             f"({', '.join(self.state_names)}), got {len(given)} tensors")
        expected = (layers, self.hidden_size) if rows.unbatched else (layers, rows.batch, self.hidden_size)
        parts = []
        for h, what in zip(given, self.state_names):
            _check_state(self, h, expected, like, what)
            parts.append(rows.state(h))
        return list(zip(*(Unbind.apply(p, axis=0) for p in parts)))

    def _run(self, rows: _Rows, states: list[tuple[Tensor, ...]]) -> tuple[Tensor, list[tuple]]:
        """Every layer and direction over the rows: (last layer's output rows, final states)."""
        x, finals = rows.data, []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                gi = F.linear(x, w_ih, b_ih)  # x W_ihᵀ + b_ih for every step in one matmul
                out, *final = Recurrence.apply(
                    gi, w_hh, b_hh, *states[layer * self.num_directions + d], cell=self.equations,
                    batch_sizes=rows.batch_sizes, reverse=bool(suffix),
                )
                outs.append(out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else Concat.apply(*outs, axis=1)
            if self.dropout and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return x, finals

    def _forward(self, x: Any, hx: Any) -> tuple[Any, tuple[Tensor, ...]]:
        rows = _Rows(self, x)
        self.check_input_dtype(rows.data, self.weight_ih_l0)
        out, finals = self._run(rows, self._initial(hx, rows))
        parts = tuple(rows.final(Stack.apply(*(f[k] for f in finals), axis=0)) for k in range(len(finals[0])))
        return rows.output(out), parts

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

    def forward(self, x: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        """x (T, N, input) [or (N, T, input) with batch_first, (T, input) unbatched, or a
        PackedSequence] → (out (T, N, D·H) [same layout, or a PackedSequence],
        h_n (num_layers·D, N, H))."""
        out, (h_n,) = self._forward(x, hx)
        return out, h_n


class RNN(_SingleStateRNN):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) (or relu), per layer."""

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
        bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        equations = ElmanStep(nonlinearity)  # rejects a bad nonlinearity before any weight is made
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)
        self.equations, self.nonlinearity = equations, nonlinearity


class GRU(_SingleStateRNN):
    """Multi-layer GRU with PyTorch's gates (r, z, n)."""

    gates = 3
    equations = _GRU

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)


class LSTM(_RNNBase):
    """Multi-layer LSTM with PyTorch's gates (i, f, g, o)."""

    gates = 4
    equations = _LSTM
    state_names = ("h0", "c0")

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        device: Any = None, dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)

    def forward(
        self, x: Any, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Any, tuple[Tensor, Tensor]]:
        """x → (out, (h_n, c_n)), shapes as for ``GRU``."""
        out, (h_n, c_n) = self._forward(x, hx)
        return out, (h_n, c_n)
