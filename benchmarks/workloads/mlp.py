"""mlp: y = f(Wx + b) stacked — 784-512-512-10 with ReLU, batch 256, softmax cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
import minigrad.functional as F
from benchmarks.frameworks import array_module, load_minigrad, load_torch, torch_for
from benchmarks.harness import Problem, Workload
from benchmarks.reference.mlp import NumpyMLP
from minigrad import optim


@dataclass(frozen=True)
class Config:
    batch: int = 256
    sizes: tuple[int, ...] = (784, 512, 512, 10)


def make_problem(config: Config, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(config.sizes, config.sizes[1:])):
        bound = 1 / np.sqrt(n_in)  # PyTorch's Linear init range
        weights[f"{2 * i}.weight"] = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
        weights[f"{2 * i}.bias"] = rng.uniform(-bound, bound, n_out).astype(np.float32)
    data = {
        "x": rng.standard_normal((config.batch, config.sizes[0]), dtype=np.float32),
        "y": rng.integers(0, config.sizes[-1], config.batch),
    }
    return Problem(config, weights, data)


def _layers(nn, sizes: tuple[int, ...]) -> list:
    """Linear, ReLU, Linear, …, Linear (names 0, 2, 4, … as in the weights)."""
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return layers[:-1]


class FrameworkMLP:
    """The step, the same code for minigrad and PyTorch (their APIs agree here)."""

    def __init__(self, model, opt, F, x, y) -> None:
        self.model, self.opt, self.F, self.x, self.y = model, opt, F, x, y

    def step(self) -> float:
        self.opt.zero_grad()
        loss = self.F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def grads(self) -> dict:
        return {k: p.grad for k, p in self.model.named_parameters()}


def minigrad_mlp(problem: Problem, device: str) -> FrameworkMLP:
    model = load_minigrad(mg.nn.Sequential(*_layers(mg.nn, problem.config.sizes)), problem.weights, device)
    x, y = (mg.tensor(problem.data[k], device=device) for k in ("x", "y"))
    return FrameworkMLP(model, optim.SGD(model.parameters(), lr=problem.lr), F, x, y)


def torch_mlp(problem: Problem, device: str) -> FrameworkMLP:
    torch, dev = torch_for(device)
    model = load_torch(torch.nn.Sequential(*_layers(torch.nn, problem.config.sizes)), problem.weights, dev)
    x, y = (torch.tensor(problem.data[k], device=dev) for k in ("x", "y"))
    return FrameworkMLP(model, torch.optim.SGD(model.parameters(), lr=problem.lr), torch.nn.functional, x, y)


def numpy_mlp(problem: Problem, device: str) -> NumpyMLP:
    return NumpyMLP(array_module(device), problem.weights, problem.data["x"], problem.data["y"], problem.lr)


WORKLOAD = Workload(
    name="mlp",
    description="ReLU MLP, softmax cross-entropy, SGD",
    unit="step",
    default=Config(),
    smoke=Config(batch=4, sizes=(12, 8, 8, 5)),
    make_problem=make_problem,
    impls={"numpy": numpy_mlp, "minigrad": minigrad_mlp, "torch": torch_mlp},
)
