"""MultiHeadAttention and PositionalEncoding: against torch.nn.MultiheadAttention (outputs,
weights and every gradient, after loading the same state dict), masks both ways,
gradcheck, PyTorch's init, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from ..._torch import requires_torch, torch
from ._helpers import gradcheck_module, grads_by_name, load_into_torch, torch_tensor

E, H = 6, 3
ATOL = 1e-10


def _pair(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _mha(**kwargs):
    return nn.MultiHeadAttention(E, H, **kwargs).double().eval()


def _mha_pair(**kwargs):
    ours = _mha(**kwargs)
    theirs = torch.nn.MultiheadAttention(E, H, **kwargs).double()
    load_into_torch(ours, theirs)
    return ours, theirs.eval()


def _compare(ours_out, theirs_out, ours, theirs, leaves):
    """Outputs equal; then the same cotangent through output (and weights) gives equal grads."""
    gen = np.random.default_rng(3)
    total, total_t = 0, 0
    for o, t in zip(ours_out, theirs_out):
        if o is None:
            assert t is None
            continue
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), atol=ATOL)
        v = gen.standard_normal(o.shape)
        total = total + (o * mg.tensor(v)).sum()
        total_t = total_t + (t * torch.tensor(v)).sum()
    total.backward()
    total_t.backward()
    for a, b in leaves:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=ATOL)
    ours_g = grads_by_name(ours)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours_g[name], p.grad.numpy(), atol=ATOL, err_msg=name)


@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@requires_torch
def test_self_attention_matches_torch_with_weights(batch_first, average):
    ours, theirs = _mha_pair(batch_first=batch_first)
    x, xt = _pair(*((2, 4, E) if batch_first else (4, 2, E)))
    _compare(
        ours(x, x, x, average_attn_weights=average), theirs(xt, xt, xt, average_attn_weights=average),
        ours, theirs, [(x, xt)],
    )


@pytest.mark.parametrize("bias", [True, False])
@requires_torch
def test_cross_attention_matches_torch(bias):
    ours, theirs = _mha_pair(bias=bias)
    q, qt = _pair(3, 2, E)
    k, kt = _pair(5, 2, E, seed=1)
    v, vt = _pair(5, 2, E, seed=2)
    _compare(ours(q, k, v), theirs(qt, kt, vt), ours, theirs, [(q, qt), (k, kt), (v, vt)])


@requires_torch
def test_unbatched_input_matches_torch():
    ours, theirs = _mha_pair()
    q, qt = _pair(3, E)
    k, kt = _pair(4, E, seed=1)
    _compare(ours(q, k, k), theirs(qt, kt, kt), ours, theirs, [(q, qt), (k, kt)])


def _masks(kind):
    rng = np.random.default_rng(5)
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[0, 3:] = True
    kpm[1, 4] = True
    bool_attn = rng.random((3, 5)) < 0.3
    bool_attn[:, 0] = False
    return {
        "key_padding": {"key_padding_mask": kpm},
        "bool_attn": {"attn_mask": bool_attn},
        "bool_attn_per_head": {"attn_mask": np.broadcast_to(bool_attn, (2 * H, 3, 5)).copy()},
        "float_attn": {"attn_mask": rng.standard_normal((3, 5))},
        "float_key_padding": {"key_padding_mask": np.where(kpm, -np.inf, 0.0)},
        "both": {"key_padding_mask": kpm, "attn_mask": bool_attn},
    }[kind]


@pytest.mark.parametrize(
    "kind", ["key_padding", "bool_attn", "bool_attn_per_head", "float_attn", "float_key_padding", "both"]
)
@requires_torch
def test_masks_follow_torch_conventions(kind):
    ours, theirs = _mha_pair()
    q, qt = _pair(3, 2, E)
    k, kt = _pair(5, 2, E, seed=1)
    masks = _masks(kind)
    _compare(
        ours(q, k, k, **{n: mg.tensor(m) for n, m in masks.items()}),
        theirs(qt, kt, kt, **{n: torch.tensor(m) for n, m in masks.items()}),
        ours, theirs, [(q, qt), (k, kt)],
    )


@requires_torch
def test_is_causal_uses_the_given_causal_mask_like_torch():
    ours, theirs = _mha_pair()
    x, xt = _pair(4, 2, E)
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=mg.float64)
    _compare(
        ours(x, x, x, attn_mask=mask, is_causal=True, need_weights=False),
        theirs(xt, xt, xt, attn_mask=torch_tensor(mask), is_causal=True, need_weights=False),
        ours, theirs, [(x, xt)],
    )


def test_is_causal_without_a_mask_hides_the_future():
    ours = _mha()
    x = mg.randn(4, 2, E, dtype=mg.float64)
    causal = ours(x, x, x, is_causal=True)[0].numpy()
    explicit = ours(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(4, dtype=mg.float64))[0]
    np.testing.assert_allclose(causal, explicit.numpy(), atol=1e-12)


@requires_torch
def test_fully_masked_query_is_finite_and_matches_torch_fast_path():
    ours, theirs = _mha_pair()
    x, xt = _pair(3, 2, E)
    kpm = np.array([[True, True, True], [False, True, False]])
    out, weights = ours(x, x, x, key_padding_mask=mg.tensor(kpm))
    assert np.isfinite(out.numpy()).all() and np.isfinite(weights.numpy()).all()
    theirs_out, _ = theirs(xt, xt, xt, key_padding_mask=torch.tensor(kpm), need_weights=False)
    np.testing.assert_allclose(out.numpy(), theirs_out.detach().numpy(), atol=ATOL)
    out.sum().backward()
    assert all(np.isfinite(p.grad.numpy()).all() for p in ours.parameters())


def test_need_weights_false_returns_none():
    ours = _mha()
    x = mg.randn(3, 2, E, dtype=mg.float64)
    out, weights = ours(x, x, x, need_weights=False)
    assert weights is None and out.shape == (3, 2, E)


def test_attention_dropout_is_active_only_in_training():
    mha = nn.MultiHeadAttention(E, H, dropout=0.5)
    x = mg.randn(5, 2, E)
    mg.manual_seed(0)
    a = mha(x, x, x)[0].numpy()
    mg.manual_seed(1)
    b = mha(x, x, x)[0].numpy()
    assert not np.allclose(a, b)
    mha.eval()
    np.testing.assert_array_equal(mha(x, x, x)[0].numpy(), mha(x, x, x)[0].numpy())


def test_mha_passes_gradcheck():
    mha = nn.MultiHeadAttention(4, 2).eval()
    q = mg.randn(3, 2, 4, requires_grad=True)
    k = mg.randn(2, 2, 4, requires_grad=True)
    mask = mg.tensor([[False, True], [False, False], [True, False]])
    assert gradcheck_module(_MaskedAttention(mha, mask), q, k)


class _MaskedAttention(nn.Module):
    def __init__(self, mha, mask):
        super().__init__()
        self.mha, self.mask = mha, mask

    def forward(self, q, k):
        return self.mha(q, k, k, attn_mask=self.mask)


@requires_torch
def test_parameter_names_shapes_and_init_follow_torch():
    mg.manual_seed(0)
    ours = nn.MultiHeadAttention(64, 4)
    theirs = torch.nn.MultiheadAttention(64, 4)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()
    ]
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier on the packed (3E, E) weight
    w = ours.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert not ours.in_proj_bias.numpy().any() and not ours.out_proj.bias.numpy().any()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m(mg.zeros(3, 2, 5), mg.zeros(3, 2, 5), mg.zeros(3, 2, 5)),
         r"MultiHeadAttention\(embed_dim=6, num_heads=3\): expected query.*\(3, 2, 5\)"),
        (lambda m: m(mg.zeros(3, 2, E), mg.zeros(4, 2, E), mg.zeros(5, 2, E)), "same shape"),
        (lambda m: m(mg.zeros(3, 2, E), mg.zeros(4, 3, E), mg.zeros(4, 3, E)), "batch size"),
        (lambda m: m(mg.zeros(3, 2, E), mg.zeros(4, 2, E), mg.zeros(4, 2, E),
                     key_padding_mask=mg.zeros(2, 3, dtype=mg.bool_)), r"key_padding_mask.*\(2, 4\)"),
        (lambda m: m(mg.zeros(3, 2, E), mg.zeros(4, 2, E), mg.zeros(4, 2, E),
                     attn_mask=mg.zeros(4, 4)), r"attn_mask.*\(3, 4\)"),
    ],
    ids=["embed-dim", "key-value", "batch", "padding-mask", "attn-mask"],
)
def test_bad_input_raises_naming_the_layer(call, match):
    with pytest.raises(ValueError, match=match):
        call(nn.MultiHeadAttention(E, H))


def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiHeadAttention(10, 3)


# -- positional encoding -----------------------------------------------------------------------


def _closed_form(max_len, d):
    pe = np.zeros((max_len, d))
    for pos in range(max_len):
        for i in range(d):
            angle = pos / 10000 ** (2 * (i // 2) / d)
            pe[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return pe


@pytest.mark.parametrize("d", [6, 7])
def test_positional_encoding_is_the_sinusoid_formula(d):
    pe = nn.PositionalEncoding(d, max_len=20, dtype=mg.float64)
    x = mg.zeros(20, 1, d, dtype=mg.float64)
    np.testing.assert_allclose(pe(x).numpy()[:, 0], _closed_form(20, d), atol=1e-12)


def test_positional_encoding_runs_over_the_sequence_axis_in_both_layouts():
    x = mg.randn(2, 5, 4)
    first = nn.PositionalEncoding(4, batch_first=True)(x).numpy()
    second = nn.PositionalEncoding(4)(x.swapaxes(0, 1)).numpy().swapaxes(0, 1)
    np.testing.assert_allclose(first, second)
    np.testing.assert_allclose(first - x.numpy(), np.broadcast_to(_closed_form(5, 4), (2, 5, 4)), atol=1e-6)


def test_positional_encoding_table_is_not_saved_but_moves_with_to():
    pe = nn.PositionalEncoding(4, max_len=10)
    assert pe.state_dict() == {} and list(pe.parameters()) == []
    pe.to(mg.float64)
    assert pe.pe.dtype == mg.float64


def test_positional_encoding_rejects_too_long_or_wrong_width():
    pe = nn.PositionalEncoding(4, max_len=8)
    with pytest.raises(ValueError, match="max_len=8"):
        pe(mg.zeros(9, 1, 4))
    with pytest.raises(ValueError, match=r"PositionalEncoding\(d_model=4.*\(3, 1, 5\)"):
        pe(mg.zeros(3, 1, 5))
