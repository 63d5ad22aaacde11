"""The machine description, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from typing import Any

import numpy as np

import minigrad as mg
from benchmarks.harness import REFERENCE, Memory, Result, Workload

MIB = 2**20
LEAK_BYTES_PER_STEP = 64


def machine() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, BLAS (via threadpoolctl), library versions."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas(),
        "torch": _torch_version(),
        "minigrad fused kernels (cpu)": mg.backend.fused_kernels("cpu") or "off (plain NumPy ops)",
        "minigrad_commit": _git_commit(),
    }
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to report it)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(
        f"{p['internal_api']} {p['version']} ({p.get('architecture')} kernels, {p['num_threads']} threads)"
        for p in pools
    ) or "none found"


def _torch_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return f"{torch.__version__} ({torch.get_num_threads()} threads)"


def _git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def describe(info: dict[str, Any]) -> str:
    return "\n".join(f"  {k}: {v}" for k, v in info.items())


HEADER = ("workload", "impl", "ms/unit", "×numpy", "×torch", "tokens/s", "peak MiB", "growth")


def rows(workload: Workload, result: Result) -> list[tuple[str, ...]]:
    """One table row per implementation that ran, then one per implementation skipped."""
    out = []
    medians = {name: result.median_ms(name) for name in result.times_ms}
    for name, ms in medians.items():
        memory = result.memory.get(name)
        out.append((
            f"{workload.name} ({workload.unit})",
            name,
            f"{ms:.2f}",
            _ratio(ms, medians.get(REFERENCE)),
            _ratio(ms, medians.get("torch")),
            f"{result.tokens / ms * 1e3:,.0f}" if result.tokens else "–",
            f"{memory.peak / MIB:.1f}" if memory else "–",
            _growth(memory) if memory else "–",
        ))
    for name, why in result.skipped.items():
        out.append((workload.name, name, "skipped: " + why, "", "", "", "", ""))
    return out


def _ratio(ms: float, ref: float | None) -> str:
    return f"{ms / ref:.2f}" if ref else "–"


def _growth(memory: Memory) -> str:
    # Under 64 bytes a step in the second half is less than one small Python object kept
    # per step (a leaked graph node or array is hundreds of bytes or more).
    leaks = memory.late_growth >= LEAK_BYTES_PER_STEP * (memory.steps - memory.steps // 2)
    return f"{'GROWS' if leaks else 'none'} ({memory.growth / 1024:+.1f} KiB / {memory.steps} steps)"


def table(all_rows: list[tuple[str, ...]]) -> str:
    lines = [HEADER, *all_rows]
    widths = [max(len(r[i]) for r in lines if len(r) > i) for i in range(len(HEADER))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def markdown(all_rows: list[tuple[str, ...]]) -> str:
    lines = [HEADER, tuple("---" for _ in HEADER), *all_rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


def to_json(path: str, info: dict[str, Any], args: dict[str, Any], results: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump({"machine": info, "args": args, "workloads": results}, f, indent=2, default=str)


def result_json(workload: Workload, config: Any, result: Result) -> dict[str, Any]:
    medians = {name: result.median_ms(name) for name in result.times_ms}
    tokens = result.tokens
    return {
        "description": workload.description,
        "unit": workload.unit,
        "config": vars(config),
        "tokens_per_step": tokens,
        "check": result.check,
        "skipped": result.skipped,
        "impls": {
            name: {
                "median_ms": ms,
                "times_ms": result.times_ms[name],
                "ratio_numpy": ms / medians[REFERENCE] if REFERENCE in medians else None,
                "ratio_torch": ms / medians["torch"] if "torch" in medians else None,
                "tokens_per_s": tokens / ms * 1e3 if tokens else None,
                "memory": vars(result.memory[name]) if name in result.memory else None,
            }
            for name, ms in medians.items()
        },
    }
