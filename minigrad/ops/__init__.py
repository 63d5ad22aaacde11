"""Every Function of minigrad, forward and backward side by side: the primitives and the
fused ops that ``functional`` composes (linear, softmaxes, cross-entropy, layer norm,
attention)."""

from .arithmetic import Add, Div, Mul, Neg, Pow, Sub
from .attention import Attention
from .convert import Cast, Clone, ToDevice
from .dropout import dropout_multiplier
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
    SigmoidGrad,
    Sqrt,
    Tanh,
    TanhGrad,
    Where,
    where,
)
from .hooks import CallAfterBackward
from .linalg import Linear, MatMul
from .loss import SoftmaxCrossEntropy
from .normalization import LayerNorm
from .recurrence import Recurrence
from .reduction import LogSumExp, Max, Min, Sum
from .rows import PutRows, TakeRows
from .scatter import Gather, ScatterAdd
from .shape import (
    BroadcastTo,
    Chunk,
    Concat,
    EmbeddingLookup,
    GetItem,
    IndexAdd,
    Reshape,
    Stack,
    Transpose,
    Unbind,
    unbroadcast,
)
from .softmax import LogSoftmax, MaskedSoftmax, Softmax, softmax_backward

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow",
    "Exp", "Log", "Tanh", "TanhGrad", "Sigmoid", "SigmoidGrad", "Relu", "Erf", "Gelu", "Sqrt",
    "Abs", "Clip", "Maximum", "Minimum", "Where", "where",
    "MatMul", "Linear", "Sum", "Max", "Min", "LogSumExp",
    "Softmax", "MaskedSoftmax", "LogSoftmax", "softmax_backward", "SoftmaxCrossEntropy",
    "LayerNorm", "Attention", "dropout_multiplier",
    "Reshape", "Transpose", "BroadcastTo", "GetItem", "IndexAdd", "EmbeddingLookup", "Concat",
    "Stack", "Unbind", "Chunk",
    "Cast", "Clone", "ToDevice", "unbroadcast", "CallAfterBackward",
    "Recurrence", "TakeRows", "PutRows", "Gather", "ScatterAdd",
]
