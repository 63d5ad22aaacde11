"""Recurrent cells and layers against torch.nn (outputs and every gradient, after copying
weights by name), gradcheck over inputs and parameters, and bad-input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from ..._torch import requires_torch, torch
from ._helpers import assert_same_grads, backward_both, gradcheck_module, load_into_torch, torch_tensor


def _leaf(*shape):
    x = mg.randn(*shape, dtype=mg.float64, requires_grad=True)
    return x, torch_tensor(x, requires_grad=True)


# -- cells --------------------------------------------------------------------------------


@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize(
    "name, kwargs", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("GRUCell", {}),
                     ("RNNCell", {"bias": False}), ("GRUCell", {"bias": False})],
)
@requires_torch
def test_single_state_cells_match_torch(name, kwargs, unbatched):
    ours = getattr(nn, name)(3, 4, **kwargs).double()
    theirs = getattr(torch.nn, name)(3, 4, **kwargs).double()
    load_into_torch(ours, theirs)
    lead = () if unbatched else (2,)
    x, xt = _leaf(*lead, 3)
    h, ht = _leaf(*lead, 4)
    backward_both(ours(x, h), theirs(xt, ht))
    assert_same_grads(ours, theirs, [(x, xt), (h, ht)])


@pytest.mark.parametrize("unbatched", [False, True])
@requires_torch
def test_lstm_cell_matches_torch(unbatched):
    ours, theirs = nn.LSTMCell(3, 4).double(), torch.nn.LSTMCell(3, 4).double()
    load_into_torch(ours, theirs)
    lead = () if unbatched else (2,)
    x, xt = _leaf(*lead, 3)
    h, ht = _leaf(*lead, 4)
    c, ct = _leaf(*lead, 4)
    backward_both(ours(x, (h, c)), theirs(xt, (ht, ct)))
    assert_same_grads(ours, theirs, [(x, xt), (h, ht), (c, ct)])


def test_cells_default_hidden_state_is_zero():
    cell = nn.GRUCell(2, 3)
    x = mg.randn(4, 2)
    np.testing.assert_array_equal(cell(x).numpy(), cell(x, mg.zeros(4, 3)).numpy())


def test_rnn_cell_is_the_seed_equation():
    cell = nn.RNNCell(2, 3).double()
    x, h = mg.randn(1, 2, dtype=mg.float64), mg.randn(1, 3, dtype=mg.float64)
    W_x, W_h = cell.weight_ih.numpy(), cell.weight_hh.numpy()
    b = cell.bias_ih.numpy() + cell.bias_hh.numpy()
    expected = np.tanh(x.numpy() @ W_x.T + h.numpy() @ W_h.T + b)
    np.testing.assert_allclose(cell(x, h).numpy(), expected, atol=1e-14)


@pytest.mark.parametrize("name", ["RNNCell", "GRUCell", "LSTMCell"])
def test_cells_pass_gradcheck(name):
    cell = getattr(nn, name)(2, 3)
    x = mg.randn(2, 2, requires_grad=True)
    h = mg.randn(2, 3, requires_grad=True)
    state = (h, mg.randn(2, 3, requires_grad=True)) if name == "LSTMCell" else h
    if name == "LSTMCell":
        assert gradcheck_module(_CellWithState(cell), x, *state)
    else:
        assert gradcheck_module(cell, x, state)


class _CellWithState(nn.Module):
    """LSTMCell with (h, c) as separate arguments, so gradcheck sees them as inputs."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x, h, c):
        return self.cell(x, (h, c))


# -- sequence layers -------------------------------------------------------------------------

CONFIGS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"batch_first": True, "bias": False},
]


def _pair(name, config, input_size=3, hidden=4):
    extra = {"nonlinearity": "relu"} if name == "RNN-relu" else {}
    cls = name.split("-")[0]
    ours = getattr(nn, cls)(input_size, hidden, **config, **extra).double()
    theirs = getattr(torch.nn, cls)(input_size, hidden, **config, **extra).double()
    load_into_torch(ours, theirs)
    return ours, theirs


def _config_id(config: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "default"


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize("name", ["RNN", "RNN-relu", "GRU", "LSTM"])
@requires_torch
def test_sequence_layers_match_torch_outputs_and_gradients(name, config):
    ours, theirs = _pair(name, config)
    layers = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    shape = (2, 5, 3) if config.get("batch_first") else (5, 2, 3)
    x, xt = _leaf(*shape)
    h, ht = _leaf(layers, 2, 4)
    if name == "LSTM":
        c, ct = _leaf(layers, 2, 4)
        backward_both(ours(x, (h, c)), theirs(xt, (ht, ct)))
        assert_same_grads(ours, theirs, [(x, xt), (h, ht), (c, ct)])
    else:
        backward_both(ours(x, h), theirs(xt, ht))
        assert_same_grads(ours, theirs, [(x, xt), (h, ht)])


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@requires_torch
def test_unbatched_input_and_default_state_match_torch(name):
    ours, theirs = _pair(name, {"num_layers": 2, "bidirectional": True})
    x, xt = _leaf(4, 3)
    backward_both(ours(x), theirs(xt))
    assert_same_grads(ours, theirs, [(x, xt)])


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@requires_torch
def test_parameter_names_and_shapes_are_pytorchs(name):
    ours = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True)
    theirs = getattr(torch.nn, name)(3, 4, num_layers=2, bidirectional=True)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()
    ]
    assert repr(ours) == repr(theirs)


def test_recurrent_init_is_uniform_within_one_over_sqrt_hidden():
    mg.manual_seed(0)
    values = np.concatenate([p.numpy().ravel() for p in nn.LSTM(16, 64).parameters()])
    bound = 1 / math.sqrt(64)
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_layers_pass_gradcheck(name):
    layer = getattr(nn, name)(2, 2, num_layers=2, bidirectional=True)
    x = mg.randn(3, 2, 2, requires_grad=True)
    assert gradcheck_module(layer, x)


@requires_torch
def test_dropout_acts_between_layers_only_in_training():
    mg.manual_seed(0)
    gru = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = mg.randn(6, 2, 3)
    train_out = gru(x)[0].numpy()
    gru.eval()
    eval_out = gru(x)[0].numpy()
    assert not np.allclose(train_out, eval_out)
    theirs = torch.nn.GRU(3, 4, num_layers=2, dropout=0.5).eval()
    load_into_torch(gru, theirs)
    np.testing.assert_allclose(eval_out, theirs(torch_tensor(x))[0].detach().numpy(), atol=1e-6)


def test_bptt_through_a_long_sequence():
    rnn = nn.RNN(1, 2)
    x = mg.randn(2000, 1, 1, requires_grad=True)
    out, _ = rnn(x)
    out[-1].sum().backward()
    assert x.grad.shape == (2000, 1, 1) and np.isfinite(x.grad.numpy()).all()


def test_wrong_input_size_names_the_layer():
    with pytest.raises(ValueError) as info:
        nn.GRU(3, 4, batch_first=True)(mg.zeros(2, 5, 7))
    msg = str(info.value)
    assert msg.startswith("GRU(3, 4, batch_first=True)") and "(batch, seq, 3)" in msg and "(2, 5, 7)" in msg


def test_wrong_hidden_state_shape_raises():
    with pytest.raises(ValueError, match=r"LSTM\(3, 4, num_layers=2\).*h0.*\(2, 5, 4\).*\(1, 5, 4\)"):
        nn.LSTM(3, 4, num_layers=2)(mg.zeros(6, 5, 3), (mg.zeros(1, 5, 4), mg.zeros(2, 5, 4)))


def test_cell_wrong_input_raises():
    with pytest.raises(ValueError, match=r"RNNCell\(3, 4\).*\(batch, 3\).*\(2, 2\)"):
        nn.RNNCell(3, 4)(mg.zeros(2, 2))


@pytest.mark.parametrize("bad", [{"nonlinearity": "sigmoid"}, {"dropout": 1.5}, {"num_layers": 0}])
def test_bad_constructor_arguments_raise(bad):
    with pytest.raises(ValueError):
        nn.RNN(3, 4, **bad)
