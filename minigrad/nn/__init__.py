"""Neural-network layers with PyTorch's names, parameter names and shapes."""

import sys

from .. import functional
from . import init, parallel, utils
from .activation import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiHeadAttention
from .container import ModuleList, Sequential
from .dropout import Dropout
from .embedding import Embedding
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module
from .normalization import LayerNorm
from .parameter import Parameter
from .positional import PositionalEncoding
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "init", "functional", "parallel", "utils", "Module", "Parameter", "Sequential", "ModuleList",
    "Linear", "Identity", "Embedding", "LayerNorm", "Dropout",
    "ReLU", "GELU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "MSELoss",
    "RNNCell", "GRUCell", "LSTMCell", "RNN", "GRU", "LSTM",
    "MultiHeadAttention", "PositionalEncoding", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerDecoder", "Transformer", "MultiheadAttention",
]

# PyTorch's spelling, so code ported from torch.nn runs after changing only its imports.
MultiheadAttention = MultiHeadAttention

# ``nn.functional`` is minigrad.functional itself, importable under PyTorch's dotted path too
# (``import minigrad.nn.functional as F``).
sys.modules[__name__ + ".functional"] = functional
