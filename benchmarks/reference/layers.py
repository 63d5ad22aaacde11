"""Forward/backward pieces shared by the hand-written references. ``xp`` is numpy or cupy;
arrays are float32 and 2-D where a layer is a matrix product (batch dims flattened)."""

from __future__ import annotations

from typing import Any


def linear_backward(x: Any, w: Any, dy: Any, need_dx: bool = True) -> tuple[Any, Any, Any]:
    """y = x Wᵀ + b:  ∂L/∂x = dy W,  ∂L/∂W = dyᵀ x,  ∂L/∂b = Σ_rows dy."""
    return (dy @ w if need_dx else None), dy.T @ x, dy.sum(axis=0)


def softmax_cross_entropy(xp: Any, logits: Any, target: Any) -> tuple[float, Any]:
    """Mean −log softmax(logits)[target] and its gradient (softmax − onehot) / N."""
    n = logits.shape[0]
    rows = xp.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    loss = float((xp.log(total[:, 0]) - shifted[rows, target]).mean())
    e /= total
    e[rows, target] -= 1
    e /= n
    return loss, e


def layer_norm(x: Any, gamma: Any, beta: Any, eps: float) -> tuple[Any, tuple[Any, Any]]:
    """(x − mean) / √(var + eps) · γ + β over the last axis; returns (y, cache)."""
    centred = x - x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / (((centred * centred).mean(axis=-1, keepdims=True) + eps) ** 0.5)
    xhat = centred * rstd
    return xhat * gamma + beta, (xhat, rstd)


def layer_norm_backward(dy: Any, gamma: Any, cache: tuple[Any, Any]) -> tuple[Any, Any, Any]:
    """∂L/∂x = rstd · (ĝ − mean ĝ − x̂ · mean(ĝ x̂)) with ĝ = dy γ;  ∂L/∂γ = Σ dy x̂,  ∂L/∂β = Σ dy."""
    xhat, rstd = cache
    d = dy.shape[-1]
    dgamma = (dy * xhat).reshape(-1, d).sum(axis=0)
    dbeta = dy.reshape(-1, d).sum(axis=0)
    g = dy * gamma
    dx = g - g.mean(axis=-1, keepdims=True)
    dx -= xhat * (g * xhat).mean(axis=-1, keepdims=True)
    dx *= rstd
    return dx, dgamma, dbeta


def sgd(weights: dict[str, Any], grads: dict[str, Any], lr: float) -> None:
    for name, g in grads.items():
        weights[name] -= lr * g
