"""A trained summariser on disk: one folder, with a format name and version.

Layout of a model folder::

    config.json       format + version, model settings, tokenizer mode, length limits,
                      vocabulary size and fingerprint, best dev scores
    vocab.json        the vocabulary (nlp.vocab format)
    model.npz         the best weights so far (minigrad .npz, no pickle)
    train_state.npz   model + optimizer + schedule + RNG at the last checkpoint (resume)
    train_state.json  progress at that checkpoint (step, epoch, batch, history)

Every file is written to a temporary name and renamed, so a crash never leaves a torn
file. Loading checks the format, the version and that the vocabulary is the one the
weights were trained with, and says what is wrong when it is not.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import minigrad as mg
from minigrad import nn
from minigrad.serialization import atomic_write

from .models import ModelConfig, build_model
from .vocab import Vocab

__all__ = ["FORMAT", "VERSION", "ModelDirError", "ModelMeta", "save_model", "load_model", "write_json",
           "vocab_fingerprint", "CONFIG", "VOCAB", "WEIGHTS", "STATE", "PROGRESS"]

FORMAT = "nlp.summarizer"
VERSION = 1
CONFIG, VOCAB, WEIGHTS = "config.json", "vocab.json", "model.npz"
STATE, PROGRESS = "train_state.npz", "train_state.json"


class ModelDirError(ValueError):
    """A model folder that is missing, from another version, or internally inconsistent."""


@dataclass
class ModelMeta:
    """What besides the weights is needed to use a model (stored in ``config.json``)."""

    model: ModelConfig
    tokenizer: str
    max_src_len: int
    max_tgt_len: int
    vocab_fingerprint: str = ""
    best: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "model": self.model.to_dict(),
            "tokenizer": self.tokenizer, "max_src_len": self.max_src_len,
            "max_tgt_len": self.max_tgt_len, "vocab_fingerprint": self.vocab_fingerprint,
            "best": self.best,
        }

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> ModelMeta:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ModelDirError(f"{where} is not a summariser model config (no \"format\": \"{FORMAT}\")")
        if obj.get("version") != VERSION:
            raise ModelDirError(
                f"{where} was written by model format version {obj.get('version')!r}; this code reads "
                f"version {VERSION}. Retrain the model with this version (python -m nlp train ...)."
            )
        try:
            return cls(
                model=ModelConfig.from_dict(obj["model"]), tokenizer=obj["tokenizer"],
                max_src_len=int(obj["max_src_len"]), max_tgt_len=int(obj["max_tgt_len"]),
                vocab_fingerprint=obj.get("vocab_fingerprint", ""), best=obj.get("best"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ModelDirError(f"{where} is incomplete or malformed: {e}") from None


def vocab_fingerprint(vocab: Vocab) -> str:
    """A short hash of the token list, to tell one vocabulary from another."""
    return hashlib.sha256("\n".join(vocab.tokens).encode("utf-8")).hexdigest()[:16]


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as UTF-8 JSON, atomically (temporary file + rename)."""
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)


def save_model(folder: Path, model: nn.Module, vocab: Vocab, meta: ModelMeta) -> None:
    """Write weights, vocabulary and config into ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta.vocab_fingerprint = vocab_fingerprint(vocab)
    mg.save(model.state_dict(), folder / WEIGHTS)
    vocab.save(folder / VOCAB)
    write_json(folder / CONFIG, meta.to_dict())


def read_meta(folder: Path) -> ModelMeta:
    path = folder / CONFIG
    if not path.is_file():
        raise ModelDirError(f"{folder} is not a model folder: {CONFIG} is missing (train one with "
                            "python -m nlp train ... --out DIR)")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelDirError(f"{path} is not valid JSON: {e}") from None
    return ModelMeta.from_dict(obj, str(path))


def read_vocab(folder: Path, meta: ModelMeta) -> Vocab:
    """The folder's vocabulary, checked against the one the weights were trained with."""
    try:
        vocab = Vocab.load(folder / VOCAB)
    except (OSError, ValueError) as e:
        raise ModelDirError(f"cannot read the vocabulary of {folder}: {e}") from None
    if len(vocab) != meta.model.vocab_size or (
        meta.vocab_fingerprint and vocab_fingerprint(vocab) != meta.vocab_fingerprint
    ):
        raise ModelDirError(
            f"{folder / VOCAB} is not the vocabulary this model was trained with ({len(vocab)} tokens, "
            f"the model expects {meta.model.vocab_size} with fingerprint {meta.vocab_fingerprint}); "
            "was it copied from another model folder?"
        )
    if vocab.mode is not None and vocab.mode != meta.tokenizer:
        raise ModelDirError(f"{folder}: the vocabulary was built for tokenizer {vocab.mode!r} but the "
                            f"config says {meta.tokenizer!r}")
    return vocab


def load_weights(model: nn.Module, path: Path, device: Any = None) -> None:
    """Load a state dict into ``model``, explaining a mismatch."""
    if not path.is_file():
        raise ModelDirError(f"{path} is missing: the model was never saved (did training reach its "
                            "first evaluation?)")
    try:
        model.load_state_dict(mg.load(path, device=device))
    except (KeyError, ValueError, RuntimeError) as e:
        raise ModelDirError(f"{path} does not fit the model its config describes: {e}") from None


def load_model(folder: str | os.PathLike, device: Any = None) -> tuple[nn.Module, Vocab, ModelMeta]:
    """Rebuild the model saved in ``folder`` (best weights), in eval mode, on ``device``."""
    folder = Path(folder)
    meta = read_meta(folder)
    vocab = read_vocab(folder, meta)
    model = build_model(meta.model)
    if device is not None:
        model.to(device)
    load_weights(model, folder / WEIGHTS, device)
    model.eval()
    return model, vocab, meta
