"""Hand-written per-op-overhead graph: x = x·w + 0.01·tanh(x) repeated, then sum, forward
and backward on shape-(1,) arrays (no update: the unit is one graph)."""

from __future__ import annotations

from typing import Any


class NumpyTiny:
    def __init__(self, xp: Any, weights: dict[str, Any], iterations: int) -> None:
        self.xp = xp
        self.x0, self.w = xp.array(weights["x"]), xp.array(weights["w"])
        self.iterations = iterations
        self._grads: dict[str, Any] = {}

    def step(self) -> float:
        x, w = self.x0, self.w
        saved = []
        for _ in range(self.iterations):
            t = self.xp.tanh(x)
            saved.append((x, t))
            x = x * w + 0.01 * t
        loss = float(x.sum())
        dx, dw = self.xp.ones_like(x), self.xp.zeros_like(w)
        for x, t in reversed(saved):
            dw += dx * x
            dx = dx * w + 0.01 * dx * (1 - t * t)  # tanh' = 1 − tanh²
        self._grads = {"x": dx, "w": dw}
        return loss

    def grads(self) -> dict[str, Any]:
        return self._grads
