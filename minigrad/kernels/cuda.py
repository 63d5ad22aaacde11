"""Fused GPU kernels on CuPy (``ElementwiseKernel`` / ``ReductionKernel``): the same functions,
arguments and formulas as ``kernels.cpu``, each one or two kernel launches where the plain
CuPy ops launch one per small op. Nothing here synchronises with the host.

Each kernel is compiled by CuPy on first use and kept in its on-disk cache
(``~/.cupy/kernel_cache``).
"""

from __future__ import annotations

import math

import cupy as cp

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = math.sqrt(2.0 / math.pi)

# Σ_j a_j b_j over the reduced axis (for a row's g·y and its layer-norm sums).
# (In a ReductionKernel, a and b name the two partial results being combined.)
_dot = cp.ReductionKernel("T u, T v", "T s", "u * v", "a + b", "s = a", "0", "minigrad_dot")


# -- softmax family ------------------------------------------------------------------------
#
# The forwards keep ``reduction.shifted_exp``'s rules: m = the row's max, 0 where that is not
# finite; e = e^(x − m). Three launches (max, Σ e, the elementwise result) where the plain
# ops make seven; e is recomputed in the last instead of being stored in between.

_finite_or_zero = cp.ElementwiseKernel("T m", "T s", "s = isfinite(m) ? m : (T)0", "minigrad_finite_or_zero")
_sum_exp = cp.ReductionKernel("T x, T m", "T total", "exp(x - m)", "a + b", "total = a", "0",
                              "minigrad_sum_exp")


def _row_shift(x):
    """(m, Σ_j e^(x_j − m)) of every row (last axis), both shaped (…, 1)."""
    m = _finite_or_zero(x.max(axis=-1, keepdims=True))
    return m, _sum_exp(x, m, axis=-1, keepdims=True)


_softmax = cp.ElementwiseKernel(
    "T x, T m, T total, bool masked", "T y",
    "y = exp(x - m) / (masked && total == 0 ? (T)1 : total)", "minigrad_softmax",
)


def softmax(x, masked: bool):
    """y = e^(x − m) / Σ_j e^(x_j − m) over the last axis, m = max x (0 if not finite); an all −∞
    row gives NaN, or 0 when ``masked``."""
    m, total = _row_shift(x)
    return _softmax(x, m, total, bool(masked))


_log_softmax = cp.ElementwiseKernel(
    "T x, T m, T total", "T y", "y = (x - m) - log(total)", "minigrad_log_softmax"
)


def log_softmax(x):
    """y = (x − m) − log Σ_j e^(x_j − m) over the last axis, m = max x (0 if not finite)."""
    m, total = _row_shift(x)
    return _log_softmax(x, m, total)


_cross_entropy_loss = cp.ElementwiseKernel(
    "T total, T m, T kept, raw T x, raw int64 target, raw T w, raw T w_sum, T weighted, T eps, "
    "int64 n_classes",
    "T loss",
    """
    const long long t = target[i];
    const T lse = log(total);
    T row = (lse - (x[i * n_classes + t] - m)) * (w[t] * (1 - eps));
    if (eps != 0) row += eps / n_classes * (lse * w_sum[0] - weighted);
    loss = row * kept;
    """,
    "minigrad_cross_entropy_loss",
)
_weighted_shifted = cp.ReductionKernel(
    "T x, T m, T w", "T s", "w * (x - m)", "a + b", "s = a", "0", "minigrad_weighted_shifted"
)


def cross_entropy(logits, target, kept, class_weight, smoothing):
    """With s_ic = x_ic − m_i, lse_i = log Σ_c e^(s_ic):  loss_i = kept_i((1 − ε) w_{t_i}(lse_i − s_it)
    + (ε/C)(lse_i Σ_c w_c − Σ_c w_c s_ic));  returns (softmax(x), loss)."""
    n_classes = logits.shape[1]
    x = cp.ascontiguousarray(logits)
    w = _class_weight(class_weight, n_classes, x.dtype)
    m, total = _row_shift(x)
    probs = _softmax(x, m, total, False)
    weighted = _weighted_shifted(x, m, w, axis=1) if smoothing else cp.zeros(len(x), x.dtype)
    loss = _cross_entropy_loss(total[:, 0], m[:, 0], kept, x, target.astype(cp.int64, copy=False), w,
                               w.sum().reshape(1), weighted, x.dtype.type(smoothing), n_classes)
    return probs, loss


def _class_weight(class_weight, n_classes: int, dtype):
    """Cross-entropy's class weights, ones when there are none."""
    return class_weight.reshape(-1) if class_weight is not None else cp.ones(n_classes, dtype=dtype)


_softmax_backward = cp.ElementwiseKernel(
    "T y, T g, T dot", "T out", "out = y * (g - dot)", "minigrad_softmax_backward"
)


def softmax_backward(y, g):
    """y = softmax(x) over the last axis;  ∂L/∂x = y ⊙ (g − Σ_j g_j y_j)."""
    return _softmax_backward(y, g, _dot(g, y, axis=-1, keepdims=True))


_log_softmax_backward = cp.ElementwiseKernel(
    "T o, T g, T total", "T out", "out = g - exp(o) * total", "minigrad_log_softmax_backward"
)


def log_softmax_backward(out, g):
    """y = x − logsumexp(x) over the last axis;  ∂L/∂x = g − e^y · Σ_j g_j."""
    return _log_softmax_backward(out, g, g.sum(axis=-1, keepdims=True))


_cross_entropy_backward = cp.ElementwiseKernel(
    "T p, raw int64 target, raw T kept, raw T w, raw T w_sum, T eps, raw T grad, int64 n_classes",
    "T out",
    """
    const long long row = i / n_classes, col = i % n_classes;
    const long long t = target[row];
    const T mass = kept[row] * ((1 - eps) * w[t] + eps / n_classes * w_sum[0]);
    T q = kept[row] * eps / n_classes * w[col];
    if (col == t) q += kept[row] * (1 - eps) * w[t];
    out = (p * mass - q) * grad[row];
    """,
    "minigrad_cross_entropy_backward",
)


def cross_entropy_backward(probs, target, kept, class_weight, smoothing, grad):
    """q_i = kept_i((1 − ε) w_{t_i} onehot(t_i) + (ε/C) w);  ∂L/∂x_i = g_i((Σ_c q_ic) softmax(x_i) − q_i)."""
    n_classes = probs.shape[1]
    w = _class_weight(class_weight, n_classes, probs.dtype)
    w_sum = w.sum().reshape(1)  # stays on the device: reading it would wait for the GPU
    return _cross_entropy_backward(probs, target.astype(cp.int64, copy=False), kept, w, w_sum,
                                   probs.dtype.type(smoothing), grad, n_classes)


# -- layer norm ----------------------------------------------------------------------------

_layer_norm_forward = cp.ElementwiseKernel(
    "T x, T mean, T r, T w, T b", "T y, T xhat",
    "xhat = (x - mean) * r; y = xhat * w + b", "minigrad_layer_norm_forward",
)


def layer_norm_forward(x, weight, bias, n_features: int, eps: float):
    """μ = mean x,  r = 1/√(mean (x − μ)² + eps),  x̂ = (x − μ)·r,  y = x̂ ⊙ w + b (per row)."""
    x2 = x.reshape(-1, n_features)
    mean = x2.mean(axis=1, keepdims=True)
    rstd = 1 / cp.sqrt(x2.var(axis=1, keepdims=True) + eps)
    w = weight.reshape(-1) if weight is not None else cp.ones(n_features, dtype=x.dtype)
    b = bias.reshape(-1) if bias is not None else cp.zeros(n_features, dtype=x.dtype)
    y, xhat = _layer_norm_forward(x2, mean, rstd, w, b)
    return y.reshape(x.shape), xhat.reshape(x.shape), rstd


_layer_norm_backward = cp.ElementwiseKernel(
    "T g, T w, T xhat, T r, T mean_g, T mean_gx", "T gx",
    "gx = r * (g * w - mean_g - xhat * mean_gx)", "minigrad_layer_norm_backward",
)


def layer_norm_backward(g, xhat, rstd, weight, n_features: int):
    """ĝ = g ⊙ w;  ∂L/∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ ⊙ x̂)) per row."""
    g2, xh2 = g.reshape(-1, n_features), xhat.reshape(-1, n_features)
    w = weight.reshape(-1) if weight is not None else cp.ones(n_features, dtype=g.dtype)
    gh = g2 * w
    mean_g = gh.mean(axis=1, keepdims=True)
    mean_gx = _dot(gh, xh2, axis=1, keepdims=True) / n_features
    return _layer_norm_backward(g2, w, xh2, rstd.reshape(-1, 1), mean_g, mean_gx).reshape(g.shape)


# -- activations and their backwards ------------------------------------------------------

_tanh_grad = cp.ElementwiseKernel("T g, T y", "T z", "z = g * (1 - y * y)", "minigrad_tanh_grad")
_sigmoid_grad = cp.ElementwiseKernel("T g, T y", "T z", "z = g * y * (1 - y)", "minigrad_sigmoid_grad")
_relu_grad = cp.ElementwiseKernel("T g, T x", "T z", "z = x > 0 ? g : (T)0", "minigrad_relu_grad")


def tanh_grad(g, y):
    """z = g·(1 − y²) with y = tanh x."""
    return _tanh_grad(g, y)


def sigmoid_grad(g, y):
    """z = g·y(1 − y) with y = sigmoid x."""
    return _sigmoid_grad(g, y)


def relu_grad(g, x):
    """∂L/∂x = g where x > 0, else 0."""
    return _relu_grad(g, x)


_gelu = cp.ElementwiseKernel(
    "T x, bool tanh_form", "T y",
    f"""
    if (tanh_form) y = 0.5 * x * (1 + tanh({_GELU_TANH_C!r} * (x + 0.044715 * x * x * x)));
    else y = 0.5 * x * (1 + erf(x * {_SQRT_HALF!r}));
    """,
    "minigrad_gelu",
)

_gelu_backward = cp.ElementwiseKernel(
    "T g, T x, bool tanh_form", "T gx",
    f"""
    if (tanh_form) {{
        const T inner = tanh({_GELU_TANH_C!r} * (x + 0.044715 * x * x * x));
        const T d_inner = {_GELU_TANH_C!r} * (1 + 3 * 0.044715 * x * x);
        gx = g * (0.5 * (1 + inner) + 0.5 * x * (1 - inner * inner) * d_inner);
    }} else {{
        gx = g * (0.5 * (1 + erf(x * {_SQRT_HALF!r})) + x * {_INV_SQRT_2PI!r} * exp(-0.5 * x * x));
    }}
    """,
    "minigrad_gelu_backward",
)


def gelu(x, approximate: str):
    """y = ½x(1 + erf(x/√2)), or ½x(1 + tanh(√(2/π)(x + 0.044715x³))) for the tanh form."""
    return _gelu(x, approximate == "tanh")


def gelu_backward(g, x, approximate: str):
    """∂L/∂x = g·(Φ(x) + x·φ(x)), or the tanh form's exact derivative."""
    return _gelu_backward(g, x, approximate == "tanh")


# -- recurrent cells' steps ----------------------------------------------------------------

_gru_step = cp.ElementwiseKernel(
    "raw T gi, raw T gh, T h, int64 hidden", "T h_new, T r, T z, T n",
    """
    const long long at = (i / hidden) * 3 * hidden + i % hidden;
    r = 1 / (1 + exp(-(gi[at] + gh[at])));
    z = 1 / (1 + exp(-(gi[at + hidden] + gh[at + hidden])));
    n = tanh(gi[at + 2 * hidden] + r * gh[at + 2 * hidden]);
    h_new = n + z * (h - n);
    """,
    "minigrad_gru_step",
)


def gru_step(gi, gh, h):
    """GRU step (formulas as ``kernels.cpu.gru_step``): returns h', r, z, n; one launch."""
    h_new, r, z, n = (cp.empty(h.shape, h.dtype) for _ in range(4))
    _gru_step(cp.ascontiguousarray(gi), cp.ascontiguousarray(gh), h, h.shape[-1], h_new, r, z, n)
    return h_new, r, z, n


_lstm_step = cp.ElementwiseKernel(
    "raw T gi, raw T gh, T c, int64 hidden", "T h_new, T c_new, T ig, T f, T g, T o, T tanh_c",
    """
    const long long at = (i / hidden) * 4 * hidden + i % hidden;
    ig = 1 / (1 + exp(-(gi[at] + gh[at])));
    f = 1 / (1 + exp(-(gi[at + hidden] + gh[at + hidden])));
    g = tanh(gi[at + 2 * hidden] + gh[at + 2 * hidden]);
    o = 1 / (1 + exp(-(gi[at + 3 * hidden] + gh[at + 3 * hidden])));
    c_new = f * c + ig * g;
    tanh_c = tanh(c_new);
    h_new = o * tanh_c;
    """,
    "minigrad_lstm_step",
)


def lstm_step(gi, gh, c):
    """LSTM step (formulas as ``kernels.cpu.lstm_step``): returns h', c', i, f, g, o, tanh c'; one launch."""
    out = tuple(cp.empty(c.shape, c.dtype) for _ in range(7))
    _lstm_step(cp.ascontiguousarray(gi), cp.ascontiguousarray(gh), c, c.shape[-1], *out)
    return out


# -- recurrent cells' backward steps --------------------------------------------------------

_gru_backward_step = cp.ElementwiseKernel(
    "T dh, T h, T r, T z, T n, T gh_n, int64 hidden", "T dh_direct, raw T d_gi, raw T d_gh",
    """
    const long long row = i / hidden, j = i % hidden, at = row * 3 * hidden + j;
    const T da_n = dh * (1 - z) * (1 - n * n);
    const T da_z = dh * (h - n) * z * (1 - z);
    const T da_r = da_n * gh_n * r * (1 - r);
    d_gi[at] = da_r; d_gi[at + hidden] = da_z; d_gi[at + 2 * hidden] = da_n;
    d_gh[at] = da_r; d_gh[at + hidden] = da_z; d_gh[at + 2 * hidden] = da_n * r;
    dh_direct = dh * z;
    """,
    "minigrad_gru_backward_step",
)


def gru_backward_step(dh, h, r, z, n, gh_n, d_gi, d_gh):
    """GRU backward step (formulas as ``kernels.cpu.gru_backward_step``); d_gi and d_gh are
    row blocks of C-contiguous buffers, written in place."""
    out = cp.empty(dh.shape, dh.dtype)
    _gru_backward_step(dh, h, r, z, n, gh_n, dh.shape[-1], out, d_gi, d_gh)
    return out


_lstm_backward_step = cp.ElementwiseKernel(
    "T dh, T dc, T c, T ig, T f, T g, T o, T tanh_c, int64 hidden", "T dc_prev, raw T d_gates",
    """
    const long long row = i / hidden, j = i % hidden, at = row * 4 * hidden + j;
    const T dcj = dc + dh * o * (1 - tanh_c * tanh_c);
    d_gates[at] = dcj * g * ig * (1 - ig);
    d_gates[at + hidden] = dcj * c * f * (1 - f);
    d_gates[at + 2 * hidden] = dcj * ig * (1 - g * g);
    d_gates[at + 3 * hidden] = dh * tanh_c * o * (1 - o);
    dc_prev = dcj * f;
    """,
    "minigrad_lstm_backward_step",
)


def lstm_backward_step(dh, dc, c, i, f, g, o, tanh_c, d_gates):
    """LSTM backward step (formulas as ``kernels.cpu.lstm_backward_step``), in place into d_gates."""
    out = cp.empty(dh.shape, dh.dtype)
    _lstm_backward_step(dh, dc, c, i, f, g, o, tanh_c, dh.shape[-1], out, d_gates)
    return out


# -- dropout and the Adam update -------------------------------------------------------------

_dropout_multiplier = cp.ElementwiseKernel(
    "float64 u, float64 p, T scale", "T d", "d = u >= p ? scale : (T)0", "minigrad_dropout_multiplier"
)


def dropout_multiplier(u, p: float, dtype):
    """d = 1/(1 − p) where the uniform draw u ≥ p, else 0."""
    out = cp.empty(u.shape, dtype=dtype)
    return _dropout_multiplier(u, p, dtype.type(1.0 / (1.0 - p)), out)


_adam_update = cp.ElementwiseKernel(
    "T g, T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T weight_decay, T decay_factor, "
    "bool decoupled, T step_size, T bc2_sqrt",
    "T p, T m, T v",
    """
    T gi = g;
    if (decoupled) p *= decay_factor;
    else gi += weight_decay * p;
    m += one_minus_beta1 * (gi - m);
    v = beta2 * v + one_minus_beta2 * gi * gi;
    p -= step_size * (m / (sqrt(v) / bc2_sqrt + eps));
    """,
    "minigrad_adam_update",
)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2_sqrt):
    """One Adam/AdamW step in place (formulas as ``kernels.cpu.adam_update``), one launch."""
    t = p.dtype.type
    _adam_update(g, t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(eps), t(weight_decay),
                 t(1.0 - lr * weight_decay), bool(decoupled), t(step_size), t(bc2_sqrt), p, m, v)
