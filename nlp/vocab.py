"""Token <-> id vocabulary with the four special tokens, JSON save/load.

Ids 0..3 are always ``<pad>``, ``<unk>``, ``<s>`` (BOS), ``</s>`` (EOS); ordinary tokens
follow, most frequent first. The JSON file records a format name and version and the
tokenizer mode the vocabulary was built with, so a model is never paired by mistake
with a vocabulary of another tokenisation.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence

from minigrad.serialization import atomic_write

__all__ = ["Vocab", "PAD", "UNK", "BOS", "EOS", "SPECIALS"]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)

FORMAT = "nlp.vocab"
FORMAT_VERSION = 1


class Vocab:
    """A fixed mapping between tokens and integer ids.

    ``Vocab(tokens)`` makes ids ``4, 5, ...`` for ``tokens`` in the given order (special
    tokens and repeats among them are skipped); :meth:`build` counts tokens instead.
    ``mode`` is the tokenizer mode (``"char"``/``"word"``) or ``None``; it is stored
    when saving, not used otherwise.
    """

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3
    PAD, UNK, BOS, EOS = PAD, UNK, BOS, EOS

    def __init__(self, tokens: Iterable[str] = (), mode: str | None = None):
        self.mode = mode
        self._itos: list[str] = list(SPECIALS)
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(SPECIALS)}
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(f"vocabulary tokens must be str, got {type(tok).__name__}")
            if tok not in self._stoi:
                self._stoi[tok] = len(self._itos)
                self._itos.append(tok)

    # ----------------------------------------------------------------- construction
    @classmethod
    def build(
        cls,
        token_lists: Iterable[Iterable[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        mode: str | None = None,
    ) -> Vocab:
        """Count tokens over ``token_lists`` and keep the frequent ones.

        Tokens seen fewer than ``min_freq`` times are left out. Order: most frequent
        first; equal counts keep the order of first appearance (so the result is
        deterministic for a given input). ``max_size`` caps the *total* size, the four
        special tokens included (``len(vocab) <= max_size``).
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(
                f"max_size must be at least {len(SPECIALS)} (the special tokens), got {max_size}"
            )
        if isinstance(token_lists, str):
            raise TypeError("token_lists must be an iterable of token lists, not a str")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError(
                    "token_lists must contain lists of tokens, found a str; tokenize the text first"
                )
            counts.update(tokens)
        # Counter keeps insertion (= first appearance) order; sorted() is stable.
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        kept = [t for t, c in ranked if c >= min_freq and t not in SPECIALS]
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(kept, mode=mode)

    # ---------------------------------------------------------------------- mapping
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token) -> bool:
        return token in self._stoi

    def __iter__(self):
        return iter(self._itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos and self.mode == other.mode

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, mode={self.mode!r})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy), special tokens first."""
        return list(self._itos)

    def token_to_id(self, token: str) -> int:
        """The id of ``token``, or :attr:`unk_id` when it is not in the vocabulary."""
        return self._stoi.get(token, self.unk_id)

    def id_to_token(self, idx: int) -> str:
        """The token of id ``idx``; raises IndexError outside ``0 .. len(self) - 1``."""
        i = int(idx)
        if not 0 <= i < len(self._itos):
            raise IndexError(f"token id {i} is out of range for a vocabulary of size {len(self)}")
        return self._itos[i]

    def encode(
        self, tokens: Iterable[str], add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Map tokens to ids (unknown tokens -> :attr:`unk_id`), optionally framed by
        BOS/EOS."""
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of tokens, not a str; tokenize the text first")
        get, unk = self._stoi.get, self.unk_id
        ids = [get(t, unk) for t in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(
        self,
        ids: Iterable[int],
        strip_special: bool = True,
        oovs: Sequence[str] | None = None,
    ) -> list[str]:
        """Map ids back to tokens.

        With ``strip_special`` (default) decoding stops at the first EOS and PAD/BOS
        are dropped; ``<unk>`` is kept (it stands for a real, unknown token). Without it
        every id is decoded as is.

        ``oovs`` is one example's list of source OOV tokens from the copy mechanism
        (see :mod:`nlp.data`): id ``len(self) + k`` decodes to ``oovs[k]``. Any other id
        outside the vocabulary raises IndexError.
        """
        n = len(self._itos)
        out: list[str] = []
        for idx in ids:
            i = int(idx)
            if strip_special:
                if i == self.eos_id:
                    break
                if i in (self.pad_id, self.bos_id):
                    continue
            if 0 <= i < n:
                out.append(self._itos[i])
            elif oovs is not None and n <= i < n + len(oovs):
                out.append(oovs[i - n])
            else:
                extra = f" + {len(oovs)} source OOVs" if oovs is not None else ""
                raise IndexError(
                    f"token id {i} is out of range for a vocabulary of size {n}{extra}"
                )
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "mode": self.mode,
            "specials": list(SPECIALS),
            "tokens": self._itos[len(SPECIALS) :],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as UTF-8 JSON to ``path`` (atomically: a temporary file in
        the same folder, then renamed)."""
        with atomic_write(path) as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=0)
            f.write("\n")

    @classmethod
    def from_dict(cls, obj, source: str = "vocabulary data") -> Vocab:
        """Rebuild a vocabulary from :meth:`to_dict`'s output; ValueError if ``obj`` is not
        one (``source`` names it in the message)."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f'{source} is not a vocabulary file (no "format": "{FORMAT}")')
        version = obj.get("version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{source} has vocabulary format version {version!r}; "
                f"this code reads version {FORMAT_VERSION}"
            )
        specials, tokens, mode = obj.get("specials"), obj.get("tokens"), obj.get("mode")
        if specials != list(SPECIALS):
            raise ValueError(
                f"{source}: special tokens {specials!r} differ from {list(SPECIALS)!r}"
            )
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f'{source}: "tokens" must be a list of strings')
        if mode is not None and not isinstance(mode, str):
            raise ValueError(f'{source}: "mode" must be a string or null')
        vocab = cls(tokens, mode=mode)
        if len(vocab) != len(tokens) + len(SPECIALS):
            raise ValueError(f'{source}: "tokens" repeats a token or contains a special token')
        return vocab

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read a vocabulary written by :meth:`save`.

        Raises ValueError, naming ``path``, when the file is not JSON, not a vocabulary
        file, or has another format version.
        """
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                obj = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not a vocabulary file (not UTF-8 JSON: {e})") from None
        return cls.from_dict(obj, source=path)
