"""Learning-rate schedules, used as in PyTorch: ``optimizer.step()`` then ``scheduler.step()``.

Each schedule is a closed form of the step count ``last_epoch`` (0 after construction, +1
per ``step()``), so a schedule restored from its state dict continues exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "CosineAnnealingLR",
    "WarmupInverseSqrt",
    "WarmupCosine",
]


class LRScheduler:
    """Base: sets each group's ``lr`` to ``_lr(base_lr, group_index)`` at every ``step()``.

    The base lr of a group is its ``initial_lr``, recorded in the group on first use (as
    PyTorch does), so several schedulers or a reloaded optimizer agree on it.
    """

    _unsaved: tuple[str, ...] = ("optimizer",)  # attributes that state_dict leaves out

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__} needs a minigrad Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [float(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def _lr(self, base_lr: float, index: int) -> float:
        """The lr of group ``index`` at step ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must define _lr(base_lr, index)")

    def get_lr(self) -> list[float]:
        """The learning rates of the current step, one per parameter group."""
        return [float(self._lr(base, i)) for i, base in enumerate(self.base_lrs)]

    def step(self) -> None:
        """Advance one step and write the new learning rates into the optimizer."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Step count, base lrs and the schedule's settings (plain numbers: ``mg.save`` stores them)."""
        return {k: _copy(v) for k, v in vars(self).items() if k not in self._unsaved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from ``state_dict()``. As in PyTorch the optimizer's lrs come from its own state dict."""
        name = type(self).__name__
        expected = self.state_dict().keys()
        if not isinstance(state_dict, dict) or state_dict.keys() != expected:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict: expected the keys {sorted(expected)}, got {got}")
        if len(state_dict["base_lrs"]) != len(self.base_lrs):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(state_dict['base_lrs'])} "
                             f"base lr(s) but the optimizer has {len(self.base_lrs)} parameter group(s)")
        self.__dict__.update({k: _copy(v) for k, v in state_dict.items()})


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


class LambdaLR(LRScheduler):
    """lr = base_lr · lr_lambda(step); one function, or one per parameter group.

    The functions are not part of the state dict (they cannot be saved); pass the same ones
    when re-creating the scheduler.
    """

    _unsaved = ("optimizer", "lr_lambdas")

    def __init__(
        self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]]
    ) -> None:
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(
                f"LambdaLR: expected {n} lr_lambdas (one per parameter group), got {len(lambdas)}"
            )
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def _lr(self, base_lr: float, index: int) -> float:
        return base_lr * self.lr_lambdas[index](self.last_epoch)


class StepLR(LRScheduler):
    """lr = base_lr · gamma^(step // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def _lr(self, base_lr: float, index: int) -> float:
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min)·(1 + cos(π·step/T_max))/2 (PyTorch's closed form)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def _lr(self, base_lr: float, index: int) -> float:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


class WarmupInverseSqrt(LRScheduler):
    """The Transformer ("Noam") schedule: lr = base_lr · min(step/warmup, √(warmup/step)).

    It rises linearly to ``base_lr`` at step ``warmup_steps`` and then decays as 1/√step;
    step 0 counts as step 1.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int) -> None:
        if not (isinstance(warmup_steps, int) and warmup_steps >= 1):
            raise ValueError(f"WarmupInverseSqrt: warmup_steps must be a positive int, got {warmup_steps!r}")
        self.warmup_steps = warmup_steps
        super().__init__(optimizer)

    def _lr(self, base_lr: float, index: int) -> float:
        step = max(self.last_epoch, 1)  # so the first update is not wasted on lr = 0
        return base_lr * min(step / self.warmup_steps, math.sqrt(self.warmup_steps / step))


class WarmupCosine(LRScheduler):
    """Linear warmup to ``base_lr`` over ``warmup_steps`` (step 0 counts as 1), then cosine
    decay to ``min_lr`` at ``total_steps``, where it stays."""

    def __init__(
        self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0
    ) -> None:
        if not (isinstance(warmup_steps, int) and 0 <= warmup_steps < total_steps):
            raise ValueError(f"WarmupCosine: need 0 <= warmup_steps < total_steps, got warmup_steps="
                             f"{warmup_steps!r}, total_steps={total_steps!r}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = float(min_lr)
        super().__init__(optimizer)

    def _lr(self, base_lr: float, index: int) -> float:
        if self.last_epoch < self.warmup_steps:
            return base_lr * max(self.last_epoch, 1) / self.warmup_steps  # step 0 counts as 1, as above
        progress = min(1.0, (self.last_epoch - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2
