"""``torch.nn.utils``'s names: gradient clipping (the one implementation lives in
``minigrad.optim.clip``)."""

from ...optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
