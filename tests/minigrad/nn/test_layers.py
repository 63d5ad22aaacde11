"""Basic layers against PyTorch (outputs and gradients), gradcheck over inputs and
parameters, PyTorch's default initialisation, and the errors for wrong input shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from ..._torch import requires_torch, torch
from ._helpers import gradcheck_module, grads_by_name, load_into_torch, torch_tensor


def _compare_with_torch(ours, theirs, x: mg.Tensor, atol: float = 1e-6) -> None:
    """Same weights, same input: same output and same gradients (input and parameters)."""
    load_into_torch(ours, theirs)
    xt = torch_tensor(x, requires_grad=x.dtype.kind == "f")
    out, out_t = ours(x), theirs(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=atol)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(mg.tensor(g, dtype=out.dtype))
    out_t.backward(torch.tensor(g, dtype=out_t.dtype))
    if x.requires_grad:
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=atol)
    ours_g = grads_by_name(ours)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours_g[name], p.grad.numpy(), atol=atol, err_msg=name)


# -- Linear ---------------------------------------------------------------------------


@requires_torch
def test_linear_matches_torch_on_batched_input():
    x = mg.randn(2, 3, 5, dtype=mg.float64, requires_grad=True)
    ours = nn.Linear(5, 4).double()
    _compare_with_torch(ours, torch.nn.Linear(5, 4).double(), x, atol=1e-12)


@requires_torch
def test_linear_without_bias_matches_torch():
    x = mg.randn(3, 5, requires_grad=True)
    _compare_with_torch(nn.Linear(5, 2, bias=False), torch.nn.Linear(5, 2, bias=False), x, atol=1e-5)


def test_linear_passes_gradcheck():
    assert gradcheck_module(nn.Linear(3, 2), mg.randn(4, 3, requires_grad=True))


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    mg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(-b, b) has std b/√3
    assert np.abs(lin.bias.numpy()).max() <= bound


def test_manual_seed_makes_initialisation_repeat():
    mg.manual_seed(3)
    a = nn.Linear(4, 4).weight.numpy().copy()
    mg.manual_seed(3)
    b = nn.Linear(4, 4).weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_linear_device_and_dtype_arguments(device):
    lin = nn.Linear(2, 3, device=device, dtype=mg.float64)
    assert lin.weight.device == device and lin.weight.dtype == mg.float64
    assert lin.bias.device == device and lin.bias.dtype == mg.float64


def test_linear_wrong_last_dimension_names_layer_and_shapes():
    with pytest.raises(ValueError) as info:
        nn.Linear(4, 3)(mg.zeros(2, 5))
    msg = str(info.value)
    assert "Linear(in_features=4, out_features=3" in msg
    assert "last dimension 4" in msg and "(2, 5)" in msg


# -- Embedding --------------------------------------------------------------------------


@requires_torch
def test_embedding_matches_torch_and_padding_row_gets_no_gradient():
    ids = mg.tensor([[0, 2, 2, 4], [1, 0, 3, 2]])
    ours = nn.Embedding(5, 3, padding_idx=0)
    theirs = torch.nn.Embedding(5, 3, padding_idx=0)
    assert np.all(ours.weight.numpy()[0] == 0)
    _compare_with_torch(ours, theirs, ids)
    np.testing.assert_array_equal(ours.weight.grad.numpy()[0], np.zeros(3))


def test_embedding_negative_padding_idx_counts_from_the_end():
    emb = nn.Embedding(6, 2, padding_idx=-1)
    assert emb.padding_idx == 5 and np.all(emb.weight.numpy()[5] == 0)


def test_embedding_default_init_is_standard_normal():
    mg.manual_seed(0)
    w = nn.Embedding(1000, 100).weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_embedding_passes_gradcheck():
    # The padding row's gradient is zero by design, not the true one: leave it unused here.
    ids = mg.tensor([[1, 2, 1], [0, 2, 2]])
    emb = nn.Embedding(4, 3, padding_idx=3)
    assert gradcheck_module(emb, ids)


@pytest.mark.parametrize("bad", [[0, 5], [-1, 0]])
def test_embedding_out_of_range_ids_raise(bad):
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        nn.Embedding(5, 2)(mg.tensor(bad))


def test_embedding_float_ids_raise():
    with pytest.raises(TypeError, match="integers"):
        nn.Embedding(5, 2)(mg.tensor([0.0, 1.0]))


# -- LayerNorm ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [4, (3, 4)])
@requires_torch
def test_layernorm_matches_torch(shape):
    x = mg.randn(2, 3, 4, dtype=mg.float64, requires_grad=True)
    ours = nn.LayerNorm(shape).double()
    with mg.no_grad():
        ours.weight.data[...] = mg.randn(*ours.weight.shape, dtype=mg.float64).data
        ours.bias.data[...] = mg.randn(*ours.bias.shape, dtype=mg.float64).data
    _compare_with_torch(ours, torch.nn.LayerNorm(shape).double(), x, atol=1e-10)


def test_layernorm_passes_gradcheck():
    ln = nn.LayerNorm(4)
    with mg.no_grad():
        ln.weight.data[...] = mg.randn(4).data
    assert gradcheck_module(ln, mg.randn(3, 4, requires_grad=True))


def test_layernorm_without_affine_has_no_parameters():
    ln = nn.LayerNorm(3, elementwise_affine=False)
    assert list(ln.parameters()) == []
    y = ln(mg.tensor([[1.0, 2.0, 3.0]], dtype=mg.float64))
    np.testing.assert_allclose(y.numpy(), [[-1.2247357, 0.0, 1.2247357]], atol=1e-6)


def test_layernorm_wrong_trailing_shape_raises():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\).*\(4,\).*\(2, 5\)"):
        nn.LayerNorm(4)(mg.zeros(2, 5))


# -- Dropout --------------------------------------------------------------------------------


def test_dropout_scales_kept_units_in_training_and_is_identity_in_eval():
    mg.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = mg.ones(200, 200)
    y = drop(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    drop.eval()
    assert drop(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(p)


# -- losses ------------------------------------------------------------------------------------


@requires_torch
def test_cross_entropy_loss_module_matches_torch_defaults():
    logits = mg.randn(6, 4, dtype=mg.float64, requires_grad=True)
    target = mg.tensor([0, 3, -100, 1, 2, -100])
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target)
    lt = torch_tensor(logits, requires_grad=True)
    loss_t = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(lt, torch.tensor(target.numpy()))
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-12)
    np.testing.assert_allclose(logits.grad.numpy(), lt.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@requires_torch
def test_mse_loss_module_matches_torch(reduction):
    pred = mg.randn(3, 2, dtype=mg.float64)
    target = mg.randn(3, 2, dtype=mg.float64)
    ours = nn.MSELoss(reduction)(pred, target).numpy()
    theirs = torch.nn.MSELoss(reduction=reduction)(torch_tensor(pred), torch_tensor(target)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# -- activations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"])
@requires_torch
def test_activation_layers_match_torch(name):
    x = mg.randn(3, 5, dtype=mg.float64)
    kwargs = {"dim": -1} if "Softmax" in name else {}
    ours = getattr(nn, name)(**kwargs)(x).numpy()
    theirs = getattr(torch.nn, name)(**kwargs)(torch_tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


# -- gradcheck of the remaining layers -------------------------------------------------------


class _Seeded(nn.Module):
    """Re-seed before each call, so a random layer draws the same mask on every evaluation."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args):
        mg.manual_seed(11)
        return self.inner(*args)


def test_dropout_in_training_passes_gradcheck_with_a_fixed_mask():
    assert gradcheck_module(_Seeded(nn.Dropout(0.4)), mg.randn(3, 4, requires_grad=True))


@pytest.mark.parametrize("name", ["ReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"])
def test_activation_layers_pass_gradcheck(name):
    x = mg.tensor(np.random.default_rng(0).uniform(0.1, 2.0, (3, 4)) * np.array([1, -1, 1, -1]),
                  requires_grad=True)  # away from relu's kink at 0
    assert gradcheck_module(getattr(nn, name)(), x)


def test_loss_layers_pass_gradcheck():
    logits = mg.randn(4, 3, requires_grad=True)
    target = mg.tensor([0, 2, -100, 1])
    assert gradcheck_module(_WithTarget(nn.CrossEntropyLoss(label_smoothing=0.1), target), logits)
    pred, goal = mg.randn(3, 2, requires_grad=True), mg.randn(3, 2, requires_grad=True)
    assert gradcheck_module(nn.MSELoss(), pred, goal)


class _WithTarget(nn.Module):
    def __init__(self, loss: nn.Module, target: mg.Tensor) -> None:
        super().__init__()
        self.loss, self.target = loss, target

    def forward(self, x):
        return self.loss(x, self.target)


def test_sequential_mlp_passes_gradcheck():
    mlp = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    assert gradcheck_module(mlp, mg.randn(2, 3, requires_grad=True))


def test_positional_encoding_passes_gradcheck():
    assert gradcheck_module(nn.PositionalEncoding(4, max_len=8), mg.randn(3, 2, 4, requires_grad=True))
