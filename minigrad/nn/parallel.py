"""Data parallelism: the same model on every rank, each rank on its share of the batch."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from .. import distributed as dist
from ..autograd import is_grad_enabled
from ..backend import Device, to_device
from ..ops import CallAfterBackward
from ..tensor import Tensor
from .module import IncompatibleKeys, Module
from .parameter import Parameter

__all__ = ["DistributedDataParallel"]

CPU = Device("cpu")


class _Bucket:
    """Parameters of one device and dtype whose gradients travel together as one flat array.

    The array holds every gradient, then one flag per parameter (1 where this rank has a
    gradient): after the sum over ranks a zero flag means no rank had one, and the
    parameter keeps ``grad = None`` as it would in one process.
    """

    def __init__(self, params: list[Parameter]) -> None:
        self.params = params
        self.bounds = []
        offset = 0
        for p in params:
            self.bounds.append((offset, offset + p.data.size))
            offset += p.data.size
        self.numel = offset
        device = params[0].device
        self.flat = Tensor._wrap(device.xp.zeros(offset + len(params), dtype=params[0].dtype), device)

    def average_gradients(self, world_size: int) -> None:
        flat = self.flat.data
        for k, (p, (a, b)) in enumerate(zip(self.params, self.bounds)):
            present = p.grad is not None
            flat[a:b] = p.grad.data.ravel() if present else 0
            flat[self.numel + k] = present
        dist.all_reduce(self.flat, op="sum")
        flat[: self.numel] /= world_size
        counts = to_device(flat[self.numel :], CPU)
        for p, (a, b), count in zip(self.params, self.bounds, counts):
            if count > 0:
                p.grad = Tensor._wrap(flat[a:b].reshape(p.data.shape).copy(), p.device)

    def broadcast_values(self, src: int) -> None:
        """Give every rank rank ``src``'s parameter values."""
        flat = self.flat.data
        for p, (a, b) in zip(self.params, self.bounds):
            flat[a:b] = p.data.ravel()
        dist.broadcast(self.flat, src)
        for p, (a, b) in zip(self.params, self.bounds):
            p.data[...] = flat[a:b].reshape(p.data.shape)


def _make_buckets(params: list[Parameter], cap_bytes: float) -> list[_Bucket]:
    """Consecutive parameters of one device and dtype, up to ``cap_bytes`` per bucket, in
    reverse order (roughly the order backward finishes them, as PyTorch does)."""
    buckets, current, size = [], [], 0
    for p in reversed(params):
        fits = current and p.device == current[0].device and p.dtype == current[0].dtype
        if current and (not fits or size + p.data.nbytes > cap_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += p.data.nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _layout(params: list[Parameter]) -> list[tuple[Any, Any]]:
    """Each parameter's device and dtype: the buckets are remade when these change."""
    return [(p.device, p.dtype) for p in params]


def _signature(module: Module) -> list[list[Any]]:
    """What must agree across ranks: every parameter's and buffer's name, shape, dtype."""
    return [[kind, name, list(t.shape), str(t.dtype)]
            for kind, items in (("parameter", module.named_parameters()), ("buffer", module.named_buffers()))
            for name, t in items]


def _first_difference(reference: list[list[Any]], other: list[list[Any]], rank: int) -> str | None:
    """The first way rank ``rank``'s model differs from rank 0's, in words (None if none)."""
    for mine, theirs in zip(reference, other):
        if mine[:2] != theirs[:2]:
            return (f"rank 0 has {mine[0]} '{mine[1]}' where rank {rank} has {theirs[0]} '{theirs[1]}' "
                    "(the modules are built differently)")
        if mine != theirs:
            return (f"{mine[0]} '{mine[1]}' has shape {tuple(mine[2])} and dtype {mine[3]} on rank 0 but "
                    f"shape {tuple(theirs[2])} and dtype {theirs[3]} on rank {rank}")
    if len(reference) != len(other):
        longer, who = (reference, 0) if len(reference) > len(other) else (other, rank)
        extra = longer[min(len(reference), len(other))]
        return f"rank {who} has an extra {extra[0]} '{extra[1]}' ({len(reference)} tensors on rank 0, " \
               f"{len(other)} on rank {rank})"
    return None


def _map_tensors(obj: Any, fn) -> Any:
    """``obj`` with ``fn`` applied to every Tensor in it (through tuples, lists and dicts)."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(x, fn) for x in obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return obj


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training on the process group
    (``mg.distributed.init_process_group()`` first; start with ``mpiexec -n N``).

    At construction every rank checks that its model has the same parameter and buffer
    names, shapes and dtypes as rank 0's (or raises :class:`~minigrad.distributed.DistributedError`
    naming the first difference, on every rank), then takes rank 0's values. Each ``backward()``
    through the wrapper's outputs ends by averaging the gradients over all ranks: gradients are
    flattened into buckets of about ``bucket_cap_mb`` megabytes, one all-reduce per bucket, so
    an optimizer then takes the same step on every rank. Inside :meth:`no_sync` gradients only
    accumulate locally (gradient accumulation); the next backward outside it averages them.

    ``state_dict`` and ``load_state_dict`` are the wrapped module's (no ``module.`` prefix), so
    a checkpoint loads into the plain model. Buffers are copied from rank 0 only at
    construction.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 4.0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got {type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.world_size = dist.get_world_size()
        self._check_same_model_everywhere()
        self._cap_bytes = bucket_cap_mb * 2**20
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._layout = _layout(self._params)
        self._buckets = _make_buckets(self._params, self._cap_bytes)
        frozen = _make_buckets([p for p in module.parameters() if not p.requires_grad], self._cap_bytes)
        for bucket in self._buckets + frozen:
            bucket.broadcast_values(0)
        for b in module.buffers():
            dist.broadcast(b, 0)
        self._sync = True

    def _check_same_model_everywhere(self) -> None:
        signatures = dist.all_gather_object(_signature(self.module))
        for rank, theirs in enumerate(signatures[1:], start=1):
            difference = _first_difference(signatures[0], theirs, rank)
            if difference is not None:
                raise dist.DistributedError(
                    f"DistributedDataParallel: the model on rank {rank} differs from rank 0's: {difference}. "
                    "Every rank must build the same model."
                )

    @property
    def num_buckets(self) -> int:
        """How many all-reduce calls average the gradients after each backward."""
        return len(self._buckets)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.module(*args, **kwargs)
        if not (self._sync and is_grad_enabled() and self._buckets):
            return out
        return _map_tensors(out, self._hook)

    def _hook(self, t: Tensor) -> Tensor:
        if not t.requires_grad:
            return t
        return CallAfterBackward.apply(t, self._average_gradients)

    def _average_gradients(self) -> None:
        if _layout(self._params) != self._layout:  # moved or cast (e.g. .double()) after wrapping
            self._layout = _layout(self._params)
            self._buckets = _make_buckets(self._params, self._cap_bytes)
        for bucket in self._buckets:
            bucket.average_gradients(self.world_size)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Forward and backward passes inside only accumulate gradients on this rank."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    def state_dict(self) -> OrderedDict[str, Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        return self.module.load_state_dict(state_dict, strict)
