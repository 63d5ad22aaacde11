"""Tokenisation of Chinese text mixed with Latin letters and digits.

Two modes:

* ``"char"``: every CJK character, punctuation mark or symbol (emoji included) is one
  token, but a run of Latin letters / digits is one unit: ``"iPhone6"``, ``"3.5"``,
  ``"2014年"`` -> ``["2014", "年"]``. Whitespace separates tokens and is dropped.
* ``"word"``: jieba's default (accurate) mode, whitespace tokens dropped.

Both modes first apply :func:`normalize`. :meth:`Tokenizer.detokenize` joins tokens back,
putting a space only between two Latin/digit units (``["iPhone", "6"]`` -> ``"iPhone 6"``),
so ``detokenize(tokenize(t))`` equals ``normalize(t)`` up to whitespace between CJK text.
"""

from __future__ import annotations

import logging
import re
import unicodedata

__all__ = ["Tokenizer", "normalize", "MODES"]

MODES = ("char", "word")

# Full-width letters and digits -> ASCII (U+FF10-FF19, U+FF21-FF3A, U+FF41-FF5A are the
# ASCII code points + 0xFEE0). Full-width punctuation (，！？：；（） ％ …) is left alone:
# it is ordinary Chinese punctuation and the reference summaries keep it as written.
_FULLWIDTH_ALNUM = {
    cp: cp - 0xFEE0
    for cp in list(range(0xFF10, 0xFF1A))
    + list(range(0xFF21, 0xFF3B))
    + list(range(0xFF41, 0xFF5B))
}
_FULLWIDTH_ALNUM[0x3000] = 0x20  # ideographic (full-width) space

# Characters dropped by normalize: control characters other than whitespace, format
# characters (zero-width space/joiners, BOM, bidi marks, soft hyphen) and lone surrogates.
# Unassigned code points are kept: they may be emoji newer than this Python's Unicode.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})

_WS_RUN = re.compile(r"\s+")
# A full-width full stop between two digits is a decimal point: "３．５" -> "3.5".
_FW_DECIMAL = re.compile(r"(?<=[0-9])\uff0e(?=[0-9])")

# "Latin/digit" characters: ASCII letters and digits plus Latin-1/Latin Extended letters.
_LATIN = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
# One unit: a run of Latin letters/digits, with decimal / version points between digits
# glued in ("3.5", "v1.2.3"); any other non-space character is a token of its own.
_CHAR_TOKEN = re.compile(rf"[{_LATIN}]+(?:\.[0-9]+)*|\S")
_LATIN_CHAR = re.compile(rf"[{_LATIN}]")


def _keep(ch: str) -> bool:
    if ch.isspace():
        return True
    return unicodedata.category(ch) not in _DROP_CATEGORIES


def normalize(text: str) -> str:
    """Normalise ``text`` before tokenisation.

    * full-width Latin letters, digits and the full-width space become their ASCII
      forms (and a full-width ``．`` between two digits becomes ``.``); full-width
      punctuation such as ``，。！？“”（）`` is kept as it is;
    * control characters (other than whitespace), zero-width and other format
      characters and lone surrogates are removed;
    * every run of whitespace becomes a single space; leading/trailing whitespace is
      stripped.

    ``None`` is not accepted; any ``str`` is (the result may be ``""``).
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize expects a str, got {type(text).__name__}")
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _FW_DECIMAL.sub(".", text)
    text = "".join(ch for ch in text if _keep(ch))
    return _WS_RUN.sub(" ", text).strip()


def _is_latin_unit_edge(ch: str) -> bool:
    return bool(_LATIN_CHAR.match(ch))


def _attach_marks(pieces) -> list[str]:
    """Glue a token made only of combining marks / variation selectors onto the token
    before it (``"❤️"`` = U+2764 U+FE0F stays one token)."""
    tokens: list[str] = []
    for tok in pieces:
        if not tok:
            continue
        if tokens and all(unicodedata.category(ch).startswith("M") for ch in tok):
            tokens[-1] += tok
        else:
            tokens.append(tok)
    return tokens


_jieba = None


def _get_jieba():
    """Import and initialise jieba once, without its start-up chatter on stderr."""
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba = jieba
    return _jieba


class Tokenizer:
    """Split text into tokens (``mode="char"`` or ``mode="word"``) and join them back.

    ``normalize=False`` skips :func:`normalize` (the text is then only split).
    """

    def __init__(self, mode: str = "char", normalize: bool = True):
        if mode not in MODES:
            raise ValueError(f"Tokenizer mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.normalize = normalize

    def __repr__(self) -> str:
        return f"Tokenizer(mode={self.mode!r}, normalize={self.normalize})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Tokenizer)
            and self.mode == other.mode
            and self.normalize == other.normalize
        )

    def __hash__(self) -> int:
        return hash((self.mode, self.normalize))

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        """Return the list of tokens of ``text`` (``[]`` for empty or whitespace-only)."""
        if self.normalize:
            text = normalize(text)
        elif not isinstance(text, str):
            raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
        if not text or text.isspace():
            return []
        if self.mode == "char":
            pieces = (m.group() for m in _CHAR_TOKEN.finditer(text))
        else:
            pieces = (t for t in _get_jieba().lcut(text) if not t.isspace())
        return _attach_marks(pieces)

    def detokenize(self, tokens) -> str:
        """Join ``tokens`` into text, with a space only between two Latin/digit units."""
        out: list[str] = []
        prev = ""
        for tok in tokens:
            if not tok:
                continue
            if prev and _is_latin_unit_edge(prev[-1]) and _is_latin_unit_edge(tok[0]):
                out.append(" ")
            out.append(tok)
            prev = tok
        return "".join(out)
