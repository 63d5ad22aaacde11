"""Character-level ROUGE-1, ROUGE-2 and ROUGE-L, the convention for Chinese summaries.

Both strings are split into characters after removing all whitespace (no jieba, no
other normalisation: full-width and half-width forms are different characters). Then,
as in Google's ``rouge-score`` package given a character tokenizer:

* ROUGE-N: n-grams are counted as multisets; the overlap is the clipped count
  ``sum_g min(count_hyp(g), count_ref(g))``; precision = overlap / #hyp n-grams,
  recall = overlap / #ref n-grams, F1 = 2PR / (P + R).
* ROUGE-L: LCS = length of the longest common subsequence; P = LCS / len(hyp),
  R = LCS / len(ref), F1 = 2PR / (P + R) (the F-measure with beta = 1).

An empty hypothesis or reference (after removing whitespace) scores 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["chars", "rouge_n", "rouge_l", "rouge_chars", "corpus_rouge", "lcs_length"]

KEYS = ("rouge-1", "rouge-2", "rouge-l")


def chars(text: str) -> list[str]:
    """The characters of ``text`` with whitespace removed."""
    return [c for c in text if not c.isspace()]


def _prf(overlap: int, n_hyp: int, n_ref: int) -> dict[str, float]:
    p = overlap / n_hyp if n_hyp else 0.0
    r = overlap / n_ref if n_ref else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"p": p, "r": r, "f": f}


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(hyp: Sequence[str], ref: Sequence[str], n: int) -> dict[str, float]:
    """ROUGE-N precision/recall/F1 between two token sequences (clipped counts)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    h, r = _ngrams(hyp, n), _ngrams(ref, n)
    overlap = sum((h & r).values())
    return _prf(overlap, sum(h.values()), sum(r.values()))


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (O(len(a)·len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyp: Sequence[str], ref: Sequence[str]) -> dict[str, float]:
    """ROUGE-L (LCS-based) precision/recall/F1 between two token sequences."""
    return _prf(lcs_length(hyp, ref), len(hyp), len(ref))


def rouge_chars(hyp: str, ref: str) -> dict[str, dict[str, float]]:
    """Character-level ROUGE of one hypothesis against one reference.

    Returns ``{"rouge-1": {"p", "r", "f"}, "rouge-2": {...}, "rouge-l": {...}}`` with
    values in [0, 1].
    """
    h, r = chars(hyp), chars(ref)
    return {"rouge-1": rouge_n(h, r, 1), "rouge-2": rouge_n(h, r, 2), "rouge-l": rouge_l(h, r)}


def corpus_rouge(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean character-level F1 over hypothesis/reference pairs, ×100.

    Returns ``{"rouge-1": float, "rouge-2": float, "rouge-l": float}`` (the usual way
    LCSTS results are reported). Raises ValueError when the lists differ in length or
    are empty.
    """
    hyps, refs = list(hyps), list(refs)
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not hyps:
        raise ValueError("corpus_rouge needs at least one hypothesis/reference pair")
    totals = dict.fromkeys(KEYS, 0.0)
    for h, r in zip(hyps, refs):
        scores = rouge_chars(h, r)
        for k in KEYS:
            totals[k] += scores[k]["f"]
    return {k: 100.0 * v / len(hyps) for k, v in totals.items()}
