"""Autograd semantics: backward/grad options, accumulation, grad modes, higher orders,
deep graphs, graph hygiene (nothing leaks) and custom Functions."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

from .._torch import requires_torch, torch


def _leaf(values, device, dtype=mg.float64):
    return mg.tensor(values, dtype=dtype, device=device, requires_grad=True)


# -- backward(grad, retain_graph, create_graph) ------------------------------------------


def test_backward_with_an_explicit_upstream_gradient(device):
    x = _leaf([[1.0, -2.0], [3.0, 0.5]], device)
    g = np.array([[0.5, 1.0], [-1.0, 2.0]])
    (x * x).backward(mg.tensor(g, device=device))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * g)


def test_backward_accepts_a_numpy_array_as_grad(device):
    x = _leaf([1.0, 2.0], device)
    (x * 3.0).backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -3.0])


def test_gradients_accumulate_on_leaves_across_backward_calls(device):
    x = _leaf([1.0, 2.0], device)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 3.0)
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_retain_graph_allows_a_second_backward_that_accumulates(device):
    x = _leaf([0.3, -0.7], device)
    y = x.tanh().sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    np.testing.assert_allclose(first, 1 - np.tanh(x.numpy()) ** 2)


def test_second_backward_without_retain_graph_raises_a_clear_error(device):
    x = _leaf([0.3, -0.7], device)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_create_graph_makes_grad_differentiable_and_retains_the_graph(device):
    x = _leaf([0.5, -1.5, 2.0], device)
    y = (x**3).sum()
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.grad_fn is not None
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    (second,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(second.numpy(), 6 * x.numpy())
    y.backward()  # retain_graph defaulted to create_graph=True, so this second pass works
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 2)


def test_backward_on_a_leaf_root_gives_an_unaliased_gradient(device):
    x = _leaf([1.0, 2.0], device)
    g = mg.tensor([3.0, 4.0], dtype=mg.float64, device=device)
    x.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), g.numpy())
    assert not np.shares_memory(x.grad.numpy(), g.numpy())


# -- gradient dtypes ---------------------------------------------------------------------------

# A float32 leaf meets float64 in the forward (NumPy promotes the result to float64).
# The functions take F: minigrad.functional, or torch.nn.functional for the comparison.
_PROMOTING = [
    ("x32 - y64", lambda x, y, F: (x - y).sum()),
    ("y64 * x32", lambda x, y, F: (y * x).sum()),
    ("x32 / y64", lambda x, y, F: (x / y).sum()),
    ("x32 ** y64", lambda x, y, F: (x**y).sum()),
    ("x32 @ y64", lambda x, y, F: (x @ y).sum()),
    ("mse_loss(x32, y64)", lambda x, y, F: F.mse_loss(x, y)),
    ("mse_loss(x32, float64 array)", lambda x, y, F: F.mse_loss(x, y.numpy())),
]
_X, _Y = [[1.5, 2.0], [0.5, 1.0]], [[0.5, -1.0], [2.0, 1.5]]


@pytest.mark.parametrize("name,fn", _PROMOTING, ids=[p[0] for p in _PROMOTING])
def test_a_gradient_has_its_inputs_dtype_whatever_the_forward_promoted_to(device, name, fn):
    x = mg.tensor(_X, device=device, requires_grad=True)
    y = mg.tensor(_Y, dtype=mg.float64, device=device)
    out = fn(x, y, F)
    assert out.dtype == mg.float64
    out.backward()
    assert x.grad.dtype == mg.float32
    x64 = x.detach().astype(mg.float64).requires_grad_()
    fn(x64, y, F).backward()
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=1e-6)
    # and for gradients of gradients (the square makes the first gradient depend on x)
    (g,) = mg.grad(fn(x, y, F) ** 2, x, create_graph=True)
    assert g.dtype == mg.float32 and mg.grad(g.sum(), x)[0].dtype == mg.float32


@requires_torch
@pytest.mark.parametrize("name,fn", [p for p in _PROMOTING if "@" not in p[0] and "array" not in p[0]])
def test_gradient_dtypes_under_promotion_match_pytorch(name, fn):
    # (PyTorch's matmul does not promote, and its mse_loss takes no NumPy array.)
    x = mg.tensor(_X, requires_grad=True)
    fn(x, mg.tensor(_Y, dtype=mg.float64), F).backward()
    tx = torch.tensor(_X, requires_grad=True)
    fn(tx, torch.tensor(_Y, dtype=torch.float64), torch.nn.functional).backward()
    assert str(tx.grad.dtype) == "torch." + x.grad.dtype.name
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


# -- mg.grad -------------------------------------------------------------------------------


def test_grad_returns_gradients_and_never_writes_dot_grad(device):
    x = _leaf([1.0, 2.0], device)
    w = _leaf([0.5, -1.0], device)
    h = x * w
    h.retain_grad()
    gx, gw = mg.grad((h * h).sum(), (x, w))
    np.testing.assert_allclose(gx.numpy(), 2 * (x.numpy() * w.numpy()) * w.numpy())
    np.testing.assert_allclose(gw.numpy(), 2 * (x.numpy() * w.numpy()) * x.numpy())
    assert x.grad is None and w.grad is None and h.grad is None
    assert not gx.requires_grad  # no create_graph: plain values


def test_grad_with_grad_outputs_does_not_alias_them(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    g = mg.tensor([1.0, -1.0, 0.5], dtype=mg.float64, device=device)
    (gx,) = mg.grad(x + 0.0, x, grad_outputs=g)
    np.testing.assert_array_equal(gx.numpy(), g.numpy())
    assert not np.shares_memory(gx.numpy(), g.numpy())


def test_grad_retain_graph_defaults_to_create_graph(device):
    x = _leaf([0.2, 0.4], device)
    y = x.sigmoid().sum()
    mg.grad(y, x, create_graph=True)
    mg.grad(y, x)  # the graph was retained by the create_graph call
    with pytest.raises(RuntimeError, match="second time"):
        mg.grad(y, x)


def test_grad_of_an_unused_input_raises_unless_allowed(device):
    x, z = _leaf([1.0], device), _leaf([2.0], device)
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="not used"):
        mg.grad(y, (x, z), retain_graph=True)
    gx, gz = mg.grad(y, (x, z), allow_unused=True)
    assert gz is None and gx.tolist() == [2.0]


def test_retain_grad_keeps_the_gradient_of_an_intermediate(device):
    x = _leaf([1.0, -2.0], device)
    h = x * 3.0
    k = x * 2.0
    h.retain_grad()
    (h * h + k).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert k.grad is None  # non-leaves keep no .grad unless asked


# -- grad modes ------------------------------------------------------------------------------


def test_no_grad_and_enable_grad_as_context_managers(device):
    x = _leaf([1.0], device)
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        assert not (x * 2).requires_grad
        with mg.enable_grad():
            assert (x * 2).requires_grad
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled() and (x * 2).requires_grad


def test_grad_modes_as_decorators_restore_the_mode_even_after_an_error(device):
    x = _leaf([1.0], device)

    @mg.no_grad()
    def frozen(t):
        return t * 2

    @mg.enable_grad()
    def recorded(t):
        return t * 2

    assert not frozen(x).requires_grad
    with mg.no_grad():
        assert recorded(x).requires_grad

    @mg.no_grad()
    def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fails()
    assert mg.is_grad_enabled()


# -- higher orders ---------------------------------------------------------------------------


def test_third_derivative_of_tanh_matches_its_closed_form(device):
    x = _leaf([-1.2, -0.3, 0.0, 0.4, 1.5], device)
    (d1,) = mg.grad(x.tanh().sum(), x, create_graph=True)
    (d2,) = mg.grad(d1.sum(), x, create_graph=True)
    (d3,) = mg.grad(d2.sum(), x)
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(d1.numpy(), 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(d2.numpy(), -2 * t * (1 - t**2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d3.numpy(), (1 - t**2) * (6 * t**2 - 2), rtol=1e-12)


def test_second_order_through_a_composite_passes_gradgradcheck(device):
    x = _leaf(np.linspace(-1, 1, 6).reshape(2, 3), device)
    w = _leaf(np.linspace(0.5, -0.5, 3), device)
    assert mg.gradgradcheck(lambda a, b: ((a * b).sigmoid() * a).logsumexp(axis=1), (x, w))


# -- deep graphs -----------------------------------------------------------------------------


def test_a_10000_step_recurrence_backpropagates(device):
    steps = 10_000
    x = _leaf([0.5, -2.0], device)
    w = _leaf(1.0, device)
    h = x
    for _ in range(steps):
        h = h * w + 0.001
    h.sum().backward()
    # h_T = x·w^T + 0.001·Σ_{t<T} w^t; at w = 1: ∂/∂x = 1, ∂/∂w = Σ x + 0.001·T(T−1)/2 per element.
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
    expected_w = steps * x.numpy().sum() + 2 * 0.001 * steps * (steps - 1) / 2
    np.testing.assert_allclose(w.grad.numpy(), expected_w, rtol=1e-9)
    del h  # freeing a 10,000-deep graph must not overflow the stack either


# -- graph hygiene -----------------------------------------------------------------------------


def _gc_disabled():
    """Check refcounting alone frees the graph: no reference cycles to wait for."""
    gc.collect()
    gc.disable()


def test_backward_frees_the_saved_arrays_while_the_loss_is_alive(device):
    x = _leaf(np.ones(1000), device)
    h = (x * 2.0).tanh()
    saved = weakref.ref(h.data)  # Tanh saves its output for backward
    node = weakref.ref(h.grad_fn)
    loss = h.sum()
    del h
    assert saved() is not None and node() is not None  # the graph keeps what backward needs
    _gc_disabled()
    try:
        loss.backward()
        assert saved() is None, "backward kept an intermediate array alive"
        del loss
        assert node() is None, "the graph outlived its loss"
    finally:
        gc.enable()


def test_dropping_the_loss_frees_the_graph_without_backward(device):
    x = _leaf(np.ones(100), device)
    loss = (x.exp() * x).sum()
    nodes = [weakref.ref(loss.grad_fn)]
    _gc_disabled()
    try:
        del loss
        assert all(n() is None for n in nodes)
    finally:
        gc.enable()


def test_creators_hold_their_outputs_weakly(device):
    x = _leaf([1.0, 2.0], device)
    y = x * 2.0
    node = y.grad_fn
    out = weakref.ref(y)
    _gc_disabled()
    try:
        del y
        assert out() is None and node is not None
    finally:
        gc.enable()


def test_memory_of_a_large_graph_is_released(device):
    tracemalloc = pytest.importorskip("tracemalloc")
    if device != "cpu":
        pytest.skip("tracemalloc sees host memory only")
    x = _leaf(np.ones(250_000), device)  # 2 MB per intermediate
    ((x * 2.0).tanh() * x).exp().sum().backward()  # one-time costs first (fused kernels' import)
    x.grad = None
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        loss = ((x * 2.0).tanh() * x).exp().sum()
        loss.backward()
        grad_bytes = x.grad.numpy().nbytes
        del loss
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base > 4 * grad_bytes  # the graph really held several 2 MB arrays
    assert now - base < grad_bytes + 100_000  # only x.grad is left


# -- custom Functions --------------------------------------------------------------------------


class Cube(mg.Function):
    """y = x³;  dy/dx = 3x²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class ScaledExp(mg.Function):
    """y = eˣ·s for a constant s;  dy/dx = y. Saves its output, takes a non-tensor argument."""

    @staticmethod
    def forward(ctx, x, s):
        out = ctx.device.xp.exp(x) * s
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out, None


def test_custom_function_first_and_second_order(device):
    x = _leaf([-1.5, 0.5, 2.0], device)
    assert mg.gradcheck(Cube.apply, (x,))
    assert mg.gradgradcheck(Cube.apply, (x,))
    (g,) = mg.grad(Cube.apply(x).sum(), x, create_graph=True)
    (gg,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())


def test_saved_tensors_come_back_as_the_graph_tensors(device):
    x = _leaf([0.1, 0.2], device)
    y = Cube.apply(x)
    assert y.grad_fn.saved_tensors[0] is x
    z = ScaledExp.apply(x, 2.0)
    assert z.grad_fn.saved_tensors[0] is z
    assert tuple(z.grad_fn.needs_input_grad) == (True, False)
    assert mg.gradcheck(lambda t: ScaledExp.apply(t, 2.0), (x,))
    assert mg.gradgradcheck(lambda t: ScaledExp.apply(t, 2.0), (x,))


def test_saved_tensors_after_backward_raise_a_clear_error(device):
    x = _leaf([0.1, 0.2], device)
    y = Cube.apply(x)
    node = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="freed"):
        _ = node.saved_tensors


class Scale(mg.Function):
    """y = k·x for a constant k given to apply as a Python number;  dy/dx = k."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x * k

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.k, None


class CubeWithoutStaticmethod(mg.Function):
    """Cube written as students often do: forward and backward without @staticmethod."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


def test_apply_passes_non_tensor_arguments_to_forward_unchanged(device):
    seen = []

    class Spy(mg.Function):
        @staticmethod
        def forward(ctx, x, k, options, name):
            seen.extend([k, options, name])
            return x * k

    x = _leaf([1.0, 2.0], device)
    options = {"mode": "fast"}
    Spy.apply(x, 2.5, options, "spy")
    assert seen[0] == 2.5 and type(seen[0]) is float and seen[1] is options and seen[2] == "spy"
    assert Scale.apply(3.0, 2.0) == 6.0  # no Tensor in, plain values out: as PyTorch's apply
    assert Cube.apply(2.0) == 8.0


def test_apply_wraps_numpy_arrays_as_constant_tensors(device):
    x = _leaf([1.0, 2.0], device)
    k = np.array([3.0, -1.0])
    y = Scale.apply(x, k)  # the array goes to forward as an array on x's device, and gets no gradient
    assert y.device == x.device and y.grad_fn.inputs[1].requires_grad is False
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), k)
    z = Cube.apply(np.array([1.0, 2.0]))  # no Tensor at all: a constant on the array's device (cpu)
    assert isinstance(z, mg.Tensor) and z.device == mg.Device("cpu") and not z.requires_grad
    np.testing.assert_array_equal(z.numpy(), [1.0, 8.0])


def test_a_function_written_without_staticmethod_works_through_the_class(device):
    x = _leaf([-1.5, 0.5, 2.0], device)
    (g,) = mg.grad(CubeWithoutStaticmethod.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    assert mg.gradcheck(CubeWithoutStaticmethod.apply, (x,))
    assert mg.gradgradcheck(CubeWithoutStaticmethod.apply, (x,))
