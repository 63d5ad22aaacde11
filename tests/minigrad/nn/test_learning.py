"""Learning tests: small models trained with minigrad.optim must actually learn.

Each runs in a few seconds on 2 cores and asserts a metric that an untrained or a
wrongly-differentiated model could not reach.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """These models' matmuls are small: on a busy 2-core machine OpenBLAS's worker threads
    contend with other processes and make training up to 10x slower than on one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(1, user_api="blas")
    with limits:
        yield


def _train(model: nn.Module, loss_fn, steps: int, lr: float) -> float:
    opt = optim.Adam(model.parameters(), lr=lr)
    loss = None
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(step)
        loss.backward()
        opt.step()
    return loss.item()


def test_mlp_learns_xor():
    mg.manual_seed(0)
    x = mg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = mg.tensor([0, 1, 1, 0])
    mlp = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    final = _train(mlp, lambda _: F.cross_entropy(mlp(x), y), steps=300, lr=0.05)
    assert final < 0.02
    assert mlp(x).argmax(axis=1).tolist() == [0, 1, 1, 0]


def test_linear_fits_noisy_affine_map_to_the_noise_floor():
    """y = W x + b + ε with σ = 0.1: the fitted layer reaches the least-squares optimum
    (whose mean squared residual is the noise floor ≈ σ²)."""
    gen = np.random.default_rng(0)
    n, d_in, d_out, sigma = 400, 5, 3, 0.1
    w_true, b_true = gen.standard_normal((d_out, d_in)), gen.standard_normal(d_out)
    x_np = gen.standard_normal((n, d_in))
    y_np = x_np @ w_true.T + b_true + sigma * gen.standard_normal((n, d_out))
    x, y = mg.tensor(x_np), mg.tensor(y_np)
    mg.manual_seed(0)
    layer = nn.Linear(d_in, d_out).double()
    opt = optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    for _ in range(300):
        opt.zero_grad()
        loss = F.mse_loss(layer(x), y)
        loss.backward()
        opt.step()
    design = np.hstack([x_np, np.ones((n, 1))])
    best = np.linalg.lstsq(design, y_np, rcond=None)[0]
    floor = np.mean((design @ best - y_np) ** 2)
    assert abs(floor - sigma**2) < 0.2 * sigma**2  # the floor really is the noise
    assert F.mse_loss(layer(x), y).item() < floor * 1.001
    np.testing.assert_allclose(layer.weight.numpy(), best[:d_in].T, atol=1e-3)
    np.testing.assert_allclose(layer.bias.numpy(), best[d_in], atol=1e-3)


def _parity_batch(gen, batch: int, length: int):
    bits = gen.integers(0, 2, size=(batch, length))
    return mg.tensor(bits[..., None].astype(np.float32)), mg.tensor(np.cumsum(bits, axis=1) % 2)


def test_gru_learns_running_parity():
    """At every step, output the parity of the bits seen so far (needs memory: a
    feed-forward model of the current bit alone scores 50%)."""
    mg.manual_seed(0)
    gen = np.random.default_rng(0)
    gru, head = nn.GRU(1, 16, batch_first=True), nn.Linear(16, 2)
    model = nn.ModuleList([gru, head])

    def loss(_):
        x, y = _parity_batch(gen, 32, 10)
        return F.cross_entropy(head(gru(x)[0]).reshape(-1, 2), y.reshape(-1))

    _train(model, loss, steps=400, lr=0.01)
    x, y = _parity_batch(np.random.default_rng(1), 256, 10)
    with mg.no_grad():
        accuracy = (head(gru(x)[0]).argmax(axis=-1).numpy() == y.numpy()).mean()
    assert accuracy >= 0.99


def test_rnn_learns_running_sum():
    """h_t = tanh(W x_t + U h_{t−1} + b) tracks Σ_{s≤t} x_s (the seed's recurrence, BPTT)."""
    mg.manual_seed(0)
    gen = np.random.default_rng(0)
    rnn, head = nn.RNN(1, 16), nn.Linear(16, 1)
    model = nn.ModuleList([rnn, head])

    def batch(g, n):
        x = g.uniform(-0.3, 0.3, size=(8, n, 1))
        return mg.tensor(x.astype(np.float32)), mg.tensor(np.cumsum(x, axis=0).astype(np.float32))

    def loss(_):
        x, y = batch(gen, 32)
        return F.mse_loss(head(rnn(x)[0]), y)

    _train(model, loss, steps=500, lr=0.01)
    x, y = batch(np.random.default_rng(1), 256)
    with mg.no_grad():
        mse = F.mse_loss(head(rnn(x)[0]), y).item()
    assert mse < 0.02 * float(y.numpy().var())  # explains > 98% of the variance


VOCAB, BOS, LENGTH = 10, 10, 6  # digits 0-9, then a begin-of-sequence token


class _Reverser(nn.Module):
    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, d)
        self.pos = nn.PositionalEncoding(d, max_len=16, batch_first=True)
        self.transformer = nn.Transformer(d, 4, 1, 1, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d, VOCAB)

    def forward(self, src, tgt_in):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        h = self.transformer(self.pos(self.embed(src)), self.pos(self.embed(tgt_in)), tgt_mask=mask)
        return self.head(h)

    def greedy(self, src):
        out = mg.full((src.shape[0], 1), BOS, dtype=mg.int64)
        for _ in range(LENGTH):
            nxt = self(src, out)[:, -1].argmax(axis=-1)
            out = mg.concat([out, nxt.unsqueeze(1)], axis=1)
        return out[:, 1:]


def test_small_transformer_learns_to_reverse_sequences():
    """Encoder–decoder with teacher forcing; judged by greedy decoding of unseen sequences."""
    mg.manual_seed(0)
    gen = np.random.default_rng(0)
    model = _Reverser()
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(250):
        src = gen.integers(0, VOCAB, size=(64, LENGTH))
        tgt = src[:, ::-1]
        tgt_in = np.concatenate([np.full((64, 1), BOS), tgt[:, :-1]], axis=1)
        opt.zero_grad()
        logits = model(mg.tensor(src), mg.tensor(tgt_in))
        F.cross_entropy(logits.reshape(-1, VOCAB), mg.tensor(tgt.reshape(-1))).backward()
        opt.step()
    model.eval()
    src = np.random.default_rng(1).integers(0, VOCAB, size=(200, LENGTH))
    with mg.no_grad():
        decoded = model.greedy(mg.tensor(src)).numpy()
    accuracy = (decoded == src[:, ::-1]).mean()
    assert accuracy >= 0.99
