"""What each MPI rank runs in the distributed tests: ``python -m tests.minigrad.distributed.worker
SCENARIO OUT_DIR`` under ``mpiexec -n N``. The single-process references in the tests use
the same model, data and loop (``build``, ``global_batch``, ``train``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn, optim

GLOBAL_BATCH, IN, HIDDEN, OUT = 8, 5, 7, 3
STEPS = 4
CLIP = 0.05  # small enough that every step is clipped


def build(dtype, seed: int = 0) -> nn.Module:
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.LayerNorm(HIDDEN), nn.Linear(HIDDEN, OUT))
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    return model


def global_batch(step: int, dtype) -> tuple[mg.Tensor, mg.Tensor]:
    rng = np.random.default_rng(100 + step)
    x = rng.standard_normal((GLOBAL_BATCH, IN)).astype(dtype)
    y = rng.standard_normal((GLOBAL_BATCH, OUT)).astype(dtype)
    return mg.tensor(x), mg.tensor(y)


def make_optimizer(name: str, params) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def train(model: nn.Module, optimizer_name: str, dtype, rank: int = 0, world: int = 1,
          micro_batches: int = 1) -> None:
    """``STEPS`` steps of MSE regression with gradient clipping, this rank taking rows
    ``rank::world`` of each global batch, in ``micro_batches`` accumulated pieces (all but
    the last under ``no_sync`` when the model is wrapped)."""
    optimizer = make_optimizer(optimizer_name, model.parameters())
    for step in range(STEPS):
        x, y = global_batch(step, dtype)
        x, y = x[rank::world], y[rank::world]
        optimizer.zero_grad()
        pieces = np.array_split(np.arange(x.shape[0]), micro_batches)
        for k, rows in enumerate(pieces):
            last = k == len(pieces) - 1
            sync = model.no_sync() if (world > 1 and not last) else contextlib.nullcontext()
            with sync:
                loss = mg.functional.mse_loss(model(x[rows]), y[rows]) * (len(rows) / x.shape[0])
                loss.backward()
        optim.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()


def _parameters_agree_across_ranks(model: nn.Module) -> bool:
    return all(all(np.array_equal(g.numpy(), p.numpy()) for g in dist.all_gather(p.detach()))
               for p in model.parameters())


def equivalence(out: Path, optimizer_name: str, dtype_name: str, micro_batches: str, bucket_mb: str) -> None:
    """Train a wrapped model on this rank's share; rank 0 saves the result."""
    dtype = np.dtype(dtype_name)
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build(dtype, seed=rank)  # different on each rank until wrapping copies rank 0's
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=float(bucket_mb))
    calls = _count_all_reduce()
    train(ddp, optimizer_name, dtype, rank, world, int(micro_batches))
    agree = _parameters_agree_across_ranks(model)
    if rank == 0:
        mg.save(ddp.state_dict(), out / "model.npz")
        report = {"buckets": ddp.num_buckets, "all_reduce_calls": calls[0], "agree": agree}
        (out / "report.json").write_text(json.dumps(report))


def _count_all_reduce() -> list[int]:
    """Count the all-reduce calls made from now on (the DDP buckets use the public one)."""
    calls = [0]
    original = dist.all_reduce

    def counting(tensor, op="sum"):
        calls[0] += 1
        return original(tensor, op)

    dist.all_reduce = counting
    return calls


def collectives(out: Path) -> None:
    """Each collective, with values that differ by rank; rank 0 reports what it saw."""
    rank, world = dist.get_rank(), dist.get_world_size()
    base = np.arange(6, dtype=np.float64).reshape(2, 3)
    seen = {}
    for op in ("sum", "mean", "max"):
        t = mg.tensor(base * (rank + 1))
        dist.all_reduce(t, op=op)
        seen[op] = t.numpy().tolist()
    t = mg.tensor(base * (rank + 1))
    dist.broadcast(t, src=world - 1)
    seen["broadcast"] = t.numpy().tolist()
    seen["all_gather"] = [g.numpy().tolist() for g in dist.all_gather(mg.tensor(base + rank))]
    seen["objects"] = dist.all_gather_object({"rank": rank})
    dist.barrier()
    sampler = dist.DistributedSampler(11, shuffle=True, seed=3)
    sampler.set_epoch(2)
    seen["sampler"] = [[int(i) for i in g.numpy()] for g in dist.all_gather(mg.tensor(sampler.indices()))]
    if rank == 0:
        (out / "report.json").write_text(json.dumps(seen))


def mismatch(out: Path, kind: str) -> None:
    """Ranks build different models; each rank prints the error wrapping gives it."""
    rank = dist.get_rank()
    if kind == "shape":
        model = nn.Sequential(nn.Linear(4, 4 if rank == 0 else 3))
    else:
        layers = 2 if rank == 0 else 1
        model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(layers)])
    try:
        nn.parallel.DistributedDataParallel(model)
    except dist.DistributedError as e:
        print(f"rank {rank} refused: {e}", flush=True)


def hang(out: Path) -> None:
    """Rank 1 stops taking part; rank 0's next collective must give up after the timeout."""
    if dist.get_rank() == 1:
        time.sleep(600)
    dist.all_reduce(mg.ones(3))


def fail(out: Path) -> None:
    """Rank 1 raises while rank 0 waits in a collective."""
    if dist.get_rank() == 1:
        raise ValueError("rank 1 broke on purpose")
    dist.all_reduce(mg.ones(3))


def after_destroy(out: Path) -> None:
    """Every rank leaves the group, then raises: an ordinary error, nothing to abort."""
    dist.barrier()
    dist.destroy_process_group()
    raise ValueError(f"raised after leaving the group (rank {os.environ.get('PMI_RANK')})")


def die(out: Path) -> None:
    """Rank 1 is killed (SIGKILL) in the middle of training."""
    rank = dist.get_rank()
    ddp = nn.parallel.DistributedDataParallel(build(np.float32))
    optimizer = optim.SGD(ddp.parameters(), lr=0.1)
    for step in range(1000):
        if rank == 1 and step == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        x, y = global_batch(step, np.float32)
        optimizer.zero_grad()
        mg.functional.mse_loss(ddp(x), y).backward()
        optimizer.step()
        print(f"rank {rank} step {step}", flush=True)


SCENARIOS = {"equivalence": equivalence, "collectives": collectives, "mismatch": mismatch, "hang": hang,
             "fail": fail, "after_destroy": after_destroy, "die": die}

if __name__ == "__main__":
    scenario, out, *rest = sys.argv[1:]
    dist.init_process_group(timeout=float(os.environ.get("WORKER_TIMEOUT", "60")))
    SCENARIOS[scenario](Path(out), *rest)
