"""Hand-written Elman RNN step, the algorithm of PyTorch's ``nn.RNN``:
h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) for t = 1..T, with the input projection
of all steps done as one matmul; softmax(W_o h_T + b_o) cross-entropy, full backpropagation
through time, SGD."""

from __future__ import annotations

from typing import Any

from .layers import linear_backward, sgd, softmax_cross_entropy


class NumpyRNN:
    """``x`` is time-major (T, batch, input); weights named as PyTorch's ``nn.RNN``
    (``rnn.weight_ih_l0``, …) and ``nn.Linear`` head (``out.weight``, ``out.bias``)."""

    def __init__(self, xp: Any, weights: dict[str, Any], x: Any, y: Any, lr: float) -> None:
        self.xp = xp
        self.w = {k: xp.array(v) for k, v in weights.items()}
        self.x, self.y, self.lr = xp.array(x), xp.array(y), lr
        self._grads: dict[str, Any] = {}

    def step(self) -> float:
        xp, w, x = self.xp, self.w, self.x
        w_ih, w_hh, w_o = w["rnn.weight_ih_l0"], w["rnn.weight_hh_l0"], w["out.weight"]
        steps, batch, n_in = x.shape
        x2 = x.reshape(-1, n_in)
        gi = (x2 @ w_ih.T).reshape(steps, batch, -1)
        gi += w["rnn.bias_ih_l0"]
        hs = [xp.zeros((batch, w_hh.shape[0]), dtype=x.dtype)]
        for t in range(steps):
            a = hs[-1] @ w_hh.T
            a += gi[t]
            a += w["rnn.bias_hh_l0"]
            hs.append(xp.tanh(a, out=a))
        loss, dz = softmax_cross_entropy(xp, hs[-1] @ w_o.T + w["out.bias"], self.y)
        g = {}
        dh, g["out.weight"], g["out.bias"] = linear_backward(hs[-1], w_o, dz)
        dgi = xp.empty_like(gi)  # ∂L/∂(pre-activation) of every step
        g_hh = xp.zeros_like(w_hh)
        for t in reversed(range(steps)):
            h = hs[t + 1]
            da = dh * (1 - h * h)  # tanh' = 1 − tanh²
            dgi[t] = da
            g_hh += da.T @ hs[t]
            dh = da @ w_hh
        dgi = dgi.reshape(-1, dgi.shape[-1])
        g["rnn.weight_ih_l0"] = dgi.T @ x2
        g["rnn.weight_hh_l0"] = g_hh
        g["rnn.bias_ih_l0"] = g["rnn.bias_hh_l0"] = dgi.sum(axis=0)
        self._grads = g
        sgd(w, g, self.lr)
        return loss

    def grads(self) -> dict[str, Any]:
        return self._grads
