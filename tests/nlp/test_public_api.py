"""nlp is built on minigrad's public API only: what ``minigrad`` exports (the modules
``nn`` with its ``utils``, ``functional``, ``optim``, ``serialization`` …, each module's
``__all__``), and no private attribute of minigrad's classes."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import minigrad as mg
from minigrad import nn

NLP = Path(__file__).resolve().parents[2] / "nlp"


def _exported(module, name: str) -> bool:
    return not name.startswith("_") and name in getattr(module, "__all__", ())


def _private_members() -> set[str]:
    """Underscore attributes of minigrad's objects (``Tensor._wrap``, ``Module._parameters`` …)."""
    names = set()
    for obj in (mg.zeros(1), mg.Function, nn.Module(), nn.Parameter(mg.zeros(1)), mg.Device("cpu")):
        names.update(n for n in dir(obj) if n.startswith("_") and not n.endswith("__"))
    return names


def own_names(sources: list[str]) -> set[str]:
    """Names nlp defines itself (functions, methods, attributes it assigns): using those is
    not reaching into minigrad even when minigrad has a private name spelt the same."""
    names = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return names


def _module_path_problem(path: str) -> str | None:
    """Why ``path`` (``minigrad.x.y``) is not a public module, or None."""
    parts = path.split(".")
    module = importlib.import_module(parts[0])
    for part in parts[1:]:
        if not _exported(module, part):
            return f"{module.__name__}.{part} is not exported by {module.__name__}"
        module = getattr(module, part)
    return None


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    chain = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    return [node.id, *reversed(chain)] if isinstance(node, ast.Name) else None


def violations(source: str, where: str = "<source>", own: set[str] = frozenset()) -> list[str]:
    """Every use of a private minigrad name in ``source`` (``own``: names the code defines)."""
    tree = ast.parse(source)
    bound: dict[str, object] = {}  # local name -> the minigrad object it was imported as
    problems = []
    private = _private_members() - own
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "minigrad":
                    problem = _module_path_problem(alias.name)
                    if problem:
                        problems.append(f"{where}:{node.lineno}: import {alias.name}: {problem}")
                    else:
                        bound[alias.asname or alias.name] = importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "minigrad":
            problem = _module_path_problem(node.module)
            if problem:
                problems.append(f"{where}:{node.lineno}: from {node.module}: {problem}")
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not _exported(module, alias.name):
                    problems.append(f"{where}:{node.lineno}: {node.module}.{alias.name} is not exported")
                else:
                    bound[alias.asname or alias.name] = getattr(module, alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in private:
            problems.append(f"{where}:{node.lineno}: .{node.attr} is private to minigrad")
            continue
        chain = _attribute_chain(node)
        if chain and chain[0] in bound and inspect.ismodule(bound[chain[0]]):
            obj = bound[chain[0]]
            for name in chain[1:]:
                if not inspect.ismodule(obj):
                    break
                if not _exported(obj, name):
                    problems.append(f"{where}:{node.lineno}: {obj.__name__}.{name} is not exported")
                    break
                obj = getattr(obj, name)
    return sorted(set(problems))


@pytest.mark.parametrize("snippet, found", [
    ("from minigrad.backend import scatter_add", "minigrad.backend is not exported"),
    ("import minigrad as mg\nmg.backend.rng(None)", "minigrad.backend is not exported"),
    ("from minigrad import Tensor\nTensor._wrap(a, d)", "._wrap is private"),
    ("from minigrad.nn import _split", "minigrad.nn._split is not exported"),
    ("def f(m):\n    return m._parameters", "._parameters is private"),
])
def test_the_checker_finds_private_uses(snippet, found):
    assert any(found in p for p in violations(snippet))


def test_the_checker_accepts_the_public_api():
    source = ("import minigrad as mg\nimport minigrad.functional as F\n"
              "from minigrad import Tensor, nn, optim\n"
              "from minigrad.nn.utils.rnn import pack_padded_sequence\n"
              "x = mg.as_tensor(a)\ny = mg.scatter_add(x, 1, i, s)\nnn.utils.rnn.pad_packed_sequence(p)\n"
              "optim.lr_scheduler.WarmupCosine\nx.data\n")
    assert violations(source) == []


def test_nlp_uses_only_public_minigrad_names():
    sources = {path: path.read_text(encoding="utf-8") for path in sorted(NLP.rglob("*.py"))}
    own = own_names(list(sources.values()))
    problems = []
    for path, source in sources.items():
        problems += violations(source, str(path.relative_to(NLP.parent)), own)
    assert problems == [], "\n".join(problems)
