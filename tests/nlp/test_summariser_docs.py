"""docs/summariser.md: every ```python block runs, in order, in one namespace, against a
small model folder at runs/lcsts and another at runs/lcsts-ft (the paths the document uses)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from tests.minigrad.test_tutorial import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "summariser.md"


def test_every_python_block_of_the_summariser_doc_runs(
    tiny_model, tiny_model_2, tmp_path, monkeypatch, capsys
):
    shutil.copytree(tiny_model, tmp_path / "runs" / "lcsts")
    shutil.copytree(tiny_model_2, tmp_path / "runs" / "lcsts-ft")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "summariser_doc"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a machine without a CJK font warns once; that is documented
        for line, code in blocks:
            exec(compile("\n" * (line - 1) + code, str(DOC), "exec"), namespace)
    documented = ("Summarizer.load(", "Consensus.load(", "summarize(", "summarize_batches(",
                  "summarize_file(",
                  "explain(", "draw_explanation(")
    assert all(any(name in code for _, code in blocks) for name in documented)
    assert namespace["summaries"] == namespace["summarizer"].summarize(namespace["texts"], beam_size=4)
    assert None not in namespace["results"]
    assert len(namespace["agreed"]) == len(namespace["texts"])
    written = (tmp_path / "summaries.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in written.splitlines()]
    assert [r["summary"] for r in rows] == namespace["summaries"]
    assert (tmp_path / "attention.png").stat().st_size > 10_000
    assert f"{len(namespace['many'])}/{len(namespace['many'])} done" in capsys.readouterr().out
