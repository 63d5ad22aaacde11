"""How a rank waits for a collective: polling without sleeping while a wait is short (MPI moves a
large message only while both ranks poll), sleeping once it is long, and never past the
timeout — for NCCL calls too, whose communicator is then aborted. The NCCL path is checked
with stand-ins for the stream and the communicator (no GPU needed for its logic)."""

from __future__ import annotations

import time

import pytest

import minigrad.distributed as dist
from tests._mpi import requires_mpi

pytestmark = requires_mpi


@pytest.fixture
def world():
    dist.init_process_group(timeout=0.3)
    yield dist._world
    dist.destroy_process_group()


class Clock:
    """A ``done()`` that turns true ``after`` seconds from its creation."""

    def __init__(self, after: float) -> None:
        self.end = time.monotonic() + after

    def __call__(self) -> bool:
        return time.monotonic() >= self.end


@pytest.fixture
def sleeps(monkeypatch):
    pauses: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(dist.time, "sleep", lambda s: (pauses.append(s), real_sleep(s)))
    return pauses


def test_a_short_wait_polls_without_sleeping(world, sleeps):
    polls = iter(range(50))
    dist._wait_until(lambda: next(polls) == 49, "all_reduce", world)  # done at the 50th poll
    assert sleeps == []


def test_a_long_wait_sleeps_between_polls_in_pauses_of_at_most_a_millisecond(world, sleeps):
    dist._wait_until(Clock(after=dist.SPIN_SECONDS + 0.1), "all_reduce", world)
    assert sleeps and max(sleeps) == dist.MAX_PAUSE_SECONDS
    assert sleeps == sorted(sleeps)  # the pause doubles up to its cap


class Stream:
    def __init__(self, done_after: float | None) -> None:
        self.clock = Clock(done_after) if done_after is not None else None

    @property
    def done(self) -> bool:
        return self.clock is not None and self.clock()


class Communicator:
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.aborted = error, 0

    def check_async_error(self) -> None:
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        self.aborted += 1


def test_a_nccl_call_that_never_completes_aborts_the_communicator_after_the_timeout(world):
    comm = Communicator()
    start = time.monotonic()
    message = "all_reduce on rank 0 of 1 did not complete within 0.3 s"
    with pytest.raises(dist.DistributedError, match=message):
        dist._wait_for_nccl(world, comm, Stream(done_after=None), "all_reduce")
    assert 0.3 <= time.monotonic() - start < 5
    assert comm.aborted == 1


def test_a_nccl_call_that_completes_is_waited_for_and_nothing_is_aborted(world):
    comm, stream = Communicator(), Stream(done_after=0.02)
    dist._wait_for_nccl(world, comm, stream, "broadcast")
    assert stream.done and comm.aborted == 0


def test_an_error_nccl_reports_is_raised_at_once(world):
    comm = Communicator(error=RuntimeError("NCCL_ERROR_REMOTE_ERROR"))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="NCCL_ERROR_REMOTE_ERROR"):
        dist._wait_for_nccl(world, comm, Stream(done_after=None), "all_gather")
    assert time.monotonic() - start < 0.3  # not the timeout
