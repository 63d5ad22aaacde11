"""Anomaly mode: ``with mg.detect_anomaly():`` stops at the op that first makes a NaN/Inf.

While the mode is on, ``autograd._anomaly`` holds a checker that the core calls after
every forward (``check_forward``) and after every node's backward (``check_backward``).
Forward records on each node where in the user's code it was created, so that a NaN
found much later, in backward, can still point at the line that built the op.
Outside the mode nothing is recorded and the hooks cost one ``is None`` test per op.
"""

from __future__ import annotations

import functools
import linecache
import os
import sysconfig
import traceback
from collections.abc import Sequence
from typing import Any

import numpy

from . import autograd

__all__ = ["detect_anomaly", "AnomalyError"]

# Frames from these directories are not the user's code: minigrad itself, the standard
# library and installed packages (pytest, hypothesis, ...).
_LIBRARY_DIRS = tuple(
    dict.fromkeys(
        [os.path.dirname(os.path.abspath(__file__)) + os.sep]
        + [sysconfig.get_path(k) + os.sep for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    )
)
# How many of the innermost user frames a node keeps: enough to see the call chain,
# few enough that a long training graph does not hold whole stacks.
_FRAMES_KEPT = 3

Site = tuple[str, int, str]  # (filename, line number, function name)


class AnomalyError(RuntimeError, FloatingPointError):
    """A NaN or Inf appeared in anomaly mode. A RuntimeError, as PyTorch users expect, and a
    FloatingPointError, since that is what it is."""


@functools.lru_cache(maxsize=None)
def _is_library_file(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_LIBRARY_DIRS)


def _user_sites() -> tuple[tuple[Site, ...], bool]:
    """The innermost user frames (outermost first), and whether we are inside the
    backward graph walk (ops run by a backward are judged by ``check_backward``)."""
    sites: list[Site] = []
    in_backward = False
    for frame, lineno in traceback.walk_stack(None):
        code = frame.f_code
        if code is autograd._run.__code__:
            in_backward = True
        if len(sites) < _FRAMES_KEPT and not _is_library_file(code.co_filename):
            sites.append((code.co_filename, lineno, code.co_name))
    return tuple(reversed(sites)), in_backward


def _format_sites(sites: Sequence[Site]) -> str:
    lines = []
    for filename, lineno, name in sites:
        lines.append(f'  File "{filename}", line {lineno}, in {name}')
        code = linecache.getline(filename, lineno).strip()
        if code:
            lines.append(f"    {code}")
    return "\n".join(lines)


def _where_created(node: autograd.Function) -> str:
    sites = getattr(node, "_anomaly_sites", None)
    if sites is None:
        return (
            f"(the {type(node).__name__} was created outside detect_anomaly(), so where is "
            "unknown: run the forward pass inside the with block too)"
        )
    if not sites:
        return f"(the {type(node).__name__} was created with no user code on the stack)"
    return f"{type(node).__name__} was created at:\n{_format_sites(sites)}"


def _bad_value(array: Any, xp: Any) -> str | None:
    """'nan' or 'inf' if a floating array holds one, else None."""
    if getattr(array, "dtype", None) is None or array.dtype.kind not in "fc":
        return None
    if bool(xp.isnan(array).any()):
        return "nan"
    if not bool(xp.isfinite(array).all()):
        return "inf"
    return None


def _xp(node: autograd.Function) -> Any:
    """The node's array module; numpy for an op that was given no tensors at all."""
    return numpy if node.device is None else node.device.xp


class _Checker:
    """The object installed as ``autograd._anomaly`` while the mode is on."""

    def check_forward(self, node: autograd.Function, outputs: Sequence[Any]) -> None:
        sites, in_backward = _user_sites()
        node._anomaly_sites = sites
        if in_backward:
            return
        xp = _xp(node)
        for i, out in enumerate(outputs):
            bad = _bad_value(out, xp)
            if bad is not None:
                raise AnomalyError(
                    f"{type(node).__name__} forward produced {bad} in output {i}"
                    f"{_input_note(node)}\n{_where_created(node)}"
                )

    def check_backward(self, node: autograd.Function, grads: Sequence[Any]) -> None:
        for i, g in enumerate(grads):
            bad = None if g is None else _bad_value(g.data, g.device.xp)
            if bad is not None:
                raise AnomalyError(
                    f"{type(node).__name__} backward produced {bad} in gradient of input {i}\n"
                    f"{_where_created(node)}"
                )


def _input_note(node: autograd.Function) -> str:
    """Say so when the NaN/Inf came in from outside the graph (e.g. in the data)."""
    from .tensor import Tensor

    for k, inp in enumerate(getattr(node, "inputs", None) or ()):
        if isinstance(inp, Tensor) and _bad_value(inp.data, inp.device.xp) is not None:
            return f" (its input {k} already contained nan/inf: it came from outside the graph)"
    return ""


class detect_anomaly:
    """``with mg.detect_anomaly():`` — raise ``AnomalyError`` at the op whose forward output,
    or whose backward's gradient, first contains NaN or Inf, naming the op and the line of
    user code that created it. Slower (it records a short stack per op): use it to debug.
    Nesting is safe: leaving the block restores whatever mode was on before."""

    def __init__(self) -> None:
        self._previous: list[Any] = []

    def __enter__(self) -> detect_anomaly:
        self._previous.append(autograd._anomaly)
        autograd._anomaly = _Checker()
        return self

    def __exit__(self, *exc: Any) -> bool:
        autograd._anomaly = self._previous.pop()
        return False
