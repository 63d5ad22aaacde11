"""The `python -m minigrad.check` gradient checker: the course's first assignment, a wrong
softplus as students write it, options, reports and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minigrad import check

REPO = Path(__file__).resolve().parents[2]
SOLUTION = REPO / "examples" / "course" / "01_elementwise" / "elementwise.py"
SOLVED_OPS = ["Exp", "Log", "Tanh", "Sigmoid", "Softplus", "Mul"]

HEADER = "import minigrad as mg\nfrom hypothesis import strategies as st\n" \
         "from minigrad.testing import away_from, checkable, tensors\n\n"

# A correct op and several broken ones, written the way students write them.
CUBE = """
class Cube(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2
"""

TOO_FEW_GRADS = """
class Mul(mg.Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.inputs
        return grad * b          # forgot the gradient of b
"""

WRONG_SHAPE = """
class Total(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad              # should be broadcast back to x's shape
"""

FORWARD_RAISES = """
class RowsOnly(mg.Function):
    @staticmethod
    def forward(ctx, x):
        if x.shape[0] > 1:
            raise ValueError("RowsOnly cannot handle more than one row")
        return 2.0 * x

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0
"""

KINK = """
@checkable(tensors(shape=(2,), elements=st.just(0.0)))
def sqrt_at_zero(x):
    return x.sqrt()
"""


# The exercise as students first get it wrong: dy/dx = 1 everywhere.
WRONG_SOFTPLUS = """
class Softplus(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.device.xp.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad
"""


@pytest.fixture
def exercise(tmp_path: Path) -> Path:
    return write_ops(tmp_path, WRONG_SOFTPLUS)


def write_ops(tmp_path: Path, *parts: str, name: str = "ops.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(textwrap.dedent(p) for p in parts), encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = check.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def row(out: str, op: str, order: int = 1) -> str:
    """The table line of ``op`` at ``order``."""
    (line,) = [ln for ln in out.splitlines() if ln.split()[:2] == [op, str(order)]]
    return line


# -- the exercise and the course's first assignment --------------------------------------


def test_exercise_fails_with_op_name_and_shrunk_input(capsys, exercise) -> None:
    rc, out, _ = run(capsys, exercise)
    assert rc == check.EXIT_FAILED == 1
    line = row(out, "Softplus")
    assert "FAIL wrong gradient" in line
    assert float(line.split()[6]) > 0.01  # worst error column
    assert "[[-1.0]]" in line  # shrunk to one element
    assert "analytic" in out and "numeric" in out and "element (0, 0)" in out


def test_solution_passes_through_the_readme_command() -> None:
    cmd = [sys.executable, "-m", "minigrad.check", "examples/course/01_elementwise/elementwise.py",
           "--max-examples", "5"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all("PASS" in row(proc.stdout, op) for op in SOLVED_OPS)
    assert "python -m minigrad.check elementwise.py --order 2" in (SOLUTION.parent / "README.md").read_text()


def test_solution_passes_second_order(capsys) -> None:
    rc, out, _ = run(capsys, SOLUTION, "--order", "2", "--max-examples", "5")
    assert rc == 0 and all("PASS" in row(out, op, 2) for op in SOLVED_OPS)


# -- what is found and how it is checked ---------------------------------------------------


def test_only_functions_defined_in_the_file_are_checked(tmp_path, capsys) -> None:
    helper_base = """
    class _Unary(mg.Function):
        @staticmethod
        def backward(ctx, grad):
            return grad
    """
    path = write_ops(tmp_path, "from minigrad.ops import Exp, Log\n", helper_base, CUBE)
    rc, out, _ = run(capsys, path)
    assert rc == 0
    table_ops = [ln.split()[0] for ln in out.split("\n\n")[0].splitlines()[2:]]
    assert table_ops == ["Cube"]  # not the imported Exp/Log, not the helper base


def test_declared_strategies_are_used(tmp_path, capsys) -> None:
    declared = """
    @checkable(tensors(shape=(2, 3), elements=away_from([0.0], min_value=0.0)))
    class Log(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return ctx.device.xp.log(x)

        @staticmethod
        def backward(ctx, grad):
            return grad / ctx.inputs[0]

    @checkable(tensors(shape=(3,)), tensors(shape=(3,)), order=2)
    def dot(a, b):
        return (a * b).sum()
    """
    rc, out, _ = run(capsys, write_ops(tmp_path, declared))
    assert rc == 0, out  # inferred inputs (negative values) would make Log fail
    assert "PASS" in row(out, "Log") and "PASS" in row(out, "dot")


def test_arity_of_varargs_forward_is_inferred(tmp_path, capsys) -> None:
    varargs = """
    class Hypot(mg.Function):
        @staticmethod
        def forward(ctx, *xs):
            a, b = xs
            return ctx.device.xp.hypot(a, b)

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.inputs
            h = (a * a + b * b).sqrt()
            return grad * a / h, grad * b / h
    """
    rc, out, _ = run(capsys, write_ops(tmp_path, varargs))
    assert rc == 0 and "PASS" in row(out, "Hypot")


def test_dotted_module_name(tmp_path, capsys, monkeypatch) -> None:
    package = tmp_path / "course_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_ops(package, CUBE, name="hw1.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, out, _ = run(capsys, "course_pkg.hw1")
    assert rc == 0 and "PASS" in row(out, "Cube")


def test_max_examples_and_seed_options(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, CUBE), "--max-examples", "7", "--seed", "3")
    assert rc == 0
    assert row(out, "Cube").split()[2] == "7"


# -- failures reported as what they are ------------------------------------------------


def test_wrong_number_of_gradients_is_not_a_numeric_mismatch(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, TOO_FEW_GRADS, CUBE))
    assert rc == 1
    assert "FAIL wrong gradient count/shape" in row(out, "Mul")
    assert "returned 1 gradient(s) but forward took 2 input(s)" in out
    assert "PASS" in row(out, "Cube")  # one broken op does not stop the others


def test_wrong_gradient_shape_is_reported_as_such(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, WRONG_SHAPE))
    assert rc == 1
    assert "FAIL wrong gradient count/shape" in row(out, "Total")
    assert "gradient of shape () for input 0" in out


def test_forward_raising_on_drawn_input_is_reported_with_the_input(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, FORWARD_RAISES))
    assert rc == 1
    line = row(out, "RowsOnly")
    assert "FAIL forward raised" in line
    assert "RowsOnly cannot handle more than one row" in out
    assert "shape (2, 2) float64" in out  # the smallest input that raises


def test_nan_from_finite_differences_is_a_non_differentiable_point(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, KINK))
    assert rc == 1
    line = row(out, "sqrt_at_zero")
    assert "FAIL non-differentiable point" in line and "wrong gradient" not in line


# -- bad targets: a clear message on stderr and exit status 2 -----------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def broken(:\n", "SyntaxError"),
        ("import no_such_module_for_minigrad\n", "ModuleNotFoundError: No module named"),
        ("raise RuntimeError('setup failed')\n", "RuntimeError: setup failed"),
    ],
)
def test_module_that_does_not_import_exits_2(tmp_path, capsys, source, expected) -> None:
    path = tmp_path / "student.py"
    path.write_text(source)
    rc, out, err = run(capsys, path)
    assert rc == check.EXIT_BAD_TARGET == 2
    assert f"cannot import {str(path)!r}" in err and expected in err
    assert out == ""


@pytest.mark.parametrize("target", ["missing/ops.py", "no_such_package_xyz.ops"])
def test_missing_target_exits_2(capsys, target) -> None:
    rc, _, err = run(capsys, target)
    assert rc == 2 and err.startswith("minigrad.check: cannot import")


def test_file_with_nothing_to_check_exits_2(tmp_path, capsys) -> None:
    rc, _, err = run(capsys, write_ops(tmp_path, "from minigrad.ops import Exp\n"))
    assert rc == 2 and "nothing to check" in err


def test_unknown_device_exits_2(tmp_path, capsys) -> None:
    rc, _, err = run(capsys, write_ops(tmp_path, CUBE), "--device", "tpu")
    assert rc == 2 and "unknown device 'tpu'" in err


def test_bad_options_are_rejected(capsys) -> None:
    for argv in (["x.py", "--order", "3"], ["x.py", "--max-examples", "0"]):
        with pytest.raises(SystemExit) as info:
            check.main(argv)
        assert info.value.code == 2
    assert "--max-examples must be at least 1" in capsys.readouterr().err


# -- orders named in headers, and the hint for a backward built on a saved array ---------

SIGMOID_SAVES_ARRAY = """
class Sigmoid(mg.Function):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + ctx.device.xp.exp(-x))
        ctx.save_for_backward(s)          # an array computed here, not an input or output
        return s + 0.0                    # a fresh array, so s is not the output

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)
"""


def test_first_order_failure_under_order_2_is_headed_first_order(capsys, exercise) -> None:
    rc, out, _ = run(capsys, exercise, "--order", "2", "--max-examples", "5")
    assert rc == 1
    assert "first-order gradient check of Softplus" in out
    assert "second-order gradient check" not in out
    assert "FAIL needs first order" in row(out, "Softplus", 2)


def test_second_order_failure_from_a_saved_array_gets_a_hint(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, SIGMOID_SAVES_ARRAY), "--order", "2", "--max-examples", "5")
    assert rc == 1
    assert "PASS" in row(out, "Sigmoid", 1) and "FAIL wrong gradient" in row(out, "Sigmoid", 2)
    assert "second-order gradient check of Sigmoid" in out
    assert "hint: Sigmoid.forward saves an array it computed (saved value 0" in out


def test_second_order_failure_from_a_detached_backward_gets_a_hint(tmp_path, capsys) -> None:
    detached = """
    class Square(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return mg.tensor(2 * x.data * grad.data)   # raw arrays: no graph
    """
    rc, out, _ = run(capsys, write_ops(tmp_path, detached), "--order", "2", "--max-examples", "5")
    assert rc == 1 and "PASS" in row(out, "Square", 1)
    assert "hint: Square.backward returns the gradient of input 0 without a graph" in out


def test_correct_second_order_gets_no_hint(tmp_path, capsys) -> None:
    rc, out, _ = run(capsys, write_ops(tmp_path, CUBE), "--order", "2", "--max-examples", "5")
    assert rc == 0 and "hint" not in out


# -- one device choice, two spellings ---------------------------------------------------


def _missing_cuda() -> str:
    """A CUDA device this machine lacks: any, without CuPy; else one index past its GPUs."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "cuda"
    return "cuda:99"


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_missing_device_is_one_line_and_exit_2(how) -> None:
    device = _missing_cuda()
    cmd = [sys.executable, "-m", "minigrad.check", str(SOLUTION)]
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_DEVICE"}
    if how == "flag":
        cmd += ["--device", device]
    else:
        env["MINIGRAD_DEVICE"] = device
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == check.EXIT_BAD_TARGET == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigrad.check: ")
    assert "cuda" in lines[0] and ("pip install" in lines[0] or "GPU" in lines[0])


# -- machine-readable reports ------------------------------------------------------------


def test_json_report_on_the_exercise(capsys, exercise) -> None:
    rc, out, _ = run(capsys, exercise, "--format", "json", "--max-examples", "5")
    report = json.loads(out)  # stdout holds the report alone
    assert rc == 1 and report["passed"] is False and report["error"] is None
    (test,) = report["tests"]
    assert test["op"] == "Softplus" and test["order"] == 1 and test["passed"] is False
    assert test["result"] == "FAIL wrong gradient" and test["minimal_failing_input"] == "[[-1.0]]"
    assert float(test["worst_error"]) > 0.01 and "analytic" in test["detail"]
    assert (report["score"], report["max_score"]) == (0, 1)


def test_gradescope_results_for_the_solution_at_both_orders(tmp_path, capsys) -> None:
    results = tmp_path / "results.json"
    rc, out, _ = run(capsys, SOLUTION, "--order", "2", "--max-examples", "5",
                     "--format", "gradescope", "-o", results)
    assert rc == 0
    assert "PASS" in row(out, "Softplus", 2)  # the table still goes to stdout
    data = json.loads(results.read_text())
    assert data["score"] == 2 * len(SOLVED_OPS)  # one point per op and order without a spec
    assert [t["name"] for t in data["tests"]][-4:] == [
        "Softplus (first-order gradient)", "Softplus (second-order gradient)",
        "Mul (first-order gradient)", "Mul (second-order gradient)"]
    for t in data["tests"]:
        assert (t["score"], t["max_score"], t["status"]) == (1, 1, "passed")
        assert t["output"].startswith("PASS on 5 drawn input(s)")


def test_gradescope_results_for_the_exercise_fail_with_the_report(tmp_path, capsys, exercise) -> None:
    results = tmp_path / "results.json"
    rc, _, _ = run(capsys, exercise, "--order", "2", "--max-examples", "5",
                   "--format", "gradescope", "-o", results)
    data = json.loads(results.read_text())
    assert rc == 1 and data["score"] == 0
    first, second = data["tests"]
    assert first["status"] == "failed" and "first-order gradient check of Softplus" in first["output"]
    assert second["status"] == "failed" and "not checked" in second["output"]


def test_gradescope_results_when_the_submission_does_not_import(tmp_path, capsys) -> None:
    path = tmp_path / "student.py"
    path.write_text("import no_such_module_for_minigrad\n")
    results = tmp_path / "results.json"
    rc, out, err = run(capsys, path, "--format", "gradescope", "-o", results)
    data = json.loads(results.read_text())
    assert rc == 2 and out == "" and "cannot import" in err
    assert data["score"] == 0 and data["tests"] == [] and "No module named" in data["output"]
