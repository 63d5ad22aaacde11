"""Loss layers: thin wrappers that hold the options of the matching functionals."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class CrossEntropyLoss(Module):
    """Softmax cross-entropy (PyTorch's defaults: ``ignore_index=-100``, mean over kept
    targets); optional per-class ``weight`` (a buffer) and ``label_smoothing``."""

    def __init__(
        self,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(
            logits, target, ignore_index=self.ignore_index, reduction=self.reduction,
            label_smoothing=self.label_smoothing, weight=self.weight,
        )


class MSELoss(Module):
    """mean (pred − target)² (or its sum, or per element with ``reduction="none"``)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return F.mse_loss(pred, target, reduction=self.reduction)
