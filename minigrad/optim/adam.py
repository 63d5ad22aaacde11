"""Adam and AdamW (PyTorch's formulas, bias correction, AMSGrad and maximize).

    g = ±grad (+ weight_decay·p for Adam's L2 decay; AdamW instead scales p by 1 − lr·weight_decay)
    m = β1·m + (1 − β1)·g            v = β2·v + (1 − β2)·g²      (v̂ = max(v̂, v) with AMSGrad)
    p = p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..kernels import fused
from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, step for step the same as ``torch.optim.Adam`` (L2 weight decay added to the gradient)."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_options(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for option in ("lr", "eps", "weight_decay"):
            if not group[option] >= 0.0:
                raise ValueError(f"{name}: invalid {option} {group[option]!r} (must be >= 0)")
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{name}: invalid betas {betas!r} (two numbers in [0, 1))")

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        # Python floats keep the parameter's dtype (NumPy 2 treats them as weak scalars).
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        xp = param.device.xp
        state = self.state.setdefault(param, {})
        if not state:
            state["step"] = 0
            state["exp_avg"] = self._new_state(param, xp.zeros_like(param.data))
            state["exp_avg_sq"] = self._new_state(param, xp.zeros_like(param.data))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = self._new_state(param, xp.zeros_like(param.data))
        state["step"] += 1
        step = state["step"]
        step_size = lr / (1.0 - beta1**step)
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        k = None if group["amsgrad"] or group["maximize"] else fused(param.device, param.data, grad, m, v)
        if k is not None and param.data.flags.c_contiguous:  # the whole update in one pass over p, g, m, v
            k.adam_update(param.data, grad, m, v, lr, beta1, beta2, eps, weight_decay,
                          group["decoupled_weight_decay"], step_size, bias_correction2_sqrt)
            return
        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.data *= 1.0 - lr * weight_decay
            else:
                g = g + weight_decay * param.data
        m += (1.0 - beta1) * (g - m)  # PyTorch's lerp, for the same rounding
        v *= beta2
        v += (1.0 - beta2) * g * g
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"].data, v, out=state["max_exp_avg_sq"].data)
        denom = xp.sqrt(v) / bias_correction2_sqrt + eps
        param.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay, step for step the same as ``torch.optim.AdamW``."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
