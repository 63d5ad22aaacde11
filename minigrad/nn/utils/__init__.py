"""``torch.nn.utils``'s names: packing padded sequences for the recurrent layers
(``nn.utils.rnn``) and gradient clipping (the one implementation lives in
``minigrad.optim.clip``)."""

from ...optim.clip import clip_grad_norm_, clip_grad_value_
from . import rnn

__all__ = ["rnn", "clip_grad_norm_", "clip_grad_value_"]
