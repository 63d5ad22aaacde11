"""mg.gather / mg.scatter_add (PyTorch's meaning) and mg.as_tensor: values against PyTorch,
gradients against central differences, the bad-index errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

from .._torch import requires_torch, torch

INDEX = np.array([[0, 0, 4], [1, 2, 1], [3, 3, 3]])  # repeats: scatter_add must accumulate


def _leaf(*shape, seed=0, device="cpu"):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, device=device)


@pytest.mark.parametrize("dim", [0, 1, -1])
@requires_torch
def test_gather_and_scatter_add_equal_pytorch(dim):
    x, src = _leaf(5, 5), _leaf(3, 3, seed=1)
    index = INDEX if dim != 0 else INDEX.T
    xt, it, st = (torch.from_numpy(a) for a in (x.numpy(), index, src.numpy()))
    np.testing.assert_array_equal(mg.gather(x, dim, index).numpy(), torch.gather(xt, dim, it).numpy())
    np.testing.assert_allclose(mg.scatter_add(x, dim, index, src).numpy(),
                               torch.scatter_add(xt, dim, it, st).numpy(), rtol=1e-15)


@pytest.mark.parametrize("dim", [0, 1])
def test_gradients_and_second_order(dim, device):
    x, src = _leaf(5, 5, device=device), _leaf(3, 3, seed=1, device=device)
    index = mg.tensor(INDEX if dim else INDEX.T, device=device)

    def fn(x, src):
        return mg.gather(x, dim, index), mg.scatter_add(x, dim, index, src)

    assert mg.gradcheck(fn, [x, src])
    assert mg.gradgradcheck(fn, [x, src])


def test_repeated_indices_accumulate():
    out = mg.scatter_add(mg.zeros(1, 3), 1, np.array([[2, 2, 0]]), mg.tensor([[1.0, 2.0, 4.0]]))
    assert out.tolist() == [[4.0, 0.0, 3.0]]


@pytest.mark.parametrize("index, message", [
    (np.array([0, 1]), r"gather: index must be an integer tensor of the input's rank 2, got int64 "
                       r"of shape \(2,\)"),
    (np.array([[0.5]]), r"gather: index must be an integer tensor .* got float64"),
])
def test_bad_index_is_named(index, message):
    with pytest.raises(ValueError, match=message):
        mg.gather(mg.zeros(2, 2), 1, index)


def test_scatter_add_src_must_have_the_index_shape():
    with pytest.raises(ValueError, match=r"scatter_add: src of shape \(2, 2\) must have index's shape "
                                         r"\(1, 2\)"):
        mg.scatter_add(mg.zeros(2, 2), 1, np.array([[0, 1]]), mg.zeros(2, 2))


def test_as_tensor_shares_an_array_and_returns_a_tensor_itself():
    a = np.zeros(3, dtype=np.float32)
    t = mg.as_tensor(a)
    a[0] = 5.0
    assert t.tolist() == [5.0, 0.0, 0.0] and not t.requires_grad
    assert mg.as_tensor(t) is t
    copied = mg.as_tensor(a, dtype=mg.float64)
    a[1] = 1.0
    assert copied.dtype == mg.float64 and copied.tolist() == [5.0, 0.0, 0.0]
    assert mg.as_tensor([1.0, 2.0]).dtype == mg.float32  # Python data: as mg.tensor
