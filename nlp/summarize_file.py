"""Summarising a whole JSON Lines file with one loaded model
(``python -m nlp summarize --model M --input texts.jsonl --output out.jsonl``).

Each input line is a JSON object with a string ``"text"``; the output has the same rows,
in the same order and with all their other fields, plus ``"summary"`` (replaced where a
row already had one). The input is read and checked first, so a malformed line stops
the run at once, naming ``file:line``, before any decoding; with ``skip_bad`` such lines
are left out and listed at the end instead. The texts are then decoded in batches of
similar length and the rows written as soon as every row before them is done. A file
output is written to a temporary name and renamed at the end
(:func:`minigrad.serialization.atomic_write`), so a failed or interrupted run leaves no
half-written file; ``-`` reads standard input / writes standard output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm import tqdm

from minigrad.serialization import atomic_write

from .data import DataError, parse_jsonl_line
from .summarizer import BatchSummarizer

__all__ = ["FileSummary", "read_texts", "summarize_file", "STDIO"]

STDIO = "-"


@dataclass
class FileSummary:
    """What :func:`summarize_file` did: rows written, and the lines it skipped (each a
    :class:`DataError` naming ``file:line``)."""

    written: int
    skipped: list[DataError] = field(default_factory=list)


def _check_text(obj: dict, name: str, lineno: int) -> dict:
    if not obj["text"].strip():
        raise DataError("field 'text' is empty or only whitespace: nothing to summarise", name, lineno)
    return obj


def read_texts(source: str, skip_bad: bool = False) -> tuple[list[dict], list[DataError]]:
    """The rows of a JSON Lines file (``-``: standard input) that hold a non-empty string
    ``"text"``, and the errors of the lines left out. Without ``skip_bad`` the first bad
    line raises its :class:`DataError` instead. Blank lines are ignored."""
    name = "<stdin>" if source == STDIO else source
    rows: list[dict] = []
    skipped: list[DataError] = []
    with _open_input(source) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                obj = parse_jsonl_line(raw, name, lineno, fields=("text",))
                if obj is not None:
                    rows.append(_check_text(obj, name, lineno))
            except DataError as e:
                if not skip_bad:
                    raise
                skipped.append(e)
    return rows, skipped


@contextmanager
def _open_input(source: str) -> Iterator[IO[bytes]]:
    if source == STDIO:
        yield sys.stdin.buffer
        return
    with open(source, "rb") as f:
        yield f


@contextmanager
def _open_output(target: str) -> Iterator[IO[str]]:
    if target == STDIO:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_write(target) as f:
        yield f


def _in_order(
    summarizer: BatchSummarizer, texts: list[str], bar: tqdm, **decode: Any
) -> Iterator[tuple[int, str]]:
    """``(index, summary)`` in input order, each as soon as it and every earlier text
    are decoded (batches come in length order)."""
    done: dict[int, str] = {}
    next_out = 0
    for indices, summaries in summarizer.summarize_batches(texts, **decode):
        done.update(zip(indices, summaries))
        bar.update(len(indices))
        while next_out in done:
            yield next_out, done.pop(next_out)
            next_out += 1


def summarize_file(
    summarizer: BatchSummarizer,
    source: str,
    target: str,
    beam_size: int = 1,
    batch_size: int = 64,
    skip_bad: bool = False,
    progress: bool = True,
    **options: Any,
) -> FileSummary:
    """Summarise every row of ``source`` into ``target`` (see the module docstring);
    ``options`` are :class:`nlp.decoding.SearchConfig` fields."""
    rows, skipped = read_texts(source, skip_bad)
    texts = [r["text"] for r in rows]
    with tqdm(total=len(rows), unit="text", disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        with _open_output(target) as out:
            stream = _in_order(summarizer, texts, bar, beam_size=beam_size, batch_size=batch_size, **options)
            for i, summary in stream:
                out.write(json.dumps({**rows[i], "summary": summary}, ensure_ascii=False) + "\n")
    return FileSummary(len(rows), skipped)
