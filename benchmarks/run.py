"""Command line: ``python -m benchmarks [--workloads mlp,rnn] [--device cuda] [--json out.json]``.

For each workload: build every implementation from the same weights, check they agree,
time them interleaved, then measure NumPy-allocated memory; print a table, optionally JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402
from benchmarks.frameworks import array_module, limit_threads  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    CLOCKS,
    CheckFailed,
    Result,
    Workload,
    build,
    check,
    measure_memory,
    time_interleaved,
)
from benchmarks.workloads import WORKLOADS  # noqa: E402

# Implementations whose memory is NumPy's on the CPU, so tracemalloc sees all of it.
TRACED = ("numpy", "minigrad")

# Workload options: each applies to the workloads whose config has a field of that name.
OPTIONS = {
    "batch": int, "seq": int, "d_model": int, "heads": int, "ffn": int, "hidden": int, "input": int,
    "iterations": int,
    "data": str,  # the summariser's corpus (JSON Lines), e.g. ../shared/data/lcsts_train.jsonl
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="minigrad's training step against a hand-written NumPy step and PyTorch, measured in "
        "one run (see benchmarks/README.md)",
    )
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="cuda: minigrad and the reference on CuPy, against PyTorch CUDA")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the table shows medians")
    p.add_argument("--steps", type=int, default=10, help="steps timed back to back in each round")
    p.add_argument("--growth-steps", type=int, default=100,
                   help="steps over which memory must not grow (cpu only; 0 skips the memory pass)")
    p.add_argument("--threads", type=int, help="BLAS and PyTorch threads (default: their own choice)")
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                   help="wall: elapsed time; cpu: process CPU time, immune to other processes' load "
                   "(meaningful with --threads 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick end-to-end check")
    p.add_argument("--json", metavar="PATH", help="also write every measurement to this JSON file")
    for name, kind in OPTIONS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{name}, where a workload has it")
    args = p.parse_args(argv)
    unknown = [w for w in args.workloads.split(",") if w not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.growth_steps == 1:
        p.error("--growth-steps must be 0 (no memory pass) or at least 2")
    if args.data is not None and not Path(args.data).is_file():
        p.error(f"--data {args.data}: no such file")
    return args


def configure(workload: Workload, args: argparse.Namespace) -> Any:
    base = workload.smoke if args.smoke else workload.default
    fields = {f.name for f in dataclasses.fields(base)}
    overrides = {k: getattr(args, k) for k in OPTIONS if k in fields and getattr(args, k) is not None}
    return dataclasses.replace(base, **overrides)


def benchmark(
    workload: Workload,
    config: Any,
    device: str = "cpu",
    repeats: int = 5,
    steps: int = 10,
    growth_steps: int = 100,
    seed: int = 0,
    clock: str = "wall",
) -> Result:
    """Check, time and (on the CPU) measure memory of every implementation of ``workload``.
    Raises CheckFailed, before any timing, if an implementation disagrees with NumPy."""
    problem = workload.make_problem(config, seed)
    result = Result(tokens=problem.tokens)
    impls = build(workload, problem, device, result)
    check(impls, result, device)
    time_interleaved(impls, repeats, steps, result, clock)
    del impls
    if device == "cpu" and growth_steps > 0:
        for name in (n for n in TRACED if n in workload.impls):
            factory = workload.impls[name]
            gc.collect()
            result.memory[name] = measure_memory(lambda f=factory: f(problem, device), growth_steps)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        array_module(args.device)
        if args.threads:
            limit_threads(args.threads)
    except RuntimeError as e:
        print(f"cannot benchmark on {args.device}: {e}", file=sys.stderr)
        return 2
    info = report.machine()
    print(f"minigrad benchmarks on {args.device}\n{report.describe(info)}\n", flush=True)
    all_rows, results, failed = [], {}, False
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        config = configure(workload, args)
        print(f"{name}: {workload.description}; {config}", flush=True)
        try:
            result = benchmark(
                workload, config, args.device, args.repeats, args.steps, args.growth_steps, args.seed,
                args.clock,
            )
        except CheckFailed as e:
            print(f"  CHECK FAILED, not timed:\n{e}", flush=True)
            results[name] = {"check_failed": str(e)}
            failed = True
            continue
        all_rows += report.rows(workload, result)
        results[name] = report.result_json(workload, config, result)
    print()
    print(report.table(all_rows))
    print(f"\nms/unit: median over rounds ({args.clock} clock); peak and growth: tracemalloc (NumPy buffers"
          " and Python objects; PyTorch's allocator is not traced)")
    if args.json:
        report.to_json(args.json, info, vars(args), results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
