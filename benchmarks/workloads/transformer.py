"""transformer: one post-LN encoder block (4 heads, d 256, FFN 1024, ReLU, dropout 0),
batch 16, seq 128, MSE loss against a random target, SGD."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
import minigrad.functional as F
from benchmarks.frameworks import array_module, load_minigrad, load_torch, torch_for
from benchmarks.harness import Problem, Workload
from benchmarks.reference.transformer import EPS, NumpyTransformer
from minigrad import optim


@dataclass(frozen=True)
class Config:
    batch: int = 16
    seq: int = 128
    d_model: int = 256
    heads: int = 4
    ffn: int = 1024


def make_problem(config: Config, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    d, f = config.d_model, config.ffn

    def uniform(*shape: int) -> np.ndarray:
        bound = 1 / np.sqrt(shape[-1])
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    def near(value: float, n: int) -> np.ndarray:  # norm affine params away from their init
        return (value + 0.1 * rng.standard_normal(n)).astype(np.float32)

    weights = {
        "self_attn.in_proj_weight": uniform(3 * d, d),
        "self_attn.in_proj_bias": near(0.0, 3 * d),
        "self_attn.out_proj.weight": uniform(d, d),
        "self_attn.out_proj.bias": near(0.0, d),
        "linear1.weight": uniform(f, d),
        "linear1.bias": near(0.0, f),
        "linear2.weight": uniform(d, f),
        "linear2.bias": near(0.0, d),
        "norm1.weight": near(1.0, d),
        "norm1.bias": near(0.0, d),
        "norm2.weight": near(1.0, d),
        "norm2.bias": near(0.0, d),
    }
    shape = (config.batch, config.seq, d)
    data = {
        "x": rng.standard_normal(shape, dtype=np.float32),
        "target": rng.standard_normal(shape, dtype=np.float32),
    }
    return Problem(config, weights, data)


class FrameworkTransformer:
    """The step, the same code for minigrad and PyTorch (their APIs agree here)."""

    def __init__(self, model, opt, F, x, target) -> None:
        self.model, self.opt, self.F, self.x, self.target = model, opt, F, x, target

    def step(self) -> float:
        self.opt.zero_grad()
        loss = self.F.mse_loss(self.model(self.x), self.target)
        loss.backward()
        self.opt.step()
        return loss.item()

    def grads(self) -> dict:
        return {k: p.grad for k, p in self.model.named_parameters()}


def _layer(nn, config: Config):
    """PyTorch's post-LN encoder layer (ReLU FFN), dropout 0, batch first: same in both APIs."""
    c = config
    return nn.TransformerEncoderLayer(
        c.d_model, c.heads, c.ffn, dropout=0.0, layer_norm_eps=EPS, batch_first=True
    )


def minigrad_transformer(problem: Problem, device: str) -> FrameworkTransformer:
    model = load_minigrad(_layer(mg.nn, problem.config), problem.weights, device)
    x, target = (mg.tensor(problem.data[k], device=device) for k in ("x", "target"))
    return FrameworkTransformer(model, optim.SGD(model.parameters(), lr=problem.lr), F, x, target)


def torch_transformer(problem: Problem, device: str) -> FrameworkTransformer:
    torch, dev = torch_for(device)
    model = load_torch(_layer(torch.nn, problem.config), problem.weights, dev)
    x, target = (torch.tensor(problem.data[k], device=dev) for k in ("x", "target"))
    opt = torch.optim.SGD(model.parameters(), lr=problem.lr)
    return FrameworkTransformer(model, opt, torch.nn.functional, x, target)


def numpy_transformer(problem: Problem, device: str) -> NumpyTransformer:
    d, heads = problem.data, problem.config.heads
    return NumpyTransformer(array_module(device), problem.weights, d["x"], d["target"], heads, problem.lr)


WORKLOAD = Workload(
    name="transformer",
    description="post-LN Transformer encoder block (ReLU FFN, dropout 0), MSE loss, SGD",
    unit="step",
    default=Config(),
    smoke=Config(batch=2, seq=5, d_model=8, heads=2, ffn=16),
    make_problem=make_problem,
    impls={"numpy": numpy_transformer, "minigrad": minigrad_transformer, "torch": torch_transformer},
)
