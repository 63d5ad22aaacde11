"""Shape ops: reshape transpose T swapaxes squeeze unsqueeze broadcast_to concat stack, and
indexing with ints, slices (negative steps too), None, Ellipsis, integer arrays (with
repeats) and boolean masks, given as NumPy arrays or minigrad tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.ops import BroadcastTo, Chunk, Concat, GetItem, IndexAdd, Reshape, Stack, Transpose, Unbind
from minigrad.testing import shapes

from ._opcheck import OpCase, as_numpy, floats

# Shape ops are cheap and their argument space (axes, indices) is large: draw more examples.
MANY = 60


def _small(device, **kwargs):
    return floats(device, shape=shapes(max_dims=4, max_side=3), **kwargs)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def _reshape_case(draw, device):
    x = draw(_small(device))
    rest, target = x.size, []
    for _ in range(draw(st.integers(0, 3))):
        d = draw(st.sampled_from(_divisors(rest)))
        target.append(d)
        rest //= d
    target.append(rest)
    target = draw(st.permutations(target))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return x, tuple(target), draw(st.booleans())


RESHAPE = OpCase(
    "reshape", (Reshape,),
    lambda x, shape, unpacked: x.reshape(*shape) if unpacked else x.reshape(shape),
    lambda x, shape, unpacked: np.reshape(x, shape),
    _reshape_case, max_examples=MANY,
)


@st.composite
def _transpose_case(draw, device):
    x = draw(_small(device))
    form = draw(st.sampled_from(["tuple", "unpacked", "reversed", "T"]))
    axes = [a - x.ndim if draw(st.booleans()) else a for a in draw(st.permutations(range(x.ndim)))]
    return x, tuple(axes), form


def _transpose(x, axes, form):
    if form == "T":
        return x.T
    if form == "reversed":
        return x.transpose()
    return x.transpose(*axes) if form == "unpacked" else x.transpose(axes)


TRANSPOSE = OpCase(
    "transpose", (Transpose,),
    _transpose,
    lambda x, axes, form: np.transpose(x, None if form in ("T", "reversed") else axes),
    _transpose_case, max_examples=MANY,
    # The identity permutation is drawn on purpose.
    marks=(pytest.mark.filterwarnings("ignore:x.transpose.* keeps NumPy's meaning"),),
)


@st.composite
def _swapaxes_case(draw, device):
    x = draw(floats(device, shape=shapes(min_dims=1, max_dims=4, max_side=3)))
    axis = st.integers(-x.ndim, x.ndim - 1)
    return x, draw(axis), draw(axis)


SWAPAXES = OpCase(
    "swapaxes", (Transpose,),
    lambda x, a, b: x.swapaxes(a, b), np.swapaxes,
    _swapaxes_case, max_examples=MANY,
)


@st.composite
def _squeeze_case(draw, device):
    shape = tuple(draw(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4)))
    x = draw(floats(device, shape=shape))
    ones = [i for i, n in enumerate(shape) if n == 1]
    kind = draw(st.sampled_from(["tuple", "int", "all"] if ones else ["tuple", "all"]))
    if kind == "all":
        return x, None
    if kind == "int":
        i = draw(st.sampled_from(ones))
        return x, i - x.ndim if draw(st.booleans()) else i
    return x, tuple(draw(st.lists(st.sampled_from(ones), unique=True))) if ones else ()


SQUEEZE = OpCase(
    "squeeze", (Reshape,),
    lambda x, axis: x.squeeze(axis), lambda x, axis: np.squeeze(x, axis),
    _squeeze_case, max_examples=MANY,
)


@st.composite
def _unsqueeze_case(draw, device):
    x = draw(_small(device))
    return x, draw(st.integers(-x.ndim - 1, x.ndim))


UNSQUEEZE = OpCase(
    "unsqueeze", (Reshape,),
    lambda x, axis: x.unsqueeze(axis), np.expand_dims,
    _unsqueeze_case, max_examples=MANY,
)


@st.composite
def _broadcast_to_case(draw, device):
    x = draw(_small(device))
    other = draw(hnp.broadcastable_shapes(x.shape, min_dims=0, max_dims=4, max_side=3))
    return x, np.broadcast_shapes(x.shape, other)


BROADCAST_TO = OpCase(
    "broadcast_to", (BroadcastTo,),
    lambda x, shape: x.broadcast_to(shape), np.broadcast_to,
    _broadcast_to_case, max_examples=MANY,
)


@st.composite
def _concat_case(draw, device):
    """(axis, x_1, …, x_n): equal shapes except along ``axis``."""
    shape = list(draw(shapes(min_dims=1, max_dims=3, max_side=3)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        shape[axis] = draw(st.integers(1, 3))
        xs.append(draw(floats(device, shape=tuple(shape))))
    return (axis, *xs)


CONCAT = OpCase(
    "concat", (Concat,),
    lambda axis, *xs: mg.concat(xs, axis=axis),
    lambda axis, *xs: np.concatenate(xs, axis=axis),
    _concat_case, max_examples=MANY,
)


@st.composite
def _stack_case(draw, device):
    """(axis, x_1, …, x_n): equal shapes; the new axis anywhere, negative too."""
    shape = draw(shapes(max_dims=3, max_side=3))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [draw(floats(device, shape=shape)) for _ in range(draw(st.integers(1, 3)))]
    return (axis, *xs)


STACK = OpCase(
    "stack", (Stack,),
    lambda axis, *xs: mg.stack(xs, axis=axis),
    lambda axis, *xs: np.stack(xs, axis=axis),
    _stack_case, max_examples=MANY,
)


# -- indexing ---------------------------------------------------------------------------


def _maybe_tensor(draw, array: np.ndarray, device) -> object:
    """An index array as given, or as a minigrad tensor (int64 or bool) on ``device``."""
    return mg.tensor(array, device=device) if draw(st.booleans()) else array


def _basic_index(draw, x, device):
    """ints, slices with any step (negative too), None, Ellipsis."""
    return draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))


def _integer_arrays(draw, x, device):
    """One integer array per axis; repeats and negative entries included."""
    arrays = draw(hnp.integer_array_indices(x.shape, result_shape=shapes(max_dims=2, max_side=4)))
    return tuple(_maybe_tensor(draw, a, device) for a in arrays)


def _reversed_then_array(draw, x, device):
    """A negative-step slice, then an integer array (with repeats) on the next axis."""
    n = x.shape[1]
    rows = draw(hnp.arrays(np.int64, draw(shapes(max_dims=2, max_side=4)), elements=st.integers(-n, n - 1)))
    return slice(None, None, -draw(st.integers(1, 2))), _maybe_tensor(draw, rows, device)


def _mask(draw, x, device):
    """A boolean mask over the leading 1..ndim axes."""
    k = draw(st.integers(1, x.ndim))
    return _maybe_tensor(draw, draw(hnp.arrays(np.bool_, x.shape[:k])), device)


INDEX_KINDS = [(_basic_index, 0), (_integer_arrays, 1), (_reversed_then_array, 2), (_mask, 1)]


@st.composite
def _index_case(draw, device, make_index, min_dims):
    x = draw(floats(device, shape=shapes(min_dims=min_dims, max_dims=3, max_side=4)))
    return x, make_index(draw, x, device)


def _getitem(make_index, min_dims):
    return OpCase(
        f"getitem_{make_index.__name__[1:]}", (GetItem,),
        lambda x, index: x[index], lambda x, index: x[index],
        lambda d: _index_case(d, make_index, min_dims), max_examples=40,
    )


@st.composite
def _index_add_case(draw, device, make_index, min_dims):
    """(g, shape, index): IndexAdd scatters g (of x[index]'s shape) into zeros of x's shape."""
    x, index = draw(_index_case(device, make_index, min_dims))
    index = as_numpy(index)
    return draw(floats(device, shape=x.numpy()[index].shape)), x.shape, index


def _np_index_add(g, shape, index):
    out = np.zeros(shape)
    np.add.at(out, index, g)
    return out


def _index_add(make_index, min_dims):
    return OpCase(
        f"index_add_{make_index.__name__[1:]}", (IndexAdd,), IndexAdd.apply, _np_index_add,
        lambda d: _index_add_case(d, make_index, min_dims), max_examples=40,
    )


@st.composite
def _unbind_case(draw, device):
    x = draw(floats(device, shape=shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    return x, draw(st.integers(0, x.ndim - 1))


def _every_other_piece_reversed(x, axis):
    """Stacks pieces n−1, n−3, … of unbind(x): unused pieces get no gradient."""
    return mg.stack(Unbind.apply(x, axis=axis)[::-2], axis=0)


@st.composite
def _chunk_case(draw, device):
    x = draw(floats(device, shape=shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    axis = draw(st.integers(0, x.ndim - 1))
    cuts = sorted(draw(st.lists(st.integers(0, x.shape[axis]), max_size=3)))
    sizes = tuple(b - a for a, b in zip([0, *cuts], [*cuts, x.shape[axis]]))
    return x, sizes, axis


def _chunks_reversed(x, sizes, axis):
    return mg.concat(Chunk.apply(x, sizes=sizes, axis=axis)[::-1], axis)


def _np_chunks_reversed(x, sizes, axis):
    return np.concatenate(np.split(x, np.cumsum(sizes)[:-1], axis=axis)[::-1], axis=axis)


CASES = [
    RESHAPE, TRANSPOSE, SWAPAXES, SQUEEZE, UNSQUEEZE, BROADCAST_TO, CONCAT, STACK,
    *(_getitem(make_index, min_dims) for make_index, min_dims in INDEX_KINDS),
    *(_index_add(make_index, min_dims) for make_index, min_dims in INDEX_KINDS),
    OpCase("unbind", (Unbind,), _every_other_piece_reversed,
           lambda x, axis: np.moveaxis(x, axis, 0)[::-2], _unbind_case, max_examples=MANY),
    OpCase("chunk", (Chunk,), _chunks_reversed, _np_chunks_reversed, _chunk_case, max_examples=MANY),
]


@pytest.mark.parametrize(
    "index",
    [np.s_[::-1], np.s_[3:0:-2], np.s_[::-2, 1], np.s_[..., ::-1], np.s_[None, -1, ::-3]],
    ids=["reverse", "3:0:-2", "::-2,1", "...,::-1", "None,-1,::-3"],
)
def test_getitem_negative_steps(device, index):
    x = mg.tensor(np.random.default_rng(2).standard_normal((4, 5)), device=device, requires_grad=True)
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
    assert mg.gradcheck(lambda t: t[index], (x,))


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy-index", "tensor-index"])
def test_repeated_integer_indices_accumulate_like_np_add_at(device, as_tensor):
    x = mg.tensor(np.arange(12.0).reshape(4, 3), device=device, requires_grad=True)
    idx = np.array([0, 2, 0, -4, 3, 0])
    g = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    x[mg.tensor(idx, device=device) if as_tensor else idx].backward(mg.tensor(g, device=device))
    expected = np.zeros((4, 3), np.float32)
    np.add.at(expected, idx, g)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
    assert math.isclose(float(expected[0].sum()), float(g[[0, 2, 3, 5]].sum()), rel_tol=1e-5)


def test_boolean_mask_tensor_selects_and_routes_gradient(device):
    values = np.array([[1.0, -2.0], [-3.0, 4.0]])
    x = mg.tensor(values, device=device, requires_grad=True)
    picked = x[x > 0]
    assert picked.tolist() == values[values > 0].tolist()
    picked.sum().backward()
    assert x.grad.tolist() == (values > 0).astype(float).tolist()


def test_float_tensor_as_index_is_rejected(device):
    x = mg.tensor([1.0, 2.0], device=device)
    with pytest.raises(IndexError, match="integer or bool"):
        x[mg.tensor([0.0], device=device)]


def test_squeeze_of_a_non_unit_axis_is_an_error(device):
    x = mg.zeros(2, 1, device=device)
    with pytest.raises(ValueError, match="axis 0 has size 2"):
        x.squeeze(0)
