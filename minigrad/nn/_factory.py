"""Where a layer's parameters are born: an uninitialised Parameter on the requested
device and dtype (``reset_parameters`` fills it as PyTorch does)."""

from __future__ import annotations

from typing import Any

from ..creation import empty
from .parameter import Parameter


def new_parameter(*shape: int, device: Any = None, dtype: Any = None) -> Parameter:
    return Parameter(empty(*shape, device=device, dtype=dtype))
