"""Transformer layers against torch.nn (same state dict loaded by name; outputs and every
gradient in eval mode), pre-/post-norm, masks, gradcheck, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from ..._torch import requires_torch, torch
from ._helpers import gradcheck_module, grads_by_name, load_into_torch, torch_tensor

D, HEADS, FF = 8, 2, 12
ATOL = 1e-9


def _pair(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _models(name, **kwargs):
    ours = getattr(nn, name)(D, HEADS, dim_feedforward=FF, **kwargs).double().eval()
    theirs = getattr(torch.nn, name)(D, HEADS, dim_feedforward=FF, **kwargs).double().eval()
    load_into_torch(ours, theirs)
    return ours, theirs


def _compare(out, out_t, ours, theirs, leaves):
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=ATOL)
    v = np.random.default_rng(3).standard_normal(out.shape)
    (out * mg.tensor(v)).sum().backward()
    (out_t * torch.tensor(v)).sum().backward()
    for a, b in leaves:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=ATOL)
    ours_g = grads_by_name(ours)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours_g[name], p.grad.numpy(), atol=ATOL, err_msg=name)


LAYER_CONFIGS = [
    {},
    {"norm_first": True},
    {"activation": "gelu", "batch_first": True},
    {"norm_first": True, "batch_first": True, "bias": False},
]


def _ids(c):
    return ",".join(f"{k}={v}" for k, v in c.items()) or "default"


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=_ids)
@requires_torch
def test_encoder_layer_matches_torch(config):
    ours, theirs = _models("TransformerEncoderLayer", **config)
    shape = (2, 5, D) if config.get("batch_first") else (5, 2, D)
    x, xt = _pair(*shape)
    kpm = np.array([[False] * 4 + [True], [False] * 5])
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=mg.float64)
    out = ours(x, src_mask=mask, src_key_padding_mask=mg.tensor(kpm))
    out_t = theirs(xt, src_mask=torch_tensor(mask), src_key_padding_mask=torch.tensor(kpm))
    _compare(out, out_t, ours, theirs, [(x, xt)])


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=_ids)
@requires_torch
def test_decoder_layer_matches_torch(config):
    ours, theirs = _models("TransformerDecoderLayer", **config)
    bf = config.get("batch_first")
    x, xt = _pair(*((2, 4, D) if bf else (4, 2, D)))
    m, mt = _pair(*((2, 6, D) if bf else (6, 2, D)), seed=1)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=mg.float64)
    mem_kpm = np.zeros((2, 6), dtype=bool)
    mem_kpm[1, 4:] = True
    out = ours(x, m, tgt_mask=tgt_mask, memory_key_padding_mask=mg.tensor(mem_kpm))
    out_t = theirs(xt, mt, tgt_mask=torch_tensor(tgt_mask), memory_key_padding_mask=torch.tensor(mem_kpm))
    _compare(out, out_t, ours, theirs, [(x, xt), (m, mt)])


@pytest.mark.parametrize("norm_first", [False, True])
@requires_torch
def test_transformer_matches_torch_with_every_mask(norm_first):
    kwargs = dict(d_model=D, nhead=HEADS, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF,
                  norm_first=norm_first, batch_first=True)
    ours = nn.Transformer(**kwargs).double().eval()
    theirs = torch.nn.Transformer(**kwargs).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_into_torch(ours, theirs)
    src, src_t = _pair(2, 6, D)
    tgt, tgt_t = _pair(2, 4, D, seed=1)
    src_kpm = np.zeros((2, 6), dtype=bool)
    src_kpm[0, 5:] = True
    tgt_kpm = np.zeros((2, 4), dtype=bool)
    tgt_kpm[1, 3:] = True
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=mg.float64)
    out = ours(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=mg.tensor(src_kpm),
               tgt_key_padding_mask=mg.tensor(tgt_kpm), memory_key_padding_mask=mg.tensor(src_kpm))
    out_t = theirs(src_t, tgt_t, tgt_mask=torch_tensor(tgt_mask), src_key_padding_mask=torch.tensor(src_kpm),
                   tgt_key_padding_mask=torch.tensor(tgt_kpm), memory_key_padding_mask=torch.tensor(src_kpm))
    _compare(out, out_t, ours, theirs, [(src, src_t), (tgt, tgt_t)])


@requires_torch
def test_square_subsequent_mask_equals_torchs():
    ours = nn.Transformer.generate_square_subsequent_mask(5)
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(5)
    assert ours.dtype == mg.float32
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_transformer_init_is_xavier_for_every_matrix():
    mg.manual_seed(0)
    model = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=64)
    w = model.encoder.layers[0].linear1.weight.numpy()  # (64, 32): bound √(6/96)
    bound = np.sqrt(6 / 96)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound


def test_stacked_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=FF)
    enc = nn.TransformerEncoder(layer, 3)
    assert len({id(m.linear1.weight) for m in enc.layers}) == 3
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.numpy(), enc.layers[2].linear1.weight.numpy())
    enc.layers[0].linear1.weight.data[...] = 0
    assert enc.layers[1].linear1.weight.numpy().any()


@pytest.mark.parametrize("name", ["TransformerEncoderLayer", "TransformerDecoderLayer"])
def test_layers_pass_gradcheck(name):
    layer = getattr(nn, name)(4, 2, dim_feedforward=6).eval()
    x = mg.randn(3, 2, 4, requires_grad=True)
    inputs = (x, mg.randn(2, 2, 4, requires_grad=True)) if name == "TransformerDecoderLayer" else (x,)
    assert gradcheck_module(layer, *inputs)


def test_dropout_makes_training_output_differ_from_eval():
    layer = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=FF, dropout=0.3)
    x = mg.randn(4, 2, D)
    train_out = layer(x).numpy()
    eval_out = layer.eval()(x).numpy()
    assert not np.allclose(train_out, eval_out)
    np.testing.assert_array_equal(eval_out, layer(x).numpy())


def test_seed_snippet_shape_runs_end_to_end():
    """Embedding → positional encoding → nn.Transformer → Linear, trained one step."""
    vocab, d = 11, 8
    emb, pos = nn.Embedding(vocab, d, padding_idx=0), nn.PositionalEncoding(d, batch_first=True)
    model = nn.Transformer(d, 2, 1, 1, 16, dropout=0.1, batch_first=True)
    head, loss_fn = nn.Linear(d, vocab), nn.CrossEntropyLoss(ignore_index=0)
    src, tgt = mg.tensor([[3, 4, 5, 0]]), mg.tensor([[1, 3, 4, 5]])
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    out = model(pos(emb(src)), pos(emb(tgt[:, :-1])), tgt_mask=mask, src_key_padding_mask=src == 0)
    loss = loss_fn(head(out).reshape(-1, vocab), tgt[:, 1:].reshape(-1))
    loss.backward()
    assert np.isfinite(loss.item()) and model.encoder.layers[0].self_attn.in_proj_weight.grad is not None


@pytest.mark.parametrize(
    "src_shape, tgt_shape, match",
    [((5, 2, 7), (4, 2, 8), "last dimension 8"), ((5, 2, 8), (4, 3, 8), "same batch size")],
)
def test_transformer_bad_shapes_raise(src_shape, tgt_shape, match):
    model = nn.Transformer(D, HEADS, 1, 1, FF)
    with pytest.raises(ValueError, match=match):
        model(mg.zeros(*src_shape), mg.zeros(*tgt_shape))


def test_unknown_activation_raises():
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(D, HEADS, activation="swish")


def test_full_transformer_passes_gradcheck():
    model = nn.Transformer(4, 2, 1, 1, 6).eval()
    src, tgt = mg.randn(3, 2, 4, requires_grad=True), mg.randn(2, 2, 4, requires_grad=True)
    assert gradcheck_module(model, src, tgt, fast_mode=True)
