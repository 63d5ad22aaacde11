"""gradcheck / gradgradcheck: autodiff against central differences in float64.

The function's outputs are contracted with a *random* upstream gradient v, so the
checked scalar is Σ v·f(x). (With v = 1 a softmax check is vacuous: Σ softmax ≡ 1.)
On a mismatch, ``GradcheckError`` says which input and element, both values, and the
tolerances, so a student knows exactly where their backward is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from . import autograd
from .backend import rng as _rng
from .tensor import Tensor, float64

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]

# Above this many checked elements the default is one random directional check per input.
FAST_MODE_THRESHOLD = 4096


@dataclass
class Mismatch:
    """Where a gradient check failed and by how much."""

    function: str
    input_index: int
    element_index: tuple[int, ...] | None  # None for a directional (fast-mode) check
    analytic: float
    numeric: float
    eps: float
    atol: float
    rtol: float
    max_abs_error: float
    max_rel_error: float
    kind: str = "mismatch"  # or "non-differentiable"


class GradcheckError(AssertionError):
    """A gradient disagreed with finite differences; ``.mismatch`` holds the details."""

    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch
        m = mismatch
        for name in ("function", "input_index", "element_index", "analytic", "numeric", "eps",
                     "atol", "rtol", "max_abs_error", "max_rel_error", "kind"):
            setattr(self, name, getattr(m, name))
        where = (
            f"element {m.element_index}" if m.element_index is not None
            else "a random direction (fast mode)"
        )
        if m.kind == "non-differentiable":
            text = (
                f"gradcheck of {m.function}: input {m.input_index}, {where}: finite differences "
                f"gave {m.numeric} — a non-differentiable point (a kink or outside the domain), "
                "not a gradient error; draw inputs away from it"
            )
        else:
            text = (
                f"gradcheck of {m.function} failed: input {m.input_index}, {where}: analytic "
                f"{m.analytic:.8g} vs numeric {m.numeric:.8g} (|diff| {abs(m.analytic - m.numeric):.3g}); "
                f"eps={m.eps:g}, atol={m.atol:g}, rtol={m.rtol:g}; over the input: max abs error "
                f"{m.max_abs_error:.3g}, max rel error {m.max_rel_error:.3g}"
            )
        super().__init__(text)


def _name(fn: Callable) -> str:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):  # Softplus.apply, not the inherited "Function.apply"
        return f"{owner.__qualname__}.{fn.__name__}"
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float64_copies(inputs: Sequence[Any]) -> list[Any]:
    """Private C-ordered float64 copies: perturbing them never touches the caller's tensors,
    and their flat view (used to perturb one element) is a view, not a copy."""
    out = []
    for t in inputs:
        if isinstance(t, Tensor) and t.dtype.kind == "f":
            c = Tensor._wrap(t.data.astype(float64, order="C", copy=True), t.device)
            c.requires_grad = t.requires_grad
            out.append(c)
        else:
            out.append(t)
    return out


def _checked_copies(inputs: Any, who: str) -> tuple[list[Any], list[int]]:
    """float64 copies of the inputs and the indices of those to check (they require grad)."""
    xs = _float64_copies(_as_tuple(inputs))
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{who}: no input requires grad; pass tensors with requires_grad=True")
    return xs, checked


def _outputs(fn: Callable, xs: Sequence[Any]) -> tuple[Tensor, ...]:
    outs = _as_tuple(fn(*xs))
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: {_name(fn)} must return Tensors, got {type(o).__name__}")
    return outs


class _Objective:
    """Σ_k v_k · f_k(x), evaluated without recording a graph."""

    def __init__(self, fn: Callable, xs: Sequence[Any], vs: Sequence[Any]) -> None:
        self.fn, self.xs, self.vs = fn, xs, vs

    def __call__(self) -> float:
        with autograd.no_grad():
            outs = _outputs(self.fn, self.xs)
        total = 0.0
        for o, v in zip(outs, self.vs):
            if v is not None:
                total += float((o.data.astype(float64) * v).sum())
        return total


def _within(a: float, n: float, atol: float, rtol: float) -> bool:
    return abs(a - n) <= atol + rtol * abs(n)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    fast_mode: bool | None = None,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of ``fn`` w.r.t. every input that requires grad.

    Returns True, or raises ``GradcheckError`` (False if ``raise_exception=False``).
    ``fast_mode`` (default: automatic for large inputs) checks one random direction per
    input instead of every element.
    """
    xs, checked = _checked_copies(inputs, "gradcheck")
    gen = numpy.random.default_rng(seed)
    with autograd.enable_grad():
        outs = _outputs(fn, xs)
    vs = [gen.standard_normal(o.shape) if o.dtype.kind == "f" else None for o in outs]
    diff_outs = [(o, v) for o, v in zip(outs, vs) if v is not None and o.requires_grad]
    analytic = _analytic(fn, xs, checked, diff_outs)
    objective = _Objective(fn, xs, [None if v is None else _on(o, v) for o, v in zip(outs, vs)])
    if fast_mode is None:
        fast_mode = sum(xs[i].size for i in checked) > FAST_MODE_THRESHOLD
    try:
        for i, a in zip(checked, analytic):
            if fast_mode:
                _check_direction(fn, xs[i], i, a, objective, eps, atol, rtol, gen)
            else:
                _check_elements(fn, xs[i], i, a, objective, eps, atol, rtol)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _on(like: Tensor, array: numpy.ndarray) -> Any:
    from .backend import to_device

    return to_device(array, like.device)


def _analytic(fn: Callable, xs: Sequence[Any], checked: list[int], diff_outs: list) -> list[numpy.ndarray]:
    """d(Σ v·f)/dx_i for each checked input, as float64 NumPy arrays."""
    if not diff_outs:
        return [numpy.zeros(xs[i].shape) for i in checked]
    roots = [o for o, _ in diff_outs]
    grads_out = [Tensor._wrap(_on(o, v).astype(o.dtype), o.device) for o, v in diff_outs]
    grads = autograd.grad(roots, [xs[i] for i in checked], grads_out, allow_unused=True)
    return [
        numpy.zeros(xs[i].shape) if g is None else Tensor._wrap(g.data, g.device).numpy().astype(float64)
        for i, g in zip(checked, grads)
    ]


def _check_elements(fn, x, i, analytic, objective, eps, atol, rtol) -> None:
    flat = x.data.reshape(-1)  # x is our contiguous copy, so this is a view
    numeric = numpy.empty(x.size)
    for j in range(x.size):
        orig = flat[j].item()
        flat[j] = orig + eps
        f_plus = objective()
        flat[j] = orig - eps
        f_minus = objective()
        flat[j] = orig
        numeric[j] = (f_plus - f_minus) / (2 * eps)
    a = analytic.reshape(-1)
    abs_err = numpy.abs(a - numeric)
    rel_err = abs_err / numpy.maximum(numpy.abs(numeric), 1e-12)
    bad = ~(abs_err <= atol + rtol * numpy.abs(numeric))
    if not bad.any():
        return
    finite = numpy.isfinite(numeric)
    worst = int(numpy.argmax(numpy.where(bad, abs_err - rtol * numpy.abs(numeric), -numpy.inf)))
    if not finite.all():
        worst = int(numpy.flatnonzero(~finite)[0])
    raise GradcheckError(
        Mismatch(
            function=_name(fn), input_index=i,
            element_index=tuple(int(k) for k in numpy.unravel_index(worst, x.shape)),
            analytic=float(a[worst]), numeric=float(numeric[worst]), eps=eps, atol=atol, rtol=rtol,
            max_abs_error=float(numpy.nanmax(abs_err)) if finite.any() else float("nan"),
            max_rel_error=float(numpy.nanmax(rel_err)) if finite.any() else float("nan"),
            kind="mismatch" if finite.all() else "non-differentiable",
        )
    )


def _check_direction(fn, x, i, analytic, objective, eps, atol, rtol, gen) -> None:
    u = gen.standard_normal(x.shape)
    u_dev = _on(x, u)
    orig = x.data.copy()
    x.data[...] = orig + eps * u_dev
    f_plus = objective()
    x.data[...] = orig - eps * u_dev
    f_minus = objective()
    x.data[...] = orig
    numeric = (f_plus - f_minus) / (2 * eps)
    a = float((analytic * u).sum())
    if _within(a, numeric, atol, rtol):
        return
    err = abs(a - numeric)
    raise GradcheckError(
        Mismatch(
            function=_name(fn), input_index=i, element_index=None, analytic=a, numeric=numeric,
            eps=eps, atol=atol, rtol=rtol, max_abs_error=err,
            max_rel_error=err / max(abs(numeric), 1e-12),
            kind="mismatch" if numpy.isfinite(numeric) else "non-differentiable",
        )
    )


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    fast_mode: bool | None = None,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check second-order gradients: gradcheck of x, v ↦ vᵀ·∂f/∂x (built with create_graph)."""
    xs, checked = _checked_copies(inputs, "gradgradcheck")
    with autograd.enable_grad():
        outs = [o for o in _outputs(fn, xs) if o.requires_grad and o.dtype.kind == "f"]
    gen = numpy.random.default_rng(seed + 1)
    vs = [Tensor._wrap(_on(o, gen.standard_normal(o.shape)), o.device, requires_grad=True) for o in outs]
    n = len(xs)

    def first_derivative(*args: Any) -> tuple[Tensor, ...]:
        ins, grad_outs = args[:n], args[n:]
        with autograd.enable_grad():  # differentiating needs a graph even inside no_grad
            results = [o for o in _outputs(fn, ins) if o.requires_grad and o.dtype.kind == "f"]
            grads = autograd.grad(
                results, [ins[i] for i in checked], list(grad_outs), create_graph=True,
                allow_unused=True,
            )
        return tuple(g for g in grads if g is not None)

    first_derivative.__qualname__ = f"grad of {_name(fn)}"
    return gradcheck(
        first_derivative, (*xs, *vs), eps=eps, atol=atol, rtol=rtol,
        fast_mode=fast_mode, seed=seed, raise_exception=raise_exception,
    )


del _rng
