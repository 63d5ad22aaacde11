"""Saved or recomputed forward intermediates, and fused backward kernels, for fused ops
with exact higher-order gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd import is_grad_enabled
from ..kernels import fused


def saved_or_recomputed(saved: Any, recompute: Callable[[], Any]) -> Any:
    """Forward intermediates needed by backward: the saved tensors (constants) for
    first-order gradients; under ``create_graph`` (grad mode on inside backward) recomputed
    from the inputs with Tensor ops, so their own dependence on them is differentiated too."""
    return recompute() if is_grad_enabled() else saved


def first_order_kernels(device: Any, *arrays: Any) -> Any:
    """The fused kernel module for a backward computed as plain arrays: only for first-order
    gradients. Under ``create_graph`` the backward's Tensor ops run, so that the gradient's
    own graph (and every higher-order gradient) stays exact."""
    return None if is_grad_enabled() else fused(device, *arrays)
