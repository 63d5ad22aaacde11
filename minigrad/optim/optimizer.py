"""Optimizer base: parameter groups, zero_grad, and state dicts that resume training exactly.

Subclasses give their hyper-parameter defaults, check a group's options, and update one
parameter in place (``_update``). Updates work on the backend arrays (``p.data``), so they
record no graph and the Parameters a model holds are the ones that change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..autograd import enable_grad
from ..backend import to_device
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Holds ``param_groups`` (dicts of ``params`` + options) and per-parameter ``state``.

    ``params`` is an iterable of Tensors, or of dicts ``{"params": [...], "lr": ...}`` whose
    options override ``defaults`` for that group, as in PyTorch.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or dicts, got a single "
                "Tensor; pass [tensor] or model.parameters()"
            )
        _refuse_sets(type(self).__name__, params)
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines + [")"])

    # -- groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a different lr)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = {**self.defaults, **param_group, "params": self._param_list(param_group.get("params"))}
        self._check_new_params(group["params"])
        self._check_options(group)
        self.param_groups.append(group)

    def _param_list(self, params: Any) -> list[Tensor]:
        if isinstance(params, Tensor):
            return [params]
        if params is None:
            raise TypeError(f"{type(self).__name__}: a parameter group needs a 'params' entry")
        _refuse_sets(type(self).__name__, params)
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but param {i} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf Tensor (param {i}, shape "
                                 f"{tuple(p.shape)}); optimize the leaves it was computed from")
        return params

    def _check_new_params(self, params: list[Tensor]) -> None:
        """No parameter twice (its state would be updated twice), and one device for all."""
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in params:
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: some parameters appear more than once "
                                 "(in one group or in several)")
            seen.add(id(p))
        known = [p for group in self.param_groups for p in group["params"]] + params
        for i, p in enumerate(known):
            if p.device is not known[0].device:
                raise RuntimeError(
                    f"{type(self).__name__}: parameter {i} (shape {tuple(p.shape)}) is on {p.device} but the "
                    f"others are on {known[0].device}; move the whole model to one device (model.to(device)) "
                    "before creating the optimizer"
                )

    def _check_options(self, group: dict[str, Any]) -> None:
        """Raise ValueError on an invalid option of ``group`` (each optimizer checks its own)."""

    # -- gradients and steps -------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every gradient (``set_to_none``) or zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad = p.grad.detach()  # a grad built with create_graph must not keep its graph
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, group)
        return loss

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        """Update ``param.data`` in place from its gradient array ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} must define _update(param, grad, group)")

    def _new_state(self, param: Tensor, array: Any) -> Tensor:
        """A state buffer for ``param`` (a Tensor on its device, so state dicts hold Tensors)."""
        return Tensor._wrap(array, param.device)

    # -- state dicts -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A snapshot ``{"state": {index: {...}}, "param_groups": [{options, "params": [indices]}]}``.

        Parameters are named by their position across groups, as in PyTorch; state Tensors
        are copies, so training on does not change a state dict already taken.
        """
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        groups = [
            {**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
            for g in self.param_groups
        ]
        state = {
            index[id(p)]: {k: _snapshot(v) for k, v in s.items()}
            for p, s in self.state.items()
        }
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state from ``state_dict()``; nothing changes if it does not fit."""
        name = type(self).__name__
        if not _has_state_dict_layout(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected optimizer.state_dict()'s layout, "
                             "{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                             f"group(s) but the optimizer has {len(self.param_groups)}")
        params: dict[Any, Tensor] = {}
        groups = []
        for k, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {k} has {len(saved['params'])} parameter(s) "
                    f"in the state dict but {len(group['params'])} in the optimizer"
                )
            params.update(zip(saved["params"], group["params"]))
            merged = {**group, **{o: v for o, v in saved.items() if o != "params"}}
            self._check_options(merged)
            groups.append(merged)
        state = {}
        for key, values in state_dict["state"].items():
            if key not in params:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key!r}, which no group lists")
            p = params[key]
            state[p] = {k: _restored(p, v, f"{name}.load_state_dict: state {k!r} of parameter {key}")
                        for k, v in values.items()}
        self.param_groups[:] = groups
        self.state = state


def _has_state_dict_layout(state_dict: Any) -> bool:
    return (
        isinstance(state_dict, dict)
        and isinstance(state_dict.get("state"), dict)
        and all(isinstance(values, dict) for values in state_dict["state"].values())
        and isinstance(state_dict.get("param_groups"), (list, tuple))
        and all(isinstance(g, dict) and isinstance(g.get("params"), (list, tuple))
                for g in state_dict["param_groups"])
    )


def _refuse_sets(name: str, params: Any) -> None:
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{name}: parameters must come in an ordered iterable (a list, or model.parameters()); "
            "sets have no stable order to save state by"
        )


def _snapshot(value: Any) -> Any:
    if isinstance(value, Tensor):
        return Tensor._wrap(value.data.copy(), value.device)
    return value


def _restored(param: Tensor, value: Any, where: str) -> Any:
    """A saved state buffer as a fresh Tensor on the parameter's device and in its dtype."""
    if not isinstance(value, Tensor):
        return value
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(
            f"{where} has shape {tuple(value.shape)} but the parameter has shape {tuple(param.shape)}"
        )
    array = to_device(value.data, param.device).astype(param.dtype, copy=True)
    return Tensor._wrap(array, param.device)
