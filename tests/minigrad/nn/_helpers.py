"""Shared helpers for layer tests: gradcheck a module over its parameters too, and
copy weights between minigrad and PyTorch layers by name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

import minigrad as mg
from minigrad import nn


@contextlib.contextmanager
def swapped_parameters(
    module: nn.Module, names: Sequence[str], tensors: Sequence[mg.Tensor]
) -> Iterator[None]:
    """Temporarily make ``module`` use ``tensors`` in place of its named parameters, so a
    gradient check can perturb private copies of them."""
    slots = []
    for name, t in zip(names, tensors):
        owner_path, _, leaf = name.rpartition(".")
        owner = module
        for part in owner_path.split(".") if owner_path else []:
            owner = owner._modules[part]
        slots.append((owner, leaf, owner._parameters[leaf]))
        owner._parameters[leaf] = t
    try:
        yield
    finally:
        for owner, leaf, original in slots:
            owner._parameters[leaf] = original


def gradcheck_module(module: nn.Module, *inputs: mg.Tensor, **kwargs) -> bool:
    """mg.gradcheck of ``module(*inputs)`` with respect to the inputs that require grad and
    every parameter, in float64. Tuple/nested outputs are flattened to their tensors."""
    module.double()
    named = list(module.named_parameters())
    names, params = [n for n, _ in named], [p for _, p in named]
    n_in = len(inputs)

    def fn(*args):
        with swapped_parameters(module, names, args[n_in:]):
            return tuple(flatten(module(*args[:n_in])))

    return mg.gradcheck(fn, [*inputs, *params], **kwargs)


def flatten(out) -> Iterator[mg.Tensor]:
    if isinstance(out, mg.Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from flatten(o)


def load_into_torch(ours: nn.Module, theirs) -> None:
    """Copy our state dict into a torch module by name (the names must match exactly)."""
    import torch

    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)


def torch_tensor(t: mg.Tensor, requires_grad: bool = False):
    import torch

    return torch.tensor(np.array(t.numpy()), requires_grad=requires_grad)


def grads_by_name(module: nn.Module) -> dict[str, np.ndarray]:
    return {n: p.grad.numpy() for n, p in module.named_parameters() if p.grad is not None}


ATOL = 1e-10  # float64 comparisons with PyTorch


def _torch_flat(out):
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _torch_flat(o)]


def backward_both(ours_out, theirs_out) -> None:
    """Check that every output of both agrees, then backpropagate the same random cotangent
    through all of them."""
    import torch

    ours, theirs = list(flatten(ours_out)), _torch_flat(theirs_out)
    assert len(ours) == len(theirs)
    gen = np.random.default_rng(7)
    total, total_t = None, None
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), atol=ATOL)
        v = gen.standard_normal(o.shape)
        term, term_t = (o * mg.tensor(v)).sum(), (t * torch.tensor(v)).sum()
        total = term if total is None else total + term
        total_t = term_t if total_t is None else total_t + term_t
    total.backward()
    total_t.backward()


def assert_same_grads(ours: nn.Module, theirs, pairs=()) -> None:
    """Every parameter gradient equal by name, and each (ours, theirs) leaf pair's gradient."""
    ours_g = grads_by_name(ours)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours_g[name], p.grad.numpy(), atol=ATOL, err_msg=name)
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=ATOL)
