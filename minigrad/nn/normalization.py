"""LayerNorm: normalise each example over its trailing feature axes."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from . import init
from ._factory import new_parameter
from .module import Module


class LayerNorm(Module):
    """y = (x − E[x]) / √(Var[x] + eps) · weight + bias over the last len(normalized_shape)
    axes; ``weight`` starts at 1 and ``bias`` at 0."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = new_parameter(*shape, device=device, dtype=dtype)
            if bias:
                self.bias = new_parameter(*shape, device=device, dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if x.ndim < n or tuple(x.shape[x.ndim - n:]) != self.normalized_shape:
            raise self.input_error(f"input whose trailing dimensions are {self.normalized_shape}", x)
        self.check_input_dtype(x, self.weight)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )
