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

import numpy as np

# numba's OpenMP workers spin after each parallel loop by default and take the cores from
# OpenBLAS's threads in the matrix products that follow (the demo ran 1.8x slower with the
# kernels than without on 2 cores); passive workers sleep instead. Read when the OpenMP
# runtime starts, so it must be set before numba's first parallel loop; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402

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
_FLAGS = dict(cache=True, fastmath={"reassoc", "contract"})

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
            gx[i, j] = g[i, j] - math.exp(out_[i, j]) * total


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
    w = class_weight if class_weight is not None else np.ones(probs.shape[1], dtype=probs.dtype)
    _cross_entropy_backward(_rows(probs), _flat(target), _flat(kept), _flat(w), smoothing, _flat(grad), gx)
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
            out[i] = 0.5 * v * (1.0 + math.tanh(_GELU_TANH_C * (v + 0.044715 * v * v * v)))
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
            inner = math.tanh(_GELU_TANH_C * (v + 0.044715 * v * v * v))
            d_inner = _GELU_TANH_C * (1.0 + 3.0 * 0.044715 * v * v)
            out[i] = g[i] * (0.5 * (1.0 + inner) + 0.5 * v * (1.0 - inner * inner) * d_inner)
        else:
            cdf = 0.5 * (1.0 + math.erf(v * _SQRT_HALF))
            out[i] = g[i] * (cdf + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v))


def gelu_backward(g, x, approximate: str):
    """Gelu backward: ∂L/∂x = g·(Φ(x) + x·φ(x)), or for the tanh form with t = tanh(u),
    u = √(2/π)(x + 0.044715x³): g·(½(1 + t) + ½x(1 − t²)·u′)."""
    out = np.empty(g.shape, g.dtype)
    _gelu_backward(_flat(g), _flat(x), approximate == "tanh", out.reshape(-1))
    return out


# -- recurrent cells' backward steps (ops/recurrence.py) ---------------------------------


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
