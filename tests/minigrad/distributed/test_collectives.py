"""minigrad.distributed: collectives on 2 MPI processes and in a world of one, the sampler,
and the errors a user can run into."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn
from tests._mpi import ROOT, ok, requires_mpi, run_mpi


@pytest.fixture
def world():
    dist.init_process_group()
    yield
    dist.destroy_process_group()


@requires_mpi
def test_collectives_on_two_ranks(tmp_path):
    ok(run_mpi(["-m", "tests.minigrad.distributed.worker", "collectives", str(tmp_path)]))
    seen = json.loads((tmp_path / "report.json").read_text())
    base = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(seen["sum"], base * 1 + base * 2)
    np.testing.assert_array_equal(seen["mean"], (base * 1 + base * 2) / 2)
    np.testing.assert_array_equal(seen["max"], base * 2)
    np.testing.assert_array_equal(seen["broadcast"], base * 2)  # src = the last rank
    np.testing.assert_array_equal(seen["all_gather"], [base, base + 1])
    assert seen["objects"] == [{"rank": 0}, {"rank": 1}]
    shares = seen["sampler"]
    sampler = dist.DistributedSampler(11, num_replicas=2, rank=0, shuffle=True, seed=3)
    sampler.set_epoch(2)
    assert shares[0] == list(sampler) and len(shares[0]) == len(shares[1]) == 6
    assert sorted(set(shares[0]) | set(shares[1])) == list(range(11))


@requires_mpi
def test_a_world_of_one_without_mpiexec(world, device):
    """On CUDA this goes through NCCL where CuPy has it, else through host memory."""
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    t = mg.tensor([[1.0, -2.0], [3.0, 4.0]], device=device)
    for op in ("sum", "mean", "max"):
        assert dist.all_reduce(t, op=op) is t
    assert t.device == mg.Device(device)
    np.testing.assert_array_equal(t.numpy(), [[1.0, -2.0], [3.0, 4.0]])
    (only,) = dist.all_gather(t[:, 1])
    assert only.device == mg.Device(device)
    np.testing.assert_array_equal(only.numpy(), [-2.0, 4.0])
    dist.broadcast(t, src=0)
    np.testing.assert_array_equal(t.numpy(), [[1.0, -2.0], [3.0, 4.0]])
    dist.barrier()
    model = nn.Linear(3, 2).to(device)
    ddp = nn.parallel.DistributedDataParallel(model)
    assert ddp.module is model and list(ddp.state_dict()) == list(model.state_dict())
    x = mg.randn(4, 3, device=device)
    ddp(x).sum().backward()
    assert model.weight.grad.device == mg.Device(device)
    np.testing.assert_allclose(model.weight.grad.numpy(), np.ones((2, 1)) * x.numpy().sum(0), rtol=1e-6)


@requires_mpi
def test_all_reduce_writes_into_a_non_contiguous_tensor(world):
    base = mg.tensor(np.arange(12.0).reshape(3, 4))
    view = base.T  # a transposed view: MPI needs a contiguous buffer, the result goes back in place
    dist.all_reduce(view, op="max")
    np.testing.assert_array_equal(base.numpy(), np.arange(12.0).reshape(3, 4))


@requires_mpi
def test_bad_arguments_say_what_is_wrong(world):
    with pytest.raises(ValueError, match="unknown op 'min'.*'sum', 'mean', 'max'"):
        dist.all_reduce(mg.ones(2), op="min")
    with pytest.raises(TypeError, match="op='mean' needs a floating-point tensor, got int64"):
        dist.all_reduce(mg.tensor([1, 2]), op="mean")
    with pytest.raises(TypeError, match="expected a minigrad Tensor, got ndarray"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ValueError, match="src=3 is not a rank of this group of 1"):
        dist.broadcast(mg.ones(2), src=3)
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group()
    with pytest.raises(TypeError, match="wraps an nn.Module, got Tensor"):
        nn.parallel.DistributedDataParallel(mg.ones(2))


def test_unknown_backend_and_bad_timeout_are_refused():
    with pytest.raises(ValueError, match="unknown backend 'gloo'.*MPI"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init_process_group(timeout=0)
    assert not dist.is_initialized()


def test_using_the_api_before_init_says_how_to_start():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match=r"init_process_group\(\) first .*mpiexec -n N"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="not initialized"):
        dist.all_reduce(mg.ones(2))
    with pytest.raises(RuntimeError, match="not initialized"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


def test_without_mpi4py_minigrad_imports_and_the_api_gives_the_pip_command():
    script = (
        "import sys; sys.modules['mpi4py'] = None\n"  # as if mpi4py were not installed
        "import minigrad as mg\n"
        "print(mg.distributed.is_available(), mg.tensor([1.0]).sum().item())\n"
        "for call in (mg.distributed.init_process_group, mg.distributed.get_world_size):\n"
        "    try:\n"
        "        call()\n"
        "    except RuntimeError as e:\n"
        "        print('error:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out[0] == "False 1.0"
    assert len(out) == 3
    for line in out[1:]:
        assert line.startswith("error: ") and 'pip install "minigrad[mpi]"' in line


def test_the_sampler_deals_disjoint_equal_shares_that_cover_every_example():
    n, world = 10, 3
    shares = [dist.DistributedSampler(n, num_replicas=world, rank=r, seed=5) for r in range(world)]
    for s in shares:
        s.set_epoch(1)
    lists = [list(s) for s in shares]
    assert all(len(lst) == len(s) == 4 for lst, s in zip(lists, shares))  # ceil(10 / 3), padded
    assert sorted(set().union(*lists)) == list(range(n))
    assert sum(len(lst) for lst in lists) - n == 2  # exactly the padding repeats
    shares[0].set_epoch(2)
    assert list(shares[0]) != lists[0]  # a new epoch, a new order


def test_the_sampler_without_shuffle_and_with_drop_last():
    s = dist.DistributedSampler(range(7), num_replicas=2, rank=1, shuffle=False, drop_last=True)
    assert list(s) == [1, 3, 5] and len(s) == 3
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, 2\)"):
        dist.DistributedSampler(7, num_replicas=2, rank=2)


def test_launched_by_mpiexec_reads_the_launchers_variables(monkeypatch):
    for name in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert not dist.launched_by_mpiexec()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert dist.launched_by_mpiexec()


@requires_mpi
def test_every_rank_sees_the_launcher(tmp_path):
    # One file per rank: mpiexec forwards the ranks' stdout without keeping their lines apart.
    script = (
        "import os, minigrad.distributed as d\n"
        "rank = os.environ.get('PMI_RANK') or os.environ.get('PMIX_RANK')\n"
        f"open(os.path.join({str(tmp_path)!r}, 'rank' + rank), 'w').write(str(d.launched_by_mpiexec()))\n"
    )
    ok(run_mpi(["-c", script]))
    seen = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert seen == {"rank0": "True", "rank1": "True"}


def test_the_sampler_takes_the_design_documents_positional_arguments():
    """DistributedSampler(n, shuffle, seed), as pinned in DESIGN.md."""
    a = dist.DistributedSampler(9, False, 0, num_replicas=3, rank=1)
    assert list(a) == [1, 4, 7]
    for seed in (4, 5):  # the documented order: a permutation seeded with seed + epoch, dealt round-robin
        shuffled = dist.DistributedSampler(9, True, seed, num_replicas=3, rank=1)
        assert list(shuffled) == np.random.default_rng(seed).permutation(9)[1::3].tolist()


@requires_mpi
def test_a_wrapped_model_cast_after_wrapping_keeps_full_precision_gradients(world):
    model = nn.Linear(3, 2)
    ddp = nn.parallel.DistributedDataParallel(model).double()
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)))  # float64
    ddp(x).sum().backward()
    assert model.weight.grad.dtype == np.float64
    np.testing.assert_array_equal(model.weight.grad.numpy(), np.ones((2, 1)) * x.numpy().sum(0))
