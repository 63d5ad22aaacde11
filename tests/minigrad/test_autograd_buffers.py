"""The graph walk sums gradients in place once it owns a buffer (see autograd._Sums): these
tests pin down that no buffer anyone else can see is ever written, and that the sums keep
NumPy's dtype rules."""

from __future__ import annotations

import numpy as np

import minigrad as mg


def _leaf(values, device, dtype=mg.float64):
    return mg.tensor(values, dtype=dtype, device=device, requires_grad=True)


def test_a_tensor_used_many_times_sums_every_use(device):
    x = _leaf([1.0, -2.0], device)
    (x + x + x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_the_upstream_gradient_is_never_written(device):
    x = _leaf([1.0, -2.0], device)
    g = mg.tensor([0.5, 2.0], dtype=mg.float64, device=device)
    (x + x + x).backward(g)
    np.testing.assert_allclose(g.numpy(), [0.5, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [1.5, 6.0])


def test_a_retained_gradient_is_not_changed_by_later_sums(device):
    x = _leaf([1.0, 3.0], device)
    h = x * 2.0
    h.retain_grad()
    y = h + h  # h's slot sums two contributions, then its gradient flows on into x twice
    z = y * 1.0 + y
    z.sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [4.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 8.0])


def test_a_weight_shared_by_many_steps_gets_the_sum_of_their_gradients(device):
    w = _leaf([[0.5, -0.25], [0.1, 0.3]], device)
    h = mg.tensor([[1.0, 2.0]], dtype=mg.float64, device=device)
    expected = np.zeros((2, 2))
    hs = []
    for _ in range(5):
        hs.append(h.numpy().copy())
        h = h @ w
    h.sum().backward()
    # d(sum h_T)/dW = Σ_t h_tᵀ · (∂L/∂h_{t+1}), the gradient propagated back from the end.
    up = np.ones((1, 2))
    for prev in reversed(hs):
        expected += prev.T @ up
        up = up @ w.numpy().T
    np.testing.assert_allclose(w.grad.numpy(), expected)


def test_mixed_precision_sums_keep_the_inputs_dtype(device):
    x = _leaf([1.0, 2.0], device, dtype=mg.float32)
    c = mg.tensor([3.0, 3.0], dtype=mg.float64, device=device)
    # x gets float32 gradients from the float32 products and one through the float64 x * c,
    # which is cast back to x's dtype (PyTorch's rule) before it joins the in-place sum.
    ((x * 1.0).sum() + (x * 1.0).sum() + (x * c).sum() + (x * 1.0).sum()).backward()
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_grad_returns_sums_without_touching_the_outputs_gradients(device):
    x = _leaf([1.0, 2.0], device)
    g = mg.tensor([1.0, 1.0], dtype=mg.float64, device=device)
    (gx,) = mg.grad(x * 2.0 + x * 3.0 + x, x, grad_outputs=g)
    np.testing.assert_allclose(gx.numpy(), [6.0, 6.0])
    np.testing.assert_allclose(g.numpy(), [1.0, 1.0])
    assert x.grad is None


def test_create_graph_sums_stay_differentiable(device):
    x = _leaf([0.5, -1.5], device)
    y = (x * x + x * x * x).sum()
    (gx,) = mg.grad(y, x, create_graph=True)
    (ggx,) = mg.grad(gx.sum(), x)
    np.testing.assert_allclose(gx.numpy(), 2 * x.numpy() + 3 * x.numpy() ** 2)
    np.testing.assert_allclose(ggx.numpy(), 2 + 6 * x.numpy())
