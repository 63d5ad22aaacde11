"""Getting each framework ready on the requested device, or saying clearly why not."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

import minigrad as mg
from benchmarks.harness import Unavailable


def array_module(device: str) -> ModuleType:
    """numpy for "cpu", cupy for "cuda" (minigrad's backend raises a clear error without one)."""
    return mg.Device(device).xp


def torch_for(device: str) -> tuple[ModuleType, Any]:
    """(torch, torch.device), or Unavailable when PyTorch (or its CUDA build) is missing."""
    try:
        import torch
    except ImportError:
        raise Unavailable("PyTorch is not installed (pip install torch)") from None
    if device == "cuda":
        if not torch.cuda.is_available():
            raise Unavailable("this PyTorch build has no usable CUDA device")
        # float32 against float32: cuDNN's RNNs and convolutions default to TF32 (10-bit
        # mantissa; its RNN gradients were 1e-3 off), which neither CuPy nor NumPy uses.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch, torch.device(device)


def limit_threads(n: int) -> None:
    """Run NumPy's BLAS, minigrad's fused kernels (numba) and PyTorch with ``n`` threads (on a
    busy 2-core machine, two threads wait on each other and on other processes: one gives
    steadier numbers)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise RuntimeError("--threads needs threadpoolctl: pip install threadpoolctl") from None
    threadpool_limits(n)
    if mg.backend.fused_kernels("cpu") == "numba":
        from minigrad.kernels import cpu

        cpu.use_threads(n)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def load_minigrad(module: mg.nn.Module, weights: dict[str, np.ndarray], device: str) -> mg.nn.Module:
    module.to(device).load_state_dict(weights)
    return module


def load_torch(module: Any, weights: dict[str, np.ndarray], device: Any) -> Any:
    import torch

    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    return module.to(device)
