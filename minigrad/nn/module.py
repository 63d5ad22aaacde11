"""Module: the base class of layers. Parameters, buffers and sub-modules register
themselves by attribute assignment, as in PyTorch, so ``named_parameters()`` and
``state_dict()`` see the whole tree under PyTorch's dotted names."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy

from ..backend import Device, device_of_array, to_device
from ..tensor import Tensor, _is_array, _is_device_spec, resolve_dtype
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer: subclass it, assign parameters/sub-modules in
    ``__init__`` (after ``super().__init__()``), and define ``forward``."""

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent: set[str]
    _modules: dict[str, Module | None]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- registration ----------------------------------------------------------
    def _registries(self) -> tuple[dict, dict, dict]:
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(
                f"cannot assign to {type(self).__name__} before Module.__init__() is called: "
                "call super().__init__() first in your __init__"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        params, buffers, modules = self._registries()
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}' of "
                    f"{type(self).__name__} (nn.Parameter or None expected)"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module '{name}' of "
                    f"{type(self).__name__} (nn.Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer '{name}' of "
                    f"{type(self).__name__} (Tensor or None expected)"
                )
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop ``name`` from wherever it is registered, so it lives in one place."""
        self.__dict__.pop(name, None)
        for registry in self._registries():
            registry.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the registered names live in the dicts.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if any(name in r for r in self._registries()):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or a None placeholder, e.g. a disabled bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be an nn.Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-trainable tensor (e.g. a mask or running statistic); persistent
        buffers are saved in ``state_dict`` and moved by ``to``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer: '{name}' must be a Tensor or None, got {type(tensor).__name__}"
            )
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be an nn.Module or None, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    # -- traversal -----------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set[int] | None = None) -> Iterator[tuple[str, Module]]:
        """This module and every descendant, each once, with dotted names."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        owners = self.named_modules() if recurse else iter([("", self)])
        for prefix, module in owners:
            for name, t in getattr(module, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self, recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a parameter shared by two layers appears once."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first) and then on this one."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- state -------------------------------------------------------------------------
    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Everything a state dict holds: parameters and persistent buffers, in tree order."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, b
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_items(f"{prefix}{name}.")

    def state_dict(self) -> OrderedDict[str, Tensor]:
        """name → Tensor (detached, sharing memory with the module) for every parameter and
        persistent buffer, under PyTorch's dotted names."""
        return OrderedDict((name, t.detach()) for name, t in self._state_items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, in place (optimizers keep working).

        Everything is checked before anything is copied: on a missing or unexpected key
        (with ``strict``) or a shape mismatch it raises, listing every problem, and the
        module is left unchanged.
        """
        own = dict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems, ready = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _array_like(state_dict[key], target)
            if value is None:
                kind = type(state_dict[key]).__name__
                problems.append(f"value for {key} is a {kind}, not a tensor or array")
            elif tuple(value.shape) != tuple(target.shape):
                problems.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                    f"checkpoint, the shape in current model is {tuple(target.shape)}"
                )
            else:
                ready.append((target, value))
        if strict:
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                problems.insert(int(bool(missing)),
                                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected))
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems)
            )
        for target, value in ready:
            target.data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # -- modes and placement -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and every descendant."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients (``grad = None``, or zeros in place)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move (``to("cuda")``) and/or cast (``to(mg.float64)``) every parameter and buffer
        in place: the Parameter objects stay the same, so an optimizer holding them still
        works. Only floating-point tensors are cast."""
        if device is not None and dtype is None and not _is_device_spec(device):
            device, dtype = None, device
        dev = Device(device) if device is not None else None
        dt = resolve_dtype(dtype) if dtype is not None else None
        for t in (*self.parameters(), *self.buffers()):
            _move(t, dev, dt)
            if t.grad is not None:
                _move(t.grad, dev, dt)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Module:
        return self.to(f"cuda:{index}")

    def double(self) -> Module:
        return self.to(resolve_dtype("float64"))

    def float(self) -> Module:
        return self.to(resolve_dtype("float32"))

    # -- printing and errors -------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown between the parentheses of ``repr``."""
        return ""

    def _header(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def __repr__(self) -> str:
        extra = self.extra_repr()
        children = [f"({name}): {_indent(repr(m))}" for name, m in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = (extra.split("\n") if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def input_error(self, expected: str, x: Any) -> ValueError:
        """The error for a wrong input: names the layer, what it expects and what it got."""
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        return ValueError(f"{self._header()}: expected {expected}, got shape {shape}")

    def check_input_dtype(self, x: Any, like: Tensor | None, name: str = "input") -> None:
        """PyTorch's rule for layers: ``x`` must have the dtype of the layer's parameter
        ``like`` (None: nothing to compare with). A float64 input to a float32 layer is an
        error rather than a silent promotion that would train the layer in float64; plain
        Tensor arithmetic keeps NumPy's promotion."""
        if like is None or not hasattr(x, "dtype") or x.dtype == like.dtype:
            return
        want, got = like.dtype.name, x.dtype.name
        fix = f"convert the {name} with .astype(mg.{want})"
        if x.dtype.kind == "f":
            fix += f" or the layer with .to(mg.{got})"
        raise TypeError(
            f"{self._header()}: {name} has dtype {got} but the layer's parameters are {want}; "
            f"layers do not mix dtypes (as in PyTorch): {fix}"
        )


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _array_like(value: Any, target: Tensor) -> Any:
    """``value`` (a Tensor, a NumPy/CuPy array, or anything with ``__array__``, such as a
    CPU tensor of another framework) as an array on ``target``'s device and dtype, or None
    if it is none of these."""
    if isinstance(value, Tensor):
        arr, src = value.data, value.device
    elif _is_array(value):
        arr, src = value, device_of_array(value)
    elif hasattr(value, "__array__"):
        arr, src = numpy.asarray(value), Device("cpu")
    else:
        return None
    if src is not target.device:
        arr = to_device(arr, target.device)
    return arr.astype(target.dtype, copy=False)


def _move(t: Tensor, dev: Device | None, dtype: Any) -> None:
    """Re-home ``t``'s array in place (the Tensor object is kept)."""
    arr = t.data
    if dev is not None and dev is not t.device:
        arr = to_device(arr, dev)
        t.device = dev
    if dtype is not None and arr.dtype.kind == "f":
        arr = arr.astype(dtype, copy=False)
    t.data = arr
