"""docs/tutorial.md runs: every ```python block, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the first code line, code) for every python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def test_every_python_block_runs_in_order() -> None:
    namespace: dict = {"__name__": "tutorial"}
    for line, code in python_blocks(TUTORIAL.read_text(encoding="utf-8")):
        # Blank lines up front make tracebacks point at the line of the markdown file.
        exec(compile("\n" * (line - 1) + code, str(TUTORIAL), "exec"), namespace)


def test_tutorial_checks_its_results() -> None:
    blocks = [code for _, code in python_blocks(TUTORIAL.read_text(encoding="utf-8"))]
    assert len(blocks) >= 10
    asserting = [code for code in blocks if re.search(r"^\s*assert ", code, re.MULTILINE)]
    assert len(asserting) >= len(blocks) - 1  # all but the imports check something
    for topic in ("gradcheck", "tanh", "softmax", "scaled_dot_product_attention", "W_h"):
        assert any(topic in code for code in asserting), topic


def test_block_extraction() -> None:
    text = "intro\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = a\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = a\n")]
