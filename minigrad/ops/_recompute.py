"""Saved or recomputed forward intermediates, for fused ops with exact higher-order gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd import is_grad_enabled


def saved_or_recomputed(saved: Any, recompute: Callable[[], Any]) -> Any:
    """Forward intermediates needed by backward: the saved tensors (constants) for
    first-order gradients; under ``create_graph`` (grad mode on inside backward) recomputed
    from the inputs with Tensor ops, so their own dependence on them is differentiated too."""
    return recompute() if is_grad_enabled() else saved
