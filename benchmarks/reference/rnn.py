"""Hand-written Elman RNN step: h_t = tanh(W_x x_t + W_h h_{t−1} + b) for t = 1..T,
softmax(W_o h_T + b_o) cross-entropy, full backpropagation through time, SGD."""

from __future__ import annotations

from typing import Any

from .layers import linear_backward, sgd, softmax_cross_entropy


class NumpyRNN:
    """``x`` is time-major (T, batch, input); weights ``w_x``, ``w_h``, ``b``, ``w_o``, ``b_o``."""

    def __init__(self, xp: Any, weights: dict[str, Any], x: Any, y: Any, lr: float) -> None:
        self.xp = xp
        self.w = {k: xp.array(v) for k, v in weights.items()}
        self.x, self.y, self.lr = xp.array(x), xp.array(y), lr
        self._grads: dict[str, Any] = {}

    def step(self) -> float:
        xp, w, x = self.xp, self.w, self.x
        hs = [xp.zeros((x.shape[1], w["w_h"].shape[0]), dtype=x.dtype)]
        for x_t in x:
            a = x_t @ w["w_x"].T
            a += hs[-1] @ w["w_h"].T
            a += w["b"]
            hs.append(xp.tanh(a, out=a))
        loss, dz = softmax_cross_entropy(xp, hs[-1] @ w["w_o"].T + w["b_o"], self.y)
        dh, g_wo, g_bo = linear_backward(hs[-1], w["w_o"], dz)
        g_wx, g_wh, g_b = xp.zeros_like(w["w_x"]), xp.zeros_like(w["w_h"]), xp.zeros_like(w["b"])
        for t in reversed(range(len(x))):
            h = hs[t + 1]
            da = dh * (1 - h * h)  # tanh' = 1 − tanh²
            g_wx += da.T @ x[t]
            g_wh += da.T @ hs[t]
            g_b += da.sum(axis=0)
            dh = da @ w["w_h"]
        self._grads = {"w_x": g_wx, "w_h": g_wh, "b": g_b, "w_o": g_wo, "b_o": g_bo}
        sgd(w, self._grads, self.lr)
        return loss

    def grads(self) -> dict[str, Any]:
        return self._grads
