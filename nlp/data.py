"""Reading summarisation pairs and turning them into padded, length-bucketed batches.

Pipeline::

    rows = read_jsonl(path)                                  # [{"text", "summary", ...}]
    encoded = encode_pairs(rows, tokenizer, vocab, max_src_len=150, max_tgt_len=30)
    for batch in batches(encoded, batch_size=64, shuffle=True, seed=epoch):
        batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask, ...

Copy mechanism (pointer-generator, See et al. 2017). Each example has an *extended
vocabulary*: the fixed vocabulary followed by that example's source OOV tokens (source
tokens not in the vocabulary, in order of first appearance: ``oovs``). The k-th OOV of an
example has extended id ``len(vocab) + k``. ``src_ext`` is the source in extended ids (it
equals ``src`` except where ``src`` holds ``unk_id``); ``tgt_out_ext`` is the target in
extended ids: a target token in the vocabulary keeps its id, an OOV target token that
occurs in the source gets its extended id (so the model is trained to copy it), any
other OOV target token stays ``unk_id``. The decoder input ``tgt_in`` always uses plain
vocabulary ids (a copied OOV is fed back as ``unk_id``). A model's final distribution
then has ``len(vocab) + batch.max_oov`` entries; ``Vocab.decode(ids, oovs=batch.oovs[i])``
turns extended ids back into tokens.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DataError",
    "read_jsonl",
    "parse_jsonl_line",
    "EncodedExample",
    "encode_pairs",
    "Batch",
    "collate",
    "batches",
    "split_batch",
]


class DataError(ValueError):
    """A data file is malformed. ``path`` and ``lineno`` (1-based) say where."""

    def __init__(self, message: str, path: str | None = None, lineno: int | None = None):
        where = f"{path}:{lineno}: " if path is not None and lineno is not None else ""
        super().__init__(where + message)
        self.path = path
        self.lineno = lineno


def read_jsonl(
    path: str | os.PathLike, max_rows: int | None = None, fields: Sequence[str] = ("text", "summary")
) -> list[dict]:
    """Read a JSON Lines file of summarisation pairs.

    Every non-blank line must be a JSON object with the string ``fields`` (by default
    ``"text"`` and ``"summary"``; ``("text",)`` for texts alone); other fields (``"id"``,
    ``"source"``, ...) are kept. Blank lines are skipped. At most ``max_rows`` rows are
    returned (``None``: all).

    Raises :class:`DataError` (a ValueError) naming the file and the 1-based line number
    for a line that is not valid UTF-8 or JSON, not an object, or lacks one of the string
    ``fields``.
    """
    path = os.fspath(path)
    if max_rows is not None and max_rows < 0:
        raise ValueError(f"max_rows must be >= 0 or None, got {max_rows}")
    rows: list[dict] = []
    if max_rows == 0:
        return rows
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            obj = parse_jsonl_line(raw, path, lineno, fields)
            if obj is None:
                continue
            rows.append(obj)
            if max_rows is not None and len(rows) >= max_rows:
                break
    return rows


def parse_jsonl_line(
    raw: bytes, path: str, lineno: int, fields: Sequence[str] = ("text", "summary")
) -> dict | None:
    """One line of a JSON Lines file as a dict, or None for a blank line. Raises
    :class:`DataError` naming ``path:lineno`` when the line is not valid UTF-8 or JSON,
    not an object, or lacks one of the string ``fields``."""
    try:
        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 ({e.reason})", path, lineno) from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON: {e.msg} (column {e.colno})", path, lineno) from None
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
    for key in fields:
        if key not in obj:
            raise DataError(f"missing field {key!r}", path, lineno)
        if not isinstance(obj[key], str):
            raise DataError(f"field {key!r} must be a string, got {type(obj[key]).__name__}", path, lineno)
    return obj


@dataclass
class EncodedExample:
    """One pair in ids. ``src_ids`` has no BOS/EOS; ``tgt_ids`` is ``[BOS] + summary +
    [EOS]``. ``src_ext_ids``/``tgt_ext_ids`` are the same in extended-vocabulary ids
    (``tgt_ext_ids[0]`` is BOS), ``oovs`` the example's source OOV tokens (see the module
    docstring). ``index`` is the position of the pair in the input of
    :func:`encode_pairs`."""

    index: int
    src_tokens: list[str]
    tgt_tokens: list[str]
    src_ids: list[int]
    tgt_ids: list[int]
    src_ext_ids: list[int]
    tgt_ext_ids: list[int]
    oovs: list[str] = field(default_factory=list)


def _pair_texts(pair) -> tuple[str, str]:
    if isinstance(pair, dict):
        return pair["text"], pair["summary"]
    text, summary = pair
    return text, summary


def _tokenize(tokenizer, text: str) -> list[str]:
    return list(tokenizer.tokenize(text) if hasattr(tokenizer, "tokenize") else tokenizer(text))


def encode_pairs(
    pairs: Iterable,
    tokenizer,
    vocab,
    max_src_len: int | None = None,
    max_tgt_len: int | None = None,
) -> list[EncodedExample]:
    """Tokenise and encode ``pairs`` (dicts with ``"text"``/``"summary"`` or
    ``(text, summary)`` tuples).

    ``tokenizer`` is a :class:`nlp.tokenizer.Tokenizer` (or any callable text -> tokens).
    The source keeps its first ``max_src_len`` tokens, the summary its first
    ``max_tgt_len`` tokens (``None``: no limit); BOS and EOS are then added around the
    summary, so ``len(tgt_ids) <= max_tgt_len + 2``. An empty source (after
    tokenisation) is encoded as a single ``<unk>`` so that no row of a batch is all
    padding (attention over no positions is undefined).
    """
    for name, val in (("max_src_len", max_src_len), ("max_tgt_len", max_tgt_len)):
        if val is not None and val < 1:
            raise ValueError(f"{name} must be >= 1 or None, got {val}")
    n_vocab = len(vocab)
    unk = vocab.unk_id
    out: list[EncodedExample] = []
    for index, pair in enumerate(pairs):
        text, summary = _pair_texts(pair)
        src_tokens = _tokenize(tokenizer, text)[:max_src_len]
        tgt_tokens = _tokenize(tokenizer, summary)[:max_tgt_len]
        if not src_tokens:
            src_tokens = [vocab.UNK]
        src_ids = vocab.encode(src_tokens)
        oov_index: dict[str, int] = {}
        src_ext = []
        for tok, i in zip(src_tokens, src_ids):
            if i == unk and tok not in vocab:
                i = n_vocab + oov_index.setdefault(tok, len(oov_index))
            src_ext.append(i)
        tgt_body = vocab.encode(tgt_tokens)
        tgt_ext = [vocab.bos_id]
        for tok, i in zip(tgt_tokens, tgt_body):
            if i == unk and tok in oov_index:
                i = n_vocab + oov_index[tok]
            tgt_ext.append(i)
        tgt_ext.append(vocab.eos_id)
        out.append(
            EncodedExample(
                index=index,
                src_tokens=src_tokens,
                tgt_tokens=tgt_tokens,
                src_ids=src_ids,
                tgt_ids=[vocab.bos_id, *tgt_body, vocab.eos_id],
                src_ext_ids=src_ext,
                tgt_ext_ids=tgt_ext,
                oovs=list(oov_index),
            )
        )
    return out


@dataclass
class Batch:
    """A padded batch (numpy arrays; B examples, S source and T target positions).

    * ``src`` (B, S) int64 source ids, padded with ``pad_id``; ``src_mask`` (B, S) bool,
      True at real tokens. (``nn.MultiHeadAttention``'s ``key_padding_mask`` wants the
      opposite: use :attr:`src_padding_mask`.)
    * ``tgt_in`` (B, T) int64 decoder input ``BOS + summary``; ``tgt_out`` (B, T) int64
      decoder target ``summary + EOS``; both padded with ``pad_id``; ``tgt_mask`` (B, T)
      bool, True at real target positions.
    * ``src_ext`` (B, S), ``tgt_out_ext`` (B, T) int64: the same in extended-vocabulary
      ids for the copy mechanism; ``oovs[b]`` is example b's OOV list and ``max_oov`` the
      longest of them (see the module docstring).
    * ``indices`` (list of B ints): each row's position in the list given to
      :func:`batches` (for :func:`encode_pairs` output, also the position in the raw
      pairs), to recover the raw text.
    """

    src: np.ndarray
    src_mask: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    tgt_mask: np.ndarray
    src_ext: np.ndarray
    tgt_out_ext: np.ndarray
    oovs: list[list[str]]
    max_oov: int
    indices: list[int]

    def __len__(self) -> int:
        return int(self.src.shape[0])

    @property
    def src_padding_mask(self) -> np.ndarray:
        """(B, S) bool, True at padding (PyTorch's ``key_padding_mask`` convention)."""
        return ~self.src_mask

    @property
    def src_lengths(self) -> np.ndarray:
        return self.src_mask.sum(axis=1).astype(np.int64)

    @property
    def tgt_lengths(self) -> np.ndarray:
        return self.tgt_mask.sum(axis=1).astype(np.int64)

    @property
    def num_tgt_tokens(self) -> int:
        return int(self.tgt_mask.sum())


def _pad(seqs: Sequence[Sequence[int]], width: int, pad_id: int) -> np.ndarray:
    arr = np.full((len(seqs), width), pad_id, dtype=np.int64)
    for b, s in enumerate(seqs):
        arr[b, : len(s)] = s
    return arr


def collate(examples: Sequence[EncodedExample], pad_id: int = 0, indices=None) -> Batch:
    """Pad a list of :class:`EncodedExample` into one :class:`Batch`.

    ``indices`` defaults to each example's ``index``.
    """
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    S = max(1, max(len(e.src_ids) for e in examples))
    T = max(len(e.tgt_ids) for e in examples) - 1
    if T < 1:
        raise ValueError("every target must hold at least BOS and EOS")
    src = _pad([e.src_ids for e in examples], S, pad_id)
    src_ext = _pad([e.src_ext_ids for e in examples], S, pad_id)
    tgt_in = _pad([e.tgt_ids[:-1] for e in examples], T, pad_id)
    tgt_out = _pad([e.tgt_ids[1:] for e in examples], T, pad_id)
    tgt_out_ext = _pad([e.tgt_ext_ids[1:] for e in examples], T, pad_id)
    src_len = np.array([len(e.src_ids) for e in examples])
    tgt_len = np.array([len(e.tgt_ids) - 1 for e in examples])
    oovs = [list(e.oovs) for e in examples]
    return Batch(
        src=src,
        src_mask=np.arange(S)[None, :] < src_len[:, None],
        tgt_in=tgt_in,
        tgt_out=tgt_out,
        tgt_mask=np.arange(T)[None, :] < tgt_len[:, None],
        src_ext=src_ext,
        tgt_out_ext=tgt_out_ext,
        oovs=oovs,
        max_oov=max(len(o) for o in oovs),
        indices=list(indices) if indices is not None else [e.index for e in examples],
    )


def batches(
    encoded: Sequence[EncodedExample],
    batch_size: int,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = 0,
    bucket: bool = True,
    pad_id: int = 0,
    drop_last: bool = False,
    bucket_batches: int = 50,
) -> Iterator[Batch]:
    """Yield padded :class:`Batch` es of up to ``batch_size`` examples.

    With ``bucket`` (default), examples are taken in chunks of ``bucket_batches *
    batch_size``, each chunk is sorted by source length (stable) and cut into batches,
    so a batch holds similar lengths and little padding. With ``shuffle`` the examples
    are permuted before chunking and the batch order is shuffled afterwards, using
    ``seed`` (an int or a ``numpy.random.Generator``; pass e.g. the epoch number for a
    new, reproducible order each epoch). Without ``shuffle`` the order is deterministic:
    the input order (or, with ``bucket``, chunk by chunk in length order). Every example
    appears exactly once per pass, unless ``drop_last`` drops the last, short batch.
    ``Batch.indices`` are positions in ``encoded``. ``pad_id`` must be the
    vocabulary's pad id (0 for :class:`nlp.vocab.Vocab`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if bucket_batches < 1:
        raise ValueError(f"bucket_batches must be >= 1, got {bucket_batches}")
    n = len(encoded)
    if n == 0:
        return
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = rng.permutation(n) if shuffle else np.arange(n)
    if bucket:
        chunk = batch_size * bucket_batches
        lengths = np.array([len(e.src_ids) for e in encoded])
        parts = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            parts.append(part[np.argsort(lengths[part], kind="stable")])
        order = np.concatenate(parts)
    groups = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if drop_last and len(groups[-1]) < batch_size:
        groups.pop()
    if shuffle:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    for g in groups:
        idx = [int(i) for i in g]
        yield collate([encoded[i] for i in idx], pad_id=pad_id, indices=idx)


def split_batch(examples: Sequence[EncodedExample], parts: int,
                cost: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> list[list[int]]:
    """Cut a batch into ``parts`` shares of about equal training cost (data-parallel training:
    one share per process, and a step lasts as long as its slowest share).

    The examples are ordered by target length (then source length) and cut into consecutive
    runs, so each share pads its targets to about its own length rather than to the batch's
    longest. The cuts minimise the largest ``cost(rows, src_len, tgt_len)`` of a share, the
    lengths being the share's padded ones as :func:`collate` makes them (``cost`` is called on
    arrays and must work elementwise: a model's ``step_cost``). Shares may differ in size.
    Returns each share's positions in ``examples``, shortest targets first. Deterministic, so
    processes that hold the same batch agree on the split without communicating.
    """
    n = len(examples)
    if not 1 <= parts <= n:
        raise ValueError(f"split_batch: cannot cut {n} examples into {parts} non-empty shares")
    src = np.array([len(e.src_ids) for e in examples])
    tgt = np.array([len(e.tgt_ids) - 1 for e in examples])
    order = np.lexsort((src, tgt))
    src, tgt = src[order], tgt[order]
    # share_cost[i, k]: the cost of the share order[i..k] (i <= k); infinite where i > k
    longest_src = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        longest_src[i, i:] = np.maximum.accumulate(src[i:])
    first, last = np.arange(n)[:, None], np.arange(n)[None, :]
    share_cost = np.where(first <= last, cost(last - first + 1, longest_src, tgt[None, :]), np.inf)
    # best[k]: the least largest cost of cutting order[0..k] into the shares so far
    best, starts = share_cost[0], []
    for _ in range(parts - 1):
        worst = np.maximum(np.concatenate([[np.inf], best[:-1]])[:, None], share_cost)  # [start, last]
        starts.append(np.argmin(worst, axis=0))
        best = worst[starts[-1], np.arange(n)]
    shares, end = [], n
    for start in reversed(starts):
        begin = int(start[end - 1])
        shares.append(order[begin:end].tolist())
        end = begin
    shares.append(order[:end].tolist())
    return shares[::-1]
