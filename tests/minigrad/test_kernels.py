"""Fused kernels (minigrad.kernels) against the plain ops they fuse: the same values and
gradients in float32 and float64, on every device with an engine (numba on cpu, CuPy on
cuda), and the switches that choose the path. Gradcheck on the fused path is in the op
table (test_op_table.py, rows ending in -fused)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels, optim


def _engine_or_skip(device: str) -> None:
    if not kernels.installed("cpu" if device == "cpu" else "cuda"):
        pytest.skip("no fused kernels here: pip install -e '.[fast]' (numba)")


def _run(fn, shapes, device, dtype, fused, seed=0):
    """fn's output and its inputs' gradients for a random upstream gradient, on one path."""
    rng = np.random.default_rng(seed)
    xs = [mg.tensor(rng.standard_normal(s).astype(dtype), device=device, requires_grad=True) for s in shapes]
    with kernels.settings(enabled=fused, min_size=0):
        out = fn(*xs)
        out.backward(mg.tensor(rng.standard_normal(out.shape).astype(dtype), device=device))
    return [out.numpy()] + [x.grad.numpy() for x in xs]


_WEIGHT = np.array([1.0, 2.0, 0.5, 1.5, 1.0])


def _recurrent(layer, x):
    """A two-layer bidirectional layer of x's dtype and device (the same weights on each path)."""
    mg.manual_seed(0)
    rnn = layer(12, 40, num_layers=2, bidirectional=True, batch_first=True).to(x.device)
    rnn = rnn.double() if x.dtype == mg.float64 else rnn
    return rnn(x)[0]

CASES = {
    "softmax": (lambda x: F.softmax(x), [(64, 130)]),
    "log_softmax": (lambda x: F.log_softmax(x), [(64, 130)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, np.arange(64) % 5, reduction="none"), [(64, 5)]),
    "cross_entropy_options": (
        lambda x: F.cross_entropy(x, np.arange(64) % 5, ignore_index=3, label_smoothing=0.1, weight=_WEIGHT),
        [(64, 5)],
    ),
    "layer_norm_affine": (lambda x, w, b: F.layer_norm(x, (4, 33), w, b), [(8, 4, 33), (4, 33), (4, 33)]),
    "layer_norm": (lambda x: F.layer_norm(x, 96), [(3, 40, 96)]),
    "gelu": (lambda x: F.gelu(x), [(50, 101)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [(50, 101)]),
    "tanh": (lambda x: x.tanh(), [(50, 101)]),
    "sigmoid": (lambda x: x.sigmoid(), [(50, 101)]),
    "relu": (lambda x: x.relu(), [(50, 101)]),
    "gru": (lambda x: _recurrent(mg.nn.GRU, x), [(2, 50, 12)]),
    "lstm": (lambda x: _recurrent(mg.nn.LSTM, x), [(2, 50, 12)]),
    "attention": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=True), [(2, 3, 40, 8), (2, 3, 40, 8),
                                                                              (2, 3, 40, 8)],
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_fused_path_gives_the_plain_values_and_gradients(device, name, dtype):
    _engine_or_skip(device)
    fn, shapes = CASES[name]
    plain = _run(fn, shapes, device, dtype, fused=False)
    fused = _run(fn, shapes, device, dtype, fused=True)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for a, b in zip(plain, fused):
        assert b.dtype == a.dtype
        np.testing.assert_allclose(b, a, **tol)


@pytest.mark.parametrize("case, kernel", [
    ("softmax", "softmax"), ("softmax", "softmax_backward"), ("log_softmax", "log_softmax"),
    ("cross_entropy_options", "cross_entropy"), ("attention", "softmax"), ("gru", "gru_step"),
    ("lstm", "lstm_step"),
])
def test_the_fused_path_runs_its_kernels(monkeypatch, case, kernel):
    """Guards the comparison above against comparing the plain path with itself."""
    _engine_or_skip("cpu")
    engine = kernels._engine("cpu")
    called = []
    real = getattr(engine, kernel)
    monkeypatch.setattr(engine, kernel, lambda *a: called.append(1) or real(*a))
    _run(CASES[case][0], CASES[case][1], "cpu", np.float32, fused=True)
    assert called
    called.clear()
    _run(CASES[case][0], CASES[case][1], "cpu", np.float32, fused=False)
    assert not called


def _special_rows(dtype):
    """Rows of logits that test the stable log-sum-exp's rules: an all −∞ row, one with +∞,
    one with NaN, one with some −∞ (masked entries), huge and ordinary ones."""
    rows = np.random.default_rng(4).standard_normal((8, 70)).astype(dtype)
    rows[0] = -np.inf
    rows[1, 3] = np.inf
    rows[2, 5] = np.nan
    rows[3, ::2] = -np.inf
    rows[4] *= 1e4
    rows[5] -= 1e30
    return rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["softmax", "masked_softmax", "log_softmax", "cross_entropy"])
def test_fused_forwards_keep_the_plain_rules_for_infinite_and_nan_logits(device, name, dtype):
    _engine_or_skip(device)
    from minigrad.ops import LogSoftmax, MaskedSoftmax, Softmax

    fns = {"softmax": lambda x: Softmax.apply(x), "masked_softmax": lambda x: MaskedSoftmax.apply(x),
           "log_softmax": lambda x: LogSoftmax.apply(x),
           "cross_entropy": lambda x: F.cross_entropy(x, np.arange(8) % 7, reduction="none",
                                                      label_smoothing=0.1)}
    outs = []
    for fused in (False, True):
        with kernels.settings(enabled=fused, min_size=0), np.errstate(all="ignore"):
            outs.append(fns[name](mg.tensor(_special_rows(dtype), device=device)).numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=2e-6 if dtype == np.float32 else 1e-13, atol=0)


# The bounds measured for the numba kernels' exp, sigmoid and tanh (kernels/cpu.py: 0.62, 1.22,
# 1.59 ε in float32; 0.62, 1.18, 2.02 ε in float64), in units of the dtype's ε, rounded up.
_VECTOR_MATH_BOUNDS = {np.float32: {"exp": 1, "sigmoid": 2, "tanh": 2},
                       np.float64: {"exp": 1, "sigmoid": 2, "tanh": 3}}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh"])
def test_the_kernels_vectorised_exp_sigmoid_and_tanh_are_accurate(name, dtype):
    """Against NumPy's long double over the whole range (steps of 8e-4 in [−800, 800], and
    small arguments down to 1e-30), wherever the exact result is a normal float."""
    _engine_or_skip("cpu")
    from minigrad.kernels import cpu

    small = np.geomspace(1e-30, 1.0, 20_001)
    x = np.concatenate([np.linspace(-800, 800, 2_000_001), small, -small]).astype(dtype)
    exact = {"exp": np.exp, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh}[name]
    with np.errstate(over="ignore"):
        ref = exact(x.astype(np.longdouble))
    got = cpu.elementwise(name, x)
    info = np.finfo(dtype)
    normal = (np.abs(ref) >= 2 * info.tiny) & (np.abs(ref) <= info.max)
    rel = np.abs((got[normal] - ref[normal]) / ref[normal]).astype(np.float64)
    assert rel.max() <= _VECTOR_MATH_BOUNDS[dtype][name] * info.eps
    overflow = np.abs(ref) > info.max
    np.testing.assert_array_equal(got[overflow], np.sign(ref[overflow]) * np.inf)
    assert np.all(np.abs(got[np.abs(ref) < 2 * info.tiny]) < 2 * info.tiny)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernels_exp_sigmoid_and_tanh_at_infinities_nan_and_zero(dtype):
    _engine_or_skip("cpu")
    from minigrad.kernels import cpu

    x = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0], dtype)
    expected = {"exp": [0, np.inf, np.nan, 1, 1], "sigmoid": [0, 1, np.nan, 0.5, 0.5],
                "tanh": [-1, 1, np.nan, 0, -0.0]}
    for name, values in expected.items():
        got = cpu.elementwise(name, x)
        np.testing.assert_array_equal(got, np.array(values, dtype))
        assert got.dtype == dtype
    assert np.signbit(cpu.elementwise("tanh", x)[4])


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_fused_dropout_draws_the_plain_mask(device, p):
    _engine_or_skip(device)
    outs = []
    for fused in (False, True):
        mg.manual_seed(3)
        x = mg.ones(200, 50, device=device)
        with kernels.settings(enabled=fused, min_size=0):
            outs.append(F.dropout(x, p).numpy())
    np.testing.assert_array_equal(outs[1], outs[0])


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
], ids=["adam", "adam-l2", "adamw"])
def test_fused_adam_update_follows_the_plain_one(device, make):
    _engine_or_skip(device)
    finals = []
    for fused in (False, True):
        w = mg.tensor(np.random.default_rng(0).standard_normal((70, 90)).astype(np.float32), device=device,
                      requires_grad=True)
        opt = make([w])
        with kernels.settings(enabled=fused, min_size=0):
            for step in range(3):
                opt.zero_grad()
                ((w * w).sum() * (step + 1.0)).backward()
                opt.step()
        finals.append((w.numpy(), opt.state[w]["exp_avg"].numpy(), opt.state[w]["exp_avg_sq"].numpy()))
    for a, b in zip(*finals):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)  # float32 rounding of values ~1


def test_second_order_gradients_take_the_plain_path():
    """Under create_graph the backward is Tensor ops: its own gradient must be exact."""
    x = mg.tensor(np.random.default_rng(1).standard_normal((5, 7)), requires_grad=True)
    with kernels.settings(min_size=0):
        assert mg.gradgradcheck(lambda t: F.layer_norm(F.softmax(t).tanh(), 7), (x,))


def test_backend_reports_the_engine_and_the_switch_turns_it_off():
    expected = "numba" if kernels.installed("cpu") else None
    assert mg.backend.fused_kernels() == expected
    mg.backend.set_fused(False)
    try:
        assert mg.backend.fused_kernels() is None
        assert kernels.fused(mg.Device("cpu"), np.ones(10**5, np.float32)) is None
    finally:
        mg.backend.set_fused(True)


def test_minigrad_fused_0_turns_the_kernels_off_at_start():
    code = "import minigrad as mg; print(mg.backend.fused_kernels())"
    env = dict(os.environ, MINIGRAD_FUSED="0", PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_numba_workers_sleep_between_loops_unless_the_user_says_otherwise(given, expected):
    # Spinning OpenMP workers took the cores from OpenBLAS's threads (the demo ran 1.8x slower).
    _engine_or_skip("cpu")
    code = "import os, minigrad.kernels.cpu; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.getcwd()
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_loops_run_threaded_only_when_threads_are_asked_for(monkeypatch):
    """The calling thread by default (BLAS's threads hold the cores), and numba's own setting
    untouched; with threads asked for, the threaded build of each loop runs and gives the
    one-thread results."""
    _engine_or_skip("cpu")
    import numba

    from minigrad.kernels import cpu

    if "NUMBA_NUM_THREADS" not in os.environ:
        assert not cpu._threaded
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread at most here")
    calls = []
    for loop in vars(cpu).values():
        if isinstance(loop, cpu._jit):
            threaded = loop.parallel
            monkeypatch.setattr(loop, "parallel", lambda *a, _f=threaded: calls.append(1) or _f(*a))
    shape = (cpu.PARALLEL_MIN // 64, 128)
    was = (cpu._threaded, numba.get_num_threads())
    try:
        results = {}
        for threads in (1, 2):
            cpu.use_threads(threads)
            results[threads] = _run(F.gelu, [shape], "cpu", np.float64, fused=True)
            assert bool(calls) == (threads == 2)
    finally:
        cpu._threaded = was[0]
        numba.set_num_threads(was[1])
    for one, two in zip(results[1], results[2]):
        np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)


def test_small_or_mixed_arrays_run_the_plain_code():
    _engine_or_skip("cpu")
    cpu = mg.Device("cpu")
    assert kernels.fused(cpu, np.ones(kernels.MIN_SIZE - 1, np.float32)) is None
    assert kernels.fused(cpu, np.ones(kernels.MIN_SIZE, np.float32), np.ones(kernels.MIN_SIZE)) is None
    assert kernels.fused(cpu, np.ones(kernels.MIN_SIZE, np.int64)) is None
    assert kernels.fused(cpu, np.ones(kernels.MIN_SIZE, np.float32)) is not None
