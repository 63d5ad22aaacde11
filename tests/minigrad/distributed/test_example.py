"""examples/distributed/regression.py, as its docstring runs it, on 2 processes."""

from __future__ import annotations

import re

import minigrad as mg
from minigrad import nn
from tests._mpi import ROOT, ok, requires_mpi, run_mpi


@requires_mpi
def test_the_distributed_example_learns_and_saves_a_plain_state_dict(tmp_path):
    out = tmp_path / "regression.npz"
    result = ok(run_mpi([str(ROOT / "examples" / "distributed" / "regression.py"), "--out", str(out)]))
    losses = [float(v) for v in re.findall(r"mean training loss ([0-9.]+)", result.stdout)]
    assert len(losses) == 20  # printed by rank 0 only
    assert losses[-1] < 0.25 * losses[0]
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    model.load_state_dict(mg.load(out))
