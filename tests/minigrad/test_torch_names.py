"""PyTorch's spellings, accepted where they change no NumPy meaning: dtype names, function
forms, Tensor methods, ``dim=``/``keepdim=`` keywords, ``max(dim=…)`` → (values, indices),
``nn.functional`` and ``nn.utils``; and the errors and warnings that point a PyTorch user
the way where NumPy's meaning is kept (``x.transpose(0, 1)``, ``x.max(1)``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

from .._torch import requires_torch, torch


def _x(*shape, seed=0, dtype=np.float64, device="cpu"):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), device=device)


def test_dtype_names():
    assert (mg.long, mg.float, mg.double) == (mg.int64, mg.float32, mg.float64)
    assert mg.tensor([1.0], dtype=mg.double).dtype == np.float64
    exported = set(mg.__all__)
    assert not exported & {"float", "long", "double", "abs"}  # `import *` keeps Python's builtins


# -- dim= / keepdim= -----------------------------------------------------------------------

NUMPY_VS_TORCH = {
    "sum": (lambda x: x.sum(axis=1, keepdims=True), lambda x: x.sum(dim=1, keepdim=True)),
    "mean": (lambda x: x.mean(axis=(0, 2)), lambda x: x.mean(dim=(0, 2))),
    "var": (lambda x: x.var(axis=-1, keepdims=True), lambda x: x.var(dim=-1, keepdim=True)),
    "logsumexp": (lambda x: x.logsumexp(axis=0), lambda x: x.logsumexp(dim=0)),
    "max": (lambda x: x.max(axis=2, keepdims=True), lambda x: x.max(dim=2, keepdim=True).values),
    "min": (lambda x: x.min(axis=0), lambda x: x.min(dim=0).values),
    "argmax": (lambda x: x.argmax(axis=1, keepdims=True), lambda x: x.argmax(dim=1, keepdim=True)),
    "argmin": (lambda x: x.argmin(axis=2), lambda x: x.argmin(dim=2)),
    "squeeze": (lambda x: x[:, :1].squeeze(axis=1), lambda x: x[:, :1].squeeze(dim=1)),
    "unsqueeze": (lambda x: x.unsqueeze(axis=1), lambda x: x.unsqueeze(dim=1)),
    "softmax": (lambda x: F.softmax(x, axis=1), lambda x: F.softmax(x, dim=1)),
    "log_softmax": (lambda x: F.log_softmax(x, axis=0), lambda x: F.log_softmax(x, dim=0)),
    "concat": (lambda x: mg.concat([x, x], axis=2), lambda x: mg.concat([x, x], dim=2)),
    "cat": (lambda x: mg.concat([x, x], axis=1), lambda x: mg.cat([x, x], dim=1)),
    "stack": (lambda x: mg.stack([x, x], axis=-1), lambda x: mg.stack([x, x], dim=-1)),
    "mg.argmax": (lambda x: x.argmax(axis=0), lambda x: mg.argmax(x, dim=0)),
}


@pytest.mark.parametrize("name", list(NUMPY_VS_TORCH))
def test_dim_and_keepdim_mean_axis_and_keepdims(name, device):
    numpy_form, torch_form = NUMPY_VS_TORCH[name]
    x = _x(2, 3, 4, device=device)
    expected, got = numpy_form(x), torch_form(x)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.sum(axis=0, dim=0),
        lambda x: x.sum(0, dim=0),
        lambda x: x.mean(keepdims=True, keepdim=True),
        lambda x: x.max(axis=1, dim=1),
        lambda x: F.softmax(x, -1, dim=-1),
        lambda x: mg.concat([x], axis=0, dim=0),
    ],
)
def test_both_spellings_of_one_argument_is_a_clear_error(call):
    with pytest.raises(TypeError, match=r"^\w+\(\) got both (axis and dim|keepdims and keepdim)"):
        call(_x(2, 3))


def test_dim_keyword_keeps_gradients():
    x = _x(3, 4).requires_grad_()
    assert mg.gradcheck(lambda t: t.sum(dim=1, keepdim=True) * t.mean(dim=0), [x])


# -- max/min(dim=) → (values, indices); axis= and positional keep NumPy's values only --------


@requires_torch
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices_as_torch(name, keepdim):
    a = np.random.default_rng(1).integers(0, 4, (3, 5)).astype(np.float64)  # ties included
    values, indices = getattr(mg.tensor(a), name)(dim=1, keepdim=keepdim)
    theirs = getattr(torch.tensor(a), name)(dim=1, keepdim=keepdim)
    np.testing.assert_array_equal(values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(indices.numpy(), getattr(a, "arg" + name)(axis=1, keepdims=keepdim))
    assert indices.dtype == mg.int64


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_axis_or_positional_keep_numpy_values_only(name):
    x = _x(2, 3)
    for result in (getattr(x, name)(1), getattr(x, name)(axis=1)):
        assert isinstance(result, mg.Tensor)
        np.testing.assert_array_equal(result.numpy(), getattr(x.numpy(), name)(axis=1))


def test_max_with_dim_values_carry_the_gradient(device):
    x = _x(3, 4, device=device).requires_grad_()
    assert mg.gradcheck(lambda t: t.max(dim=1).values * 2.0, [x])
    assert mg.gradcheck(lambda t: t.min(dim=0, keepdim=True)[0], [x])


def test_max_of_a_tensor_points_to_maximum():
    x = _x(2)
    with pytest.raises(TypeError, match=r"mg\.maximum\(x, other\)"):
        x.max(x)
    with pytest.raises(TypeError, match=r"mg\.minimum\(x, other\)"):
        x.min(x)


def test_max_with_several_dims_points_to_axis():
    with pytest.raises(TypeError, match=r"x\.max\(axis=\(0, 1\)\)"):
        _x(2, 3).max(dim=(0, 1))


def test_float_index_from_unpacked_max_points_to_dim():
    x = _x(2, 3)
    _, not_indices = x.max(1)  # NumPy's meaning: two rows of values
    with pytest.raises(IndexError, match=r"x\.max\(dim=d\) returns \(values, indices\)"):
        x[0, not_indices]


# -- Tensor methods ---------------------------------------------------------------------------


def test_size_is_numpys_count_and_callable_as_torchs():
    x = _x(2, 3, 4)
    assert x.size == 24 and x.size + 1 == 25 and isinstance(x.size, int)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(dim=-1) == 4
    assert x.numel() == 24 and x.dim() == 3


def test_view_permute_and_dtype_methods():
    x = _x(2, 3, 4)
    np.testing.assert_array_equal(x.view(4, 6).numpy(), x.numpy().reshape(4, 6))
    np.testing.assert_array_equal(x.view(-1).numpy(), x.numpy().ravel())
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), x.numpy().transpose(2, 0, 1))
    assert (x.float().dtype, x.double().dtype, x.long().dtype) == (mg.float32, mg.float64, mg.int64)
    assert x.float().float().dtype == mg.float32


def test_dtype_methods_keep_the_graph():
    x = _x(3).requires_grad_()
    x.float().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3))
    assert x.grad.dtype == mg.float64


@requires_torch
def test_masked_fill_matches_torch():
    a = np.random.default_rng(2).standard_normal((3, 4))
    mask = a > 0.3
    ours = mg.tensor(a).masked_fill(mg.tensor(mask), float("-inf"))
    theirs = torch.tensor(a).masked_fill(torch.tensor(mask), float("-inf"))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_masked_fill_broadcasts_keeps_dtype_and_passes_gradcheck(device):
    x = _x(3, 4, device=device).requires_grad_()
    row_mask = mg.tensor([True, False, False, True], device=device)
    assert x.float().masked_fill(row_mask, 0.5).dtype == mg.float32
    assert mg.gradcheck(lambda t: t.masked_fill(row_mask, 2.0) * t, [x])


def test_masked_fill_needs_a_bool_mask():
    with pytest.raises(TypeError, match="masked_fill: the mask must be a bool tensor or array, got int64"):
        _x(2).masked_fill(mg.tensor([1, 0]), 0.0)


# -- transpose: NumPy's meaning kept, PyTorch's pointed to ------------------------------------


def test_function_transpose_swaps_two_dims_as_torch():
    x = _x(2, 3, 4)
    np.testing.assert_array_equal(mg.transpose(x, 0, 2).numpy(), x.numpy().swapaxes(0, 2))
    np.testing.assert_array_equal(mg.transpose(x[0], 0, 1).numpy(), x[0].numpy().T)
    np.testing.assert_array_equal(mg.transpose(x).numpy(), x.numpy().transpose())
    np.testing.assert_array_equal(mg.transpose(x, (1, 2, 0)).numpy(), x.numpy().transpose(1, 2, 0))


@pytest.mark.parametrize("axes", [(0, 1), (-2, -1)])
def test_method_transpose_of_two_ints_on_2d_warns_and_keeps_numpys_identity(axes):
    x = _x(2, 3)
    with pytest.warns(UserWarning, match=r"NumPy's meaning, the identity.*x\.swapaxes\(0, 1\)"):
        y = x.transpose(*axes)
    assert y.shape == (2, 3)


def test_method_transpose_as_numpy_writes_it_does_not_warn():
    x = _x(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.transpose(1, 0).shape == (3, 2)
        assert x.transpose((0, 1)).shape == (2, 3)
        assert x.transpose().shape == (3, 2)


def test_method_transpose_of_two_dims_on_3d_points_to_swapaxes():
    with pytest.raises(ValueError, match=r"transpose\(0, 2\): .*3 axes .*write x\.swapaxes\(0, 2\)"):
        _x(2, 3, 4).transpose(0, 2)


# -- function forms -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sigmoid", "relu", "sqrt", "abs", "erf"])
def test_elementwise_function_forms_equal_the_methods(name):
    x = _x(3, 2).abs() + 0.1
    np.testing.assert_array_equal(getattr(mg, name)(x).numpy(), getattr(x, name)().numpy())


def test_matmul_and_argmax():
    a, b = _x(2, 3), _x(3, 4, seed=1)
    np.testing.assert_allclose(mg.matmul(a, b).numpy(), a.numpy() @ b.numpy())
    assert mg.argmax(a).item() == a.numpy().argmax()
    np.testing.assert_array_equal(mg.argmax(a, 1).numpy(), a.numpy().argmax(1))


@requires_torch
@pytest.mark.parametrize("name", ["triu", "tril"])
@pytest.mark.parametrize("diagonal", [-1, 0, 2])
def test_triu_tril_match_torch(name, diagonal):
    a = np.random.default_rng(3).standard_normal((2, 3, 4))
    ours = getattr(mg, name)(mg.tensor(a), diagonal)
    np.testing.assert_array_equal(ours.numpy(), getattr(torch, name)(torch.tensor(a), diagonal).numpy())


@pytest.mark.parametrize("name", ["triu", "tril"])
def test_triu_tril_gradcheck_and_bad_input(name, device):
    x = _x(3, 3, device=device).requires_grad_()
    assert mg.gradcheck(lambda t: getattr(mg, name)(t, diagonal=1) * t, [x])
    with pytest.raises(ValueError, match=f"{name}: needs a tensor of at least 2 dims, got shape"):
        getattr(mg, name)(_x(3))


def test_randint_forms_range_dtype_and_seed(device):
    mg.manual_seed(7)
    a = mg.randint(2, 5, (200,), device=device)
    assert a.dtype == mg.int64 and a.shape == (200,) and a.device == mg.Device(device)
    assert set(a.tolist()) == {2, 3, 4}
    mg.manual_seed(7)
    np.testing.assert_array_equal(mg.randint(2, 5, (200,), device=device).numpy(), a.numpy())
    assert mg.randint(3, (2, 2)).shape == (2, 2) and int(mg.randint(3, (50,)).max()) < 3
    assert mg.randint(10, size=4).shape == (4,)
    assert mg.randint(0, 2, (3,), dtype=mg.int32).dtype == mg.int32
    with pytest.raises(TypeError, match="randint: give the size"):
        mg.randint(0, 5)


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.zeros(3, dtype=np.float64)
    t = mg.from_numpy(a)
    assert t.dtype == mg.float64 and t.device == mg.Device("cpu")
    a[0] = 5.0
    t.data[1] = 7.0
    assert t.tolist() == [5.0, 7.0, 0.0] and a.tolist() == [5.0, 7.0, 0.0]


def test_from_numpy_rejects_what_is_not_an_ndarray():
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        mg.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="unknown dtype"):
        mg.from_numpy(np.zeros(2, dtype=np.complex128))


# -- nn.functional and nn.utils ---------------------------------------------------------------


def test_nn_functional_is_minigrad_functional_under_both_paths():
    import minigrad.nn.functional as nnF

    assert nn.functional is F and nnF is F


def test_nn_utils_clip_grad_norm_is_optims():
    assert nn.utils.clip_grad_norm_ is optim.clip_grad_norm_
    p = nn.Parameter(mg.zeros(2))
    p.grad = mg.tensor([3.0, 4.0])
    norm = nn.utils.clip_grad_norm_([p], 1.0)
    assert abs(norm.item() - 5.0) < 1e-6 and abs(float((p.grad * p.grad).sum()) - 1.0) < 1e-4
