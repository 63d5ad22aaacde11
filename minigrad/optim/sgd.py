"""SGD with momentum, dampening, Nesterov momentum, L2 weight decay and maximize (PyTorch's).

    g = ±grad + weight_decay·p
    b = g (first step), else momentum·b + (1 − dampening)·g
    g = g + momentum·b (Nesterov) or b
    p = p − lr·g
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, step for step the same as ``torch.optim.SGD``."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, group: dict[str, Any]) -> None:
        for option in ("lr", "momentum", "weight_decay"):
            if not group[option] >= 0.0:
                raise ValueError(f"SGD: invalid {option} {group[option]!r} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        # Python floats keep the parameter's dtype (NumPy 2 treats them as weak scalars).
        lr, momentum = float(group["lr"]), float(group["momentum"])
        weight_decay, dampening = float(group["weight_decay"]), float(group["dampening"])
        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * param.data
        if momentum != 0:
            state = self.state.setdefault(param, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = self._new_state(param, g.copy())
            else:
                buf.data *= momentum
                buf.data += (1.0 - dampening) * g
            g = g + momentum * buf.data if group["nesterov"] else buf.data
        param.data -= lr * g
