"""``python -m minigrad.check path/to/ops.py`` — the gradient checker for assignments.

Imports the target (a file path or a dotted module name), finds every ``mg.Function``
subclass and every ``@minigrad.testing.checkable`` function *defined* in it, checks the
gradients of each on inputs drawn by hypothesis (shrunk to the smallest failing one),
prints a table and exits 0 if every op passed, 1 if any failed, 2 if the target could
not be loaded at all.

A Function with no declared strategies gets inferred inputs: as many float64 tensors as
its ``forward`` takes, all of one small square shape (so elementwise, broadcasting and
matrix ops all accept them), with values at least 0.1 away from 0. Ops with another
domain (log, sqrt, ...) declare theirs with ``@checkable`` on the class.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import math
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy
from hypothesis import strategies as st

from .autograd import Function
from .backend import set_default_device
from .creation import full
from .tensor import Tensor, float64
from .testing import GradientCheckFailure, away_from, check_gradients, tensors

__all__ = ["main", "load_target", "find_checks", "run_check", "Check", "Row"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_TARGET = 0, 1, 2
MAX_INFERRED_ARITY = 3
_INPUT_COLUMN_WIDTH = 48

# One side length shared by every input of an example: hypothesis draws a shared
# strategy once per example, so inferred inputs always have the same shape.
_SIDE = st.shared(st.integers(1, 3), key="minigrad.check.side")

_VERDICTS = {
    "mismatch": "FAIL wrong gradient",
    "non-differentiable": "FAIL non-differentiable point",
    "forward-error": "FAIL forward raised",
    "backward-error": "FAIL backward raised",
    "invalid-gradient": "FAIL wrong gradient count/shape",
    "not-run": "FAIL check could not run",
}


class TargetError(Exception):
    """The target module could not be loaded, or holds nothing to check."""


class Check(NamedTuple):
    """One op to check: its name, what to call, and its input strategies."""

    name: str
    fn: Any
    strategies: tuple[st.SearchStrategy[Any], ...]
    order: int


class Row(NamedTuple):
    """One line of the table, plus the full failure report (empty for a pass)."""

    op: str
    examples: int
    verdict: str
    worst_error: str
    failing_input: str
    detail: str

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


# -- loading the target ----------------------------------------------------------------


def load_target(target: str) -> ModuleType:
    """Import ``target``: a ``.py`` file path or a dotted module name."""
    try:
        if target.endswith(".py") or "/" in target or "\\" in target:
            return _import_file(Path(target))
        return importlib.import_module(target)
    except TargetError:
        raise
    except Exception as e:  # any error in the student's module is the target's fault
        reason = "".join(traceback.format_exception_only(e)).strip()
        raise TargetError(f"cannot import {target!r}: {reason}") from e


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"cannot import {str(path)!r}: no such file")
    # A private module name, so that an ops.py named like a real module shadows nothing.
    name = f"_minigrad_check_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up there
    # As `python ops.py` would, let the file import its sibling modules.
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(folder)
    return module


# -- finding what to check ---------------------------------------------------------------


def find_checks(module: ModuleType) -> list[Check]:
    """Every Function subclass and @checkable function defined in ``module``, in source order."""
    checks = []
    for obj in vars(module).values():
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # imported from elsewhere: not this file's to check
        declared = getattr(obj, "__minigrad_checkable__", None)
        name = getattr(obj, "__qualname__", repr(obj))
        if declared is not None:
            checks.append(Check(name, obj, declared.strategies, declared.order))
        elif _is_concrete_function(obj):
            checks.append(Check(name, obj, infer_strategies(obj), 1))
    return checks


def _is_concrete_function(obj: Any) -> bool:
    """A Function subclass that defines both forward and backward (not a helper base)."""
    return (
        isinstance(obj, type)
        and issubclass(obj, Function)
        and obj.forward is not Function.forward
        and obj.backward is not Function.backward
    )


def _inferred_input() -> st.SearchStrategy[Tensor]:
    return tensors(shape=_SIDE.map(lambda n: (n, n)), dtype=float64, elements=away_from([0.0]))


def infer_strategies(cls: type[Function]) -> tuple[st.SearchStrategy[Any], ...]:
    """Input strategies for a Function that declares none, from its forward's signature."""
    return (_inferred_input(),) * _arity(cls)


def _arity(cls: type[Function]) -> int:
    """Required positional parameters of forward after ctx; for ``*args``, the first count
    in 1..3 on which forward runs."""
    params = list(inspect.signature(cls.forward).parameters.values())[1:]
    required = [
        p for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not any(p.kind is p.VAR_POSITIONAL for p in params):
        return len(required)
    for n in range(max(len(required), 1), MAX_INFERRED_ARITY + 1):
        if _forward_runs(cls, n):
            return n
    return max(len(required), 1)  # none ran: let the check report forward's error


def _forward_runs(cls: type[Function], n: int) -> bool:
    probe = [full((2, 2), 0.5 * (1 + i), dtype=float64) for i in range(n)]
    try:
        cls.apply(*probe)
    except Exception:
        return False
    return True


# -- running the checks -----------------------------------------------------------------


def run_check(check: Check, order: int = 1, max_examples: int = 25, seed: int | None = None) -> Row:
    """Check one op; never raises for the op's own faults, which become a FAIL row."""
    order = max(order, check.order)
    try:
        result = check_gradients(
            check.fn, *check.strategies, max_examples=max_examples, order=order, seed=seed
        )
    except GradientCheckFailure as failure:
        return _failure_row(check.name, failure)
    except Exception as e:  # e.g. a declared strategy that hypothesis rejects
        reason = "".join(traceback.format_exception_only(e)).strip()
        return Row(check.name, 0, _VERDICTS["not-run"], "-", "-", f"{check.name}: {reason}")
    return Row(check.name, result.examples, "PASS", "-", "-", "")


def _failure_row(name: str, failure: GradientCheckFailure) -> Row:
    kind = failure.kind
    error = failure.max_abs_error
    worst = f"{error:.3g}" if kind == "mismatch" and error is not None and math.isfinite(error) else "-"
    return Row(name, failure.examples, _VERDICTS[kind], worst, _one_line(failure.inputs), str(failure))


def _one_line(inputs: Sequence[Any]) -> str:
    """The inputs in one table cell, cut short if long (the detail below has them whole)."""
    parts = []
    for x in inputs:
        parts.append(" ".join(str(x.tolist()).split()) if isinstance(x, Tensor) else repr(x))
    text = "; ".join(parts)
    return text if len(text) <= _INPUT_COLUMN_WIDTH else text[: _INPUT_COLUMN_WIDTH - 1] + "…"


# -- output -----------------------------------------------------------------------------

_HEADERS = ("op", "examples", "result", "worst error", "minimal failing input")


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    cells = [_HEADERS] + [(r.op, str(r.examples), r.verdict, r.worst_error, r.failing_input) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADERS))]

    def line(c: Sequence[str]) -> str:
        return "  ".join(text.ljust(w) for text, w in zip(c, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(c) for c in cells[1:]])


def _report(rows: Sequence[Row], target: str) -> str:
    passed = sum(r.passed for r in rows)
    parts = [format_table(rows)]
    parts += [r.detail for r in rows if not r.passed]
    parts.append(f"{passed} of {len(rows)} op(s) passed in {target}")
    return "\n\n".join(parts)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.check",
        description="Check the gradients of every Function subclass and @checkable function in a module.",
    )
    parser.add_argument("target", help="path/to/ops.py or a dotted module name")
    parser.add_argument("--order", type=int, choices=(1, 2), default=1,
                        help="2 also checks second derivatives (gradgradcheck)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for the drawn inputs (default: a fixed derandomized run)")
    parser.add_argument("--max-examples", type=int, default=25, help="inputs drawn per op (default 25)")
    parser.add_argument("--device", default=None, help="cpu (default), cuda or cuda:N")
    args = parser.parse_args(argv)
    if args.max_examples < 1:
        parser.error("--max-examples must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checker; returns the exit status (0 pass, 1 some op failed, 2 bad target)."""
    args = _parse_args(argv)
    try:
        if args.device is not None:
            set_default_device(args.device)
        module = load_target(args.target)
        checks = find_checks(module)
        if not checks:
            raise TargetError(
                f"nothing to check in {args.target!r}: it defines no mg.Function subclass and "
                "no @minigrad.testing.checkable function"
            )
    except (TargetError, RuntimeError, ValueError) as e:
        print(f"minigrad.check: {e}", file=sys.stderr)
        return EXIT_BAD_TARGET
    # The report says where values stop being finite; NumPy's warnings would only repeat it.
    with numpy.errstate(all="ignore"):
        rows = [run_check(c, args.order, args.max_examples, args.seed) for c in checks]
    print(_report(rows, args.target))
    return EXIT_OK if all(r.passed for r in rows) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
