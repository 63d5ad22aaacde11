"""Smoke test of benchmarks/: every workload runs one step at tiny sizes and all its
implementations agree with the hand-written NumPy reference (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks.harness import CheckFailed, Result, build, check
from benchmarks.run import benchmark, main
from benchmarks.workloads import WORKLOADS
from tests._mpi import requires_mpi
from tests.conftest import CUDA


@pytest.mark.parametrize("name", [n for n, w in WORKLOADS.items() if "numpy" in w.impls])
def test_workload_runs_and_implementations_agree(name):
    workload = WORKLOADS[name]
    result = benchmark(workload, workload.smoke, repeats=1, steps=1, growth_steps=2)
    assert set(result.check.values()) == {"ok"}, result.check
    assert "minigrad" in result.times_ms and "numpy" in result.times_ms
    assert result.memory["minigrad"].peak > 0


def test_summariser_step_runs_and_counts_tokens():
    workload = WORKLOADS["summariser"]
    result = benchmark(workload, workload.smoke, repeats=1, steps=1, growth_steps=2)
    assert result.times_ms["minigrad"][0] > 0 and result.tokens > 0


class _WrongGradients:
    """An implementation whose gradients are off by 1%: the check must catch it."""

    def __init__(self, impl):
        self.impl = impl

    def step(self):
        return self.impl.step()

    def grads(self):
        return {k: g.data * 1.01 for k, g in self.impl.grads().items()}


def test_check_catches_a_wrong_gradient():
    workload = WORKLOADS["mlp"]
    problem = workload.make_problem(workload.smoke, 0)
    impls = build(workload, problem, "cpu", Result())
    impls["minigrad"] = _WrongGradients(impls["minigrad"])
    with pytest.raises(CheckFailed, match=r"minigrad:.*grad 0\.weight"):
        check(impls, Result())


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--smoke", "--workloads", "mlp,tiny", "--repeats", "1", "--steps", "1", "--growth-steps", "2"]
    assert main(argv + ["--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "mlp (step)" in table and "tiny (graph)" in table
    data = json.loads(out.read_text())
    assert data["machine"]["numpy"]
    mlp = data["workloads"]["mlp"]["impls"]
    assert mlp["numpy"]["ratio_numpy"] == 1.0
    assert mlp["minigrad"]["median_ms"] > 0


@pytest.mark.skipif(CUDA, reason="checks the failure without a GPU")
def test_cuda_without_a_gpu_fails_clearly(capsys):
    assert main(["--device", "cuda", "--workloads", "tiny"]) == 2
    assert "cannot benchmark on cuda" in capsys.readouterr().err


@requires_mpi
def test_distributed_scaling_benchmark_runs_both_ways_and_draws_the_curves(tmp_path, capsys):
    from benchmarks.distributed import main as distributed_main

    distributed_main(["--max-train", "24", "--batch-size", "8", "--json", str(tmp_path / "d.json"),
                      "--plot", str(tmp_path / "d.png")])
    result = json.loads((tmp_path / "d.json").read_text())
    assert result["one"]["processes"] == 1 and result["many"]["processes"] == 2
    assert result["one"]["steps"] == result["many"]["steps"] == 3  # the same global batches
    assert result["many"]["all_reduce_calls_per_step"] == 2  # one bucket + the loss/stop reduce
    many = result["many"]
    assert many["all_reduce_waiting_s_per_step"] >= 0  # the calls' time, parted on the common clock
    assert 0 < many["all_reduce_moving_s_per_step"] < many["seconds"] / many["timed_steps"]
    assert result["loss_gap_max"] < 0.05 * result["loss_first"]
    assert (tmp_path / "d.png").stat().st_size > 10_000
    assert "speed-up:" in capsys.readouterr().out


def test_engine_comparison_checks_every_engine_against_numpy(capsys):
    from benchmarks import engines

    engines.main(["--smoke", "--clock", "cpu"])  # raises AssertionError if an engine disagrees
    rows = [line for line in capsys.readouterr().out.splitlines() if "x faster" in line or "n/a" in line]
    assert len(rows) == 7
