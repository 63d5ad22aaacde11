"""Grading a submission against an assignment's grading spec, student code in its own process.

``python -m minigrad.check examples/course/01_elementwise`` (or ``--spec grading.toml
student.py``) reads the spec, runs every check it lists in a separate Python process and
turns whatever the student's code does into rows with points: a wrong gradient, an
exception, an import error, a hang (each check has a time limit) or a flood of output
(capped) is a failing row, never a crash of the grader.

The spec, ``grading.toml`` next to the solution::

    title = "Assignment 1: elementwise ops"
    submission = "elementwise.py"   # the file students hand in
    max_examples = 20               # inputs drawn per gradient check (default 25)
    timeout = 60                    # seconds per check unless an entry says otherwise

    [[gradient]]                    # an mg.Function or @checkable function of the submission
    op = "Exp"
    order = 2                       # checks orders 1..order
    points = [1, 1]                 # points at each order

    [[functional]]                  # a check written by the teacher
    name = "regression trains below loss 0.01 within 300 steps"
    check = "checks.py:trains_below"   # called as trains_below(submission_module, **args)
    args = { loss = 0.01, steps = 300 }
    points = 3
    timeout = 30

A functional check returns a message (shown with a pass) or raises AssertionError with
the reason it fails; any other exception is reported as the submission raising.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (setup.py installs it)
    import tomli as tomllib

from .backend import set_default_device
from .check import Check, Row, TargetError, find_checks, load_target, run_check

__all__ = ["Spec", "Task", "SpecError", "load_spec", "grade", "SPEC_NAME"]

SPEC_NAME = "grading.toml"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_EXAMPLES = 25
OUTPUT_LIMIT = 1 << 20  # bytes one check may print before it is stopped
OUTPUT_KEPT = 2000  # characters of it shown in the report
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
# Student code runs with one BLAS thread: assignment-sized matrices gain nothing from more,
# and on a busy machine (an autograder grading many submissions at once) OpenBLAS threads
# contending for the cores made the same check 20x slower, so time limits stop being fair.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class SpecError(Exception):
    """The grading spec is missing or malformed (the teacher's problem, not the student's)."""


@dataclass(frozen=True)
class Task:
    """One entry of the spec: a gradient check at orders 1..order, or a functional check."""

    kind: str  # "gradient" or "functional"
    name: str  # the op, or the functional check's title
    points: tuple[float, ...]  # one per order (a functional check has one)
    timeout: float
    order: int = 1
    check: str = ""  # "file.py:function" for a functional check
    args: dict[str, Any] = field(default_factory=dict)

    def failed_rows(self, verdict: str, detail: str, output: str = "") -> list[Row]:
        """Zero-score rows for everything this task would have reported."""
        if self.kind == "functional":
            return [Row(self.name, None, None, verdict, "-", "-", detail, self.points[0], output)]
        return [Row(self.name, k, None, verdict, "-", "-", detail, p, output if k == 1 else "")
                for k, p in enumerate(self.points, start=1)]


@dataclass(frozen=True)
class Spec:
    """A parsed grading spec."""

    path: Path
    title: str
    submission: str
    max_examples: int
    import_timeout: float
    tasks: tuple[Task, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def max_score(self) -> float:
        return sum(sum(t.points) for t in self.tasks)


# -- reading the spec -------------------------------------------------------------------


def load_spec(path: str | Path) -> Spec:
    """Read and validate a grading spec; a folder means its grading.toml."""
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"no grading spec at {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SpecError(f"cannot read the grading spec {str(path)!r}: {e}") from None
    where = f"grading spec {str(path)!r}"
    timeout = _positive(raw.get("timeout", DEFAULT_TIMEOUT), f"{where}: timeout")
    tasks = [_gradient_task(e, timeout, f"{where}, [[gradient]] {i + 1}")
             for i, e in enumerate(raw.get("gradient", []))]
    tasks += [_functional_task(e, timeout, path.parent, f"{where}, [[functional]] {i + 1}")
              for i, e in enumerate(raw.get("functional", []))]
    if not tasks:
        raise SpecError(f"{where}: lists no [[gradient]] or [[functional]] check")
    submission = _required(raw, "submission", str, where)
    return Spec(
        path=path,
        title=str(raw.get("title", path.parent.name)),
        submission=submission,
        max_examples=int(_positive(raw.get("max_examples", DEFAULT_MAX_EXAMPLES), f"{where}: max_examples")),
        import_timeout=timeout,
        tasks=tuple(tasks),
    )


def _required(entry: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if not isinstance(entry.get(key), kind):
        raise SpecError(f"{where}: needs {key!r} ({kind.__name__}), got {entry.get(key)!r}")
    return entry[key]


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise SpecError(f"{where} must be a positive number, got {value!r}")
    return float(value)


def _points(value: Any, count: int, where: str) -> tuple[float, ...]:
    values = value if isinstance(value, list) else [value]
    if len(values) != count:
        raise SpecError(f"{where}: points needs {count} value(s), one per order, got {value!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
            raise SpecError(f"{where}: points must be non-negative numbers, got {value!r}")
    return tuple(float(v) for v in values)


def _gradient_task(entry: dict[str, Any], timeout: float, where: str) -> Task:
    op = _required(entry, "op", str, where)
    order = entry.get("order", 1)
    if order not in (1, 2) or isinstance(order, bool):
        raise SpecError(f"{where} ({op}): order must be 1 or 2, got {order!r}")
    return Task("gradient", op, _points(entry.get("points", [1] * order), order, f"{where} ({op})"),
                _positive(entry.get("timeout", timeout), f"{where} ({op}): timeout"), order=order)


def _functional_task(entry: dict[str, Any], timeout: float, folder: Path, where: str) -> Task:
    name = _required(entry, "name", str, where)
    check = _required(entry, "check", str, where)
    file, _, function = check.partition(":")
    if not function or not (folder / file).is_file():
        raise SpecError(f"{where} ({name}): check must be 'file.py:function' with the file next "
                        f"to the spec, got {check!r}")
    args = entry.get("args", {})
    if not isinstance(args, dict):
        raise SpecError(f"{where} ({name}): args must be a table, got {args!r}")
    return Task("functional", name, _points(entry.get("points", 1), 1, f"{where} ({name})"),
                _positive(entry.get("timeout", timeout), f"{where} ({name}): timeout"),
                check=check, args=args)


# -- the grader: runs workers and watches them ----------------------------------------------


def grade(spec: Spec, submission: str | Path, max_examples: int | None = None,
          seed: int | None = None, device: str = "cpu") -> list[Row]:
    """Grade ``submission`` (a .py file) against ``spec``: one row per check and order."""
    request = {
        "submission": str(Path(submission).resolve()),
        "spec": str(spec.path.resolve()),
        "max_examples": max_examples or spec.max_examples,
        "seed": seed,
        "device": device,
    }
    results: dict[int, list[Row]] = {}
    pending = list(range(len(spec.tasks)))
    while pending:
        _Worker(spec, request, pending, results).run()
        pending = [i for i in pending if i not in results]
    return [row for i in range(len(spec.tasks)) for row in results[i]]


class _Worker:
    """One worker process grading the ``pending`` tasks in order, watched for time and output.

    It stops at the first task that hangs, floods its output or kills the process; that task
    gets a failing row, and ``grade`` starts a fresh worker for the tasks after it."""

    def __init__(self, spec: Spec, request: dict[str, Any], pending: list[int],
                 results: dict[int, list[Row]]) -> None:
        self.spec, self.pending, self.results = spec, pending, results
        self.request = dict(request, tasks=pending)
        self.current: int | None = None  # index of the running task; None while importing
        self.output = _Capture()
        self.imported = False
        self.import_output = ""

    def _limit(self) -> float:
        return self.spec.import_timeout if self.current is None else self.spec.tasks[self.current].timeout

    def run(self) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [_PACKAGE_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        for name in _THREAD_VARIABLES:  # unless the caller chose otherwise
            env.setdefault(name, "1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "minigrad.grading", str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), cwd=self.spec.folder, env=env, start_new_session=True,
        )
        os.close(write_fd)
        proc.stdin.write(json.dumps(self.request).encode())
        proc.stdin.close()
        try:
            ended = self._watch(proc, read_fd)
        finally:
            _kill(proc)
            os.close(read_fd)
            proc.stdout.close()
        if ended and any(i not in self.results for i in self.pending):
            self._stop("FAIL process died", f"the grading process exited with status {proc.returncode} "
                       "(the submission called exit(), or crashed the interpreter)")

    def _watch(self, proc: subprocess.Popen, read_fd: int) -> bool:
        """Follow the worker until it closes its events pipe, which it does by exiting
        (True), or until a task overruns its time or output (False, that task failed).
        Its output is not waited for: a process the submission started may hold it open."""
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ, "output")
        selector.register(read_fd, selectors.EVENT_READ, "events")
        events = b""
        deadline = time.monotonic() + self._limit()
        while True:
            remaining = deadline - time.monotonic()
            ready = selector.select(timeout=remaining) if remaining > 0 else []
            if not ready:
                self._stop(f"FAIL timed out after {self._limit():g} s", "stopped: it ran longer "
                           "than the time limit (an endless loop, or far too slow)")
                return False
            # Output first: the worker flushes what a task printed before reporting the task.
            for key, _ in sorted(ready, key=lambda r: r[0].data != "output"):
                chunk = os.read(key.fd, 1 << 16)
                if key.data == "output":
                    if not chunk:
                        selector.unregister(key.fd)
                    elif self.output.add(chunk) > OUTPUT_LIMIT:
                        self._stop("FAIL printed too much", f"stopped: it printed more than "
                                   f"{OUTPUT_LIMIT >> 20} MB")
                        return False
                    continue
                if not chunk:
                    return True
                events += chunk
                *lines, events = events.split(b"\n")
                for line in lines:
                    if self._event(json.loads(line)):
                        deadline = time.monotonic() + self._limit()

    def _event(self, event: dict[str, Any]) -> bool:
        """Handle one message from the worker; True when a new time limit starts."""
        kind = event["event"]
        if kind == "imported":
            self.imported = True
            self.import_output = self.output.take()
            return True
        if kind == "import-error":
            self.imported = True
            self._fail_all("FAIL does not import", event["message"])
            return False
        if kind == "start":
            self.current = event["task"]
            return True
        rows = [Row(**r) for r in event["rows"]]
        output = self.output.take()
        if event["task"] == self.pending[0]:
            output = self.import_output + output
        self.results[event["task"]] = [rows[0]._replace(output=output)] + rows[1:]
        self.current = None
        return False

    def _stop(self, verdict: str, reason: str) -> None:
        """The worker must go: fail what it was doing (every task, if still importing), so
        that each worker grades at least one task and grading always ends."""
        if not self.imported:
            return self._fail_all(verdict, f"importing the submission: {reason}")
        if self.current is None:  # between two tasks (a thread the submission started?)
            remaining = [i for i in self.pending if i not in self.results]
            if not remaining:
                return None  # everything is graded
            self.current = remaining[0]  # blame the next task
        task = self.spec.tasks[self.current]
        self.results[self.current] = task.failed_rows(verdict, f"{task.name}: {reason}", self.output.take())

    def _fail_all(self, verdict: str, detail: str) -> None:
        output = self.output.take()
        for i in self.pending:
            shown = output if i == self.pending[0] else ""
            self.results[i] = self.spec.tasks[i].failed_rows(verdict, detail, shown)


class _Capture:
    """What the submission printed during one step: its start kept, the rest counted."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.size = 0

    def add(self, chunk: bytes) -> int:
        self.size += len(chunk)
        room = 4 * OUTPUT_KEPT - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]
        return self.size

    def take(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if len(text) > OUTPUT_KEPT or self.size > len(self.kept):
            text = text[:OUTPUT_KEPT] + f"\n… ({self.size} bytes printed in all)"
        self.kept, self.size = bytearray(), 0
        return text


def _kill(proc: subprocess.Popen) -> None:
    """End the worker and anything it started: its own process group, signalled before the
    worker is reaped, so that the group's id cannot belong to anyone else yet."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# -- the worker: runs in its own process ------------------------------------------------------


def _worker(result_fd: int) -> None:
    """Import the submission and run the requested tasks, reporting on ``result_fd``."""
    request = json.load(sys.stdin)
    events = os.fdopen(result_fd, "w", encoding="utf-8")

    def send(**event: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        events.write(json.dumps(event) + "\n")
        events.flush()

    set_default_device(request["device"])
    spec = load_spec(request["spec"])
    try:
        module = load_target(request["submission"])
    except TargetError as e:
        return send(event="import-error", message=str(e))
    send(event="imported")
    checks = {c.name: c for c in find_checks(module)}
    for i in request["tasks"]:
        send(event="start", task=i)
        rows = _run_task(spec, spec.tasks[i], module, checks, request)
        send(event="rows", task=i, rows=[r._asdict() for r in rows])


def _run_task(spec: Spec, task: Task, module: ModuleType, checks: dict[str, Check],
              request: dict[str, Any]) -> list[Row]:
    try:
        with numpy.errstate(all="ignore"):
            if task.kind == "gradient":
                return _gradient_rows(task, checks, request)
            return [_functional_row(spec, task, module)]
    except BaseException as e:  # SystemExit from student code too: it is a failing row
        verdict = "FAIL not implemented" if isinstance(e, NotImplementedError) else "FAIL raised"
        return task.failed_rows(verdict, f"{task.name}: {_short_traceback(e)}")


def _gradient_rows(task: Task, checks: dict[str, Check], request: dict[str, Any]) -> list[Row]:
    check = checks.get(task.name)
    if check is None:
        found = ", ".join(checks) or "none"
        return task.failed_rows("FAIL missing", f"{task.name}: the submission defines no mg.Function "
                                f"or @checkable function named {task.name!r} (found: {found})")
    check = check._replace(order=1)  # the spec sets the orders
    return run_check(check, task.order, request["max_examples"], request["seed"], task.points)


def _functional_row(spec: Spec, task: Task, module: ModuleType) -> Row:
    fn = _teacher_function(spec.folder, task.check)
    try:
        message = fn(module, **task.args)
    except AssertionError as e:
        return Row(task.name, None, None, "FAIL check failed", "-", "-", f"{task.name}: {e}", task.points[0])
    return Row(task.name, None, None, "PASS", "-", "-", str(message or ""), task.points[0])


def _teacher_function(folder: Path, check: str) -> Callable[..., Any]:
    file, _, name = check.partition(":")
    module = load_target(str(folder / file))
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SpecError(f"{check}: {file} has no function {name!r}")
    return fn


def _short_traceback(e: BaseException, frames: int = 6) -> str:
    """The exception and the last few frames, where the student's code most likely is."""
    lines = traceback.format_exception(type(e), e, e.__traceback__, limit=-frames)
    return "".join(lines).strip()


def _main(argv: Sequence[str]) -> None:
    _worker(int(argv[0]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # now, even if the submission left a thread running


if __name__ == "__main__":
    _main(sys.argv[1:])
