"""Primitive ops: each a Function with forward and backward side by side."""

from .arithmetic import Add, Div, Mul, Neg, Pow, Sub
from .convert import Cast, Clone, ToDevice
from .elementwise import (
    Abs,
    Clip,
    Erf,
    Exp,
    Gelu,
    Log,
    Maximum,
    Minimum,
    Relu,
    Sigmoid,
    Sqrt,
    Tanh,
    Where,
    where,
)
from .hooks import CallAfterBackward
from .linalg import MatMul
from .reduction import LogSumExp, Max, Min, Sum
from .shape import BroadcastTo, Concat, GetItem, IndexAdd, Reshape, Stack, Transpose, unbroadcast

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow",
    "Exp", "Log", "Tanh", "Sigmoid", "Relu", "Erf", "Gelu", "Sqrt", "Abs", "Clip",
    "Maximum", "Minimum", "Where", "where",
    "MatMul", "Sum", "Max", "Min", "LogSumExp",
    "Reshape", "Transpose", "BroadcastTo", "GetItem", "IndexAdd", "Concat", "Stack",
    "Cast", "Clone", "ToDevice", "unbroadcast", "CallAfterBackward",
]
