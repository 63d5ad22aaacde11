"""The course: releasing starters from solutions, and grading against a spec.

Every assignment of examples/course/ is released; each starter must import and fail its
grading, each solution must pass with full marks. Student code that is partly right,
raises, hangs, floods its output, exits or does not import gets rows, never a crash.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy
import pytest

import minigrad as mg
from minigrad import check, course
from minigrad.check import load_target
from minigrad.grading import SpecError, grade, load_spec
from minigrad.testing import GradientCheckFailure, check_example

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "examples" / "course"
ASSIGNMENTS = sorted(p.parent.name for p in COURSE.glob("*/grading.toml"))
FAST = 4  # inputs drawn per gradient check here; the specs' own counts are for real grading


# -- releasing --------------------------------------------------------------------------


def test_strip_solutions_replaces_each_block_with_a_raising_stub() -> None:
    source = textwrap.dedent("""\
        def f(x):
            y = 2 * x
            # BEGIN SOLUTION
            return y + 1
            # END SOLUTION

        def g():
            # BEGIN SOLUTION
            pass
            # END SOLUTION
    """)
    starter = course.strip_solutions(source)
    assert "return y + 1" not in starter and "pass" not in starter and "SOLUTION" not in starter
    assert "    y = 2 * x\n    # YOUR CODE HERE\n    raise NotImplementedError" in starter
    namespace: dict = {}
    exec(compile(starter, "starter", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="write this part"):
        namespace["f"](1)


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1\n", "solution.py:1: # BEGIN SOLUTION is never closed"),
    ("x = 1\n# END SOLUTION\n", "solution.py:2: # END SOLUTION without a # BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "solution.py:2: # BEGIN SOLUTION inside"),
    ("x = [\n# BEGIN SOLUTION\n1]\n# END SOLUTION\n", "the starter does not compile"),
])
def test_malformed_solution_is_a_clear_error(source, message) -> None:
    with pytest.raises(course.ReleaseError, match=re.escape(message)):
        course.strip_solutions(source, "solution.py")


def test_release_command_refuses_a_folder_without_assignments(tmp_path, capsys) -> None:
    assert course.main(["release", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "no folder there holds a grading.toml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("out", [".", "01_elementwise/starter"])
def test_release_never_writes_over_the_solutions(out, capsys) -> None:
    before = (COURSE / "01_elementwise" / "elementwise.py").read_text()
    assert course.main(["release", str(COURSE), str(COURSE / out)]) == 2
    assert "would overwrite the solutions" in capsys.readouterr().err
    assert (COURSE / "01_elementwise" / "elementwise.py").read_text() == before
    assert not (COURSE / "01_elementwise" / "starter").exists()


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """The student starters, written by the documented command."""
    out = tmp_path_factory.mktemp("release")
    proc = subprocess.run([sys.executable, "-m", "minigrad.course", "release", "examples/course", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_every_assignment_is_released_without_its_solutions(released) -> None:
    assert len(ASSIGNMENTS) == 5
    for name in ASSIGNMENTS:
        spec = load_spec(COURSE / name)
        solution = (COURSE / name / spec.submission).read_text()
        starter = (released / name / spec.submission).read_text()
        assert "# BEGIN SOLUTION" in solution and "SOLUTION" not in starter
        assert "raise NotImplementedError" in starter
        for other in ("README.md", "grading.toml"):
            assert (released / name / other).read_bytes() == (COURSE / name / other).read_bytes()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_starter_imports_and_fails_its_grading(released, name) -> None:
    spec = load_spec(released / name)
    starter = released / name / spec.submission
    load_target(str(starter))  # imports cleanly: the failures below are the missing parts
    rows = grade(spec, starter, max_examples=FAST)
    assert rows and not any(r.passed for r in rows)
    assert all(r.verdict != "FAIL does not import" for r in rows)
    assert sum(r.score for r in rows) == 0 < spec.max_score


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_passes_with_full_marks(name) -> None:
    spec = load_spec(COURSE / name)
    rows = grade(spec, COURSE / name / spec.submission)  # the spec's own number of inputs
    failed = [r.detail for r in rows if not r.passed]
    assert not failed, "\n\n".join(failed)
    assert sum(r.score for r in rows) == spec.max_score > 0
    gradient_rows = sum(t.order for t in spec.tasks if t.kind == "gradient")
    assert len(rows) == gradient_rows + sum(t.kind == "functional" for t in spec.tasks)


def test_gradescope_results_for_a_released_starter(released, tmp_path, capsys) -> None:
    results = tmp_path / "results.json"
    rc = check.main([str(released / "03_linear"), "--max-examples", str(FAST),
                     "--format", "gradescope", "-o", str(results)])
    out = capsys.readouterr().out
    assert rc == 1 and "0 of 12 points" in out
    data = json.loads(results.read_text())
    assert data["score"] == 0
    names = [t["name"] for t in data["tests"]]
    assert names[:2] == ["Linear (first-order gradient)", "Linear (second-order gradient)"]
    assert "fit trains below loss 0.002 in 200 steps" in names
    assert sum(t["max_score"] for t in data["tests"]) == 12
    assert all(t["status"] == "failed" and t["output"] for t in data["tests"])


# -- grading what students really hand in ---------------------------------------------------

SPEC = """
title = "partial"
submission = "hw.py"
max_examples = 5
timeout = 20

[[gradient]]
op = "Right"
order = 2
points = [2, 1]

[[gradient]]
op = "Wrong"
points = 3

[[gradient]]
op = "Raises"
points = 4

[[gradient]]
op = "Absent"
points = 1

[[functional]]
name = "right doubles"
check = "checks.py:doubles"
points = 5
"""

OPS = """
import minigrad as mg

class Right(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad

class Wrong(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return 3 * x

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad

class Raises(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x + 1

    @staticmethod
    def backward(ctx, grad):
        raise ValueError("student bug")
"""

CHECKS = """
import minigrad as mg

def doubles(hw):
    y = hw.Right.apply(mg.tensor([3.0]))
    assert y.item() == 9.0, f"got {y.item()}"
    return "9 = 3²"

def hangs(hw):
    while True:
        pass

def floods(hw):
    while True:
        print("x" * 1000)

def exits(hw):
    raise SystemExit(3)

def dies(hw):
    import os
    os._exit(7)

def spawns(hw):
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # keeps stdout
    open("spawned.pid", "w").write(str(child.pid))
    return "started a process"

def lingers(hw):
    import threading, time
    threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon
    return "left a thread running"
"""


def course_folder(tmp_path: Path, spec: str = SPEC, ops: str = OPS) -> Path:
    (tmp_path / "grading.toml").write_text(textwrap.dedent(spec))
    (tmp_path / "hw.py").write_text(textwrap.dedent(ops))
    (tmp_path / "checks.py").write_text(textwrap.dedent(CHECKS))
    return tmp_path


def by_title(rows) -> dict:
    return {r.title: r for r in rows}


def test_partial_submission_gets_partial_marks(tmp_path, capsys) -> None:
    folder = course_folder(tmp_path, ops="print('hello from the student')\n" + OPS)
    rc = check.main([str(folder), "--format", "gradescope", "-o", str(folder / "results.json")])
    out = capsys.readouterr().out
    assert rc == 1
    data = json.loads((folder / "results.json").read_text())
    tests = {t["name"]: t for t in data["tests"]}
    assert data["score"] == 2 + 1 + 5  # Right at both orders and the functional check
    assert tests["Right (second-order gradient)"]["score"] == 1
    assert tests["Wrong (first-order gradient)"]["score"] == 0
    assert "analytic" in tests["Wrong (first-order gradient)"]["output"]
    assert "student bug" in tests["Raises (first-order gradient)"]["output"]
    assert "defines no mg.Function or @checkable function named 'Absent'" in \
        tests["Absent (first-order gradient)"]["output"]
    assert tests["right doubles"]["output"] == "9 = 3²" and tests["right doubles"]["score"] == 5
    # printing at import is harmless, and shown with the first test
    assert "hello from the student" in tests["Right (first-order gradient)"]["output"]
    assert "8 of 16 points" in out
    assert "FAIL backward raised" in out and "FAIL wrong gradient" in out and "FAIL missing" in out


MISBEHAVING = """
submission = "hw.py"
timeout = 2
""" + "".join(f"""
[[functional]]
name = "{name}"
check = "checks.py:{name}"
""" for name in ("hangs", "floods", "exits", "dies", "doubles", "lingers", "spawns"))


def test_misbehaving_checks_are_rows_and_grading_goes_on(tmp_path) -> None:
    folder = course_folder(tmp_path, MISBEHAVING)
    rows = by_title(grade(load_spec(folder), folder / "hw.py"))
    expected = {
        "hangs": ("FAIL timed out after 2 s", "ran longer than the time limit"),
        "floods": ("FAIL printed too much", "printed more than 1 MB"),
        "exits": ("FAIL raised", "SystemExit: 3"),
        "dies": ("FAIL process died", "exited with status 7"),
    }
    for name, (verdict, reason) in expected.items():
        assert rows[name].verdict == verdict and reason in rows[name].detail and rows[name].score == 0
    assert rows["doubles"].passed  # a fresh process graded what came after
    assert rows["lingers"].passed  # and a thread left running does not keep grading waiting
    assert rows["spawns"].passed and not _running(int((folder / "spawned.pid").read_text()))
    flood = rows["floods"].output
    assert len(flood) < 3000 and "bytes printed in all" in flood


def _running(pid: int) -> bool:
    """Whether process ``pid`` is still alive a few seconds on (SIGKILL is delivered
    asynchronously; a zombie waiting to be reaped counts as dead)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("source, verdict, reason", [
    ("import no_such_module_for_minigrad\n", "FAIL does not import", "No module named"),
    ("while True:\n    pass\n", "FAIL timed out after 2 s", "importing the submission"),
], ids=["import-error", "import-hangs"])
def test_submission_import_problems_are_rows(tmp_path, capsys, source, verdict, reason) -> None:
    folder = course_folder(tmp_path, SPEC.replace("timeout = 20", "timeout = 2"), source)
    rc = check.main([str(folder), "--format", "json", "--max-examples", "3"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 1 and report["score"] == 0 and len(report["tests"]) == 6
    assert all(t["result"] == verdict for t in report["tests"])
    assert reason in report["tests"][0]["detail"]


def test_order_flag_with_a_spec_is_refused(tmp_path, capsys) -> None:
    assert check.main([str(course_folder(tmp_path)), "--order", "2"]) == 2
    assert "--order does not apply with a grading spec" in capsys.readouterr().err


def test_missing_submission_exits_2_with_a_report(tmp_path, capsys) -> None:
    folder = course_folder(tmp_path)
    (folder / "hw.py").unlink()
    rc = check.main([str(folder), "--format", "gradescope", "-o", str(folder / "results.json")])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    assert json.loads((folder / "results.json").read_text())["score"] == 0


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('submission = "hw.py"\n', ""), "needs 'submission'"),
    (lambda s: s.replace("points = [2, 1]", "points = [2]"), "(Right): points needs 2 value(s)"),
    (lambda s: s.replace("order = 2", "order = 3"), "(Right): order must be 1 or 2"),
    (lambda s: s.replace("checks.py:doubles", "nowhere.py:doubles"), "check must be 'file.py:function'"),
    (lambda s: s.replace("timeout = 20", "timeout = -1"), "timeout must be a positive number"),
    (lambda s: s + "[[", "cannot read the grading spec"),
])
def test_bad_spec_is_the_teachers_error_exit_2(tmp_path, capsys, edit, message) -> None:
    folder = course_folder(tmp_path, edit(SPEC))
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(folder)
    assert check.main([str(folder)]) == 2
    assert message in capsys.readouterr().err


def test_attention_that_saves_its_weights_fails_second_order_with_the_hint(tmp_path) -> None:
    """Assignment 5's README warns against saving P in forward; the checker says why it fails."""
    source = (COURSE / "05_attention" / "attention.py").read_text()
    indent = " " * 8
    edits = [
        (f"{indent}ctx.save_for_backward(q, k, v)\n", ""),
        (f"{indent}return p.data @ v",
         f"{indent}ctx.save_for_backward(q, k, v, p.data)\n{indent}return p.data @ v"),
        ("q, k, v = ctx.saved_tensors\n", "q, k, v, p = ctx.saved_tensors\n"),
        ("p = attention_weights(q, k, ctx.causal)", "pass"),
    ]
    saves_p = source
    for old, new in edits:
        saves_p = saves_p.replace(old, new)
    assert saves_p.count("p.data") == 2 and "q, k, v, p = ctx.saved_tensors" in saves_p
    path = tmp_path / "attention.py"
    path.write_text(saves_p)
    attention = load_target(str(path)).Attention
    q, k, v = (mg.tensor(numpy.random.default_rng(i).standard_normal((1, 3, 2)), requires_grad=True)
               for i in range(3))
    check_example(attention, (q, k, v, True), order=1)  # first order is right
    with pytest.raises(GradientCheckFailure) as info:
        check_example(attention, (q, k, v, True), order=2)
    assert info.value.order == 2 and info.value.kind == "mismatch"
    assert "hint: Attention.forward saves an array it computed (saved value 3" in str(info.value)
