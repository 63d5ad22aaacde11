"""Which CPU engine for minigrad.kernels: the same seven hot computations in plain NumPy (what
the ops run without the ``fast`` extra), numexpr (multi-threaded elementwise expressions;
row reductions stay NumPy calls) and numba (the kernels minigrad ships), timed side by side.

    python -m benchmarks.engines [--threads N] [--clock cpu|wall] [--repeats 7] [--smoke]

Sizes are those of the transformer benchmark (16 × 128 tokens, d 256, FFN 1024, 4 heads) and
of its parameter count for the optimizer update (``--smoke``: 1/16 of the rows, one repeat).
Each engine's result is first checked against NumPy's; then prints ms per call (median of the
repeats) and each engine's ratio to NumPy.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np

from minigrad.ops.elementwise import erf_array


def _numpy_cases(rng: np.random.Generator, rows: int) -> dict[str, tuple[Callable, tuple]]:
    f32 = np.float32
    g = rng.standard_normal((rows, 1024)).astype(f32)
    y = np.tanh(rng.standard_normal((rows, 1024)).astype(f32))
    probs = rng.random((4 * rows, 128)).astype(f32)
    gp = rng.standard_normal(probs.shape).astype(f32)
    x = rng.standard_normal((rows, 256)).astype(f32)
    w, b = np.ones(256, f32), np.zeros(256, f32)
    params = [np.abs(rng.standard_normal(rows * 390)).astype(f32) for _ in range(4)]

    def tanh_grad(g, y):
        return g * (1 - y * y)

    def gelu(x):
        return 0.5 * x * (1.0 + erf_array(np, x * math.sqrt(0.5)))

    def softmax_backward(y, g):
        return y * (g - (g * y).sum(axis=-1, keepdims=True))

    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return np.divide(e, e.sum(axis=-1, keepdims=True), out=e)

    def layer_norm(x, w, b):
        xhat = x - x.mean(axis=-1, keepdims=True)
        xhat *= 1.0 / np.sqrt((xhat * xhat).mean(axis=-1, keepdims=True) + 1e-5)
        return xhat * w + b

    def adam(p, g, m, v):
        m += 0.1 * (g - m)
        v *= 0.999
        v += 0.001 * g * g
        p -= 0.01 * (m / (np.sqrt(v) / 0.5 + 1e-8))

    return {
        "tanh backward 2048x1024": (tanh_grad, (g, y)),
        "gelu (erf) 2048x1024": (gelu, (g,)),
        "softmax backward 8192x128": (softmax_backward, (probs, gp)),
        "exp 8192x128": (np.exp, (gp,)),
        "softmax 8192x128": (softmax, (gp,)),
        "layer norm 2048x256": (layer_norm, (x, w, b)),
        "adam update 800k": (adam, tuple(params)),
    }


def _numexpr_cases(ne) -> dict[str, Callable]:
    def softmax_backward(y, g):
        s = ne.evaluate("sum(g * y, axis=1)")[:, None]  # noqa: F841 (numexpr reads locals by name)
        return ne.evaluate("y * (g - s)")

    def softmax(x):
        m = x.max(axis=-1, keepdims=True)  # noqa: F841 (numexpr reads locals by name)
        e = ne.evaluate("exp(x - m)")
        s = e.sum(axis=-1, keepdims=True)  # noqa: F841
        return ne.evaluate("e / s")

    def layer_norm(x, w, b):
        mean = x.mean(axis=-1, keepdims=True)  # noqa: F841 (numexpr reads locals by name)
        var = ne.evaluate("(x - mean) ** 2").mean(axis=-1, keepdims=True)  # noqa: F841
        return ne.evaluate("(x - mean) / sqrt(var + 1e-5) * w + b")

    def adam(p, g, m, v):
        ne.evaluate("m + 0.1 * (g - m)", out=m)
        ne.evaluate("0.999 * v + 0.001 * g * g", out=v)
        ne.evaluate("p - 0.01 * (m / (sqrt(v) / 0.5 + 1e-8))", out=p)

    return {
        "tanh backward 2048x1024": lambda g, y: ne.evaluate("g * (1 - y * y)"),
        "gelu (erf) 2048x1024": None,  # numexpr has no erf
        "softmax backward 8192x128": softmax_backward,
        "exp 8192x128": lambda x: ne.evaluate("exp(x)"),
        "softmax 8192x128": softmax,
        "layer norm 2048x256": layer_norm,
        "adam update 800k": adam,
    }


def _numba_cases() -> dict[str, Callable]:
    from minigrad.kernels import cpu

    return {
        "tanh backward 2048x1024": cpu.tanh_grad,
        "gelu (erf) 2048x1024": lambda x: cpu.gelu(x, "none"),
        "softmax backward 8192x128": cpu.softmax_backward,
        "exp 8192x128": lambda x: cpu.elementwise("exp", x),
        "softmax 8192x128": lambda x: cpu.softmax(x, False),
        "layer norm 2048x256": lambda x, w, b: cpu.layer_norm_forward(x, w, b, 256, 1e-5)[0],
        "adam update 800k": lambda p, g, m, v: cpu.adam_update(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.0, False,
                                                              0.01, 0.5),
    }


def _check(case: str, engine: str, plain: Callable, fn: Callable, inputs: tuple) -> None:
    """The engine computes what NumPy computes (in-place updates: on copies of the inputs)."""
    mine, theirs = tuple(a.copy() for a in inputs), tuple(a.copy() for a in inputs)
    expected, got = plain(*theirs), fn(*mine)
    if expected is None:  # an in-place update: compare what it updated
        expected, got = theirs, mine
    if not np.allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-5):
        raise AssertionError(f"{engine} does not compute {case} as NumPy does")


def _time(fn: Callable, args: tuple, clock: Callable[[], float], repeats: int, calls: int = 10) -> float:
    fn(*args)  # compile / warm up
    times = []
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            fn(*args)
        times.append((clock() - start) / calls)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="engine threads (default: all cores)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="1/16 of the sizes, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    engines: dict[str, dict[str, Callable | None]] = {}
    try:
        import numexpr

        if args.threads:
            numexpr.set_num_threads(args.threads)
        engines[f"numexpr {numexpr.__version__}"] = _numexpr_cases(numexpr)
    except ImportError:
        print("numexpr: not installed")
    try:
        import numba

        if args.threads:
            numba.set_num_threads(args.threads)
        engines[f"numba {numba.__version__}"] = _numba_cases()
    except ImportError:
        print("numba: not installed")
    cases = _numpy_cases(np.random.default_rng(0), 128 if args.smoke else 2048)
    names = list(engines)
    print(f"ms per call, {args.clock} clock, threads={args.threads or 'default'}, median of {args.repeats}")
    print(f"{'computation':28s} {'numpy':>8s} " + " ".join(f"{n:>22s}" for n in names))
    for case, (plain, inputs) in cases.items():
        base = _time(plain, inputs, clock, args.repeats)
        cells = []
        for name in names:
            fn = engines[name][case]
            if fn is None:
                cells.append(f"{'n/a':>22s}")
                continue
            _check(case, name, plain, fn, inputs)
            ms = _time(fn, inputs, clock, args.repeats)
            cells.append(f"{ms:8.2f} ({base / ms:4.1f}x faster)")
        print(f"{case:28s} {base:8.2f} " + " ".join(cells))


if __name__ == "__main__":
    main()
