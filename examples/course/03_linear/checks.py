"""Functional checks of assignment 3, called by the grader as ``check(submission, **args)``."""

from __future__ import annotations

import numpy

import minigrad as mg


def _regression(seed: int = 0, n: int = 200, d: int = 3, o: int = 2, noise: float = 0.01):
    """A regression that y = tanh(W x + b) can fit: targets from a known W, b plus noise."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w, b = rng.standard_normal((o, d)) * 0.8, rng.standard_normal(o) * 0.3
    y = numpy.tanh(x @ w.T + b) + noise * rng.standard_normal((n, o))
    return x, y


def gradients_match_closed_form(hw, tol: float = 1e-8) -> str:
    """Backward through Linear, tanh and MSELoss equals the closed form
    ∂L/∂W = (1/N) Gᵀ X, ∂L/∂b = (1/N) Σᵢ Gᵢ with G = (ŷ − y) ⊙ (1 − ŷ²)."""
    x, y = _regression(seed=1, n=7)
    w0 = numpy.random.default_rng(2).standard_normal((y.shape[1], x.shape[1]))
    b0 = numpy.random.default_rng(3).standard_normal(y.shape[1])
    w, b = mg.tensor(w0, requires_grad=True), mg.tensor(b0, requires_grad=True)
    pred = hw.model(mg.tensor(x), w, b)
    hw.MSELoss.apply(pred, mg.tensor(y)).backward()
    yhat = numpy.tanh(x @ w0.T + b0)
    g = (yhat - y) * (1 - yhat**2)
    for name, got, want in (("∂L/∂W", w.grad, g.T @ x / len(x)), ("∂L/∂b", b.grad, g.sum(0) / len(x))):
        assert got is not None, f"{name}: no gradient reached the parameter"
        err = float(numpy.abs(got.numpy() - want).max())
        assert err < tol, f"{name} differs from the closed form by {err:.3g} (allowed {tol:g})"
    return "∂L/∂W and ∂L/∂b equal the closed form"


def trains_below(hw, loss: float, steps: int, lr: float = 0.5) -> str:
    """``fit`` brings the training loss below ``loss`` within ``steps`` steps."""
    x, y = _regression()
    _, _, losses = hw.fit(mg.tensor(x, dtype=mg.float32), mg.tensor(y, dtype=mg.float32), steps=steps, lr=lr)
    assert len(losses) == steps, f"fit returned {len(losses)} losses for {steps} steps"
    final = losses[-1]
    assert numpy.isfinite(final), f"the loss is {final} after {steps} steps"
    assert final < loss, f"loss {final:.4g} after {steps} steps (start {losses[0]:.4g}); needs < {loss:g}"
    return f"loss {losses[0]:.4g} -> {final:.4g} in {steps} steps (< {loss:g})"
