"""One property check shared by every op test (after MyGrad's op-test harness).

For each input drawn by hypothesis, ``check_op`` asserts:

* forward values and dtype match a NumPy reference;
* backward with a random upstream gradient gives each leaf a gradient of its shape and
  dtype that aliases neither another gradient, nor the upstream gradient, nor an input;
* neither forward nor backward mutates the inputs or the upstream gradient;
* gradients match central differences (``minigrad.testing.check_example``: gradcheck,
  plus gradgradcheck for ``order=2``);
* the same graph built from float32 copies yields float32 values and gradients;
* the graph contains every ``Function`` the caller says the check covers.

The op table (``OpCase`` rows, run by ``tests/minigrad/test_op_table.py``) is the one place
that drives it: every Function under ``minigrad/ops/`` must have a row there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import broadcastable_shapes, check_example, tensors


def floats(device: str, **kwargs: Any) -> st.SearchStrategy[mg.Tensor]:
    """float64 leaf tensors on ``device``, contiguous or not (hypothesis chooses)."""
    kwargs.setdefault("noncontiguous", None)
    return tensors(device=device, **kwargs)


def scalars(elements: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    """A constant operand: a Python float or a NumPy float64 scalar (which must not
    promote a float32 graph to float64)."""
    return st.one_of(elements, elements.map(np.float64))


@st.composite
def binary_operands(
    draw: st.DrawFn,
    device: str,
    a_elements: st.SearchStrategy[float],
    b_elements: st.SearchStrategy[float],
) -> tuple[Any, Any]:
    """Operands (a, b) of a binary op: two tensors of broadcast-compatible shapes (0-d,
    size-1 axes and differing ranks included), or a tensor and a scalar on either side."""
    form = draw(st.sampled_from(["tensors", "scalar right", "scalar left"]))
    sa, sb = draw(broadcastable_shapes(2, max_dims=3, max_side=4))
    a = scalars(a_elements) if form == "scalar left" else floats(device, shape=sa, elements=a_elements)
    b = scalars(b_elements) if form == "scalar right" else floats(device, shape=sb, elements=b_elements)
    return draw(a), draw(b)


def as_numpy(x: Any) -> Any:
    """Tensors (also inside tuples/lists, e.g. an index) as NumPy arrays for the reference."""
    if isinstance(x, mg.Tensor):
        return x.numpy()
    if isinstance(x, tuple):
        return tuple(as_numpy(p) for p in x)
    if isinstance(x, list):
        return [as_numpy(p) for p in x]
    return x


def _leaves(inputs: tuple[Any, ...]) -> list[mg.Tensor]:
    return [x for x in inputs if isinstance(x, mg.Tensor) and x.requires_grad]


def _snapshot(inputs: tuple[Any, ...]) -> list[Any]:
    """Copies of the inputs for NumPy: tensors (also inside an index) as arrays."""
    return [np.array(x.numpy(), copy=True) if isinstance(x, mg.Tensor) else as_numpy(x) for x in inputs]


def _assert_unchanged(inputs: tuple[Any, ...], before: list[Any], when: str) -> None:
    for i, (x, old) in enumerate(zip(inputs, before)):
        if isinstance(x, mg.Tensor):
            assert np.array_equal(x.numpy(), old, equal_nan=True), f"input {i} was mutated by {when}"


def _random_like(out: mg.Tensor, seed: int = 0) -> mg.Tensor:
    values = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    return mg.tensor(values, device=out.device)


def _shares(a: mg.Tensor, b: mg.Tensor) -> bool:
    xp = a.device.xp
    if xp is np:
        return bool(np.shares_memory(a.data, b.data))
    # CuPy's exact shares_memory compares element addresses taken inside a kernel, and says
    # any two 0-d arrays share memory; their byte ranges tell (gradients are whole buffers).
    return bool(xp.may_share_memory(a.data, b.data))


def check_forward(fn: Callable, reference: Callable, inputs: tuple[Any, ...], rtol: float,
                  atol: float) -> mg.Tensor:
    # The reference sees the inputs as they were before the op ran (the op may be buggy).
    expected = np.asarray(reference(*(_snapshot(inputs))))
    out = fn(*inputs)
    assert isinstance(out, mg.Tensor)
    assert out.shape == expected.shape, f"shape {out.shape}, NumPy gives {expected.shape}"
    assert out.dtype == expected.dtype, f"dtype {out.dtype}, NumPy gives {expected.dtype}"
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=atol)
    return out


def check_backward_hygiene(fn: Callable, inputs: tuple[Any, ...]) -> None:
    """Gradients have the right shape/dtype, alias nothing, and nothing gets mutated."""
    before = _snapshot(inputs)
    leaves = _leaves(inputs)
    for x in leaves:
        x.grad = None
    out = fn(*inputs)
    _assert_unchanged(inputs, before, "forward")
    upstream = _random_like(out)
    upstream_before = upstream.numpy().copy()
    out.backward(upstream)
    _assert_unchanged(inputs, before, "backward")
    assert np.array_equal(upstream.numpy(), upstream_before), "backward mutated the upstream gradient"
    grads = [x.grad for x in leaves]
    for x, g in zip(leaves, grads):
        assert g is not None and g.shape == x.shape and g.dtype == x.dtype
        assert not _shares(g, upstream), "a gradient aliases the upstream gradient"
        for y in inputs:
            if isinstance(y, mg.Tensor):
                assert not _shares(g, y), "a gradient aliases an input"
    for i, g in enumerate(grads):
        for h in grads[i + 1:]:
            assert not _shares(g, h), "two gradients share memory"


def _as_float32(x: Any) -> Any:
    if isinstance(x, mg.Tensor) and x.dtype == mg.float64:
        return mg.Tensor._wrap(x.data.astype(mg.float32), x.device, requires_grad=x.requires_grad)
    return x


def check_float32(fn: Callable, inputs: tuple[Any, ...]) -> None:
    """A float32 graph (Python and NumPy scalars included) stays float32, gradients too."""
    inputs32 = tuple(_as_float32(x) for x in inputs)
    out = fn(*inputs32)
    assert out.dtype == mg.float32, f"a float32 graph produced {out.dtype}"
    out.backward(_random_like(out))
    for x in _leaves(inputs32):
        assert x.grad.dtype == mg.float32, f"a float32 leaf got a {x.grad.dtype} gradient"


def graph_functions(out: mg.Tensor) -> set[type]:
    """The Function classes of every node in the graph that produced ``out``."""
    found: set[type] = set()
    seen: set[int] = set()
    stack = [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        found.add(type(node))
        stack.extend(getattr(x, "grad_fn", None) for x in node.inputs or ())
    return found


def check_op(
    fn: Callable,
    reference: Callable,
    *strategies: st.SearchStrategy[Any],
    args: st.SearchStrategy[tuple[Any, ...]] | None = None,
    order: int = 1,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    grad_atol: float = 1e-5,
    grad_rtol: float = 1e-3,
    max_examples: int | None = None,
    covers: tuple[type, ...] = (),
    eps: float = 1e-6,
) -> None:
    """Run every check above on inputs drawn from ``strategies`` (one per argument of fn),
    or from ``args``, one strategy for the whole argument tuple (for arguments that depend
    on each other, such as a tensor and an axis of it). ``max_examples`` raises the
    profile's count for cheap ops whose argument space is large (axes, indices).
    ``covers``: Function classes that must appear in fn's graph in at least one example."""
    built: set[type] = set()

    @settings(max_examples=max_examples or settings().max_examples)
    @given(args if args is not None else st.tuples(*strategies))
    def run(inputs: tuple[Any, ...]) -> None:
        built.update(graph_functions(check_forward(fn, reference, inputs, rtol, atol)))
        check_backward_hygiene(fn, inputs)
        check_example(fn, inputs, order=order, eps=eps, atol=grad_atol, rtol=grad_rtol)
        check_float32(fn, inputs)

    run()
    missing = [c.__name__ for c in covers if c not in built]
    assert not missing, f"the checked graphs never contained {missing}: the table row does not cover them"


@dataclass(frozen=True)
class OpCase:
    """One row of the op table: ``fn`` checked against the NumPy ``reference`` on argument
    tuples drawn from ``args(device)``, covering the Function classes in ``covers``."""

    name: str
    covers: tuple[type, ...]
    fn: Callable
    reference: Callable
    args: Callable[[str], st.SearchStrategy[tuple[Any, ...]]]
    order: int = 2
    rtol: float = 1e-10
    atol: float = 1e-12
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-3
    max_examples: int | None = None
    eps: float = 1e-6
    devices: tuple[str, ...] = ("cpu", "cuda")
    marks: tuple[Any, ...] = ()  # pytest marks for the row's test


def each(*makers: Callable[[str], st.SearchStrategy[Any]]) -> Callable[[str], st.SearchStrategy[tuple]]:
    """``args`` for a case whose arguments are drawn independently: one maker per argument."""
    return lambda device: st.tuples(*(make(device) for make in makers))


def run_case(case: OpCase, device: str) -> None:
    check_op(
        case.fn, case.reference, args=case.args(device), order=case.order, rtol=case.rtol,
        atol=case.atol, grad_atol=case.grad_atol, grad_rtol=case.grad_rtol,
        max_examples=case.max_examples, covers=case.covers, eps=case.eps,
    )
