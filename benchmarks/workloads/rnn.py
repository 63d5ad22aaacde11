"""rnn: Elman RNN h_t = tanh(W_x x_t + W_h h_{t−1} + b), T=50, batch 32, input 128, hidden 256,
softmax(W_o h_T + b_o) cross-entropy, full BPTT. Each framework uses its ``nn.RNN`` (which
has PyTorch's two biases, b = b_ih + b_hh) and an ``nn.Linear`` head."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
import minigrad.functional as F
from benchmarks.frameworks import array_module, load_minigrad, load_torch, torch_for
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

    h = config.hidden
    weights = {
        "rnn.weight_ih_l0": uniform(h, config.input),
        "rnn.weight_hh_l0": uniform(h, h),
        "rnn.bias_ih_l0": uniform(h),
        "rnn.bias_hh_l0": uniform(h),
        "out.weight": uniform(config.classes, h),
        "out.bias": uniform(config.classes),
    }
    data = {
        "x": rng.standard_normal((config.seq, config.batch, config.input), dtype=np.float32),
        "y": rng.integers(0, config.classes, config.batch),
    }
    return Problem(config, weights, data)


def _modules(nn, config: Config) -> dict:
    """``nn.RNN`` (time-major, tanh) and the ``nn.Linear`` head: the same in both APIs."""
    return {"rnn": nn.RNN(config.input, config.hidden), "out": nn.Linear(config.hidden, config.classes)}


class FrameworkRNN:
    """The step, the same code for minigrad and PyTorch (their APIs agree here)."""

    def __init__(self, modules: dict, opt, F, x, y) -> None:
        self.rnn, self.out = modules["rnn"], modules["out"]
        self.modules, self.opt, self.F, self.x, self.y = modules, opt, F, x, y

    def step(self) -> float:
        self.opt.zero_grad()
        _, h_n = self.rnn(self.x)
        loss = self.F.cross_entropy(self.out(h_n[0]), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def grads(self) -> dict:
        modules = self.modules.items()
        return {f"{m}.{k}": p.grad for m, module in modules for k, p in module.named_parameters()}


def _params(modules: dict) -> list:
    return [p for module in modules.values() for p in module.parameters()]


def _load(load, modules: dict, problem: Problem, device) -> dict:
    """Each module gets the weights under its name ("rnn.weight_ih_l0" -> rnn's "weight_ih_l0")."""
    def own(name: str) -> dict:
        return {k[len(name) + 1:]: v for k, v in problem.weights.items() if k.startswith(name + ".")}

    return {name: load(module, own(name), device) for name, module in modules.items()}


def minigrad_rnn(problem: Problem, device: str) -> FrameworkRNN:
    modules = _load(load_minigrad, _modules(mg.nn, problem.config), problem, device)
    x, y = (mg.tensor(problem.data[k], device=device) for k in ("x", "y"))
    return FrameworkRNN(modules, optim.SGD(_params(modules), lr=problem.lr), F, x, y)


def torch_rnn(problem: Problem, device: str) -> FrameworkRNN:
    torch, dev = torch_for(device)
    modules = _load(load_torch, _modules(torch.nn, problem.config), problem, dev)
    x, y = (torch.tensor(problem.data[k], device=dev) for k in ("x", "y"))
    return FrameworkRNN(modules, torch.optim.SGD(_params(modules), lr=problem.lr), torch.nn.functional, x, y)


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
