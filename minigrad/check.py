"""``python -m minigrad.check path/to/ops.py`` — the gradient checker for assignments.

Imports the target (a file path or a dotted module name), finds every ``mg.Function``
subclass and every ``@minigrad.testing.checkable`` function *defined* in it, checks the
gradients of each on inputs drawn by hypothesis (shrunk to the smallest failing one),
one row per op and order, prints a table and exits 0 if every op passed, 1 if any
failed, 2 if the target could not be loaded at all or the device is missing.
``--format json`` / ``--format gradescope`` write a machine-readable report / Gradescope's
results.json. A target folder holding ``grading.toml`` (or ``--spec``) is graded against
that spec instead, with points and the student's code in its own process
(``minigrad.grading``).

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
import json
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
from .backend import get_default_device, set_default_device
from .creation import full
from .tensor import Tensor, float64
from .testing import GradientCheckFailure, away_from, check_gradients, tensors

__all__ = ["main", "load_target", "find_checks", "run_check", "format_table", "format_text",
           "format_json", "format_gradescope", "Check", "Row"]

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
    "not-implemented": "FAIL not implemented",
}
_ORDER_NAMES = {1: "first-order", 2: "second-order"}
_NEEDS_FIRST_ORDER = "FAIL needs first order"


class TargetError(Exception):
    """The target module could not be loaded, or holds nothing to check."""


class Check(NamedTuple):
    """One op to check: its name, what to call, and its input strategies."""

    name: str
    fn: Any
    strategies: tuple[st.SearchStrategy[Any], ...]
    order: int


class Row(NamedTuple):
    """One line of the table (one op at one order, or one functional check), plus the
    full failure report (empty for a pass), what the code printed and the points at stake."""

    op: str
    order: int | None  # None for a functional check
    examples: int | None
    verdict: str
    worst_error: str
    failing_input: str
    detail: str
    max_score: float = 1.0
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    @property
    def score(self) -> float:
        return self.max_score if self.passed else 0.0

    @property
    def title(self) -> str:
        """The test's name in reports: the op and the order checked."""
        return self.op if self.order is None else f"{self.op} ({_ORDER_NAMES[self.order]} gradient)"


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


def run_check(check: Check, order: int = 1, max_examples: int = 25, seed: int | None = None,
              points: Sequence[float] = (1.0, 1.0)) -> list[Row]:
    """Check one op at orders 1..``order`` (at least its declared order): one Row per order,
    ``points[k - 1]`` at stake at order k. Never raises for the op's own faults, which
    become FAIL rows; the second order is not checked when the first fails."""
    rows = []
    for k in range(1, max(order, check.order) + 1):
        if rows and not rows[-1].passed:
            detail = f"{check.name}: second-order gradient not checked: the first-order gradient fails"
            rows.append(Row(check.name, k, None, _NEEDS_FIRST_ORDER, "-", "-", detail, points[k - 1]))
            continue
        rows.append(_run_order(check, k, max_examples, seed, points[k - 1]))
    return rows


def _run_order(check: Check, order: int, max_examples: int, seed: int | None, points: float) -> Row:
    try:
        result = check_gradients(
            check.fn, *check.strategies, max_examples=max_examples, order=order, seed=seed
        )
    except GradientCheckFailure as failure:
        return _failure_row(check.name, order, failure, points)
    except Exception as e:  # e.g. a declared strategy that hypothesis rejects
        reason = "".join(traceback.format_exception_only(e)).strip()
        return Row(check.name, order, 0, _VERDICTS["not-run"], "-", "-", f"{check.name}: {reason}", points)
    return Row(check.name, order, result.examples, "PASS", "-", "-", "", points)


def _failure_row(name: str, order: int, failure: GradientCheckFailure, points: float) -> Row:
    kind = failure.kind
    error = failure.max_abs_error
    worst = f"{error:.3g}" if kind == "mismatch" and error is not None and math.isfinite(error) else "-"
    shown = "-" if kind == "not-implemented" else _one_line(failure.inputs)  # any input fails
    return Row(name, order, failure.examples, _VERDICTS[kind], worst, shown, str(failure), points)


def _one_line(inputs: Sequence[Any]) -> str:
    """The inputs in one table cell, cut short if long (the detail below has them whole)."""
    parts = []
    for x in inputs:
        parts.append(" ".join(str(x.tolist()).split()) if isinstance(x, Tensor) else repr(x))
    text = "; ".join(parts)
    return text if len(text) <= _INPUT_COLUMN_WIDTH else text[: _INPUT_COLUMN_WIDTH - 1] + "…"


# -- output -----------------------------------------------------------------------------

_HEADERS = ("op", "order", "examples", "result", "worst error", "minimal failing input")


def _cells(r: Row, with_points: bool) -> tuple[str, ...]:
    cells = (r.op, "-" if r.order is None else str(r.order), "-" if r.examples is None else str(r.examples),
             r.verdict, r.worst_error, r.failing_input)
    return cells + ((f"{r.score:g}/{r.max_score:g}",) if with_points else ())


def format_table(rows: Sequence[Row], with_points: bool = False) -> str:
    """The rows as an aligned text table (with a points column if ``with_points``)."""
    headers = _HEADERS + (("points",) if with_points else ())
    cells = [headers] + [_cells(r, with_points) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]

    def line(c: Sequence[str]) -> str:
        return "  ".join(text.ljust(w) for text, w in zip(c, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(c) for c in cells[1:]])


def format_text(rows: Sequence[Row], target: str, with_points: bool = False) -> str:
    """The table, each failure's full report, and a summary line."""
    passed = sum(r.passed for r in rows)
    parts = [format_table(rows, with_points)]
    parts += [r.detail for r in rows if not r.passed]
    summary = f"{passed} of {len(rows)} check(s) passed in {target}"
    if with_points:
        summary += f": {_total(rows, 'score'):g} of {_total(rows, 'max_score'):g} points"
    parts.append(summary)
    return "\n\n".join(parts)


def _total(rows: Sequence[Row], field: str) -> float:
    return round(sum(getattr(r, field) for r in rows), 6)


def _test_output(r: Row) -> str:
    """What a test's reader needs: the failure report, or what passed, and what was printed."""
    if r.detail:  # a failure's report, or what a passing functional check measured
        text = r.detail
    else:
        text = f"PASS on {r.examples} drawn input(s)" if r.order else "PASS"
    if r.output:
        text += f"\n\noutput of the submission:\n{r.output}"
    return text


def format_json(rows: Sequence[Row], target: str, error: str | None = None) -> str:
    """A machine-readable report: one entry per op and order (and functional check)."""
    tests = [
        {"name": r.title, "op": r.op, "order": r.order, "passed": r.passed, "result": r.verdict,
         "examples": r.examples, "worst_error": None if r.worst_error == "-" else r.worst_error,
         "minimal_failing_input": None if r.failing_input == "-" else r.failing_input,
         "detail": r.detail, "output": r.output, "score": r.score, "max_score": r.max_score}
        for r in rows
    ]
    report = {"target": target, "passed": error is None and all(r.passed for r in rows),
              "error": error, "score": _total(rows, "score"), "max_score": _total(rows, "max_score"),
              "tests": tests}
    return json.dumps(report, indent=2, ensure_ascii=False)


def format_gradescope(rows: Sequence[Row], target: str, error: str | None = None) -> str:
    """Gradescope's results.json: a top-level score and one test per op and order."""
    tests = [
        {"name": r.title, "score": r.score, "max_score": r.max_score,
         "status": "passed" if r.passed else "failed", "output": _test_output(r)}
        for r in rows
    ]
    passed = sum(r.passed for r in rows)
    summary = error or f"{passed} of {len(rows)} check(s) passed in {target}"
    return json.dumps({"score": _total(rows, "score"), "output": summary, "tests": tests},
                      indent=2, ensure_ascii=False)


_FORMATS = {"json": format_json, "gradescope": format_gradescope}


def _emit(text: str, output: str | None) -> None:
    """Write ``text`` to the file ``output`` (atomically), or to stdout."""
    if output is None:
        print(text)
        return
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.check",
        description="Check the gradients of every Function subclass and @checkable function in a module.",
    )
    parser.add_argument("target", help="path/to/ops.py or a dotted module name; or an assignment "
                        "folder holding grading.toml (grades the submission it names)")
    parser.add_argument("--spec", default=None,
                        help="grade the target against this grading.toml (points, orders, functional "
                             "checks, time limits; the code runs in a separate process)")
    parser.add_argument("--order", type=int, choices=(1, 2), default=None,
                        help="2 also checks second derivatives (gradgradcheck); default 1 "
                             "(a grading spec sets its own)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for the drawn inputs (default: a fixed derandomized run)")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="inputs drawn per op (default 25, or the spec's max_examples)")
    parser.add_argument("--device", default=None,
                        help="cpu (default), cuda or cuda:N; MINIGRAD_DEVICE does the same")
    parser.add_argument("--format", choices=("text", "json", "gradescope"), default="text",
                        help="json: a machine-readable report; gradescope: Gradescope's results.json")
    parser.add_argument("-o", "--output", default=None,
                        help="write the json/gradescope report to this file (the table still "
                             "goes to stdout); default: the report goes to stdout")
    args = parser.parse_args(argv)
    if args.max_examples is not None and args.max_examples < 1:
        parser.error("--max-examples must be at least 1")
    return args


def _choose_device(spec: str | None) -> None:
    """``--device``, else ``MINIGRAD_DEVICE``: either way a missing device fails here, once."""
    if spec is not None:
        set_default_device(spec)
    else:
        get_default_device()


def _load_checks(target: str) -> list[Check]:
    checks = find_checks(load_target(target))
    if not checks:
        raise TargetError(
            f"nothing to check in {target!r}: it defines no mg.Function subclass and "
            "no @minigrad.testing.checkable function"
        )
    return checks


def _report(args: argparse.Namespace, rows: Sequence[Row], error: str | None = None,
            with_points: bool = False) -> None:
    """Print the table (text, or when the report goes to a file), and write the report."""
    if args.format == "text" or (args.output is not None and error is None):
        print(format_text(rows, args.target, with_points))
    if args.format != "text":
        _emit(_FORMATS[args.format](rows, args.target, error), args.output)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checker; returns the exit status (0 pass, 1 some op failed, 2 bad target or device)."""
    args = _parse_args(argv)
    try:
        _choose_device(args.device)
    except (RuntimeError, ValueError) as e:
        print(f"minigrad.check: {e}", file=sys.stderr)
        return EXIT_BAD_TARGET
    spec = args.spec or (Path(args.target) if Path(args.target).is_dir() else None)
    if spec is not None:
        if args.order is not None:
            print("minigrad.check: --order does not apply with a grading spec: its [[gradient]] "
                  "entries set the orders", file=sys.stderr)
            return EXIT_BAD_TARGET
        return _grade(args, spec)
    try:
        checks = _load_checks(args.target)
    except TargetError as e:
        print(f"minigrad.check: {e}", file=sys.stderr)
        if args.format != "text":  # the autograder still gets a report to show the student
            _report(args, [], error=str(e))
        return EXIT_BAD_TARGET
    # The report says where values stop being finite; NumPy's warnings would only repeat it.
    with numpy.errstate(all="ignore"):
        rows = [row for c in checks
                for row in run_check(c, args.order or 1, args.max_examples or 25, args.seed)]
    _report(args, rows)
    return EXIT_OK if all(r.passed for r in rows) else EXIT_FAILED


def _grade(args: argparse.Namespace, spec_path: str | Path) -> int:
    """Grade against a spec: a folder target grades the submission the spec names in it."""
    from .grading import SpecError, grade, load_spec  # grading builds on this module

    try:
        spec = load_spec(spec_path)
    except SpecError as e:
        print(f"minigrad.check: {e}", file=sys.stderr)
        return EXIT_BAD_TARGET
    submission = spec.folder / spec.submission if Path(args.target).is_dir() else Path(args.target)
    args.target = str(submission)
    if not submission.is_file():
        error = f"cannot grade {args.target!r}: no such file"
        print(f"minigrad.check: {error}", file=sys.stderr)
        if args.format != "text":
            _report(args, [], error=error)
        return EXIT_BAD_TARGET
    rows = grade(spec, submission, args.max_examples, args.seed, str(get_default_device()))
    _report(args, rows, with_points=True)
    return EXIT_OK if all(r.passed for r in rows) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
