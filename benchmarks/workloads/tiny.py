"""tiny: per-op overhead — x = x·w + 0.01·tanh(x) 500 times on shape-(1,) tensors, then sum
and backward. Timed per graph (forward + backward), no update."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
from benchmarks.frameworks import array_module, torch_for
from benchmarks.harness import Problem, Workload
from benchmarks.reference.tiny import NumpyTiny


@dataclass(frozen=True)
class Config:
    iterations: int = 500


def make_problem(config: Config, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    weights = {  # w < 1 keeps x bounded: its fixed point is about 0.01 / (1 − w)
        "x": rng.uniform(0.1, 1.0, 1).astype(np.float32),
        "w": rng.uniform(0.98, 0.99, 1).astype(np.float32),
    }
    return Problem(config, weights, {})


class FrameworkTiny:
    """The graph, the same code for minigrad and PyTorch (their APIs agree here)."""

    def __init__(self, x0, w, iterations: int) -> None:
        self.x0, self.w, self.iterations = x0, w, iterations

    def step(self) -> float:
        self.x0.grad = self.w.grad = None
        x, w = self.x0, self.w
        for _ in range(self.iterations):
            x = x * w + 0.01 * x.tanh()
        loss = x.sum()
        loss.backward()
        return loss.item()

    def grads(self) -> dict:
        return {"x": self.x0.grad, "w": self.w.grad}


def minigrad_tiny(problem: Problem, device: str) -> FrameworkTiny:
    x0, w = (mg.tensor(problem.weights[k], device=device, requires_grad=True) for k in ("x", "w"))
    return FrameworkTiny(x0, w, problem.config.iterations)


def torch_tiny(problem: Problem, device: str) -> FrameworkTiny:
    torch, dev = torch_for(device)
    x0, w = (torch.tensor(problem.weights[k], device=dev, requires_grad=True) for k in ("x", "w"))
    return FrameworkTiny(x0, w, problem.config.iterations)


def numpy_tiny(problem: Problem, device: str) -> NumpyTiny:
    return NumpyTiny(array_module(device), problem.weights, problem.config.iterations)


WORKLOAD = Workload(
    name="tiny",
    description="x = x*w + 0.01*tanh(x) on shape-(1,) tensors, sum, backward (per-op overhead)",
    unit="graph",
    default=Config(),
    smoke=Config(iterations=20),
    make_problem=make_problem,
    impls={"numpy": numpy_tiny, "minigrad": minigrad_tiny, "torch": torch_tiny},
)
