"""The training loop: outputs, exact resume after SIGTERM/Ctrl-C, refusing a wrong folder."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nlp import checkpoint as ckpt
from nlp import train as nlp_train
from nlp.demo import DEMO_CORPUS
from nlp.models import ModelConfig
from nlp.train import TrainConfig, train
from nlp.vocab import Vocab


def _cfg(out: Path, model: str = "rnn", **kw) -> TrainConfig:
    base = dict(data=str(DEMO_CORPUS), dev=str(DEMO_CORPUS), out=str(out), max_train=48, steps=12,
                batch_size=8, eval_every=4, eval_samples=6, warmup=2, max_tgt_len=12, progress=False,
                model=ModelConfig(model=model, emb_dim=16, hidden_size=16, dropout=0.3))
    return TrainConfig(**{**base, **kw})


def _weights(folder: Path, name: str = ckpt.STATE) -> dict[str, np.ndarray]:
    import minigrad as mg

    state = mg.load(folder / name)
    model = state["model"] if name == ckpt.STATE else state
    return {k: v.numpy() for k, v in model.items()}


def test_a_run_writes_the_model_folder_and_keeps_the_best_dev_checkpoint(tmp_path):
    result = train(_cfg(tmp_path))
    assert result.step == 12 and not result.interrupted
    for name in (ckpt.CONFIG, ckpt.VOCAB, ckpt.WEIGHTS, ckpt.STATE, "curves.png"):
        assert (tmp_path / name).is_file(), name
    assert result.history["eval_step"] == [4, 8, 12]
    best_rl = max(result.history["rouge-l"])
    assert result.best["rouge-l"] == best_rl
    meta = json.loads((tmp_path / ckpt.CONFIG).read_text())
    assert meta["best"]["step"] == result.best["step"] and meta["version"] == ckpt.VERSION
    model, vocab, _ = ckpt.load_model(tmp_path)
    assert len(vocab) == meta["model"]["vocab_size"]
    assert result.history["loss"][-1] < result.history["loss"][0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_run_resumes_exactly_where_it_stopped(tmp_path, sig):
    straight = train(_cfg(tmp_path / "straight"))

    def interrupt_at_step_6(trainer):
        if trainer.step == 6:
            os.kill(os.getpid(), sig)

    part = train(_cfg(tmp_path / "split"), callback=interrupt_at_step_6)
    assert part.interrupted and part.step == 6  # stopped right after the step it was in
    assert json.loads((tmp_path / "split" / ckpt.CONFIG).read_text())["format"] == ckpt.FORMAT
    resumed = train(_cfg(tmp_path / "split", resume=True))
    assert resumed.step == 12 and not resumed.interrupted
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for k in a:  # same batches, same dropout masks, same optimizer state: identical weights
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert resumed.history["loss"] == straight.history["loss"]
    assert resumed.best == straight.best


def test_resume_refuses_a_folder_with_another_vocabulary(tmp_path):
    train(_cfg(tmp_path, steps=4))
    Vocab(["甲", "乙"], mode="char").save(tmp_path / ckpt.VOCAB)
    with pytest.raises(ckpt.ModelDirError, match="not the vocabulary"):
        train(_cfg(tmp_path, resume=True))


def test_resume_without_a_saved_state_says_so(tmp_path):
    with pytest.raises(ckpt.ModelDirError, match="no training state"):
        train(_cfg(tmp_path, resume=True))


def test_the_clause_model_trains_through_the_same_loop_and_summarises(tmp_path):
    from nlp.summarizer import Summarizer

    result = train(_cfg(tmp_path, model="clause", steps=4))
    assert result.best is not None
    summarizer = Summarizer.load(tmp_path)
    assert summarizer.meta.model.clause_end_ids  # the punctuation ids travel with the model
    text = "青禾市地铁三号线东延段今天开通，全长十二公里，设站八座。"
    assert summarizer.summarize(text) in {"青禾市地铁三号线东延段今天开通", "全长十二公里", "设站八座"}


class _Libc:
    """Stands in for glibc: records mallopt calls; refuses mmap thresholds above ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit, self.calls = limit, []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return int(param != nlp_train.M_MMAP_THRESHOLD or value <= self.limit)


@pytest.mark.parametrize("limit, mmap", [(2**40, 2**30), (32 * 2**20, 32 * 2**20)])
def test_training_asks_glibc_to_keep_freed_memory(monkeypatch, tmp_path, limit, mmap):
    libc = _Libc(limit)
    monkeypatch.setattr(nlp_train, "ctypes", SimpleNamespace(CDLL=lambda name: libc))
    monkeypatch.setattr(nlp_train, "platform", SimpleNamespace(libc_ver=lambda: ("glibc", "2.36")))
    train(_cfg(tmp_path, steps=2, warmup=1, dev=None))
    settings = dict(libc.calls)  # (an old glibc refuses 1 GiB: the mmap threshold falls back)
    assert settings == {nlp_train.M_MMAP_THRESHOLD: mmap, nlp_train.M_TRIM_THRESHOLD: 2**30}


def test_keep_freed_memory_applies_on_glibc_and_does_nothing_elsewhere(monkeypatch):
    import platform

    assert nlp_train.keep_freed_memory() == (platform.libc_ver()[0] == "glibc")  # (this libc)
    monkeypatch.setattr(nlp_train, "platform", SimpleNamespace(libc_ver=lambda: ("", "")))
    never = SimpleNamespace(CDLL=lambda name: pytest.fail("mallopt off glibc"))
    monkeypatch.setattr(nlp_train, "ctypes", never)
    assert nlp_train.keep_freed_memory() is False
