"""Pseudo-summaries made from the texts alone, for pretraining (no new data, no summaries).

Gap-sentence generation (after PEGASUS, Zhang et al. 2020): in each text, the sentence
that shares the most with the rest of the text (character ROUGE-1 F1 against the other
sentences) is taken out, a mark (:data:`GAP_MARK`) is left in its place, and the model is
trained to write that sentence back from what remains. The sentence cannot be copied, so
the encoder has to read the whole text and the decoder learns to write the sentences
of the domain; the targets are short (one sentence, ending punctuation dropped), so a
pretraining epoch costs about what a summarisation epoch does. ``python -m nlp train
--objective gap-sentence`` trains on these pairs; ``python -m nlp train --init FOLDER``
then fine-tunes the pretrained model on the real summaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .extractive import split_clauses, split_sentences, strip_trailing_punct
from .metrics import chars, rouge_n

__all__ = ["GAP_MARK", "OBJECTIVES", "gap_sentence_pairs"]

OBJECTIVES = ("summary", "gap-sentence")
# one token in both tokenizer modes, and rare in real text: outside the vocabulary, the model
# reads it as <unk> (and its copy mechanism as the example's own unknown word)
GAP_MARK = "□"


def _units(text: str, max_chars: int | None) -> list[str]:
    """The sentences of ``text``, a sentence longer than ``max_chars`` characters cut into its
    clauses; a text of one sentence is cut into clauses too."""
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return split_clauses(text)
    return [unit for s in sentences
            for unit in (split_clauses(s) if max_chars is not None and len(chars(s)) > max_chars else [s])]


def _unit_spans(text: str, max_chars: int | None) -> list[tuple[int, int]]:
    """(start, end) of each unit of ``text`` (:func:`_units`) in the text itself; none when
    there are fewer than two."""
    units = _units(text, max_chars)
    if len(units) < 2:
        return []
    spans, cursor = [], 0
    for unit in units:  # each unit is a stripped substring of the text, in order
        start = text.index(unit, cursor)
        cursor = start + len(unit)
        spans.append((start, cursor))
    return spans


def gap_sentence_pairs(
    texts: Iterable[str], per_text: int = 1, max_chars: int | None = 30, mark: str = GAP_MARK
) -> Iterator[dict[str, str]]:
    """Pseudo-pairs ``{"text": source, "summary": target}`` from ``texts``.

    For each text, its sentences are ranked by character ROUGE-1 F1 against the rest of the
    text (ties: the earlier first); a sentence longer than ``max_chars`` characters (``None``:
    no limit) takes part as its clauses instead, and so do all the sentences of a text that
    has only one, so that targets stay about as short as summaries. Each of the
    best ``per_text`` gives one pair: the text with that sentence replaced by ``mark`` (give
    ``""`` to just remove it) as the source, the sentence without its ending punctuation as
    the target. A text with fewer than two units (or whose best unit is only punctuation)
    gives no pair.
    """
    if per_text < 1:
        raise ValueError(f"per_text must be at least 1, got {per_text}")
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be at least 1 or None, got {max_chars}")
    for text in texts:
        spans = _unit_spans(text, max_chars)
        rest = [chars(text[:s] + text[e:]) for s, e in spans]
        scores = [rouge_n(chars(text[s:e]), r, 1)["f"] for (s, e), r in zip(spans, rest)]
        ranking = sorted(range(len(spans)), key=lambda i: (-scores[i], i))
        for i in ranking[:per_text]:
            start, end = spans[i]
            target = strip_trailing_punct(text[start:end])
            if target:
                yield {"text": text[:start] + mark + text[end:], "summary": target}
