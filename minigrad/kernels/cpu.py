"""Fused CPU kernels on numba: one pass over memory where NumPy makes several (threaded on request).

Each kernel is the loop form of the math of one op in ``minigrad/ops`` (named in its
docstring, with the formula); that op's plain NumPy code stays the definition. Loops run
over rows (the last axis) or elements with ``prange``; a row's reductions and the
elementwise work that uses them happen while the row is in cache. ``cache=True`` keeps the
compiled machine code on disk, so only the first run on a machine compiles.

Every kernel takes arrays of one float dtype (``kernels.fused`` checks), of any layout
(a broadcast upstream gradient included), and returns new C-contiguous arrays, except
``adam_update``, which updates C-contiguous parameter and state arrays in place.
"""

from __future__ import annotations

import math
import os
import types
from decimal import Decimal

import numpy as np

# numba's OpenMP workers spin after each parallel loop by default and take the cores from
# OpenBLAS's threads in the matrix products that follow (the demo ran 1.8x slower with the
# kernels than without on 2 cores); passive workers sleep instead. Read when the OpenMP
# runtime starts, so it must be set before numba's first parallel loop; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit, prange  # noqa: E402
from numba.extending import intrinsic, overload  # noqa: E402

# NumPy's BLAS already spreads each matrix product over the cores, and its threads spin for a
# while after each one: a parallel loop started between two products fights them for the
# cores (at default threads on 2 cores a Transformer step took 74 ms with parallel loops,
# 37 ms with one thread, 42 ms without kernels). So the loops run on the calling thread unless
# threads are asked for: NUMBA_NUM_THREADS > 1, or use_threads(n) (as `python -m benchmarks
# --threads N` does). numba's own thread setting, which the user's numba code shares, is left
# alone until then.
_threaded = int(os.environ.get("NUMBA_NUM_THREADS", "1")) > 1


def use_threads(n: int) -> None:
    """Run the kernels' loops on ``n`` numba threads (1: on the calling thread only)."""
    global _threaded
    _threaded = n > 1
    if _threaded:
        numba.set_num_threads(n)


# reassoc: row sums may be vectorised (summed in another order, as NumPy's pairwise sum is).
# error_model="numpy": a division by zero gives inf/NaN as in NumPy instead of a check and a
# branch per element, which would stop the loop from vectorising.
_FLAGS = dict(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")

# Below this many elements a kernel runs on the calling thread: waking the worker threads
# costs more than the work (and on a loaded machine, far more).
PARALLEL_MIN = 1 << 16


def _renamed(fn, suffix: str):
    """A copy of ``fn`` under another name: numba keys its on-disk cache by the function's
    name, not by the compile options, so the two versions of a loop need two names."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix)
    copy.__qualname__ = fn.__qualname__ + suffix
    return copy


class _jit:
    """A loop compiled twice on demand, multi-threaded (``prange`` split over threads) and
    single-threaded (``prange`` as ``range``); a call takes the first by the size of its
    first array, when threads are asked for (``use_threads``)."""

    def __init__(self, loop):
        self.parallel = njit(parallel=True, **_FLAGS)(loop)
        self.serial = njit(**_FLAGS)(_renamed(loop, "_serial"))

    def __call__(self, first, *rest):
        threaded = _threaded and first.size >= PARALLEL_MIN
        return (self.parallel if threaded else self.serial)(first, *rest)


# -- a vectorisable exp, and sigmoid and tanh from it -------------------------------------
#
# numba's math.exp is a call into libm, one element at a time (llvmlite's wheels carry no SVML),
# which made a fused softmax forward slower than NumPy's SIMD exp. This exp is plain arithmetic
# on the element, so LLVM vectorises the loop around it:
#   x = k·ln2 + r,  k = round(x / ln2),  |r| ≤ ln2/2;   eˣ = 2ᵏ · eʳ.
# r is formed with ln2 split in two (ln2_hi has few enough bits that k·ln2_hi is exact, ln2_lo
# carries the rest), eʳ − 1 is its Taylor polynomial (degree 7 in float32, 13 in float64: the
# first term left out is under half an ulp for |r| ≤ ln2/2), and 2ᵏ is built from its bits.
# Measured against NumPy's exp in long double over [−800, 800] (tests/minigrad/test_kernels.py):
# max relative error 7.4e-8 in float32 (0.62 ε), 1.4e-16 in float64 (0.62 ε), for results in the
# normal range; results under 2^−125.5 (float32, e^−87) or 2^−1021.5 (float64) are flushed to 0,
# where NumPy gives subnormals. −∞ gives 0, +∞ and overflow give +∞, NaN gives NaN.
# Speed, 8192×128 elements, one thread: float32 0.17 ms against NumPy's 0.37 ms, float64
# 0.54 ms against 0.76 ms (benchmarks/README.md). vsigmoid and vtanh, built on it, are within
# 1.2 and 1.6 ε in float32, 1.2 and 2.0 ε in float64.

_LN2 = Decimal("0.6931471805599453094172321214581765680755")


class _ExpConstants:
    """The constants of the exp for one float type: ``hi_bits`` is how many fractional bits
    ln2_hi keeps (k·ln2_hi exact for every k in range), ``degree`` that of the polynomial,
    [lo, hi] the inputs kept (outside, the result is 0 or +∞ anyway)."""

    def __init__(self, ftype, itype, hi_bits: int, degree: int, lo: float, hi: float):
        self.ftype, self.itype = ftype, itype
        ln2_hi = round(float(_LN2) * 2**hi_bits) / 2**hi_bits
        self.ln2_hi, self.ln2_lo = ftype(ln2_hi), ftype(float(_LN2 - Decimal(ln2_hi)))
        self.log2e = ftype(1 / math.log(2))
        # eʳ − 1 = r(1 + r(1/2! + r(1/3! + …))): the coefficients in Horner order
        self.taylor = tuple(ftype(1 / math.factorial(n)) for n in range(degree, 0, -1))
        self.lo, self.hi = ftype(lo), ftype(hi)
        mantissa = np.finfo(ftype).nmant
        self.shift = itype(mantissa)
        self.half_bias = itype(np.finfo(ftype).maxexp - 2)  # exponent bits of 2^(k−1) are k + this


# lo: k = round(lo/ln2) is the smallest k whose 2^(k−1) has exponent bits 0, i.e. is 0;
# hi: just above log(max float), so k − 1 stays a finite power of two and the product overflows.
_EXP = {32: _ExpConstants(np.float32, np.int32, 16, 7, -87.5, 88.8),
        64: _ExpConstants(np.float64, np.int64, 32, 13, -708.7, 709.9)}


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float whose IEEE-754 bit pattern is ``bits`` (int32 → float32, int64 → float64): an
    LLVM bitcast, which vectorises (math.ldexp is a libm call)."""
    wide = bits.bitwidth == 64
    result, ir_type = (numba.float64, ir.DoubleType()) if wide else (numba.float32, ir.FloatType())

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir_type)

    return result(bits), codegen


def _typed(python_impl, build):
    """Register ``build(constants)`` as the numba implementation of ``python_impl`` for each
    float type (constants of the argument's own type: a Python float would turn float32 work
    into float64). Compiled without reassociation, which would undo the split of ln2."""
    options = {"fastmath": {"contract"}, "error_model": "numpy"}
    overload(python_impl, jit_options=options)(lambda x: build(_EXP[x.bitwidth]))


def _exp_parts(x):
    """(q, h) with eˣ = (1 + q)·h·2: q = eʳ − 1 (kept apart from the 1, so eˣ − 1 keeps its
    digits near x = 0) and h = 2^(k−1) (half of 2ᵏ, so that k = 128 in float32 is no overflow)."""
    r = x - math.log(2) * round(x / math.log(2))
    return math.expm1(r), 2.0 ** (round(x / math.log(2)) - 1)


def _build_exp_parts(c):
    ln2_hi, ln2_lo, log2e, lo, hi, taylor = c.ln2_hi, c.ln2_lo, c.log2e, c.lo, c.hi, c.taylor
    itype, shift, half_bias, half = c.itype, c.shift, c.half_bias, c.ftype(0.5)

    def impl(x):
        x = lo if x < lo else x  # written so that NaN passes through
        x = hi if x > hi else x
        k = np.floor(x * log2e + half)
        r = (x - k * ln2_hi) - k * ln2_lo
        q = taylor[0]
        for coefficient in taylor[1:]:
            q = q * r + coefficient
        return q * r, _float_from_bits(itype((itype(k) + half_bias) << shift))

    return impl


_typed(_exp_parts, _build_exp_parts)


def vexp(x):
    """eˣ for numba kernels, vectorisable (accuracy above); Python's math.exp outside them."""
    return math.exp(x)


def _build_exp(c):
    one, two = c.ftype(1), c.ftype(2)

    def impl(x):
        q, h = _exp_parts(x)
        return (q + one) * h * two

    return impl


def vsigmoid(x):
    """σ(x) = 1/(1 + e⁻ˣ) for numba kernels (vectorisable; 0 at −∞, 1 at +∞)."""
    return 1 / (1 + math.exp(-x))


def _build_sigmoid(c):
    one = c.ftype(1)

    def impl(x):
        return one / (one + vexp(-x))

    return impl


def vtanh(x):
    """tanh x for numba kernels (vectorisable): with e = e^(−2|x|) − 1 ∈ (−1, 0],
    tanh|x| = −e/(e + 2), the sign put back; e comes from ``_exp_parts`` without subtracting
    1 from a number near 1, so small x keep their relative accuracy."""
    return math.tanh(x)


def _build_tanh(c):
    one, two = c.ftype(1), c.ftype(2)

    def impl(x):
        q, h = _exp_parts(-two * abs(x))
        e = q * h * two + (h * two - one)
        return math.copysign(-e / (e + two), x)

    return impl


_typed(vexp, _build_exp)
_typed(vsigmoid, _build_sigmoid)
_typed(vtanh, _build_tanh)


@_jit
def _map_exp(x, out):
    for i in prange(x.size):
        out[i] = vexp(x[i])


@_jit
def _map_sigmoid(x, out):
    for i in prange(x.size):
        out[i] = vsigmoid(x[i])


@_jit
def _map_tanh(x, out):
    for i in prange(x.size):
        out[i] = vtanh(x[i])


_ELEMENTWISE = {"exp": _map_exp, "sigmoid": _map_sigmoid, "tanh": _map_tanh}


def elementwise(name: str, x: np.ndarray) -> np.ndarray:
    """``vexp``, ``vsigmoid`` or ``vtanh`` (by name) over every element of ``x``: what the fused
    kernels compute inside their loops, as an array function for tests and benchmarks (CPU
    only: the CUDA kernels call CUDA's own exp and tanh)."""
    out = np.empty(x.shape, x.dtype)
    _ELEMENTWISE[name](_flat(x), out.reshape(-1))
    return out


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = math.sqrt(2.0 / math.pi)


# Kernels are compiled for C-contiguous arrays only (one machine-code version per dtype, so
# the first run compiles half as much); other layouts, such as a broadcast upstream gradient,
# are copied first.


def _rows(a: np.ndarray, n: int | None = None) -> np.ndarray:
    """``a`` as C-contiguous (rows, n) with n its last dimension by default."""
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1] if n is None else n)


def _flat(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1)


# -- softmax family (ops/softmax.py, ops/attention.py, ops/loss.py) ---------------------
#
# The forwards keep ``reduction.shifted_exp``'s rules: m = max of the row, 0 where that is not
# finite (an all −∞ row, or one with +∞); e = e^(x − m); Σ e. Row helpers shared by the three.


@njit(**_FLAGS)
def _row_shift(x, i):
    """m of row i: its largest entry, or 0 when that is ±∞ (a NaN in the row makes its sum,
    and so the whole row, NaN either way)."""
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        if x[i, j] > m:
            m = x[i, j]
    return m if np.isfinite(m) else x.dtype.type(0)


@njit(**_FLAGS)
def _row_exp(x, i, m, e):
    """e[i] = e^(x[i] − m), returning Σ_j e[i, j]."""
    total = x.dtype.type(0)
    for j in range(x.shape[1]):
        v = vexp(x[i, j] - m)
        e[i, j] = v
        total += v
    return total


@njit(**_FLAGS)
def _row_normalise(e, i, total):
    inv = e.dtype.type(1) / total
    for j in range(e.shape[1]):
        e[i, j] *= inv


@_jit
def _softmax(x, masked, y):
    for i in prange(x.shape[0]):
        total = _row_exp(x, i, _row_shift(x, i), y)
        if masked and total == 0:
            total = x.dtype.type(1)
        _row_normalise(y, i, total)


def softmax(x: np.ndarray, masked: bool) -> np.ndarray:
    """Softmax (MaskedSoftmax with ``masked``) forward over the last axis:
    m = max x (0 if not finite),  y = e^(x − m) / Σ_j e^(x_j − m);  a row that is all −∞ gives
    NaN, or 0 when ``masked``. One pass per row (three over the row while it is in cache)
    instead of six over the array. Backward: ``softmax_backward``."""
    y = np.empty(x.shape, x.dtype)
    _softmax(_rows(x), masked, _rows(y))
    return y


@_jit
def _log_softmax(x, out):
    for i in prange(x.shape[0]):
        m = _row_shift(x, i)
        total = x.dtype.type(0)
        for j in range(x.shape[1]):
            total += vexp(x[i, j] - m)
        log_total = math.log(total)
        for j in range(x.shape[1]):
            out[i, j] = (x[i, j] - m) - log_total


def log_softmax(x: np.ndarray) -> np.ndarray:
    """LogSoftmax forward over the last axis: y = (x − m) − log Σ_j e^(x_j − m), m = max x
    (0 if not finite). Backward: ``log_softmax_backward``."""
    out = np.empty(x.shape, x.dtype)
    _log_softmax(_rows(x), _rows(out))
    return out


@_jit
def _cross_entropy(x, target, kept, class_weight, smoothing, probs, loss):
    n_classes = x.shape[1]
    w_sum = class_weight.sum()
    for i in prange(x.shape[0]):
        m = _row_shift(x, i)
        total = _row_exp(x, i, m, probs)
        lse = math.log(total)  # −log softmax_c = lse − (x_c − m)
        t = target[i]
        row = (lse - (x[i, t] - m)) * (class_weight[t] * (1.0 - smoothing))
        if smoothing:
            weighted = x.dtype.type(0)
            for j in range(n_classes):
                weighted += class_weight[j] * (x[i, j] - m)
            row += (smoothing / n_classes) * (lse * w_sum - weighted)
        loss[i] = row * kept[i]
        _row_normalise(probs, i, total)


def _class_weight(class_weight, n_classes: int, dtype):
    """Cross-entropy's class weights, ones when there are none."""
    return _flat(class_weight) if class_weight is not None else np.ones(n_classes, dtype=dtype)


def cross_entropy(logits, target, kept, class_weight, smoothing):
    """SoftmaxCrossEntropy forward: with s_ic = x_ic − m_i and lse_i = log Σ_c e^(s_ic),
    loss_i = kept_i((1 − ε) w_{t_i}(lse_i − s_it) + (ε/C)(lse_i Σ_c w_c − Σ_c w_c s_ic)),
    and p_i = softmax(x_i), saved for the backward (``cross_entropy_backward``).
    Returns (p, loss)."""
    probs = np.empty(logits.shape, logits.dtype)
    loss = np.empty(logits.shape[0], logits.dtype)
    w = _class_weight(class_weight, logits.shape[1], logits.dtype)
    _cross_entropy(_rows(logits), _flat(target), _flat(kept), w, smoothing, probs, loss)
    return probs, loss


@_jit
def _softmax_backward(y, g, out):
    for i in prange(y.shape[0]):
        dot = 0.0
        for j in range(y.shape[1]):
            dot += g[i, j] * y[i, j]
        for j in range(y.shape[1]):
            out[i, j] = y[i, j] * (g[i, j] - dot)


def softmax_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Softmax (and masked softmax, attention's P) backward over the last axis:
    y = softmax(x);  ∂L/∂x = y ⊙ (g − Σ_j g_j y_j)  — one pass per row instead of four."""
    out = np.empty(y.shape, y.dtype)
    _softmax_backward(_rows(y), _rows(g), _rows(out))
    return out


@_jit
def _log_softmax_backward(out_, g, gx):
    for i in prange(g.shape[0]):
        total = 0.0
        for j in range(g.shape[1]):
            total += g[i, j]
        for j in range(g.shape[1]):
            gx[i, j] = g[i, j] - vexp(out_[i, j]) * total


def log_softmax_backward(out: np.ndarray, g: np.ndarray) -> np.ndarray:
    """LogSoftmax backward over the last axis: y = x − logsumexp(x);
    ∂L/∂x = g − e^y · Σ_j g_j  (e^y is softmax(x))."""
    gx = np.empty(g.shape, g.dtype)
    _log_softmax_backward(_rows(out), _rows(g), _rows(gx))
    return gx


@_jit
def _cross_entropy_backward(probs, target, kept, class_weight, smoothing, grad, gx):
    n_classes = probs.shape[1]
    w_sum = class_weight.sum()
    for i in prange(probs.shape[0]):
        w_t = class_weight[target[i]]
        mass = kept[i] * ((1.0 - smoothing) * w_t + smoothing / n_classes * w_sum)
        scale = grad[i]
        for j in range(n_classes):
            q = kept[i] * smoothing / n_classes * class_weight[j]
            gx[i, j] = (probs[i, j] * mass - q) * scale
        gx[i, target[i]] -= kept[i] * (1.0 - smoothing) * w_t * scale


def cross_entropy_backward(probs, target, kept, class_weight, smoothing, grad):
    """SoftmaxCrossEntropy backward: q_i = kept_i((1 − ε) w_{t_i} onehot(t_i) + (ε/C) w);
    ∂L/∂x_i = g_i ((Σ_c q_ic) softmax(x_i) − q_i), without forming the dense q."""
    gx = np.empty(probs.shape, probs.dtype)
    w = _class_weight(class_weight, probs.shape[1], probs.dtype)
    _cross_entropy_backward(_rows(probs), _flat(target), _flat(kept), w, smoothing, _flat(grad), gx)
    return gx


# -- layer norm (ops/normalization.py) --------------------------------------------------


@_jit
def _layer_norm_forward(x, weight, bias, eps, y, xhat, rstd):
    n = x.shape[1]
    for i in prange(x.shape[0]):
        mean = 0.0
        for j in range(n):
            mean += x[i, j]
        mean /= n
        var = 0.0
        for j in range(n):
            d = x[i, j] - mean
            var += d * d
        r = 1.0 / math.sqrt(var / n + eps)
        rstd[i] = r
        for j in range(n):
            h = (x[i, j] - mean) * r
            xhat[i, j] = h
            y[i, j] = h * weight[j] + bias[j]


def layer_norm_forward(x, weight, bias, n_features: int, eps: float):
    """LayerNorm forward over the last ``n_features`` elements of each row:
    μ = mean x,  r = 1/√(mean (x − μ)² + eps),  x̂ = (x − μ)·r,  y = x̂ ⊙ w + b.
    Returns y, x̂ and r (shaped (rows, 1)), what backward needs."""
    x2 = _rows(x, n_features)
    w = _flat(weight) if weight is not None else np.ones(n_features, dtype=x.dtype)
    b = _flat(bias) if bias is not None else np.zeros(n_features, dtype=x.dtype)
    y, xhat = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
    rstd = np.empty(x2.shape[0], dtype=x.dtype)
    _layer_norm_forward(x2, w, b, x.dtype.type(eps), y.reshape(x2.shape), xhat.reshape(x2.shape), rstd)
    return y, xhat, rstd.reshape(-1, 1)


@_jit
def _layer_norm_backward(g, xhat, rstd, weight, gx):
    n = g.shape[1]
    for i in prange(g.shape[0]):
        mean_g = 0.0
        mean_gx = 0.0
        for j in range(n):
            gh = g[i, j] * weight[j]
            mean_g += gh
            mean_gx += gh * xhat[i, j]
        mean_g /= n
        mean_gx /= n
        for j in range(n):
            gx[i, j] = rstd[i] * (g[i, j] * weight[j] - mean_g - xhat[i, j] * mean_gx)


def layer_norm_backward(g, xhat, rstd, weight, n_features: int):
    """LayerNorm backward for x: ĝ = g ⊙ w;  ∂L/∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ ⊙ x̂)),
    one pass per row (the weight and bias gradients are column sums, left to NumPy)."""
    g2 = _rows(g, n_features)
    w = _flat(weight) if weight is not None else np.ones(n_features, dtype=g.dtype)
    gx = np.empty(g.shape, g.dtype)
    _layer_norm_backward(g2, _rows(xhat, n_features), _flat(rstd), w, gx.reshape(g2.shape))
    return gx


# -- activations and their backwards (ops/elementwise.py) -------------------------------


def _pointwise(kernel, a, b):
    """A new array of a's shape filled by ``kernel(a, b, out)`` over the flattened arrays."""
    out = np.empty(a.shape, a.dtype)
    kernel(_flat(a), _flat(b), out.reshape(-1))
    return out


@_jit
def _tanh_grad(g, y, out):
    for i in prange(g.size):
        out[i] = g[i] * (1.0 - y[i] * y[i])


def tanh_grad(g, y):
    """TanhGrad (tanh's backward): z = g·(1 − y²) with y = tanh x."""
    return _pointwise(_tanh_grad, g, y)


@_jit
def _sigmoid_grad(g, y, out):
    for i in prange(g.size):
        out[i] = g[i] * y[i] * (1.0 - y[i])


def sigmoid_grad(g, y):
    """SigmoidGrad (sigmoid's backward): z = g·y(1 − y) with y = sigmoid x."""
    return _pointwise(_sigmoid_grad, g, y)


@_jit
def _relu_grad(g, x, out):
    for i in prange(g.size):
        out[i] = g[i] if x[i] > 0 else 0.0


def relu_grad(g, x):
    """Relu backward: ∂L/∂x = g where x > 0, else 0."""
    return _pointwise(_relu_grad, g, x)


@_jit
def _gelu(x, tanh_form, out):
    for i in prange(x.size):
        v = x[i]
        if tanh_form:
            out[i] = 0.5 * v * (1.0 + vtanh(_GELU_TANH_C * (v + 0.044715 * v * v * v)))
        else:
            out[i] = 0.5 * v * (1.0 + math.erf(v * _SQRT_HALF))


def gelu(x, approximate: str):
    """Gelu forward: y = x·Φ(x) = ½x(1 + erf(x/√2)), or with ``approximate="tanh"``
    ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    out = np.empty(x.shape, x.dtype)
    _gelu(_flat(x), approximate == "tanh", out.reshape(-1))
    return out


@_jit
def _gelu_backward(g, x, tanh_form, out):
    for i in prange(x.size):
        v = x[i]
        if tanh_form:
            inner = vtanh(_GELU_TANH_C * (v + 0.044715 * v * v * v))
            d_inner = _GELU_TANH_C * (1.0 + 3.0 * 0.044715 * v * v)
            out[i] = g[i] * (0.5 * (1.0 + inner) + 0.5 * v * (1.0 - inner * inner) * d_inner)
        else:
            cdf = 0.5 * (1.0 + math.erf(v * _SQRT_HALF))
            out[i] = g[i] * (cdf + v * _INV_SQRT_2PI * vexp(-0.5 * v * v))


def gelu_backward(g, x, approximate: str):
    """Gelu backward: ∂L/∂x = g·(Φ(x) + x·φ(x)), or for the tanh form with t = tanh(u),
    u = √(2/π)(x + 0.044715x³): g·(½(1 + t) + ½x(1 − t²)·u′)."""
    out = np.empty(g.shape, g.dtype)
    _gelu_backward(_flat(g), _flat(x), approximate == "tanh", out.reshape(-1))
    return out


# -- recurrent cells' steps (ops/recurrence.py) -------------------------------------------


@_jit
def _gru_step(gi, gh, h, h_new, r, z, n):
    hidden = h.shape[1]
    for i in prange(h.shape[0]):
        for j in range(hidden):
            rj = vsigmoid(gi[i, j] + gh[i, j])
            zj = vsigmoid(gi[i, hidden + j] + gh[i, hidden + j])
            nj = vtanh(gi[i, 2 * hidden + j] + rj * gh[i, 2 * hidden + j])
            r[i, j], z[i, j], n[i, j] = rj, zj, nj
            h_new[i, j] = nj + zj * (h[i, j] - nj)


def gru_step(gi, gh, h):
    """GRUStep.step on arrays: r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r ⊙ gh_n),
    h' = n + z ⊙ (h − n); returns h', r, z, n (what backward keeps, with gh_n). One pass instead
    of about ten. Backward: ``gru_backward_step``."""
    h_new, r, z, n = (np.empty(h.shape, h.dtype) for _ in range(4))
    _gru_step(_rows(gi), _rows(gh), _rows(h), h_new, r, z, n)
    return h_new, r, z, n


@_jit
def _lstm_step(gi, gh, c, h_new, c_new, i_, f, g, o, tanh_c):
    hidden = c.shape[1]
    for i in prange(c.shape[0]):
        for j in range(hidden):
            ij = vsigmoid(gi[i, j] + gh[i, j])
            fj = vsigmoid(gi[i, hidden + j] + gh[i, hidden + j])
            gj = vtanh(gi[i, 2 * hidden + j] + gh[i, 2 * hidden + j])
            oj = vsigmoid(gi[i, 3 * hidden + j] + gh[i, 3 * hidden + j])
            cj = fj * c[i, j] + ij * gj
            tj = vtanh(cj)
            i_[i, j], f[i, j], g[i, j], o[i, j] = ij, fj, gj, oj
            c_new[i, j], tanh_c[i, j] = cj, tj
            h_new[i, j] = oj * tj


def lstm_step(gi, gh, c):
    """LSTMStep.step on arrays: with a = gi + gh, i, f, o = σ(a_i), σ(a_f), σ(a_o), g = tanh(a_g);
    c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh c'; returns h', c', i, f, g, o, tanh c' (what backward
    keeps). One pass instead of about eleven. Backward: ``lstm_backward_step``."""
    out = tuple(np.empty(c.shape, c.dtype) for _ in range(7))
    _lstm_step(_rows(gi), _rows(gh), _rows(c), *out)
    return out




@_jit
def _gru_backward_step(dh, h, r, z, n, gh_n, d_gi, d_gh, dh_direct):
    hidden = dh.shape[1]
    for i in prange(dh.shape[0]):
        for j in range(hidden):
            d = dh[i, j]
            da_n = d * (1.0 - z[i, j]) * (1.0 - n[i, j] * n[i, j])
            da_z = d * (h[i, j] - n[i, j]) * z[i, j] * (1.0 - z[i, j])
            da_r = da_n * gh_n[i, j] * r[i, j] * (1.0 - r[i, j])
            d_gi[i, j] = da_r
            d_gi[i, hidden + j] = da_z
            d_gi[i, 2 * hidden + j] = da_n
            d_gh[i, j] = da_r
            d_gh[i, hidden + j] = da_z
            d_gh[i, 2 * hidden + j] = da_n * r[i, j]
            dh_direct[i, j] = d * z[i, j]


def gru_backward_step(dh, h, r, z, n, gh_n, d_gi, d_gh):
    """GRUStep.backward_step: ∂a_n = ∂h'(1 − z)(1 − n²), ∂a_z = ∂h'(h − n) z(1 − z),
    ∂a_r = ∂a_n gh_n r(1 − r) written into ∂gi = [∂a_r, ∂a_z, ∂a_n] and ∂gh = [∂a_r, ∂a_z,
    ∂a_n ⊙ r]; returns the direct part of ∂h, ∂h' ⊙ z. One pass instead of about ten."""
    dh_direct = np.empty(dh.shape, dh.dtype)
    _gru_backward_step(dh, h, r, z, n, gh_n, d_gi, d_gh, dh_direct)
    return dh_direct


@_jit
def _lstm_backward_step(dh, dc, c, i_, f, g, o, tanh_c, d_gates, dc_prev):
    hidden = dh.shape[1]
    for i in prange(dh.shape[0]):
        for j in range(hidden):
            dcj = dc[i, j] + dh[i, j] * o[i, j] * (1.0 - tanh_c[i, j] * tanh_c[i, j])
            d_gates[i, j] = dcj * g[i, j] * i_[i, j] * (1.0 - i_[i, j])
            d_gates[i, hidden + j] = dcj * c[i, j] * f[i, j] * (1.0 - f[i, j])
            d_gates[i, 2 * hidden + j] = dcj * i_[i, j] * (1.0 - g[i, j] * g[i, j])
            d_gates[i, 3 * hidden + j] = dh[i, j] * tanh_c[i, j] * o[i, j] * (1.0 - o[i, j])
            dc_prev[i, j] = dcj * f[i, j]


def lstm_backward_step(dh, dc, c, i, f, g, o, tanh_c, d_gates):
    """LSTMStep.backward_step: ∂c' = ∂c + ∂h' o (1 − tanh² c'); ∂a_i = ∂c' g i(1 − i),
    ∂a_f = ∂c' c f(1 − f), ∂a_g = ∂c' i (1 − g²), ∂a_o = ∂h' tanh c' o(1 − o) written into
    ∂gates = [∂a_i, ∂a_f, ∂a_g, ∂a_o]; returns ∂c = ∂c' ⊙ f. One pass instead of about twelve."""
    dc_prev = np.empty(dh.shape, dh.dtype)
    _lstm_backward_step(dh, dc, c, i, f, g, o, tanh_c, d_gates, dc_prev)
    return dc_prev


# -- dropout (ops/dropout.py) -------------------------------------------------------------


@_jit
def _dropout_multiplier(u, p, scale, out):
    for i in prange(u.size):
        out[i] = scale if u[i] >= p else 0.0


def dropout_multiplier(u, p: float, dtype):
    """Inverted dropout's multiplier from uniform draws u: d = 1/(1 − p) where u ≥ p, else 0
    (one pass instead of compare, cast and scale)."""
    out = np.empty(u.shape, dtype=dtype)
    _dropout_multiplier(_flat(u), p, dtype.type(1.0 / (1.0 - p)), out.reshape(-1))
    return out


# -- the Adam/AdamW update (optim/adam.py) ---------------------------------------------


@_jit
def _adam_update(p, g, m, v, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor,
                 decoupled, step_size, bc2_sqrt):
    for i in prange(p.size):
        gi = g[i]
        if decoupled:
            p[i] *= decay_factor
        else:
            gi += weight_decay * p[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2_sqrt):
    """One Adam/AdamW step for one parameter, in place, one pass over p, g, m, v:
    (AdamW: p ← p(1 − lr·λ); Adam: g ← g + λp)  m ← m + (1 − β1)(g − m),  v ← β2 v + (1 − β2)g²,
    p ← p − step_size · m / (√v / √(1 − β2ᵗ) + eps)  with step_size = lr/(1 − β1ᵗ).
    The constants are formed in double precision and then rounded, as the plain update does."""
    t = p.dtype.type
    _adam_update(p.reshape(-1), _flat(g), m.reshape(-1), v.reshape(-1), t(1.0 - beta1), t(beta2),
                 t(1.0 - beta2), t(eps), t(weight_decay), t(1.0 - lr * weight_decay), decoupled, t(step_size),
                 t(bc2_sqrt))
