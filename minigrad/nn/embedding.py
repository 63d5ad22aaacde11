"""Embedding: a lookup table of learned vectors, one row per token id."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..autograd import no_grad
from ..tensor import FLOAT_INDICES_HINT, Tensor
from . import init
from ._factory import new_parameter
from .module import Module


class Embedding(Module):
    """``weight[ids]`` with ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1).

    The ``padding_idx`` row starts at zero and never receives a gradient, as in PyTorch.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be within [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = new_parameter(num_embeddings, embedding_dim, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0

    def forward(self, ids: Any) -> Tensor:
        kind = getattr(getattr(ids, "dtype", None), "kind", "i")
        if kind not in "iu":
            raise TypeError(
                f"{self._header()}: ids must be integers, got dtype {ids.dtype}; convert them with "
                f".astype(mg.int64) ({FLOAT_INDICES_HINT})"
            )
        return F.embedding(ids, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
