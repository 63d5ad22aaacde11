"""Pictures of the graph: ``to_dot(t)`` gives Graphviz DOT text, ``render(t, path)`` an image.

Tensors are ellipses labelled with shape and dtype (leaves that require grad are
filled, the tensor drawn from is outlined in bold); ops are boxes labelled with their
Function class name. Edges run input → op → output, the way the forward pass went.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .autograd import Function
from .tensor import Tensor

__all__ = ["to_dot", "render"]

LEAF_COLOR = "lightblue"
FREED_NOTE = "(freed by backward)"
_FORMATS = ("svg", "png", "pdf")
_INSTALL_HINT = (
    "install Graphviz, which provides it: `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`"
)


def _quote(text: str) -> str:
    """A DOT string literal (newlines become DOT's centred line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Dot:
    """Collects node and edge statements, naming each object once."""

    def __init__(self, names: Mapping[int, str]) -> None:
        self.lines: list[str] = []
        self.ids: dict[int, str] = {}
        self.names = names

    def _id(self, obj: object, prefix: str) -> tuple[str, bool]:
        key = id(obj)
        new = key not in self.ids
        if new:
            self.ids[key] = f"{prefix}{len(self.ids)}"
        return self.ids[key], new

    def tensor(self, t: Tensor, root: bool = False) -> str:
        node_id, new = self._id(t, "t")
        if new:
            label = f"{tuple(t.shape)}\n{t.dtype}"
            if id(t) in self.names:
                label = f"{self.names[id(t)]}\n{label}"
            attrs = [f"label={_quote(label)}", "shape=ellipse"]
            if t.is_leaf and t.requires_grad:
                attrs += ["style=filled", f"fillcolor={LEAF_COLOR}"]
            if root:
                attrs.append("penwidth=2")
            self.lines.append(f"  {node_id} [{', '.join(attrs)}];")
        return node_id

    def op(self, fn: Function) -> tuple[str, bool]:
        node_id, new = self._id(fn, "op")
        if new:
            label = type(fn).__name__
            attrs = ["shape=box"]
            if fn.inputs is None:
                label += f"\n{FREED_NOTE}"
                attrs.append("style=dashed")
            self.lines.append(f"  {node_id} [label={_quote(label)}, {', '.join(attrs)}];")
        return node_id, new

    def edge(self, a: str, b: str) -> None:
        self.lines.append(f"  {a} -> {b};")


def _outputs(fn: Function) -> list[Tensor]:
    """The op's outputs still alive (an unused output of a multi-output op may be gone)."""
    return [t for t in (ref() for ref in fn._outputs) if t is not None]


def to_dot(tensor: Tensor | Sequence[Tensor], names: Mapping[str, Tensor] | None = None) -> str:
    """Graphviz DOT text of the graph that produced ``tensor`` (or several tensors).

    ``names`` labels chosen tensors, e.g. ``to_dot(loss, {"W": W, "b": b})``.
    The walk is iterative, so graphs of any depth can be drawn.
    """
    roots = [tensor] if isinstance(tensor, Tensor) else list(tensor)
    dot = _Dot({id(t): name for name, t in (names or {}).items()})
    stack: list[Function] = []
    for r in roots:
        dot.tensor(r, root=True)
        if r.grad_fn is not None:
            stack.append(r.grad_fn)
    while stack:
        fn = stack.pop()
        op_id, new = dot.op(fn)
        if not new:
            continue
        for out in _outputs(fn):
            dot.edge(op_id, dot.tensor(out))
        for inp in fn.inputs or ():
            if isinstance(inp, Tensor):
                dot.edge(dot.tensor(inp), op_id)
                if inp.grad_fn is not None:
                    stack.append(inp.grad_fn)
    return "digraph minigrad {\n  node [fontname=Helvetica];\n" + "\n".join(dot.lines) + "\n}\n"


def _format(path: Path, format: str | None) -> str:
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in _FORMATS:
        raise ValueError(
            f"render: cannot tell the image format of {str(path)!r}; pass format= one of "
            f"{', '.join(_FORMATS)} or use one of those file extensions"
        )
    return fmt


def render(
    tensor: Tensor | Sequence[Tensor],
    path: str | Path,
    format: str | None = None,
    names: Mapping[str, Tensor] | None = None,
) -> Path:
    """Write a picture of the graph to ``path`` (SVG, PNG or PDF, from the extension unless
    ``format`` says) using Graphviz's ``dot`` program. Returns the path."""
    path = Path(path)
    fmt = _format(path, format)
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(f"render: the Graphviz program `dot` was not found on PATH; {_INSTALL_HINT}")
    result = subprocess.run(
        [exe, f"-T{fmt}", "-o", str(path)], input=to_dot(tensor, names), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"render: dot failed (exit {result.returncode}): {result.stderr.strip()}")
    return path
