"""Hypothesis strategies and a gradient checker for users: assignments, autograders, op authors.

``check_gradients(fn, *strategies)`` draws inputs, runs ``mg.gradcheck`` (and
``mg.gradgradcheck`` for ``order=2``) on each, and when one fails lets hypothesis shrink
it, then raises ``GradientCheckFailure`` carrying the *smallest* failing input, the
element index and the analytic vs numeric values::

    from minigrad.testing import check_gradients, tensors, away_from

    check_gradients(lambda x: x.relu(), tensors(elements=away_from([0.0])))

The core's own property tests draw their inputs from these same strategies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .autograd import Function, InvalidGradientError, enable_grad
from .backend import Device, get_default_device, to_device
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .tensor import Tensor, float64, resolve_dtype

__all__ = [
    "shapes",
    "broadcastable_shapes",
    "smooth_floats",
    "away_from",
    "tensors",
    "check_gradients",
    "check_example",
    "checkable",
    "Checkable",
    "CheckResult",
    "GradientCheckFailure",
    "second_order_hint",
]

SearchStrategy = st.SearchStrategy


# -- shapes ------------------------------------------------------------------------


def shapes(
    min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5
) -> SearchStrategy[tuple[int, ...]]:
    """Array shapes, 0-d included by default (shrinks towards fewer, smaller axes)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(
    n: int, min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5
) -> SearchStrategy[tuple[tuple[int, ...], ...]]:
    """``n`` shapes that broadcast together under NumPy's rules: differing ranks and
    size-1 axes included."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda b: tuple(b.input_shapes))


# -- values ------------------------------------------------------------------------


def smooth_floats(min_value: float = -3.0, max_value: float = 3.0) -> SearchStrategy[float]:
    """Finite floats of moderate size, where central differences are accurate."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def away_from(
    points: Sequence[float], margin: float = 0.1, min_value: float = -3.0, max_value: float = 3.0
) -> SearchStrategy[float]:
    """Floats in [min_value, max_value] at least ``margin`` from every point in ``points``
    (kinks such as relu/abs at 0, or a domain edge such as log at 0).

    Built from the allowed intervals rather than by filtering, so it never stalls.
    """
    intervals = _gaps(sorted(points), margin, min_value, max_value)
    if not intervals:
        raise ValueError(
            f"away_from: no value in [{min_value}, {max_value}] is {margin} away from {list(points)}"
        )
    return st.one_of(*(smooth_floats(lo, hi) for lo, hi in intervals))


def _gaps(points: list[float], margin: float, lo: float, hi: float) -> list[tuple[float, float]]:
    """The sub-intervals of [lo, hi] that keep ``margin`` away from every point."""
    out, start = [], lo
    for p in points:
        end = p - margin
        if end >= start:
            out.append((start, min(end, hi)))
        start = max(start, p + margin)
    if start <= hi:
        out.append((start, hi))
    return [(a, b) for a, b in out if a <= b]


# -- tensors -----------------------------------------------------------------------


def _default_elements(dtype: numpy.dtype) -> SearchStrategy[Any]:
    if dtype.kind == "f":
        return smooth_floats()
    if dtype.kind == "b":
        return st.booleans()
    return st.integers(-5, 5)


@st.composite
def tensors(
    draw: Callable[[SearchStrategy[Any]], Any],
    shape: tuple[int, ...] | SearchStrategy[tuple[int, ...]] | None = None,
    dtype: Any = float64,
    elements: SearchStrategy[Any] | None = None,
    requires_grad: bool = True,
    device: str | Device | None = None,
    noncontiguous: bool | None = False,
    unique: bool = False,
) -> Tensor:
    """Tensors with values from ``elements`` (default: ``smooth_floats()``).

    ``shape``: a tuple, a strategy of tuples, or None for ``shapes()``. ``requires_grad``
    applies to floating dtypes only. ``noncontiguous=True`` gives a transposed or
    strided view of a larger array (as user code produces with ``.T`` and ``[::2]``);
    None lets hypothesis choose. ``unique=True`` draws distinct elements (no ties for
    max/min; give ``elements`` a spacing, e.g. ``integers(-20, 20).map(lambda k: k / 4)``).
    """
    d = resolve_dtype(dtype)
    if shape is None:
        shape = shapes()
    if isinstance(shape, SearchStrategy):
        shape = draw(shape)
    shape = tuple(shape)
    if noncontiguous is None:
        noncontiguous = draw(st.booleans())
    dev = Device(device) if device is not None else get_default_device()
    elems = elements if elements is not None else _default_elements(d)
    # Floats are drawn as float64 and then cast, so any float strategy works for any float dtype.
    draw_dtype = float64 if d.kind == "f" else d
    if noncontiguous and len(shape) > 0:
        base_shape, view = draw(_noncontiguous_layout(shape))
    else:
        base_shape, view = shape, None
    base = draw(hnp.arrays(draw_dtype, base_shape, elements=elems, unique=unique)).astype(d)
    with dev.use():
        data = to_device(base, dev)
    if view is not None:
        data = view(data)
    t = Tensor._wrap(data, dev)
    if requires_grad and d.kind == "f":
        t.requires_grad = True
    return t


def _transposed(a: Any) -> Any:
    return a.transpose()


def _every_other_last(a: Any) -> Any:
    return a[..., ::2]


def _every_other_last_reversed(a: Any) -> Any:
    return a[..., ::-2]


@st.composite
def _noncontiguous_layout(draw: Callable, shape: tuple[int, ...]) -> tuple[tuple[int, ...], Callable]:
    """A base shape and a view function mapping an array of that shape to ``shape``
    without copying: a transpose, or a stride-2 slice (forwards or backwards)."""
    kind = draw(st.sampled_from(["transpose", "stride", "reverse-stride"]))
    if kind == "transpose" and len(shape) >= 2:
        return tuple(reversed(shape)), _transposed
    wide = shape[:-1] + (2 * shape[-1],)
    return wide, _every_other_last_reversed if kind == "reverse-stride" else _every_other_last


# -- checking gradients -------------------------------------------------------------


class GradientCheckFailure(AssertionError):
    """A drawn input on which a gradient check failed, after hypothesis shrank it.

    Fields: ``function``, ``order`` (of the check that failed: 1 for the gradient, and for
    a forward that raised; 2 for the second derivative), ``inputs`` (the minimal failing inputs),
    ``kind`` ("mismatch", "non-differentiable", "forward-error", "backward-error",
    "invalid-gradient": backward returned the wrong number or shape of gradients,
    "not-implemented": forward or backward raised NotImplementedError; not shrunk),
    ``input_index``, ``element_index``, ``analytic``, ``numeric``, ``max_abs_error``,
    ``max_rel_error`` (None where they do not apply), ``examples`` (inputs tried),
    ``cause`` (the underlying exception) and ``hint`` (a likely reason, or None).
    """

    def __init__(self, function: str, order: int, inputs: tuple[Any, ...], cause: BaseException,
                 kind: str) -> None:
        self.function = function
        self.order = order
        self.inputs = inputs
        self.cause = cause
        self.kind = kind
        self.examples = 0
        self.hint: str | None = None
        for name in ("input_index", "element_index", "analytic", "numeric",
                     "max_abs_error", "max_rel_error"):
            setattr(self, name, getattr(cause, name, None))
        super().__init__(self._describe())

    def _describe(self) -> str:
        what = {
            "mismatch": "wrong gradient",
            "non-differentiable": "non-differentiable point (finite differences are not finite)",
            "forward-error": "forward raised",
            "backward-error": "backward raised",
            "invalid-gradient": "backward returned the wrong number or shape of gradients",
            "not-implemented": "not written yet (NotImplementedError)",
        }[self.kind]
        order = "second-order" if self.order == 2 else "first-order"
        lines = [f"{order} gradient check of {self.function}: {what}", f"  {self.cause}"]
        if self.element_index is not None:
            lines.append(
                f"  input {self.input_index}, element {self.element_index}: analytic "
                f"{self.analytic!r} vs numeric {self.numeric!r}"
            )
        lines.append("  smallest failing input:")
        lines.extend(f"    [{i}] {describe_input(x)}" for i, x in enumerate(self.inputs))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def add_hint(self, hint: str | None) -> None:
        """Attach a likely reason for the failure; the message shows it."""
        self.hint = hint
        self.args = (self._describe(),)


def describe_input(x: Any) -> str:
    """One line (plus values) describing a drawn input, for failure reports."""
    if isinstance(x, Tensor):
        values = numpy.array2string(x.numpy(), precision=6, separator=", ").replace("\n", "\n      ")
        return f"shape {tuple(x.shape)} {x.dtype}: {values}"
    return repr(x)


class CheckResult(NamedTuple):
    """What a passing ``check_gradients`` run did."""

    function: str
    order: int
    examples: int


def _function_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _callable(fn: Any) -> Callable[..., Any]:
    """A Function subclass is checked through its ``apply``."""
    if isinstance(fn, type) and issubclass(fn, Function):
        return fn.apply
    return fn


def _check_order(order: int, who: str) -> None:
    if order not in (1, 2):
        raise ValueError(f"{who}: order must be 1 or 2, got {order}")


def check_example(
    fn: Any,
    inputs: Sequence[Any],
    order: int = 1,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> None:
    """Check ``fn``'s gradients at one input; raise ``GradientCheckFailure`` if wrong.

    The step ``check_gradients`` runs on every drawn example.
    """
    _check_order(order, "check_gradients")
    call, name, inputs = _callable(fn), _function_name(fn), tuple(inputs)
    try:
        with enable_grad():
            call(*inputs)
    except Exception as e:
        raise GradientCheckFailure(name, 1, inputs, e, _error_kind(e, "forward-error")) from e
    for k, check in enumerate((gradcheck, gradgradcheck)[:order], start=1):
        try:
            check(call, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
        except GradcheckError as e:
            kind = "non-differentiable" if e.kind == "non-differentiable" else "mismatch"
            failure = GradientCheckFailure(name, k, inputs, e, kind)
        except InvalidGradientError as e:
            failure = GradientCheckFailure(name, k, inputs, e, "invalid-gradient")
        except Exception as e:
            failure = GradientCheckFailure(name, k, inputs, e, _error_kind(e, "backward-error"))
        else:
            continue
        if k == 2:
            failure.add_hint(second_order_hint(call, inputs))
        raise failure from failure.cause


# -- why a second-order check fails ---------------------------------------------------------


def second_order_hint(fn: Callable[..., Any], inputs: Sequence[Any]) -> str | None:
    """The likely reason a backward that passes first order fails second order: it builds
    on values that carry no graph. Looks at the user-defined Functions (those outside
    minigrad) that one call of ``fn`` records; None when nothing suspicious is found."""
    try:
        with enable_grad():
            outs = fn(*inputs)
    except Exception:
        return None
    for node in _user_nodes(outs if isinstance(outs, (tuple, list)) else (outs,)):
        hint = _raw_saved_hint(node) or _detached_gradient_hint(node)
        if hint:
            return hint
    return None


def _user_nodes(outputs: Sequence[Any]) -> list[Function]:
    """The graph's nodes whose Function is defined outside minigrad, outputs first."""
    found, seen = [], set()
    stack = [o for o in outputs if isinstance(o, Tensor)]
    while stack:
        node = stack.pop().grad_fn
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if not type(node).__module__.startswith("minigrad."):
            found.append(node)
        stack.extend(t for t in node.inputs or () if isinstance(t, Tensor))
    return found


def _raw_saved_hint(node: Function) -> str | None:
    """A float array computed in forward and saved: backward gets it as a constant."""
    for i, s in enumerate(node._saved or ()):
        value = s.value
        if s.kind == "const" and getattr(getattr(value, "dtype", None), "kind", "") == "f":
            name = type(node).__name__
            return (
                f"{name}.forward saves an array it computed (saved value {i}, shape "
                f"{tuple(value.shape)}); backward receives it as a constant Tensor with no "
                "graph, so the derivative through it is lost at second order. Save forward's "
                "inputs or output instead (they come back as Tensors in the graph) and recompute "
                "the rest in backward with Tensor operations."
            )
    return None


def _detached_gradient_hint(node: Function) -> str | None:
    """A gradient returned without a graph: backward computed it on raw arrays."""
    outs = [ref() for ref in node._outputs]
    if any(o is None for o in outs):
        return None
    grads = [Tensor._wrap(o.device.xp.ones_like(o.data), o.device, requires_grad=True) for o in outs]
    try:
        with enable_grad():
            returned = type(node).backward(node, *grads)
    except Exception:
        return None
    returned = returned if isinstance(returned, tuple) else (returned,)
    for i, (g, needed) in enumerate(zip(returned, node.needs_input_grad)):
        if needed and (not isinstance(g, Tensor) or not g.requires_grad):
            return (
                f"{type(node).__name__}.backward returns the gradient of input {i} without a "
                "graph: it was computed on raw arrays (.data, .numpy(), xp or numpy calls), so "
                "it has no derivative of its own. Write backward with Tensor operations."
            )
    return None


def _error_kind(e: Exception, kind: str) -> str:
    """A NotImplementedError is code still to be written, not a bug on some input."""
    return "not-implemented" if isinstance(e, NotImplementedError) else kind


class _Search:
    """What a check_gradients run has found: code not written yet (nothing to shrink), or
    the latest failing input, which is the smallest so far (the shrinker only moves to
    smaller failing inputs). Shrinking stops once ``shrink_time`` has passed."""

    def __init__(self, shrink_time: float) -> None:
        self.shrink_time = shrink_time
        self.examples = 0
        self.unfinished: GradientCheckFailure | None = None
        self.smallest: GradientCheckFailure | None = None
        self.deadline = math.inf

    def done(self) -> bool:
        return self.unfinished is not None or time.monotonic() > self.deadline

    def record(self, failure: GradientCheckFailure) -> None:
        if failure.kind == "not-implemented":
            self.unfinished = failure
            return
        if self.smallest is None:
            self.deadline = time.monotonic() + self.shrink_time
        self.smallest = failure
        raise failure

    def result(self) -> GradientCheckFailure | None:
        failure = self.unfinished or self.smallest
        if failure is not None:
            failure.examples = self.examples
        return failure


def check_gradients(
    fn: Any,
    *strategies: SearchStrategy[Any],
    max_examples: int = 25,
    order: int = 1,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int | None = None,
    shrink_time: float = 10.0,
) -> CheckResult:
    """Check ``fn`` (a callable or a Function subclass) on inputs drawn from ``strategies``
    (one strategy per positional argument).

    Returns a ``CheckResult``, or raises ``GradientCheckFailure`` holding the smallest
    failing input hypothesis could find within ``shrink_time`` seconds of the first
    failure (a second-order check of a large op can otherwise shrink for minutes).
    A NotImplementedError is reported at once, unshrunk. ``seed`` fixes the draws; None
    derandomizes them, so a run repeats exactly either way.
    """
    _check_order(order, "check_gradients")
    search = _Search(shrink_time)

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.tuples(*strategies))
    def run(inputs: tuple[Any, ...]) -> None:
        if search.done():
            return  # every later example "passes", so hypothesis winds down quickly
        search.examples += 1
        try:
            check_example(fn, inputs, order=order, eps=eps, atol=atol, rtol=rtol, seed=seed or 0)
        except GradientCheckFailure as failure:
            search.record(failure)

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    except GradientCheckFailure:
        pass  # search holds it, with the count of examples
    except Exception:
        # Stopping the shrinker makes hypothesis's final replay pass, which it reports
        # as flaky: the failure search holds is the answer.
        if search.smallest is None:
            raise
    failure = search.result()
    if failure is not None:
        raise failure
    return CheckResult(_function_name(fn), order, search.examples)


# -- marking functions for the checker ---------------------------------------------------


class Checkable(NamedTuple):
    """What ``@checkable`` records on a function: its input strategies and check order."""

    strategies: tuple[SearchStrategy[Any], ...]
    order: int


def checkable(*strategies: SearchStrategy[Any], order: int = 1) -> Callable[[Callable], Callable]:
    """Declare a function's input strategies so ``python -m minigrad.check`` can check it::

        @checkable(tensors(shape=(3,), elements=away_from([0.0])), order=2)
        def soft_abs(x):
            return (x * x + 1).sqrt()

    The function is returned unchanged, with ``__minigrad_checkable__`` set.
    """
    _check_order(order, "checkable")
    if not strategies:
        raise ValueError("checkable: give one input strategy per argument of the function")

    def mark(fn: Callable) -> Callable:
        fn.__minigrad_checkable__ = Checkable(tuple(strategies), order)
        return fn

    return mark

