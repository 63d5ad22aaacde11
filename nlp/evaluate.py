"""Score a trained model against the extractive baselines on a JSONL file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .extractive import lead, textrank
from .metrics import corpus_rouge
from .summarizer import BatchSummarizer

__all__ = ["evaluate_systems", "format_table"]


def evaluate_systems(
    summarizer: BatchSummarizer, rows: Sequence[dict], beam_size: int = 4, batch_size: int = 64,
    **options: Any,
) -> list[tuple[str, dict[str, float]]]:
    """Character ROUGE (×100) of the model (greedy, and beam search when ``beam_size``
    > 1), Lead (first sentence) and TextRank (clauses, up to 18 characters) on ``rows``.
    ``options`` (:class:`nlp.decoding.SearchConfig` fields) apply to both decodings."""
    texts = [r["text"] for r in rows]
    refs = [r["summary"] for r in rows]
    systems: list[tuple[str, list[str]]] = [
        ("model, greedy", summarizer.summarize(texts, batch_size=batch_size, **options)),
    ]
    if beam_size > 1:
        beam = summarizer.summarize(texts, beam_size=beam_size, batch_size=batch_size, **options)
        systems.append((f"model, beam {beam_size}", beam))
    systems.append(("Lead (first sentence)", [lead(t) for t in texts]))
    systems.append(("TextRank (clauses, 18 chars)", [textrank(t) for t in texts]))
    return [(name, corpus_rouge(hyps, refs)) for name, hyps in systems]


def format_table(results: list[tuple[str, dict[str, float]]], title: str = "") -> str:
    """A Markdown table of ROUGE-1/2/L per system."""
    width = max(len(name) for name, _ in results)
    lines = [title] if title else []
    lines.append(f"| {'system':<{width}} |   R-1 |   R-2 |   R-L |")
    lines.append(f"|{'-' * (width + 2)}|------:|------:|------:|")
    for name, s in results:
        lines.append(f"| {name:<{width}} | {s['rouge-1']:5.1f} | {s['rouge-2']:5.1f} | {s['rouge-l']:5.1f} |")
    return "\n".join(lines)
