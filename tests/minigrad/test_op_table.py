"""The op table: every Function under minigrad/ops/ checked by the one op check
(``_opcheck.check_op``: NumPy reference, gradcheck, gradgradcheck where the op is twice
differentiable, float32 in → float32 out, no aliasing, inputs unmutated), and a test that
fails when a Function is missing from the table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import minigrad.ops
from minigrad import kernels, ops
from minigrad.autograd import Function

from . import (
    test_ops_arithmetic,
    test_ops_convert,
    test_ops_elementwise,
    test_ops_fused,
    test_ops_hooks,
    test_ops_linalg,
    test_ops_recurrence,
    test_ops_reduction,
    test_ops_scatter,
    test_ops_shape,
)
from ._opcheck import run_case

TABLE = [
    *test_ops_arithmetic.CASES,
    *test_ops_elementwise.CASES,
    *test_ops_reduction.CASES,
    *test_ops_linalg.CASES,
    *test_ops_shape.CASES,
    *test_ops_convert.CASES,
    *test_ops_fused.CASES,
    *test_ops_hooks.CASES,
    *test_ops_recurrence.CASES,
    *test_ops_scatter.CASES,
]


# Functions with a fused kernel (minigrad.kernels): their rows run on both paths.
FUSED = {
    ops.Softmax, ops.MaskedSoftmax, ops.LogSoftmax, ops.SoftmaxCrossEntropy, ops.LayerNorm, ops.Attention,
    ops.TanhGrad, ops.SigmoidGrad, ops.Tanh, ops.Sigmoid, ops.Relu, ops.Gelu, ops.Recurrence,
}
PATHS = [
    pytest.param(case, path, marks=case.marks, id=f"{case.name}-{path}")
    for case in TABLE
    for path in (("plain", "fused") if FUSED & set(case.covers) else ("plain",))
]


@pytest.mark.parametrize("case,path", PATHS)
def test_op(device, case, path):
    if device not in case.devices:
        pytest.skip(f"{case.name} needs a device other than {device}: it runs on {case.devices}")
    engine = "cpu" if device == "cpu" else "cuda"
    if path == "fused" and not kernels.installed(engine):
        pytest.skip(f"no fused kernels for {device}: pip install -e '.[fast]' (numba) or '.[gpu]' (cupy)")
    # min_size=0: the drawn tensors are small, and every one should take the path under test.
    with kernels.settings(enabled=path == "fused", min_size=0):
        run_case(case, device)


def _functions_under_ops() -> set[type]:
    """Every Function subclass defined in a module of the minigrad.ops package (any depth)."""
    found = set()
    for info in pkgutil.walk_packages(minigrad.ops.__path__, "minigrad.ops."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Function) and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def _covered(cls: type, table: set[type], defined: set[type]) -> bool:
    """In the table, or a shared base whose every subclass under ops/ is (max/min's base)."""
    subclasses = [c for c in defined if c is not cls and issubclass(c, cls)]
    return cls in table or (bool(subclasses) and all(c in table for c in subclasses))


def test_every_function_under_ops_is_in_the_table():
    defined = _functions_under_ops()
    table = {cls for case in TABLE for cls in case.covers}
    missing = sorted(f"{c.__module__}.{c.__qualname__}" for c in defined if not _covered(c, table, defined))
    assert not missing, (
        f"Functions without a row in the op table: {missing}. Add an OpCase covering each to the "
        "CASES of its tests/minigrad/test_ops_*.py module (listed in TABLE here)"
    )
    assert len(defined) > 40  # the walk found the package's modules, not an empty path
