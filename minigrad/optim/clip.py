"""Gradient clipping: by total norm (``clip_grad_norm_``) or elementwise (``clip_grad_value_``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)), as PyTorch does.

    ``total_norm`` is the ``norm_type``-norm of all gradients seen as one vector (``inf``
    for the largest magnitude); it is returned as a 0-d Tensor, in the gradients' dtype.
    """
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        from ..creation import tensor

        return tensor(0.0)
    dev = grads[0].device
    xp = dev.xp
    # Norm of the per-gradient norms, as PyTorch computes it (same rounding).
    norms = xp.stack([_norm(xp, g.data.ravel(), norm_type) for g in grads])
    total = _norm(xp, norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {float(total)}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway"
        )
    coef = xp.minimum(float(max_norm) / (total + 1e-6), 1.0)
    for g in grads:
        g.data *= coef
    return Tensor._wrap(xp.asarray(total), dev)


def _norm(xp, x, p: float):
    """The p-norm of a 1-d array, in its dtype (a NumPy scalar or a CuPy 0-d array)."""
    if math.isinf(p):
        return xp.abs(x).max() if x.size else xp.zeros((), dtype=x.dtype)
    if p == 2.0:
        return xp.sqrt(xp.sum(x * x))
    return xp.sum(xp.abs(x) ** p) ** (1.0 / p)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.data[...] = g.device.xp.clip(g.data, -clip_value, clip_value)
