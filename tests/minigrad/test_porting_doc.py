"""docs/porting.md runs: every ```python block, in order, in one namespace, and the
differences it shows are the ones minigrad has."""

from __future__ import annotations

from pathlib import Path

from .test_tutorial import python_blocks

PORTING = Path(__file__).resolve().parents[2] / "docs" / "porting.md"


def test_every_python_block_runs_in_order() -> None:
    namespace: dict = {"__name__": "porting"}
    blocks = python_blocks(PORTING.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    for line, code in blocks:
        exec(compile("\n" * (line - 1) + code, str(PORTING), "exec"), namespace)


def test_the_table_names_both_silent_traps_first() -> None:
    text = PORTING.read_text(encoding="utf-8")
    table = text[text.index("| PyTorch | in minigrad | write instead |"):]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `x.transpose(0, 1)`") and rows[1].startswith("| `v, i = x.max(1)`")
