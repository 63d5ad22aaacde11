"""examples/seed_summariser: the seed's PyTorch summariser, corrected, runs on minigrad with
only its imports changed; at tiny sizes it learns its training pairs in seconds, and the
same source with PyTorch's imports put back learns them too."""

from __future__ import annotations

import types
from pathlib import Path

from ._torch import requires_torch, torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seed_summariser" / "summariser.py"
MINIGRAD_IMPORTS = {
    "import minigrad as torch  # the seed: import torch": "import torch",
    "import minigrad.nn as nn  # the seed: import torch.nn as nn": "import torch.nn as nn",
}
TINY = ["--pairs", "3", "--epochs", "60", "--d-model", "32", "--layers", "1", "--heads", "2",
        "--feedforward", "64", "--dropout", "0", "--lr", "3e-3"]


def _load(source: str) -> types.ModuleType:
    module = types.ModuleType("seed_summariser")
    module.__file__ = str(EXAMPLE)
    exec(compile(source, str(EXAMPLE), "exec"), module.__dict__)
    return module


def _torch_source() -> str:
    source = EXAMPLE.read_text(encoding="utf-8")
    for ours, theirs in MINIGRAD_IMPORTS.items():
        source = source.replace(ours, theirs)
    return source


def _assert_learned(result: dict) -> None:
    losses = result["losses"]
    assert losses[-1] < 0.2 * losses[0]
    assert result["summaries"] == result["references"]


def test_only_the_imports_differ_from_pytorch():
    source = EXAMPLE.read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if line.startswith(("import minigrad", "from minigrad"))]
    assert imports == list(MINIGRAD_IMPORTS)
    after_docstring = _torch_source().split('"""', 2)[2]
    assert "minigrad" not in after_docstring


def test_learns_its_training_pairs_on_minigrad(capsys):
    _assert_learned(_load(EXAMPLE.read_text(encoding="utf-8")).main(TINY))
    assert "人工智能大模型即服务时代：人才需求与培养 → " in capsys.readouterr().out


@requires_torch
def test_the_same_source_learns_on_pytorch():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only contend on a shared machine
    try:
        _assert_learned(_load(_torch_source()).main(TINY))
    finally:
        torch.set_num_threads(threads)

