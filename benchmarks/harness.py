"""Running implementations of one workload side by side: the equality check, interleaved
timing, and NumPy-allocated memory (peak and growth).

An implementation is any object with ``step() -> float`` (one full training step on its own
copy of the weights; returns the loss) and ``grads() -> {name: ndarray}`` (the gradients
that step computed, named and shaped as in the workload's weights).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

REFERENCE = "numpy"  # the hand-written floor every other implementation is compared with
RTOL = 1e-3
# atol, as a fraction of the reference tensor's largest |entry|, so that entries which cancel
# to ~0 do not fail on rounding. On a GPU every library sums in its own order (cuBLAS picks
# algorithms and split-K per shape), and a weight gradient summed over 16k rows of float32
# moves by ~1e-4 of the tensor's scale there: measured 1.6e-7 on entries of 3e-5.
ATOL_FRACTION = {"cpu": RTOL * 1e-2, "cuda": RTOL}

# "wall": elapsed time, what a user waits. "cpu": this process's CPU time, which other
# processes' load does not inflate; equal to the wall time of an idle machine only when the
# step runs on one thread (--threads 1), since it adds up all threads.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class Impl(Protocol):
    def step(self) -> float: ...

    def grads(self) -> dict[str, Any]: ...


class Unavailable(Exception):
    """An implementation that cannot run here (PyTorch not installed, no CUDA build, ...)."""


@dataclass
class Problem:
    """What every implementation of a workload starts from: the same weights and batch."""

    config: Any
    weights: dict[str, np.ndarray]
    data: dict[str, Any]
    lr: float = 0.01
    tokens: int | None = None  # tokens a step processes, for workloads reported in tokens/s


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    unit: str  # what one timed step is, e.g. "step" or "graph"
    default: Any  # the config benchmarked by default (a dataclass of sizes)
    smoke: Any  # tiny sizes for the smoke test
    make_problem: Callable[[Any, int], Problem]
    impls: dict[str, Callable[[Problem, str], Impl]]  # name -> factory(problem, device)


@dataclass(frozen=True)
class Memory:
    """Bytes traced by tracemalloc: a steady-state step's peak, and how much the memory
    still held grew over the measured steps, in all and over their second half. Caches
    (NumPy's, the interpreter's) fill up early and then stop; a leak keeps growing."""

    peak: int
    growth: int
    late_growth: int
    steps: int


@dataclass
class Result:
    times_ms: dict[str, list[float]] = field(default_factory=dict)
    memory: dict[str, Memory] = field(default_factory=dict)
    check: dict[str, str] = field(default_factory=dict)  # impl -> "ok" / mismatch report
    skipped: dict[str, str] = field(default_factory=dict)  # impl -> why it did not run
    tokens: int | None = None  # per step, when the workload counts tokens

    def median_ms(self, impl: str) -> float:
        return statistics.median(self.times_ms[impl])


class CheckFailed(AssertionError):
    """An implementation computed a different loss or gradient than the NumPy reference."""


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy of a NumPy, CuPy or PyTorch array."""
    if hasattr(a, "detach"):  # torch
        return a.detach().cpu().numpy()
    if hasattr(a, "get"):  # cupy
        return a.get()
    return np.asarray(a)


def build(workload: Workload, problem: Problem, device: str, result: Result) -> dict[str, Impl]:
    """Every implementation that can run here; the others are recorded as skipped."""
    impls = {}
    for name, factory in workload.impls.items():
        try:
            impls[name] = factory(problem, device)
        except Unavailable as e:
            result.skipped[name] = str(e)
    return impls


def _mismatch(what: str, got: np.ndarray, want: np.ndarray, atol_fraction: float) -> str | None:
    if got.shape != want.shape:
        return f"{what}: shape {got.shape}, reference {want.shape}"
    atol = atol_fraction * float(np.abs(want).max(initial=0.0))
    if np.allclose(got, want, rtol=RTOL, atol=atol):
        return None
    err = np.abs(got - want)
    i = np.unravel_index(int(err.argmax()), err.shape)
    where = tuple(map(int, i))
    return f"{what}: max |diff| {err[i]:.3g} at {where} (got {got[i]:.6g}, reference {want[i]:.6g})"


def check(impls: dict[str, Impl], result: Result, device: str = "cpu") -> None:
    """One step of each implementation from the same weights: the losses and every gradient
    must agree with the reference to rtol 1e-3. Raises CheckFailed naming what differs.
    A workload without a reference (the summariser) has nothing to be checked against."""
    if REFERENCE not in impls:
        result.check.update({name: "no reference to check against" for name in impls})
        return
    losses = {name: float(impl.step()) for name, impl in impls.items()}
    ref_grads = {k: to_numpy(v) for k, v in impls[REFERENCE].grads().items()}
    failures = []
    atol_fraction = ATOL_FRACTION[device]
    for name, impl in impls.items():
        if name == REFERENCE:
            continue
        problems = [_mismatch("loss", np.float64(losses[name]), np.float64(losses[REFERENCE]), atol_fraction)]
        grads = impl.grads()
        for key, want in ref_grads.items():
            if key not in grads:
                problems.append(f"grad {key}: missing")
            else:
                problems.append(_mismatch(f"grad {key}", to_numpy(grads[key]), want, atol_fraction))
        problems = [p for p in problems if p]
        result.check[name] = "; ".join(problems) or "ok"
        if problems:
            failures.append(f"{name}: " + "; ".join(problems))
    if failures:
        raise CheckFailed("\n".join(failures))


def time_interleaved(
    impls: dict[str, Impl], repeats: int, steps: int, result: Result, clock: str = "wall"
) -> None:
    """``repeats`` rounds; in each, every implementation runs ``steps`` steps back to back.
    The order rotates between rounds so no implementation always runs right after another;
    per-step times go to ``result.times_ms``.

    The objects alive before timing (PyTorch's ~150k module objects among them) are frozen
    out of CPython's cyclic GC: otherwise every full collection rescans them, and an
    implementation that allocates many Python objects (minigrad's graph) pays, at random
    rounds, for PyTorch being imported in the same process (2x on the tiny workload)."""
    names = list(impls)
    for name in names:
        impls[name].step()  # warm-up: first-call caches, BLAS buffers
    gc.collect()
    gc.freeze()
    try:
        _timed_rounds(impls, names, repeats, steps, result, CLOCKS[clock])
    finally:
        gc.unfreeze()


def _timed_rounds(
    impls: dict[str, Impl], names: list[str], repeats: int, steps: int, result: Result,
    now: Callable[[], float],
) -> None:
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            step = impls[name].step
            t0 = now()
            for _ in range(steps):
                step()
            elapsed = now() - t0
            result.times_ms.setdefault(name, []).append(1e3 * elapsed / steps)


def measure_memory(factory: Callable[[], Impl], steps: int) -> Memory:
    """Memory traced by tracemalloc, which sees every NumPy buffer and Python object but not
    PyTorch's or CuPy's allocators.

    Tracing starts before the implementation is built, so the peak of a steady-state step
    counts its weights, batch and gradients too: the memory it needs above the process's
    baseline. The memory still held is read after the first step, halfway and after
    ``steps`` steps, each time after a full collection (which also empties CPython's free
    lists, otherwise they fill up slowly and look like growth)."""
    gc.collect()
    tracemalloc.start()
    try:
        impl = factory()
        impl.step()  # warm-up
        tracemalloc.reset_peak()
        impl.step()
        peak = tracemalloc.get_traced_memory()[1]
        held = [_held()]
        for i in range(2, steps + 1):
            impl.step()
            if i in (steps // 2, steps):
                held.append(_held())
    finally:
        tracemalloc.stop()
    return Memory(peak, held[-1] - held[0], held[-1] - held[-2], steps)


def _held() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]
