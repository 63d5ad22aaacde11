"""Hand-written GRU and LSTM steps, the algorithms of PyTorch's ``nn.GRU`` / ``nn.LSTM`` (one
layer, time-major, zero initial state): the input projection of every step as one matmul,
the recurrence step by step into preallocated buffers, then backpropagation through time of
L = Σ out, and the weight gradients of all steps as one matmul each."""

from __future__ import annotations

from typing import Any

NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _sigmoid_(xp: Any, x: Any) -> Any:
    """σ in place, as 0.5·(1 + tanh(x/2)) (never overflows)."""
    x *= 0.5
    xp.tanh(x, out=x)
    x += 1
    x *= 0.5
    return x


class _NumpyGated:
    """Shared by the two cells: weights, the input projection and the weight gradients."""

    gates = 1

    def __init__(self, xp: Any, weights: dict[str, Any], x: Any) -> None:
        self.xp = xp
        self.w = {k: xp.array(v) for k, v in weights.items()}
        self.x = xp.array(x)
        self._grads: dict[str, Any] = {}

    def step(self) -> float:
        w = self.w
        steps, batch, n_in = self.x.shape
        x2 = self.x.reshape(-1, n_in)
        gi = (x2 @ w["weight_ih_l0"].T).reshape(steps, batch, -1)
        gi += w["bias_ih_l0"]
        hs, loss = self.forward(gi)  # hs (T + 1, N, H): h_0 … h_T
        d_gi, d_gh = self.backward(hs)
        d_gi, d_gh = d_gi.reshape(steps * batch, -1), d_gh.reshape(steps * batch, -1)
        hidden = hs.shape[-1]
        self._grads = {
            "weight_ih_l0": d_gi.T @ x2, "bias_ih_l0": d_gi.sum(axis=0),
            "weight_hh_l0": d_gh.T @ hs[:-1].reshape(-1, hidden), "bias_hh_l0": d_gh.sum(axis=0),
        }
        return loss

    def hidden_projection(self, h: Any) -> Any:
        gh = h @ self.w["weight_hh_l0"].T
        gh += self.w["bias_hh_l0"]
        return gh

    def grads(self) -> dict[str, Any]:
        return self._grads


class NumpyGRU(_NumpyGated):
    """r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n), h' = n + z ⊙ (h − n)."""

    def forward(self, gi: Any) -> tuple[Any, float]:
        xp = self.xp
        steps, batch, three_h = gi.shape
        H = three_h // 3
        hs = xp.zeros((steps + 1, batch, H), dtype=gi.dtype)
        self.gates = xp.empty_like(gi)  # r, z, n of every step
        self.gh_n = xp.empty((steps, batch, H), dtype=gi.dtype)
        for t in range(steps):
            h, g = hs[t], self.gates[t]
            gh = self.hidden_projection(h)
            rz, n = g[:, : 2 * H], g[:, 2 * H:]
            xp.add(gi[t, :, : 2 * H], gh[:, : 2 * H], out=rz)
            _sigmoid_(xp, rz)
            self.gh_n[t] = gh[:, 2 * H:]
            xp.multiply(rz[:, :H], gh[:, 2 * H:], out=n)
            n += gi[t, :, 2 * H:]
            xp.tanh(n, out=n)
            h_new = hs[t + 1]
            xp.subtract(h, n, out=h_new)
            h_new *= rz[:, H:]
            h_new += n
        return hs, float(hs[1:].sum())

    def backward(self, hs: Any) -> tuple[Any, Any]:
        xp, w_hh = self.xp, self.w["weight_hh_l0"]
        steps, batch, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d_gi = xp.empty_like(self.gates)
        d_gh = xp.empty_like(self.gates)
        dh = xp.zeros((batch, H), dtype=hs.dtype)
        for t in reversed(range(steps)):
            dh += 1.0  # ∂(Σ out)/∂h_t
            g, d = self.gates[t], d_gi[t]
            r, z, n = g[:, :H], g[:, H: 2 * H], g[:, 2 * H:]
            da_r, da_z, da_n = d[:, :H], d[:, H: 2 * H], d[:, 2 * H:]
            xp.multiply(dh * (1 - z), 1 - n * n, out=da_n)
            xp.multiply(dh * (hs[t] - n), z * (1 - z), out=da_z)
            xp.multiply(da_n * self.gh_n[t], r * (1 - r), out=da_r)
            d_gh[t, :, : 2 * H] = d[:, : 2 * H]
            xp.multiply(da_n, r, out=d_gh[t, :, 2 * H:])
            dh *= z
            dh += d_gh[t] @ w_hh
        return d_gi, d_gh


class NumpyLSTM(_NumpyGated):
    """i, f, o = σ(·), g = tanh(·) of gi + gh; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')."""

    def forward(self, gi: Any) -> tuple[Any, float]:
        xp = self.xp
        steps, batch, four_h = gi.shape
        H = four_h // 4
        hs = xp.zeros((steps + 1, batch, H), dtype=gi.dtype)
        self.cs = xp.zeros((steps + 1, batch, H), dtype=gi.dtype)
        self.acts = xp.empty_like(gi)  # σ(i), σ(f), tanh(g), σ(o) of every step
        self.tanh_c = xp.empty((steps, batch, H), dtype=gi.dtype)
        for t in range(steps):
            a = self.acts[t]
            xp.add(gi[t], self.hidden_projection(hs[t]), out=a)
            _sigmoid_(xp, a[:, : 2 * H])
            xp.tanh(a[:, 2 * H: 3 * H], out=a[:, 2 * H: 3 * H])
            _sigmoid_(xp, a[:, 3 * H:])
            c = self.cs[t + 1]
            xp.multiply(a[:, H: 2 * H], self.cs[t], out=c)
            c += a[:, :H] * a[:, 2 * H: 3 * H]
            xp.tanh(c, out=self.tanh_c[t])
            xp.multiply(a[:, 3 * H:], self.tanh_c[t], out=hs[t + 1])
        return hs, float(hs[1:].sum())

    def backward(self, hs: Any) -> tuple[Any, Any]:
        xp, w_hh = self.xp, self.w["weight_hh_l0"]
        steps, batch, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d_gates = xp.empty_like(self.acts)  # ∂gi = ∂gh for an LSTM
        dh = xp.zeros((batch, H), dtype=hs.dtype)
        dc = xp.zeros((batch, H), dtype=hs.dtype)
        for t in reversed(range(steps)):
            dh += 1.0  # ∂(Σ out)/∂h_t
            a, tc = self.acts[t], self.tanh_c[t]
            i, f, g, o = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
            dc += dh * o * (1 - tc * tc)
            d = d_gates[t]
            xp.multiply(dc * g, i * (1 - i), out=d[:, :H])
            xp.multiply(dc * self.cs[t], f * (1 - f), out=d[:, H: 2 * H])
            xp.multiply(dc * i, 1 - g * g, out=d[:, 2 * H: 3 * H])
            xp.multiply(dh * tc, o * (1 - o), out=d[:, 3 * H:])
            dc *= f
            dh = d @ w_hh
        return d_gates, d_gates
