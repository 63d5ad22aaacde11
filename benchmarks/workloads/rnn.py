"""rnn: Elman RNN h_t = tanh(W_x x_t + W_h h_{t−1} + b), T=50, batch 32, input 128, hidden 256,
softmax(W_o h_T + b_o) cross-entropy, full BPTT — the equation written out in each framework."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
import minigrad.functional as F
from benchmarks.frameworks import array_module, torch_for
from benchmarks.harness import Problem, Workload
from benchmarks.reference.rnn import NumpyRNN
from minigrad import optim


@dataclass(frozen=True)
class Config:
    batch: int = 32
    seq: int = 50
    input: int = 128
    hidden: int = 256
    classes: int = 10


def make_problem(config: Config, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(config.hidden)  # PyTorch's RNN init range

    def uniform(*shape: int) -> np.ndarray:
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    weights = {
        "w_x": uniform(config.hidden, config.input),
        "w_h": uniform(config.hidden, config.hidden),
        "b": uniform(config.hidden),
        "w_o": uniform(config.classes, config.hidden),
        "b_o": uniform(config.classes),
    }
    data = {
        "x": rng.standard_normal((config.seq, config.batch, config.input), dtype=np.float32),
        "y": rng.integers(0, config.classes, config.batch),
    }
    return Problem(config, weights, data)


class FrameworkRNN:
    """The step, the same code for minigrad and PyTorch (their APIs agree here)."""

    def __init__(self, params: dict, opt, F, zeros, x, y) -> None:
        self.p, self.opt, self.F, self.zeros, self.x, self.y = params, opt, F, zeros, x, y

    def step(self) -> float:
        p, F = self.p, self.F
        self.opt.zero_grad()
        h = self.zeros(self.x.shape[1], p["w_h"].shape[0])
        for t in range(self.x.shape[0]):
            h = (F.linear(self.x[t], p["w_x"]) + F.linear(h, p["w_h"], p["b"])).tanh()
        loss = F.cross_entropy(F.linear(h, p["w_o"], p["b_o"]), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def grads(self) -> dict:
        return {k: t.grad for k, t in self.p.items()}


def minigrad_rnn(problem: Problem, device: str) -> FrameworkRNN:
    params = {k: mg.tensor(v, device=device, requires_grad=True) for k, v in problem.weights.items()}
    x, y = (mg.tensor(problem.data[k], device=device) for k in ("x", "y"))
    return FrameworkRNN(
        params, optim.SGD(params.values(), lr=problem.lr), F,
        lambda *shape: mg.zeros(*shape, device=device), x, y,
    )


def torch_rnn(problem: Problem, device: str) -> FrameworkRNN:
    torch, dev = torch_for(device)
    params = {k: torch.tensor(v, device=dev, requires_grad=True) for k, v in problem.weights.items()}
    x, y = (torch.tensor(problem.data[k], device=dev) for k in ("x", "y"))
    return FrameworkRNN(
        params, torch.optim.SGD(params.values(), lr=problem.lr), torch.nn.functional,
        lambda *shape: torch.zeros(*shape, device=dev), x, y,
    )


def numpy_rnn(problem: Problem, device: str) -> NumpyRNN:
    return NumpyRNN(array_module(device), problem.weights, problem.data["x"], problem.data["y"], problem.lr)


WORKLOAD = Workload(
    name="rnn",
    description="Elman RNN, full BPTT, softmax(W_o h_T + b_o) cross-entropy, SGD",
    unit="step",
    default=Config(),
    smoke=Config(batch=3, seq=4, input=5, hidden=6, classes=3),
    make_problem=make_problem,
    impls={"numpy": numpy_rnn, "minigrad": minigrad_rnn, "torch": torch_rnn},
)
