"""Faults never hang a distributed job: each scenario ends every rank, with a clear error,
well within the time limit given to run_mpi."""

from __future__ import annotations

import time

import pytest

from tests._mpi import ok, requires_mpi, run_mpi

pytestmark = requires_mpi

WORKER = ["-m", "tests.minigrad.distributed.worker"]


def _timed(args, **kw):
    start = time.monotonic()
    result = run_mpi(args, **kw)
    return result, time.monotonic() - start


@pytest.mark.parametrize("kind, message", [
    ("shape", "parameter '0.weight' has shape (4, 4) and dtype float32 on rank 0 but shape (3, 4)"),
    ("names", "rank 0 has an extra parameter '1.weight'"),
])
def test_ranks_with_different_models_all_refuse_to_wrap_naming_the_difference(tmp_path, kind, message):
    out = ok(run_mpi(WORKER + ["mismatch", str(tmp_path), kind], timeout=60)).stdout
    for rank in (0, 1):
        assert f"rank {rank} refused: DistributedDataParallel: the model on rank 1 differs from rank 0's" \
            in out
    assert out.count(message) == 2, out


def test_a_rank_that_stops_answering_ends_the_job_after_the_timeout(tmp_path):
    result, seconds = _timed(WORKER + ["hang", str(tmp_path)], timeout=60, env={"WORKER_TIMEOUT": "3"})
    assert result.returncode != 0
    assert "all_reduce on rank 0 of 2 did not complete within 3 s" in result.stderr
    assert "rank 0 of 2 failed (DistributedError); ending every rank" in result.stderr
    assert 3 <= seconds < 30


def test_an_exception_on_one_rank_ends_every_rank(tmp_path):
    result, seconds = _timed(WORKER + ["fail", str(tmp_path)], timeout=60)
    assert result.returncode != 0
    assert "ValueError: rank 1 broke on purpose" in result.stderr
    assert "rank 1 of 2 failed (ValueError); ending every rank" in result.stderr
    assert seconds < 30  # not the 60 s collective timeout the worker sets


def test_after_leaving_the_group_an_exception_is_an_ordinary_one(tmp_path):
    result = run_mpi(WORKER + ["after_destroy", str(tmp_path)], timeout=60)
    assert result.returncode != 0
    assert "ValueError: raised after leaving the group" in result.stderr
    assert "ending every rank" not in result.stderr


def test_a_killed_rank_makes_mpiexec_end_the_others(tmp_path):
    result, seconds = _timed(WORKER + ["die", str(tmp_path)], timeout=60)
    assert result.returncode != 0
    assert "rank 1 step 3" not in result.stdout  # it died at step 3
    assert "rank 0 step 999" not in result.stdout  # and rank 0 did not go on
    assert "Killed (signal 9)" in result.stdout + result.stderr
    assert seconds < 30
