"""Padded batches: nn.utils.rnn packing against PyTorch's, the three recurrent layers on
packed input against PyTorch's packed sequences (outputs, h_n, c_n, every gradient), exact
gradients with padding, and the bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..._torch import requires_torch, torch
from ._helpers import (
    assert_same_grads,
    backward_both,
    gradcheck_module,
    load_into_torch,
    swapped_parameters,
    torch_tensor,
)

UNSORTED = [3, 5, 1, 4]  # a batch of 4, padded to 5 steps
SORTED = [5, 4, 3, 1]


def _padded(lengths, batch_first, features=3, seed=0, device="cpu"):
    steps, batch = max(lengths), len(lengths)
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, requires_grad=True, device=device)


# -- packing and unpacking --------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths, enforce_sorted", [(SORTED, True), (UNSORTED, False)])
@requires_torch
def test_packing_equals_pytorchs(lengths, enforce_sorted, batch_first):
    x = _padded(lengths, batch_first)
    ours = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    theirs = torch.nn.utils.rnn.pack_padded_sequence(
        torch_tensor(x), torch.tensor(lengths), batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    for mine, torchs in ((ours.sorted_indices, theirs.sorted_indices),
                         (ours.unsorted_indices, theirs.unsorted_indices)):
        assert (mine is None) == (torchs is None)
        if mine is not None:
            np.testing.assert_array_equal(mine.numpy(), torchs.numpy())
    padded, back = pad_packed_sequence(ours, batch_first=batch_first)
    padded_t, back_t = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first=batch_first)
    np.testing.assert_array_equal(padded.numpy(), padded_t.numpy())
    np.testing.assert_array_equal(back.numpy(), back_t.numpy())
    assert back.dtype == mg.int64


@requires_torch
def test_pad_packed_sequence_padding_value_and_total_length_as_pytorch():
    x = _padded(UNSORTED, batch_first=True)
    ours = pack_padded_sequence(x, UNSORTED, batch_first=True, enforce_sorted=False)
    theirs = torch.nn.utils.rnn.pack_padded_sequence(torch_tensor(x), UNSORTED, batch_first=True,
                                                     enforce_sorted=False)
    padded, _ = pad_packed_sequence(ours, batch_first=True, padding_value=-7.0, total_length=7)
    padded_t, _ = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first=True, padding_value=-7.0,
                                                         total_length=7)
    assert padded.shape == (4, 7, 3)
    np.testing.assert_array_equal(padded.numpy(), padded_t.numpy())


def test_packing_round_trip_keeps_real_tokens_and_gradients_reach_only_them():
    x = _padded(UNSORTED, batch_first=False)
    packed = pack_padded_sequence(x, UNSORTED, enforce_sorted=False)
    padded, lengths = pad_packed_sequence(packed)
    assert lengths.tolist() == UNSORTED
    real = np.arange(5)[:, None] < np.array(UNSORTED)[None, :]  # (steps, batch)
    np.testing.assert_array_equal(padded.numpy(), np.where(real[..., None], x.numpy(), 0.0))
    padded.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(real[..., None], x.shape).astype(float))


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_pass_gradcheck(batch_first):
    x = _padded([3, 1, 2], batch_first, features=2)

    def fn(x):
        packed = pack_padded_sequence(x, [3, 1, 2], batch_first=batch_first, enforce_sorted=False)
        return packed.data, pad_packed_sequence(packed, batch_first=batch_first)[0]

    assert mg.gradcheck(fn, [x])
    assert mg.gradgradcheck(fn, [x])


# -- the layers on packed input, against PyTorch ----------------------------------------------

LAYERS = ["RNN", "RNN-relu", "GRU", "LSTM"]


def _layer_pair(name, **config):
    extra = {"nonlinearity": "relu"} if name == "RNN-relu" else {}
    cls = name.split("-")[0]
    ours = getattr(nn, cls)(3, 4, **config, **extra).double()
    theirs = getattr(torch.nn, cls)(3, 4, **config, **extra).double()
    load_into_torch(ours, theirs)
    return ours, theirs


def _state(name, layers, batch, seed):
    g = np.random.default_rng(seed)
    parts = [mg.tensor(g.standard_normal((layers, batch, 4)), requires_grad=True)
             for _ in range(2 if name == "LSTM" else 1)]
    torch_parts = [torch_tensor(p, requires_grad=True) for p in parts]
    if name == "LSTM":
        return tuple(parts), tuple(torch_parts), parts, torch_parts
    return parts[0], torch_parts[0], parts, torch_parts


@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("config", [
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"num_layers": 2, "bias": False},
], ids=["bidirectional", "2-layer-bidirectional-batch-first", "2-layer-no-bias"])
@pytest.mark.parametrize("lengths, enforce_sorted", [(SORTED, True), (UNSORTED, False)],
                         ids=["sorted", "unsorted"])
@pytest.mark.parametrize("name", LAYERS)
@requires_torch
def test_packed_layers_match_pytorch_packed_sequences(name, lengths, enforce_sorted, config, given_state):
    ours, theirs = _layer_pair(name, **config)
    batch_first = config.get("batch_first", False)
    layers = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    x = _padded(lengths, batch_first, seed=1)
    xt = torch_tensor(x, requires_grad=True)
    hx, hx_t, parts, torch_parts = _state(name, layers, len(lengths), seed=2) if given_state else (None,) * 4
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    packed_t = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                                       enforce_sorted=enforce_sorted)
    out, state = ours(packed, hx)
    out_t, state_t = theirs(packed_t, hx_t)
    assert isinstance(out, PackedSequence)
    padded = pad_packed_sequence(out, batch_first=batch_first)[0]
    padded_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=batch_first)[0]
    backward_both((padded, state), (padded_t, state_t))
    assert_same_grads(ours, theirs, [(x, xt), *zip(parts or (), torch_parts or ())])


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_padded_steps_give_zero_outputs_and_h_n_is_the_state_after_the_last_real_token(name):
    """Checked against the layer run on each sequence alone, with no padding at all."""
    layer = getattr(nn, name)(3, 4, bidirectional=True).double()
    x = _padded(UNSORTED, batch_first=True, seed=4)
    out, state = layer(pack_padded_sequence(x, UNSORTED, batch_first=True, enforce_sorted=False))
    padded = pad_packed_sequence(out, batch_first=True)[0].numpy()
    h_n = (state[0] if name == "LSTM" else state).numpy()
    for b, n in enumerate(UNSORTED):
        alone, alone_state = layer(x[b, :n].detach())  # unbatched (n, 3)
        np.testing.assert_allclose(padded[b, :n], alone.numpy(), atol=1e-12)
        assert not padded[b, n:].any()
        alone_h = (alone_state[0] if name == "LSTM" else alone_state).numpy()
        np.testing.assert_allclose(h_n[:, b], alone_h, atol=1e-12)


# -- exact gradients with padding -------------------------------------------------------------


class _Packed(nn.Module):
    """``layer`` on a packed batch, returning the padded outputs and the final state(s)."""

    def __init__(self, layer, lengths):
        super().__init__()
        self.layer, self.lengths = layer, lengths

    def forward(self, x):
        out, state = self.layer(pack_padded_sequence(x, self.lengths, enforce_sorted=False))
        return pad_packed_sequence(out)[0], state


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_layers_on_packed_input_pass_gradcheck_both_directions(name):
    layer = getattr(nn, name)(2, 2, bidirectional=True)
    x = _padded([2, 3, 1], batch_first=False, features=2, seed=5)
    assert gradcheck_module(_Packed(layer, [2, 3, 1]), x)


@pytest.mark.parametrize("padding", [False, True], ids=["unpadded", "packed"])
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_layers_pass_gradgradcheck_both_directions(name, padding):
    layer = getattr(nn, name)(2, 2, bidirectional=True).double()
    lengths = [2, 3, 1]
    x = _padded(lengths, batch_first=False, features=2, seed=6)
    module = _Packed(layer, lengths) if padding else layer
    named = list(layer.named_parameters())
    names = [f"layer.{n}" if padding else n for n, _ in named]

    def fn(x, *params):
        with swapped_parameters(module, names, params):
            out, state = module(x)
        return (out, *(state if isinstance(state, tuple) else (state,)))

    assert mg.gradgradcheck(fn, [x, *(p for _, p in named)])


# -- bad input ----------------------------------------------------------------------------------


def test_unsorted_lengths_need_enforce_sorted_false():
    with pytest.raises(ValueError, match=r"pack_padded_sequence: lengths \[3, 5, 1, 4\] are not sorted.*"
                                         r"enforce_sorted=False"):
        pack_padded_sequence(_padded(UNSORTED, False), UNSORTED)


@pytest.mark.parametrize("lengths, message", [
    ([3, 0, 2], r"every length must be at least 1, got lengths \[3, 0, 2\]"),
    ([6, 2, 1], r"lengths \[6, 2, 1\] exceed the padded length 5 \(input of shape \(5, 3, 3\)"),
    ([5, 2], r"got 2 lengths for a batch of 3 sequences \(input of shape \(5, 3, 3\) read as "
             r"\(seq, batch, \*\).*check batch_first"),
])
def test_bad_lengths_are_named_with_the_shapes(lengths, message):
    x = mg.zeros(5, 3, 3)
    with pytest.raises(ValueError, match=message):
        pack_padded_sequence(x, lengths, enforce_sorted=False)


def test_batch_first_mix_up_is_caught_by_the_length_count():
    x = mg.zeros(4, 6, 3)  # (batch 4, seq 6) given without batch_first=True
    with pytest.raises(ValueError, match=r"4 lengths for a batch of 6 sequences .*batch_first=False"):
        pack_padded_sequence(x, [6, 5, 2, 1])


@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_initial_state_for_another_batch_size_than_the_packed_batch(name):
    layer = getattr(nn, name)(3, 4)
    packed = pack_padded_sequence(mg.zeros(5, 3, 3), [5, 4, 2])
    h = mg.zeros(1, 2, 4)
    with pytest.raises(ValueError, match=rf"^{name}\(3, 4\): expected h\w* of shape \(1, 3, 4\), got shape "
                                         r"\(1, 2, 4\)"):
        layer(packed, (h, h) if name == "LSTM" else h)


def test_packed_data_of_the_wrong_width_names_the_layer():
    packed = pack_padded_sequence(mg.zeros(5, 3, 2), [5, 4, 2])
    with pytest.raises(ValueError, match=r"^GRU\(3, 4\): expected packed data of shape \(tokens, 3\), got "
                                         r"shape \(11, 2\)"):
        nn.GRU(3, 4)(packed)


def test_lstm_state_must_be_a_pair():
    with pytest.raises(ValueError, match=r"LSTM\(3, 4\): expected the initial state as \(h0, c0\), got 1"):
        nn.LSTM(3, 4)(mg.zeros(5, 2, 3), (mg.zeros(1, 2, 4),))


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_float64_input_to_a_float32_layer_names_the_layer_and_both_dtypes(name):
    with pytest.raises(TypeError, match=rf"^{name}\(3, 4\): input has dtype float64 but the layer's "
                                        r"parameters are float32"):
        getattr(nn, name)(3, 4)(mg.zeros(5, 2, 3, dtype=mg.float64))


def test_float64_state_to_a_float32_layer_names_it():
    with pytest.raises(TypeError, match=r"^GRU\(3, 4\): hx has dtype float64 but the layer's parameters "
                                        r"are float32"):
        nn.GRU(3, 4)(mg.zeros(5, 2, 3), mg.zeros(1, 2, 4, dtype=mg.float64))


def test_empty_sequence_is_refused_as_in_pytorch():
    with pytest.raises(ValueError, match=r"^GRU\(3, 4\): expected a sequence of at least one step, got shape "
                                         r"\(0, 2, 3\)"):
        nn.GRU(3, 4)(mg.zeros(0, 2, 3))


@pytest.mark.gpu
def test_state_on_another_device_names_both(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    layer = nn.GRU(3, 4).to(device)
    with pytest.raises(RuntimeError, match=r"^GRU\(3, 4\): hx is on cpu but the input is on cuda"):
        layer(mg.zeros(5, 2, 3, device=device), mg.zeros(1, 2, 4))


def test_pad_packed_sequence_refuses_a_total_length_shorter_than_the_longest_sequence():
    packed = pack_padded_sequence(mg.zeros(5, 3, 2), [5, 4, 2])
    with pytest.raises(ValueError, match=r"pad_packed_sequence: total_length=4 is shorter than the longest "
                                         r"sequence \(5 steps\)"):
        pad_packed_sequence(packed, total_length=4)


def test_pad_packed_sequence_needs_a_packed_sequence():
    with pytest.raises(TypeError, match=r"pad_packed_sequence: expected a PackedSequence, got Tensor"):
        pad_packed_sequence(mg.zeros(5, 3, 2))


def test_lengths_must_be_integers():
    with pytest.raises(ValueError, match=r"lengths must be a 1-D sequence of integers, got float64 of "
                                         r"shape \(2,\)"):
        pack_padded_sequence(mg.zeros(5, 2, 3), [5.0, 2.0])
