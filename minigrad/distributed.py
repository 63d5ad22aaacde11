"""Data-parallel training on MPI, shaped like ``torch.distributed``.

Start N copies of a script with ``mpiexec -n N python script.py``; each calls
:func:`init_process_group` and then uses the collectives below. MPI (through mpi4py) is
the transport: minigrad never runs a home-made one. Install it with
``pip install "minigrad[mpi]"`` (mpi4py and the MPICH wheel).

How arrays travel:

* NumPy arrays go through MPI directly.
* CuPy arrays go through NCCL (``cupy.cuda.nccl``) when every rank's CuPy has it and every
  rank has a GPU of its own (one communicator per GPU, made on first use); otherwise they are
  staged through host memory and MPI.

Faults never hang a job: every collective, MPI or NCCL, waits at most ``timeout`` seconds
(given to :func:`init_process_group`) and then raises :class:`DistributedError` (a NCCL
communicator is aborted first); an exception that
nobody catches on one rank is printed and then ends every rank (``MPI_Abort``), and a rank
that dies makes ``mpiexec`` end the others.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sized
from datetime import timedelta
from types import ModuleType
from typing import Any, NoReturn

import numpy

from . import autograd  # noqa: F401  (loads before tensor, which imports it back)
from .backend import Device, to_device
from .tensor import Tensor

__all__ = [
    "DistributedError", "is_available", "launched_by_mpiexec", "init_process_group",
    "destroy_process_group", "abort", "is_initialized", "get_rank", "get_world_size",
    "all_reduce", "broadcast", "all_gather", "all_gather_object", "barrier", "DistributedSampler",
]

INSTALL_HINT = 'pip install "minigrad[mpi]"  (or: pip install mpi4py mpich)'
OPS = ("sum", "mean", "max")
DEFAULT_TIMEOUT = 1800.0  # seconds, as torch.distributed's default


class DistributedError(RuntimeError):
    """A collective that failed or timed out, or ranks that disagree (e.g. on a model)."""


def _import_mpi() -> ModuleType:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            f"minigrad.distributed needs mpi4py and an MPI library, which are not installed ({e}). "
            f"Install them with: {INSTALL_HINT}"
        ) from None
    return MPI


def is_available() -> bool:
    """Whether mpi4py (and so an MPI library) can be imported."""
    try:
        _import_mpi()
    except RuntimeError:
        return False
    return True


# what MPICH's and Intel's mpiexec, Open MPI's mpirun and Slurm's srun (PMI/PMIx) set in each process
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE")


def launched_by_mpiexec() -> bool:
    """Whether an MPI launcher started this process (read from the environment, without
    MPI): a program can then insist on :func:`init_process_group` even where mpi4py is
    missing, rather than run N unaware copies of itself."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


class _World:
    """The process group: a private duplicate of MPI's world communicator."""

    def __init__(self, MPI: ModuleType, timeout: float) -> None:
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout = timeout
        self.nccl: dict[Device, Any] = {}  # a NCCL communicator per GPU, made on first use

    def wait(self, request: Any, what: str) -> None:
        """Wait for a non-blocking MPI request, at most ``timeout`` seconds."""
        _wait_until(request.Test, what, self)


# How a rank waits for a collective. MPI moves a message of more than a few kilobytes in pieces,
# and only while both ranks call into it: a rank that slept between polls made every piece wait
# for its next wake-up (a 5 MB all-reduce took 4-6 ms instead of 0.5). So a rank polls without
# sleeping, yielding its core between polls to any other runnable process (another rank on an
# oversubscribed machine), for up to SPIN_SECONDS, which covers one rank waiting for another to
# finish a training step's backward; longer waits (rank 0 alone evaluating or writing a
# checkpoint) sleep between polls, doubling the pause up to MAX_PAUSE_SECONDS.
SPIN_SECONDS = 0.05
MAX_PAUSE_SECONDS = 1e-3


def _wait_until(done: Callable[[], bool], what: str, world: _World,
                give_up: Callable[[], None] | None = None) -> None:
    """Poll ``done()`` until it is true, for at most ``world.timeout`` seconds; then call
    ``give_up()`` (if given) and raise :class:`DistributedError`."""
    start = time.monotonic()
    deadline = start + world.timeout
    pause = 1e-5
    while not done():
        now = time.monotonic()
        if now > deadline:
            if give_up is not None:
                give_up()
            raise DistributedError(
                f"{what} on rank {world.rank} of {world.size} did not complete within {world.timeout:g} s: "
                f"another rank has died, hangs, or is not calling {what} (every rank must call the "
                "same collectives in the same order). If a step legitimately takes longer, pass a "
                "larger init_process_group(timeout=...)."
            )
        if now - start < SPIN_SECONDS:
            os.sched_yield()
        else:
            time.sleep(pause)
            pause = min(2 * pause, MAX_PAUSE_SECONDS)


_world: _World | None = None


def init_process_group(backend: str = "mpi", timeout: float | timedelta = DEFAULT_TIMEOUT) -> None:
    """Join the MPI world started by ``mpiexec`` (a world of one process when the script
    was started without it). ``timeout`` (seconds or a timedelta) bounds every collective.

    After this, an exception that no rank catches ends the whole job instead of leaving
    the other ranks waiting forever.
    """
    global _world
    if backend != "mpi":
        raise ValueError(f"init_process_group: unknown backend {backend!r}; minigrad runs on MPI "
                         "(backend='mpi'; CuPy arrays use NCCL automatically when CuPy has it)")
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if not seconds > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout!r}")
    if _world is not None:
        raise RuntimeError("init_process_group: the process group is already initialized "
                           "(call destroy_process_group() first to start a new one)")
    _world = _World(_import_mpi(), seconds)
    if _world.size > 1:
        _abort_on_uncaught_exception(_world)


def _abort_on_uncaught_exception(world: _World) -> None:
    """Print an uncaught exception as usual, then end every rank: the others would
    otherwise wait in their next collective until the timeout."""
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        previous(kind, value, tb)
        if _world is not world:  # the group was destroyed: nobody waits for this process
            return
        sys.stderr.write(f"minigrad.distributed: rank {world.rank} of {world.size} failed "
                         f"({kind.__name__}); ending every rank\n")
        sys.stderr.flush()
        world.comm.Abort(1)

    sys.excepthook = hook


def destroy_process_group() -> None:
    """Leave the process group (a later :func:`init_process_group` starts a new one)."""
    global _world
    if _world is not None:
        _world.comm.Free()
        _world = None


def abort(exit_code: int = 1) -> NoReturn:
    """End every process of the job now (``MPI_Abort``): for a process that cannot go on
    after an error it has already reported, so that the others do not wait for it until
    their timeout."""
    _require().comm.Abort(exit_code)
    raise SystemExit(exit_code)  # not reached: MPI_Abort does not return


def is_initialized() -> bool:
    return _world is not None


def _require() -> _World:
    if _world is None:
        hint = "" if is_available() else f"; mpi4py is not installed either: {INSTALL_HINT}"
        raise RuntimeError("minigrad.distributed: the process group is not initialized: call "
                           f"mg.distributed.init_process_group() first (and start with mpiexec -n N){hint}")
    return _world


def get_rank() -> int:
    """This process's index in the group, 0 … world size − 1."""
    return _require().rank


def get_world_size() -> int:
    return _require().size


# -- collectives ------------------------------------------------------------------------


def _check_tensor(what: str, tensor: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a minigrad Tensor, got {type(tensor).__name__}")
    return tensor


def _host(tensor: Tensor) -> numpy.ndarray:
    """A contiguous NumPy copy of the tensor's array (or the array itself on the CPU)."""
    array = tensor.data
    if tensor.device.type != "cpu":
        return tensor.device.xp.asnumpy(array)
    return numpy.ascontiguousarray(array)


def _write_back(tensor: Tensor, host: numpy.ndarray) -> None:
    if host is not tensor.data:
        tensor.data[...] = to_device(host, tensor.device)


def _nccl(world: _World, device: Device) -> Any:
    """The NCCL communicator of ``device``, made on first use, or None (then arrays are
    staged through host memory)."""
    if device not in world.nccl:
        world.nccl[device] = _make_nccl(world, device)
    return world.nccl[device]


def _make_nccl(world: _World, device: Device) -> Any:
    """A NCCL communicator when every rank's CuPy has NCCL and every rank has a GPU of its
    own (NCCL refuses two ranks on one GPU); the ranks decide together, so all of them take
    the same path. Rank 0's NCCL id travels over MPI."""
    try:
        from cupy.cuda import nccl
    except ImportError:  # a CuPy built without NCCL
        nccl = None
    gpu = [socket.gethostname(), device.xp.cuda.Device(device.index).pci_bus_id]
    everyone = _allgather_json(world, [bool(getattr(nccl, "available", False)), gpu], "NCCL setup")
    distinct_gpus = len({tuple(g) for _, g in everyone}) == world.size
    if not (distinct_gpus and all(has_nccl for has_nccl, _ in everyone)):
        return None
    uid = _bcast_json(world, list(nccl.get_unique_id()) if world.rank == 0 else None, "NCCL setup")
    with device.use():
        return nccl.NcclCommunicator(world.size, tuple(uid), world.rank)


def _nccl_dtype(dtype: numpy.dtype) -> int:
    from cupy.cuda import nccl

    names = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
             "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
             "bool": "NCCL_UINT8"}
    return getattr(nccl, names[numpy.dtype(dtype).name])


def _on_gpu_with_nccl(world: _World, tensor: Tensor) -> Any:
    if tensor.device.type == "cpu":
        return None
    return _nccl(world, tensor.device)


@contextlib.contextmanager
def _nccl_buffer(world: _World, comm: Any, tensor: Tensor, what: str) -> Iterator[tuple[Any, int, int]]:
    """(contiguous GPU array, NCCL dtype, stream pointer) for one NCCL call on the tensor's
    GPU; afterwards waits for the stream (at most the group's timeout, see
    :func:`_wait_for_nccl`) and writes the array back into the tensor."""
    with tensor.device.use():
        xp = tensor.device.xp
        array = xp.ascontiguousarray(tensor.data)
        stream = xp.cuda.get_current_stream()
        yield array, _nccl_dtype(array.dtype), stream.ptr
        _wait_for_nccl(world, comm, stream, what)
        if array is not tensor.data:
            tensor.data[...] = array


def _wait_for_nccl(world: _World, comm: Any, stream: Any, what: str) -> None:
    """Wait until ``stream`` has run the NCCL call queued on it, as an MPI collective waits:
    at most ``timeout`` seconds, then the communicator is aborted (which ends the kernel
    that waits for a dead peer) and :class:`DistributedError` raised. An error NCCL itself
    detects (a peer's connection lost) is raised as soon as it is seen."""

    def done() -> bool:
        comm.check_async_error()
        return stream.done

    _wait_until(done, what, world, give_up=comm.abort)


def _check_op(op: str, tensor: Tensor) -> None:
    if op not in OPS:
        raise ValueError(f"all_reduce: unknown op {op!r}; expected one of {', '.join(map(repr, OPS))}")
    if op == "mean" and not numpy.issubdtype(tensor.dtype, numpy.floating):
        raise TypeError(f"all_reduce: op='mean' needs a floating-point tensor, got {tensor.dtype} "
                        "(use op='sum' and divide yourself)")


def all_reduce(tensor: Tensor, op: str = "sum") -> Tensor:
    """Replace ``tensor`` (in place, on every rank) by the elementwise sum, mean or max of
    its values on all ranks. Returns the same tensor."""
    world = _require()
    _check_tensor("all_reduce", tensor)
    _check_op(op, tensor)
    nccl_comm = _on_gpu_with_nccl(world, tensor)
    if nccl_comm is not None:
        from cupy.cuda import nccl

        with _nccl_buffer(world, nccl_comm, tensor, "all_reduce") as (array, dtype, stream):
            nccl_op = nccl.NCCL_MAX if op == "max" else nccl.NCCL_SUM
            nccl_comm.allReduce(array.data.ptr, array.data.ptr, array.size, dtype, nccl_op, stream)
    else:
        host = _host(tensor)
        mpi_op = world.MPI.MAX if op == "max" else world.MPI.SUM
        world.wait(world.comm.Iallreduce(world.MPI.IN_PLACE, host, op=mpi_op), "all_reduce")
        _write_back(tensor, host)
    if op == "mean":
        tensor.data /= world.size
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Copy rank ``src``'s values into ``tensor`` on every rank (in place). Returns it."""
    world = _require()
    _check_tensor("broadcast", tensor)
    if not 0 <= src < world.size:
        raise ValueError(f"broadcast: src={src} is not a rank of this group of {world.size}")
    nccl_comm = _on_gpu_with_nccl(world, tensor)
    if nccl_comm is not None:
        with _nccl_buffer(world, nccl_comm, tensor, "broadcast") as (array, dtype, stream):
            nccl_comm.bcast(array.data.ptr, array.size, dtype, src, stream)
        return tensor
    host = _host(tensor)
    world.wait(world.comm.Ibcast(host, root=src), "broadcast")
    _write_back(tensor, host)
    return tensor


def all_gather(tensor: Tensor) -> list[Tensor]:
    """Every rank's ``tensor``, in rank order (new tensors, on ``tensor``'s device). The
    tensors must have one shape and dtype on all ranks; if not, every rank raises
    :class:`DistributedError` naming the ranks that differ."""
    world = _require()
    _check_tensor("all_gather", tensor)
    mine = [list(tensor.shape), str(tensor.dtype)]
    everyone = _allgather_json(world, mine, "all_gather")
    for rank, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            raise DistributedError(
                f"all_gather: rank 0 has a tensor of shape {tuple(everyone[0][0])} and dtype "
                f"{everyone[0][1]} but rank {rank} has shape {tuple(theirs[0])} and dtype {theirs[1]}; "
                "every rank must gather tensors of one shape and dtype"
            )
    nccl_comm = _on_gpu_with_nccl(world, tensor)
    if nccl_comm is not None:
        with _nccl_buffer(world, nccl_comm, tensor, "all_gather") as (array, dtype, stream):
            out = tensor.device.xp.empty((world.size,) + array.shape, dtype=array.dtype)
            nccl_comm.allGather(array.data.ptr, out.data.ptr, array.size, dtype, stream)
        return [Tensor._wrap(part, tensor.device) for part in out]
    host = _host(tensor)
    out = numpy.empty((world.size,) + host.shape, dtype=host.dtype)
    world.wait(world.comm.Iallgather(host, out), "all_gather")
    return [Tensor._wrap(to_device(part, tensor.device), tensor.device) for part in out]


def barrier() -> None:
    """Return once every rank has called barrier()."""
    world = _require()
    world.wait(world.comm.Ibarrier(), "barrier")


# -- small JSON messages (shapes, names, ids), with the same timeout -------------------------


def _allgather_json(world: _World, obj: Any, what: str) -> list[Any]:
    """Every rank's ``obj`` (anything JSON can hold), in rank order."""
    data = numpy.frombuffer(json.dumps(obj).encode("utf-8"), dtype=numpy.uint8)
    sizes = numpy.empty(world.size, dtype=numpy.int64)
    world.wait(world.comm.Iallgather(numpy.array([data.size], dtype=numpy.int64), sizes), what)
    out = numpy.empty(int(sizes.sum()), dtype=numpy.uint8)
    world.wait(world.comm.Iallgatherv(data, [out, sizes]), what)
    offsets = numpy.concatenate([[0], numpy.cumsum(sizes)])
    return [json.loads(out[a:b].tobytes().decode("utf-8")) for a, b in zip(offsets[:-1], offsets[1:])]


def _bcast_json(world: _World, obj: Any, what: str) -> Any:
    """Rank 0's ``obj``, on every rank."""
    return _allgather_json(world, obj if world.rank == 0 else None, what)[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order. ``obj`` must be JSON-serialisable (nothing is
    pickled); meant for small messages such as configurations or model descriptions."""
    return _allgather_json(_require(), obj, "all_gather_object")


# -- sampling ------------------------------------------------------------------------------


class DistributedSampler:
    """The indices of the examples this rank trains on in one epoch.

    Each epoch the ``n`` indices are permuted (with ``seed + epoch``, the same on every
    rank when ``shuffle``) and dealt out round-robin, so the ranks' shares are disjoint and
    together cover every example. Unless ``drop_last``, the permutation is padded with its
    own first indices to a multiple of the world size, so every rank gets the same number
    of examples (and so takes the same number of steps). Call :meth:`set_epoch` at the start
    of each epoch for a new order. ``n`` is the number of examples (or a sized dataset);
    ``num_replicas`` and ``rank`` default to the process group's.
    """

    def __init__(self, n: int | Sized, shuffle: bool = True, seed: int = 0, *,
                 num_replicas: int | None = None, rank: int | None = None, drop_last: bool = False) -> None:
        self.n = n if isinstance(n, int) else len(n)
        if self.n < 0:
            raise ValueError(f"DistributedSampler: n must be >= 0, got {self.n}")
        self.num_replicas = get_world_size() if num_replicas is None else num_replicas
        self.rank = get_rank() if rank is None else rank
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} is not in [0, {self.num_replicas})")
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        if drop_last:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (call it on every rank, with the same epoch)."""
        self.epoch = epoch

    def indices(self) -> numpy.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        if self.shuffle:
            order = numpy.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = numpy.arange(self.n)
        if self.total_size > self.n:
            order = numpy.resize(order, self.total_size)  # repeats from the start
        return order[: self.total_size][self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
