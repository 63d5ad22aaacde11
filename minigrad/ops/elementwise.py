"""Elementwise functions. Each docstring gives the local derivative used in backward.

Conventions at kinks follow PyTorch: relu'(0) = 0, |x|'(0) = 0, clip passes the gradient
where lo ≤ x ≤ hi, and maximum/minimum split the gradient evenly at ties.
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd import Function
from ..kernels import fused
from ._recompute import first_order_kernels
from .shape import unbroadcast

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_GELU_TANH_C = math.sqrt(2.0 / math.pi)


def _const(ctx, array: Any) -> Any:
    """Wrap a backend array as a Tensor constant (no gradient) on ctx's device."""
    from ..tensor import Tensor

    return Tensor._wrap(array, ctx.device)


class Exp(Function):
    """y = eˣ;  dy/dx = y."""

    @staticmethod
    def forward(ctx, x):
        out = ctx.device.xp.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    """y = ln x;  dy/dx = 1/x."""

    @staticmethod
    def forward(ctx, x):
        return ctx.device.xp.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.inputs[0]


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 − y²."""

    @staticmethod
    def forward(ctx, x):
        out = ctx.device.xp.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return TanhGrad.apply(grad, out)


class TanhGrad(Function):
    """tanh's backward as one op (one graph node instead of three): z = g·(1 − y²) with
    y = tanh x;  ∂z/∂g = 1 − y²,  ∂z/∂y = −2·g·y  (so higher derivatives flow through it).

    Subclasses give another activation's backward in terms of its output y: ``local(y)``
    (dy/dx as a function of y; works on arrays and Tensors alike), ``local_dy(y)`` (its
    derivative with respect to y) and the name of the fused kernel computing z."""

    kernel = "tanh_grad"

    @staticmethod
    def local(out):
        return 1 - out * out

    @staticmethod
    def local_dy(out):
        return out * -2

    @staticmethod
    def forward(ctx, grad, out):
        k = fused(ctx.device, grad, out)
        if k is not None and grad.shape == out.shape:
            return getattr(k, ctx.kernel)(grad, out)
        return grad * ctx.local(out)

    @staticmethod
    def backward(ctx, gz):
        grad, out = ctx.inputs
        need_grad, need_out = ctx.needs_input_grad
        return (
            gz * ctx.local(out) if need_grad else None,
            gz * grad * ctx.local_dy(out) if need_out else None,
        )


def sigmoid_array(xp: Any, x: Any) -> Any:
    """σ(x) on a backend array, as 0.5·(1 + tanh(x/2)): the logistic function, and it never
    overflows."""
    out = xp.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out


class Sigmoid(Function):
    """y = 1/(1 + e⁻ˣ);  dy/dx = y(1 − y)."""

    @staticmethod
    def forward(ctx, x):
        out = sigmoid_array(ctx.device.xp, x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return SigmoidGrad.apply(grad, out)


class SigmoidGrad(TanhGrad):
    """sigmoid's backward as one op: z = g·y(1 − y) with y = sigmoid x;
    ∂z/∂g = y(1 − y),  ∂z/∂y = g·(1 − 2y)."""

    kernel = "sigmoid_grad"

    @staticmethod
    def local(out):
        return out * (1 - out)

    @staticmethod
    def local_dy(out):
        return 1 - out * 2


class Relu(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0 (0 at x = 0)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.device.xp.maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0].data
        k = first_order_kernels(ctx.device, grad.data, x)
        if k is not None:
            return _const(ctx, k.relu_grad(grad.data, x))
        # A float mask in grad's dtype: NumPy's float × bool product is ~2x slower.
        mask = x > 0
        return grad * _const(ctx, mask.astype(grad.dtype))


def erf_array(xp: Any, x: Any) -> Any:
    """erf on a backend array, to double precision, using only array ops (NumPy has no erf).

    |x| < 0.5: Maclaurin series; elsewhere 1 − erfc(|x|) from the Chebyshev fit of
    Numerical Recipes (3rd ed., §6.2.2), absolute error below 1e-15.
    """
    z = xp.abs(x)
    t = 2.0 / (2.0 + z)
    ty = 4.0 * t - 2.0
    d = xp.zeros_like(z)
    dd = xp.zeros_like(z)
    for c in _ERFC_COF[:0:-1]:
        d, dd = ty * d - dd + c, d
    erfc = t * xp.exp(-z * z + 0.5 * (_ERFC_COF[0] + ty * d) - dd)
    big = xp.where(x >= 0, 1.0 - erfc, erfc - 1.0)
    x2 = x * x
    term = x * _TWO_OVER_SQRT_PI
    small = term.copy()
    for n in range(1, 14):
        term = term * (-x2 / n)
        small = small + term / (2 * n + 1)
    return xp.where(z < 0.5, small, big).astype(x.dtype, copy=False)


_ERFC_COF = (
    -1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3,
    -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5,
    -1.624290004647e-6, 1.303655835580e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9,
    5.059343495e-9, -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12,
    -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15,
    -9.4e-17, 1.21e-16, -2.8e-17,
)


class Erf(Function):
    """y = erf x;  dy/dx = (2/√π)·e^(−x²)."""

    @staticmethod
    def forward(ctx, x):
        return erf_array(ctx.device.xp, x)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * _TWO_OVER_SQRT_PI * (-(x * x)).exp()


class Gelu(Function):
    """y = x·Φ(x);  dy/dx = Φ(x) + x·φ(x)   (tanh form: its exact derivative)."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        xp = ctx.device.xp
        ctx.approximate = approximate
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        k = fused(ctx.device, x)
        if k is not None:
            return k.gelu(x, approximate)
        if approximate == "tanh":
            inner = xp.tanh(_GELU_TANH_C * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1.0 + inner)
        return 0.5 * x * (1.0 + erf_array(xp, x * _SQRT_HALF))

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0]
        k = first_order_kernels(ctx.device, grad.data, x.data)
        if k is not None:
            return _const(ctx, k.gelu_backward(grad.data, x.data, ctx.approximate))
        if ctx.approximate == "tanh":
            inner = (_GELU_TANH_C * (x + 0.044715 * x * x * x)).tanh()
            d_inner = _GELU_TANH_C * (1 + 3 * 0.044715 * x * x)
            return grad * (0.5 * (1 + inner) + 0.5 * x * (1 - inner * inner) * d_inner)
        cdf = 0.5 * (1 + Erf.apply(x * _SQRT_HALF))
        pdf = _INV_SQRT_2PI * (-0.5 * x * x).exp()
        return grad * (cdf + x * pdf)


class Sqrt(Function):
    """y = √x;  dy/dx = 1/(2y)."""

    @staticmethod
    def forward(ctx, x):
        out = ctx.device.xp.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * 0.5 / out


class Abs(Function):
    """y = |x|;  dy/dx = sign(x)  (0 at x = 0)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.device.xp.abs(x)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * _const(ctx, ctx.device.xp.sign(x.data))


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo ≤ x ≤ hi, else 0."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        if lo is None and hi is None:
            return x.copy()
        return ctx.device.xp.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        x, lo, hi = ctx.inputs
        xd = x.data
        keep = ctx.device.xp.ones(xd.shape, dtype=bool)
        if lo is not None:
            keep &= xd >= lo
        if hi is not None:
            keep &= xd <= hi
        return grad * _const(ctx, keep), None, None


def _tie_split(ctx, winner: Any, tie: Any, grad: Any) -> tuple[Any, Any]:
    """Gradients of maximum/minimum: all to the winning side, half each at a tie."""
    dtype = grad.dtype
    wa = winner.astype(dtype) + tie.astype(dtype) * 0.5
    wb = 1 - wa
    need_a, need_b = ctx.needs_input_grad
    a, b = ctx.inputs
    return (
        unbroadcast(grad * _const(ctx, wa), a.shape) if need_a else None,
        unbroadcast(grad * _const(ctx, wb), b.shape) if need_b else None,
    )


class Maximum(Function):
    """y = max(a, b);  ∂y/∂a = 1 where a > b, ½ where a = b, else 0 (and ∂y/∂b = 1 − ∂y/∂a)."""

    @staticmethod
    def forward(ctx, a, b):
        return ctx.device.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = (t.data for t in ctx.inputs)
        return _tie_split(ctx, a > b, a == b, grad)


class Minimum(Function):
    """y = min(a, b);  ∂y/∂a = 1 where a < b, ½ where a = b, else 0 (and ∂y/∂b = 1 − ∂y/∂a)."""

    @staticmethod
    def forward(ctx, a, b):
        return ctx.device.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = (t.data for t in ctx.inputs)
        return _tie_split(ctx, a < b, a == b, grad)


class Where(Function):
    """y = a where cond else b;  ∂y/∂a = cond,  ∂y/∂b = not cond."""

    @staticmethod
    def forward(ctx, cond, a, b):
        return ctx.device.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        cond, a, b = ctx.inputs
        zero = grad * 0
        need_a, need_b = ctx.needs_input_grad[1:]
        return (
            None,
            unbroadcast(where(cond, grad, zero), a.shape) if need_a else None,
            unbroadcast(where(cond, zero, grad), b.shape) if need_b else None,
        )


def where(cond: Any, a: Any, b: Any) -> Any:
    """Elementwise ``a if cond else b``; ``cond`` gets no gradient. Scalars allowed."""
    from ..tensor import Tensor, as_tensor_like

    ref = next((v for v in (a, b, cond) if isinstance(v, Tensor)), None)
    cond = as_tensor_like(cond, ref)
    if cond.dtype != bool:
        cond = cond != 0
    return Where.apply(cond, as_tensor_like(a, ref), as_tensor_like(b, ref))
