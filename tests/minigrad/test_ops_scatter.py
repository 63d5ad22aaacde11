"""mg.gather / mg.scatter_add (PyTorch's meaning), the row moves TakeRows / PutRows under
packed sequences, and mg.as_tensor: values against PyTorch, the op-table rows, the bad-index
errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops import Gather, PutRows, ScatterAdd, TakeRows

from .._torch import requires_torch, torch
from ._opcheck import OpCase, floats

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


# -- the op table's rows ------------------------------------------------------------------------


@st.composite
def _scatter_case(draw, device):
    rows, cols, picks = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    axis = draw(st.sampled_from([0, 1]))
    bound = (rows, cols)[axis]
    index_shape = (picks, cols) if axis == 0 else (rows, picks)
    index = np.array(draw(st.lists(st.integers(0, bound - 1), min_size=picks * index_shape[1 - axis],
                                   max_size=picks * index_shape[1 - axis]))).reshape(index_shape)
    x = draw(floats(device, shape=(rows, cols)))
    src = draw(floats(device, shape=index_shape))
    return x, src, index, axis


def _np_scatter_add(x, src, index, axis):
    out = x.copy()
    grid = np.indices(index.shape)
    grid[axis] = index
    np.add.at(out, tuple(grid), src)
    return out


@st.composite
def _rows_case(draw, device):
    n = draw(st.integers(1, 5))
    x = draw(floats(device, shape=(n, draw(st.integers(1, 3)))))
    taken = draw(st.permutations(range(n)))[: draw(st.integers(1, n))]
    return x, np.array(taken), n + draw(st.integers(0, 2))


def _np_take_then_put(x, index, rows):
    out = np.zeros((rows, x.shape[1]))
    out[index] = x[index]
    return out


def _take_then_put(x, index, rows):
    index = x.device.xp.asarray(index)
    return PutRows.apply(TakeRows.apply(x, index=index), index=index, rows=rows)


def _gather_and_scatter_add(x, src, index, axis):
    return mg.concat([mg.scatter_add(x, axis, index, src).reshape(-1), mg.gather(x, axis, index).reshape(-1)])


def _np_gather_and_scatter_add(x, src, index, axis):
    return np.concatenate([_np_scatter_add(x, src, index, axis).ravel(),
                           np.take_along_axis(x, index, axis).ravel()])


CASES = [
    OpCase("gather-and-scatter_add", (Gather, ScatterAdd), _gather_and_scatter_add,
           _np_gather_and_scatter_add, _scatter_case, max_examples=20),
    OpCase("take-and-put-rows", (TakeRows, PutRows), _take_then_put, _np_take_then_put, _rows_case,
           max_examples=20),
]
