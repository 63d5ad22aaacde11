"""Parameter: a Tensor that a Module registers as trainable when assigned to it."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor with ``requires_grad=True`` that ``Module`` lists in ``parameters()``.

    Made from a Tensor it shares that tensor's array (as ``torch.nn.Parameter`` does), so
    ``Parameter(mg.zeros(3))`` costs no copy; made from anything else it copies.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if not isinstance(data, Tensor):
            data = Tensor(data)
        self._become_leaf(data.data, data.device, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
