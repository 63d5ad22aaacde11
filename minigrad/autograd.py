"""Function (a node of the graph), grad modes, and the reverse-mode graph walk.

A ``Function`` subclass is one op: ``forward(ctx, *arrays)`` computes on backend arrays,
``backward(ctx, grad)`` returns one gradient per input written in Tensor ops, so the
same code yields higher-order gradients when the walk runs with ``create_graph=True``.

Ownership (as in Chainer): a Tensor holds its creator strongly; the creator holds its
inputs strongly and its outputs only weakly. Dropping the last output frees the graph.
"""

from __future__ import annotations

import contextlib
import functools
import linecache
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy

from .backend import device_of_array, get_default_device, to_device

__all__ = [
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "grad",
    "queue_callback",
    "InvalidGradientError",
]


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """Whether ops record the graph (False inside ``no_grad``)."""
    return _GradMode.enabled


class set_grad_enabled:
    """Context manager / decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _GradMode.enabled

    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __exit__(self, *exc: Any) -> bool:
        _GradMode.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """``with mg.no_grad():`` — ops inside record no graph (inference, optimizer steps)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """``with mg.enable_grad():`` — turn recording back on inside ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


class _Saved:
    """Where a saved array came from, so backward can hand back the right Tensor."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind  # "input" (value = index), "output" (index) or "const" (array)
        self.value = value


class Function:
    """Base class of every op. Subclasses define ``forward`` and ``backward``, static as in
    PyTorch (both are called through the class, so plain functions work too).

    ``forward(ctx, *args, **kwargs)`` receives backend arrays for Tensor arguments and for
    NumPy/CuPy arrays (which become constant Tensors, on the device of the op's Tensors), other
    arguments as given, and returns an array or a tuple of arrays. ``backward(ctx, *grads)``
    receives one Tensor gradient per output and returns one gradient per positional input
    (``None`` where there is none). ``Function.apply(*args)`` runs it and records the node.
    """

    # Instance attributes (the instance is the graph node and the ctx), set by ``apply`` when
    # it records the node; the class-level values are the defaults of a node it did not record.
    inputs: tuple[Any, ...] | None = None
    needs_input_grad: list[bool]
    device: Any
    _outputs: list[weakref.ref]
    _out_arrays: tuple[Any, ...] = ()
    _saved: tuple[_Saved, ...] | None = None
    _to_save: tuple[Any, ...] | None = None
    _freed = False
    _watched = False  # an output called retain_grad(): the walk must look at its outputs
    _materialize = True

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx: Function, *grads: Tensor) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None, not zeros, for the outputs that no gradient
        reached (an op with a large output that is often unused need not allocate it)."""
        self._materialize = value

    # -- saving for backward -------------------------------------------------
    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays for backward. Inputs and outputs come back as their Tensors, so
        gradients of gradients flow through them (``create_graph=True``)."""
        self._to_save = values  # sorted into inputs/outputs/constants by apply, if it records

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        name = type(self).__name__
        if self._saved is None and self._freed:
            raise RuntimeError(
                f"{name}: saved values were already freed by a previous backward; "
                "pass retain_graph=True to the first backward to backpropagate twice"
            )
        if self._saved is None:
            raise RuntimeError(
                f"{name}: ctx.saved_tensors was read, but {name}.forward saved nothing; call "
                "ctx.save_for_backward(...) in forward with every array that backward needs"
            )
        return tuple(self._restore(s) for s in self._saved)

    def _restore(self, s: _Saved) -> Any:
        if s.kind == "input":
            return self.inputs[s.value]
        if s.kind == "output":
            return self._output_tensor(s.value)
        if s.value is None:
            return None
        return Tensor._wrap(s.value, self.device)

    def _output_tensor(self, i: int) -> Tensor:
        """The i-th output Tensor; recreated (with this node as creator) if it was freed."""
        out = self._outputs[i]()
        if out is None:
            out = Tensor._wrap(self._out_arrays[i], self.device, requires_grad=True, ctx=self, idx=i)
            self._outputs[i] = weakref.ref(out)
        return out

    # -- running -------------------------------------------------------------
    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        # The hot path of every op: plain loops, and comprehensions only for multi-output ops
        # (each is a call in 3.11).
        ctx = cls.__new__(cls)
        dev = None
        record = False
        arrays = []
        needs = []
        constants = False
        for a in args:
            if isinstance(a, Tensor):
                if a.device is not dev:
                    if dev is not None:
                        _device_mismatch(cls.__name__, args)
                    dev = a.device
                record = record or a._rg
                needs.append(a._rg)
                arrays.append(a.data)
            else:
                if type(a) not in _PLAIN:  # most non-Tensor arguments are numbers: skip the test
                    constants = constants or _is_array(a)
                needs.append(False)
                arrays.append(a)
        if constants:  # NumPy/CuPy arrays passed to apply: constant Tensors on the op's device
            args, arrays, dev = _as_constants(cls.__name__, args, dev)
        ctx.device = dev if dev is not None else get_default_device()
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        except (ValueError, IndexError, TypeError) as e:
            raise _op_error(cls, args, e) from e
        multi = type(out) is tuple
        outs = out if multi else (out,)
        first = type(outs[0])
        if first is not _ndarray and first not in _SCALARS and not _are_arrays(cls, outs, dev):
            return out  # no Tensor went in and no array came out: plain values pass through
        dev = ctx.device
        if record and _GradMode.enabled:
            ctx.inputs = args
            ctx.needs_input_grad = needs
            # outputs are held weakly: dropping them frees the graph
            if multi:
                result = tuple(Tensor._wrap(o, dev, True, ctx, i) for i, o in enumerate(outs))
                ctx._outputs = [weakref.ref(t) for t in result]
                # so a missing output gradient can be filled with zeros of the right kind
                ctx._out_meta = [(o.shape, o.dtype) for o in outs]
            else:
                result = Tensor._wrap(out, dev, True, ctx, 0)
                ctx._outputs = [weakref.ref(result)]
            if ctx._to_save is not None:
                ctx._keep_saved(arrays, outs)
        elif multi:
            result = tuple(Tensor._wrap(o, dev) for o in outs)
        else:
            result = Tensor._wrap(out, dev)
        if _anomaly is not None:
            _anomaly.check_forward(ctx, outs)
        return result

    def _keep_saved(self, inputs: list[Any], outputs: tuple[Any, ...]) -> None:
        """Sort what forward saved: inputs and outputs are restored as their Tensors."""
        saved = []
        for value in self._to_save:
            s = _locate(value, inputs, outputs)
            if s.kind == "output":
                self._out_arrays = outputs  # to recreate a saved output whose Tensor was dropped
            saved.append(s)
        self._saved = tuple(saved)
        self._to_save = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} node>"


def _as_constants(name: str, args: tuple[Any, ...], dev: Any) -> tuple[tuple[Any, ...], list[Any], Any]:
    """``args`` with each NumPy/CuPy array made a constant Tensor (no gradient) on the device
    of the op's Tensors (or the first array's); the arrays forward receives; that device."""
    if dev is None:
        dev = device_of_array(next(a for a in args if _is_array(a)))
    args = tuple(Tensor._wrap(to_device(a, dev), dev) if _is_array(a) else a for a in args)
    return args, [a.data if isinstance(a, Tensor) else a for a in args], dev


def _are_arrays(cls: type, outs: tuple[Any, ...], dev: Any) -> bool:
    """Whether forward returned backend arrays (or NumPy scalars, as whole-array reductions
    give). Plain values are fine only from an op that got no Tensor (PyTorch passes them
    through); otherwise they could not become Tensors, and the error says so."""
    if all(isinstance(o, numpy.generic) or _is_array(o) for o in outs):
        return True
    if dev is None:
        return False
    kinds = ", ".join(type(o).__name__ for o in outs)
    raise TypeError(
        f"{cls.__name__}.forward returned {kinds}: forward must return backend arrays (one, or a "
        "tuple of them), which apply wraps as Tensors; build them with xp = ctx.device.xp, e.g. "
        "xp.asarray(value)"
    )


def _locate(value: Any, inputs: list[Any], outputs: tuple[Any, ...]) -> _Saved:
    """A saved array that is an input or an output of its op is restored as that Tensor."""
    for i, a in enumerate(inputs):
        if value is a:
            return _Saved("input", i)
    for i, o in enumerate(outputs):
        if value is o:
            return _Saved("output", i)
    return _Saved("const", value)


def _shapes(args: Sequence[Any]) -> str:
    parts = []
    for a in args:
        if isinstance(a, Tensor):
            parts.append(f"{tuple(a.shape)} {a.dtype}")
    return ", ".join(parts)


def _op_error(cls: type, args: Sequence[Any], e: Exception) -> Exception:
    msg = f"{cls.__name__}: {e} (input shapes: {_shapes(args)})"
    return type(e)(msg) if type(e) in (ValueError, IndexError, TypeError) else ValueError(msg)


def _device_mismatch(name: str, args: Sequence[Any]) -> None:
    devs = [str(a.device) for a in args if isinstance(a, Tensor)]
    raise RuntimeError(
        f"{name}: expected all tensors on one device, got {' and '.join(dict.fromkeys(devs))}. "
        "Move them with .to(device) first."
    )


# Set by minigrad.anomaly while ``detect_anomaly`` is active: an object with
# check_forward(node, arrays) and check_backward(node, grads) that raise on NaN/Inf.
_anomaly: Any = None


# -- the graph walk ------------------------------------------------------------


def _toposort(roots: Sequence[Function]) -> list[Function]:
    """Nodes reachable from ``roots``, each before every node it feeds into, reversed:
    i.e. the order in which backward can run. Iterative DFS, so any depth works: a node is
    pushed once to visit its parents and once more (as ``done``) to be emitted after them."""
    order: list[Function] = []
    visited: set[int] = set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        inputs = node.inputs
        if inputs is None:  # freed by an earlier backward; _run reports it
            continue
        needs = node.needs_input_grad
        # Last input first, so the first input's subgraph is popped and emitted first (the
        # order of a recursive DFS).
        for k in range(len(inputs) - 1, -1, -1):
            if needs[k]:
                parent = inputs[k]._ctx
                if parent is not None and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _freed_error(node: Function) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (at {type(node).__name__}): its "
        "saved values were freed after the first backward. Pass retain_graph=True to the first "
        "backward (or to mg.grad) if you need to backward twice."
    )


def _run(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    targets: Sequence[Tensor] | None,
) -> dict[int, Tensor] | None:
    """Backpropagate from ``roots``. Accumulates into leaf ``.grad`` when ``targets`` is None,
    otherwise returns {id(target): grad} and writes no ``.grad``."""
    sums = _Sums(create_graph)  # keys: (node, output index), or id(leaf) for a leaf
    leaves: dict[int, Tensor] = {}
    taken = {id(g.data) for g in root_grads}  # arrays already visible to the caller
    root_nodes = []
    for r, g in zip(roots, root_grads):
        node = r._ctx
        if node is None:  # the root is a leaf itself
            leaves[id(r)] = r
            sums.add(id(r), g)
            continue
        if node._freed:
            raise _freed_error(node)
        sums.add((node, r._idx), g)
        root_nodes.append(node)

    target_ids = None if targets is None else {id(t) for t in targets}
    target_nodes = set() if targets is None else {id(t._ctx) for t in targets if t._ctx is not None}
    captured: dict[int, Tensor] = {}
    prev_mode = _GradMode.enabled
    _GradMode.enabled = create_graph
    try:
        for node in _toposort(root_nodes):
            if node._freed:
                raise _freed_error(node)
            out_grads = _output_grads(node, sums)
            if out_grads is None:
                continue
            if node._watched or id(node) in target_nodes:
                _keep_output_grads(node, out_grads, target_ids, captured, taken)
            try:  # through the class: a backward written without @staticmethod works too
                in_grads = type(node).backward(node, *out_grads)
            except ValueError as e:
                explained = _unpacking_error(node, e)
                if explained is None:
                    raise
                raise explained from e
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if len(in_grads) != len(node.inputs):
                raise _count_error(node, in_grads)
            if _anomaly is not None:
                _check_shapes(node, in_grads)  # a wrong shape is reported before any NaN
                _anomaly.check_backward(node, in_grads)
            for inp, need, g in zip(node.inputs, node.needs_input_grad, in_grads):
                if need and g is not None:
                    if g.data.shape != inp.data.shape:
                        _check_shapes(node, in_grads)  # raises, naming the input
                    gd = g.data.dtype
                    if gd is not inp.data.dtype and gd != inp.data.dtype:  # (identity: the fast test)
                        # A gradient has its input's dtype (PyTorch's rule), whatever the
                        # forward promoted to (x32 - y64 is float64): one cast here, not per op.
                        g = g.astype(inp.data.dtype)
                    parent = inp._ctx
                    if parent is None:
                        leaves[id(inp)] = inp
                        sums.add(id(inp), g)
                    else:
                        sums.add((parent, inp._idx), g)
            if not retain_graph:
                node.inputs = None
                node._saved = None
                node._out_arrays = ()
                node._freed = True
    finally:
        _GradMode.enabled = prev_mode

    if target_ids is not None:
        for key in leaves:
            if key in target_ids:
                captured[key] = sums.pop(key)
        return captured
    for key, leaf in leaves.items():
        g = _unaliased(sums.pop(key), taken)
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    return None


def _keep_output_grads(
    node: Function, out_grads: list[Tensor], target_ids: set[int] | None, captured: dict, taken: set[int]
) -> None:
    """Hand the gradients of ``node``'s outputs to mg.grad's targets or, for backward, to the
    outputs that called retain_grad()."""
    for out, g in zip(node._outputs, out_grads):
        out = out()
        if out is None or g is None:
            continue
        if target_ids is not None:
            if id(out) in target_ids:
                captured[id(out)] = g
        elif out._retains_grad:
            g = _unaliased(g, taken)
            out.grad = g if out.grad is None else out.grad + g


class _Sums:
    """The gradients reaching each slot of the walk (an output of a node, or a leaf), summed.

    Without ``create_graph`` there is no graph to record, so sums are plain array additions;
    and once a slot holds a buffer the walk allocated itself (that no one else can see),
    later gradients are added into it in place: a weight used T times costs one new buffer,
    not T.
    """

    __slots__ = ("values", "owned", "create_graph")

    def __init__(self, create_graph: bool) -> None:
        self.values: dict[Any, Tensor] = {}
        self.owned: set[Any] = set()  # slots whose buffer the walk allocated
        self.create_graph = create_graph

    def add(self, key: Any, g: Tensor) -> None:
        prev = self.values.get(key)
        if prev is None:
            self.values[key] = g
        elif self.create_graph:
            self.values[key] = prev + g
        elif key in self.owned and prev.data.dtype == g.data.dtype:
            prev.data += g.data
        else:
            self.values[key] = Tensor._wrap(prev.data + g.data, prev.device)
            self.owned.add(key)

    def pop(self, key: Any) -> Tensor | None:
        """Take a slot's sum out; from here on others may see its buffer."""
        self.owned.discard(key)
        return self.values.pop(key, None)


def _output_grads(node: Function, sums: _Sums) -> list[Tensor] | None:
    """The gradients flowing into each output of ``node`` (zeros for outputs that got none),
    or None when no gradient reached the node at all."""
    if len(node._outputs) == 1:
        g = sums.pop((node, 0))
        return None if g is None else [g]
    out_grads = [sums.pop((node, i)) for i in range(len(node._outputs))]
    if all(g is None for g in out_grads):
        return None
    if not node._materialize:
        return out_grads
    xp = node.device.xp
    return [
        Tensor._wrap(xp.zeros(shape, dtype=dtype), node.device) if g is None else g
        for g, (shape, dtype) in zip(out_grads, node._out_meta)
    ]


def _unaliased(g: Tensor, taken: set[int]) -> Tensor:
    """A gradient handed to the user must own its memory: copy it if its buffer is already
    visible elsewhere (the upstream gradient, another .grad) or is a read-only broadcast view."""
    arr = g.data
    owner = arr if arr.base is None else arr.base
    if id(owner) in taken or not getattr(arr.flags, "writeable", True):
        g = g.clone()
        owner = g.data
    taken.add(id(owner))
    return g


class InvalidGradientError(RuntimeError):
    """A backward returned the wrong number of gradients, or one of the wrong shape: a bug in
    the op's code rather than a numerically wrong value (tools such as the checker tell the
    two apart by this class)."""


def _unpacking_error(node: Function, e: ValueError) -> ValueError | None:
    """Python's "not enough values to unpack (expected 2, got 1)", explained when it is
    ``ctx.saved_tensors`` that was unpacked: forward saved fewer (or more) values than
    backward takes. None for any other ValueError."""
    if not str(e).startswith(("not enough values to unpack", "too many values to unpack")):
        return None
    tb = e.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip()
    if "saved_tensors" not in line or node._saved is None:
        return None
    name = type(node).__name__
    return ValueError(
        f"{name}.backward: {e} at `{line}` (line {tb.tb_lineno}): {name}.forward saved "
        f"{len(node._saved)} value(s) with ctx.save_for_backward; pass it every array that "
        "backward unpacks, e.g. ctx.save_for_backward(x, y) for `x, y = ctx.saved_tensors`"
    )


def _count_error(node: Function, in_grads: tuple[Any, ...]) -> InvalidGradientError:
    return InvalidGradientError(
        f"{type(node).__name__}.backward returned {len(in_grads)} gradient(s) but forward took "
        f"{len(node.inputs)} input(s): return one gradient per input (None for none)"
    )


def _check_shapes(node: Function, in_grads: tuple[Any, ...]) -> None:
    for k, (inp, need, g) in enumerate(zip(node.inputs, node.needs_input_grad, in_grads)):
        if need and g is not None and g.shape != inp.shape:
            raise InvalidGradientError(
                f"{type(node).__name__}.backward returned a gradient of shape {tuple(g.shape)} for "
                f"input {k}, whose shape is {tuple(inp.shape)}"
            )


def _as_tensor_list(x: Any) -> list[Any]:
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _default_root_grads(roots: Sequence[Tensor], grads: Any, who: str) -> list[Tensor]:
    if grads is None:
        grads = [None] * len(roots)
    else:
        # One gradient per root: a list/tuple holds them; anything else (a Tensor, an
        # array) is the single root's gradient, never to be split into rows.
        grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
    if len(grads) != len(roots):
        raise ValueError(f"{who}: got {len(roots)} output(s) but {len(grads)} gradient(s)")
    out = []
    for r, g in zip(roots, grads):
        if not r.requires_grad:
            raise RuntimeError(
                f"{who}: tensor of shape {tuple(r.shape)} does not require grad and has no "
                "creator; call requires_grad_() on the inputs or build it outside no_grad()"
            )
        if g is None:
            if r.size != 1:
                raise RuntimeError(
                    f"{who}: grad can be implicitly created only for scalar outputs, but the "
                    f"output has shape {tuple(r.shape)}; pass grad= (a tensor of that shape) "
                    "or reduce it first, e.g. loss.sum().backward()"
                )
            g = Tensor._wrap(r.device.xp.ones_like(r.data), r.device)
        else:
            if not isinstance(g, Tensor):
                g = Tensor(g, dtype=r.dtype, device=r.device)
            if tuple(g.shape) != tuple(r.shape):
                raise RuntimeError(
                    f"{who}: grad has shape {tuple(g.shape)} but the output has shape {tuple(r.shape)}"
                )
        out.append(g)
    return out


_callbacks: list[Callable[[], None]] | None = None  # queued during the backward() in progress


def queue_callback(fn: Callable[[], None]) -> None:
    """Run ``fn()`` once the ``backward()`` in progress has written every leaf's ``.grad``
    (PyTorch's ``queue_callback``); meant for a Function's backward. A callback already queued
    in this backward is not queued twice. Outside a ``backward()`` (e.g. within ``mg.grad``,
    which writes no ``.grad``) it does nothing."""
    if _callbacks is not None and fn not in _callbacks:
        _callbacks.append(fn)


@contextlib.contextmanager
def _callback_queue() -> Iterator[list[Callable[[], None]]]:
    """A fresh queue for one backward(); a backward nested in a Function's backward gets its own."""
    global _callbacks
    outer, _callbacks = _callbacks, []
    try:
        yield _callbacks
    finally:
        _callbacks = outer


def backward(
    tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False
) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad``, then run the callbacks that
    the walk queued (:func:`queue_callback`)."""
    roots = _as_tensor_list(tensors)
    root_grads = _default_root_grads(roots, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    with _callback_queue() as queued:
        _run(roots, root_grads, retain_graph, create_graph, None)
    for fn in queued:
        fn()


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Any, ...]:
    """Return d(outputs)/d(inputs) as a tuple, without touching any ``.grad``."""
    roots = _as_tensor_list(outputs)
    ins = _as_tensor_list(inputs)
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input of shape {tuple(t.shape)} does not require grad")
    root_grads = _default_root_grads(roots, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    captured = _run(roots, root_grads, retain_graph, create_graph, ins)
    result = []
    taken: set[int] = {id(g.data) for g in root_grads}
    for k, t in enumerate(ins):
        g = captured.get(id(t))
        if g is None:
            for r, rg in zip(roots, root_grads):
                if r is t:
                    g = rg
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {k} (shape {tuple(t.shape)}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        if g is not None:
            g = _unaliased(g, taken)
            if not create_graph:
                g = g.detach()
        result.append(g)
    return tuple(result)


# Imported last: tensor.py imports this module, and the package imports this one first.
from .tensor import Tensor, _is_array  # noqa: E402

_ndarray = numpy.ndarray
_PLAIN = frozenset({int, float, bool, str, tuple, type(None)})  # arguments that are never arrays
_SCALARS = frozenset({numpy.float64, numpy.float32, numpy.float16})  # what whole-array reductions return
