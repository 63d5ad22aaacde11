"""Hand-written MLP step: Linear-ReLU-Linear-ReLU-Linear, softmax cross-entropy, SGD."""

from __future__ import annotations

from typing import Any

from .layers import linear_backward, sgd, softmax_cross_entropy


class NumpyMLP:
    """Weights named as the layers of PyTorch's ``nn.Sequential`` (``0.weight``, ``2.weight``, …)."""

    def __init__(self, xp: Any, weights: dict[str, Any], x: Any, y: Any, lr: float) -> None:
        self.xp = xp
        self.w = {k: xp.array(v) for k, v in weights.items()}
        self.layers = sorted({int(k.split(".")[0]) for k in weights})
        self.x, self.y, self.lr = xp.array(x), xp.array(y), lr
        self._grads: dict[str, Any] = {}

    def step(self) -> float:
        w = self.w
        acts = [self.x]  # the input of each linear layer
        for i, layer in enumerate(self.layers):
            h = acts[-1] @ w[f"{layer}.weight"].T
            h += w[f"{layer}.bias"]
            if i < len(self.layers) - 1:
                self.xp.maximum(h, 0, out=h)
            acts.append(h)
        loss, dy = softmax_cross_entropy(self.xp, acts.pop(), self.y)
        grads = {}
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            dx, grads[f"{layer}.weight"], grads[f"{layer}.bias"] = linear_backward(
                acts[i], w[f"{layer}.weight"], dy, need_dx=i > 0
            )
            if i > 0:
                dx *= acts[i] > 0  # ReLU: its output is positive exactly where it passed
                dy = dx
        self._grads = grads
        sgd(w, grads, self.lr)
        return loss

    def grads(self) -> dict[str, Any]:
        return self._grads
