"""Data-parallel training, start to finish:

    mpiexec -n 2 python examples/distributed/regression.py --out regression.npz

Every process holds the same data; the sampler gives each its share of every epoch, the
wrapper averages gradients after each backward, and rank 0 alone prints and saves. Run
without mpiexec it trains the same model in one process.
"""

from __future__ import annotations

import argparse

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import nn, optim


def make_data(n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(x · w) plus a little noise: the same on every rank (fixed seed)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = np.sin(x @ (0.4 * rng.standard_normal((8, 1)))) + 0.05 * rng.standard_normal((n, 1))
    return x, y.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="regression.npz", help="where rank 0 saves the weights")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    args = parser.parse_args()

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = make_data()
    mg.manual_seed(rank)  # different on purpose: the wrapper starts every rank from rank 0's weights
    model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1)))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    sampler = dist.DistributedSampler(len(x), shuffle=True, seed=0)
    local_batch = args.batch_size // world
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        mine = sampler.indices()
        total = 0.0
        for start in range(0, len(mine), local_batch):
            rows = mine[start : start + local_batch]
            optimizer.zero_grad()
            loss = F.mse_loss(model(mg.tensor(x[rows])), mg.tensor(y[rows]))
            loss.backward()  # ends with the gradients averaged over the ranks
            optimizer.step()
            total += loss.item() * len(rows)
        epoch_loss = dist.all_reduce(mg.tensor([total / len(mine)]), op="mean").item()
        if rank == 0:
            print(f"epoch {epoch + 1}: mean training loss {epoch_loss:.4f}", flush=True)
    if rank == 0:
        mg.save(model.state_dict(), args.out)  # the plain model's names: loads without the wrapper
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
