"""gru, lstm: one ``nn.GRU`` / ``nn.LSTM`` layer over a time-major batch (T=50, batch 32, input
128, hidden 256), forward and backward of L = Σ out: the recurrent layer alone, as a user of
either library runs it. Same weights, loaded by name, in every implementation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import minigrad as mg
from benchmarks.frameworks import array_module, load_minigrad, load_torch, torch_for
from benchmarks.harness import Problem, Workload
from benchmarks.reference.gated import NAMES, NumpyGRU, NumpyLSTM

GATES = {"GRU": 3, "LSTM": 4}


@dataclass(frozen=True)
class Config:
    batch: int = 32
    seq: int = 50
    input: int = 128
    hidden: int = 256


def _problem_for(kind: str):
    def make_problem(config: Config, seed: int) -> Problem:
        rng = np.random.default_rng(seed)
        bound = 1 / np.sqrt(config.hidden)  # PyTorch's recurrent init range
        rows = GATES[kind] * config.hidden
        shapes = dict(zip(NAMES, ((rows, config.input), (rows, config.hidden), (rows,), (rows,))))
        weights = {k: rng.uniform(-bound, bound, s).astype(np.float32) for k, s in shapes.items()}
        x = rng.standard_normal((config.seq, config.batch, config.input), dtype=np.float32)
        return Problem(config, weights, {"x": x})

    return make_problem


class FrameworkGated:
    """The step, the same code for minigrad and PyTorch (their APIs agree here)."""

    def __init__(self, layer: Any, x: Any) -> None:
        self.layer, self.x = layer, x

    def step(self) -> float:
        self.layer.zero_grad()
        out, _ = self.layer(self.x)
        loss = out.sum()
        loss.backward()
        return loss.item()

    def grads(self) -> dict:
        return {k: p.grad for k, p in self.layer.named_parameters()}


def _impls(kind: str) -> dict:
    def minigrad_impl(problem: Problem, device: str) -> FrameworkGated:
        c = problem.config
        layer = load_minigrad(getattr(mg.nn, kind)(c.input, c.hidden), problem.weights, device)
        return FrameworkGated(layer, mg.tensor(problem.data["x"], device=device))

    def torch_impl(problem: Problem, device: str) -> FrameworkGated:
        torch, dev = torch_for(device)
        c = problem.config
        layer = load_torch(getattr(torch.nn, kind)(c.input, c.hidden), problem.weights, dev)
        return FrameworkGated(layer, torch.tensor(problem.data["x"], device=dev))

    def numpy_impl(problem: Problem, device: str):
        cls = NumpyGRU if kind == "GRU" else NumpyLSTM
        return cls(array_module(device), problem.weights, problem.data["x"])

    return {"numpy": numpy_impl, "minigrad": minigrad_impl, "torch": torch_impl}


def _workload(kind: str) -> Workload:
    return Workload(
        name=kind.lower(),
        description=f"one nn.{kind} layer, T=50, batch 32, input 128, hidden 256: forward + backward "
        "of out.sum()",
        unit="step",
        default=Config(),
        smoke=Config(batch=3, seq=4, input=5, hidden=6),
        make_problem=_problem_for(kind),
        impls=_impls(kind),
    )


GRU_WORKLOAD = _workload("GRU")
LSTM_WORKLOAD = _workload("LSTM")
