"""Gap-sentence pretraining (pseudo-pairs from the texts alone) and fine-tuning from it (--init)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from nlp import checkpoint as ckpt
from nlp.cli import main
from nlp.demo import DEMO_CORPUS
from nlp.models import ModelConfig
from nlp.pretrain import GAP_MARK, gap_sentence_pairs
from nlp.train import TrainConfig, TrainConfigError, Trainer, train

# character ROUGE-1 F1 of each sentence against the other two: 0.28, 0.61, 0.50
TEXT = "今天天气很好。青禾市地铁三号线今天开通，市民很高兴。青禾市民说三号线好。"


def test_the_sentence_closest_to_the_rest_becomes_the_target_and_leaves_a_mark():
    (pair,) = gap_sentence_pairs([TEXT])
    assert pair["summary"] == "青禾市地铁三号线今天开通，市民很高兴"  # without its full stop
    assert pair["text"] == f"今天天气很好。{GAP_MARK}青禾市民说三号线好。"


def test_several_pairs_per_text_take_the_best_sentences_one_at_a_time():
    pairs = list(gap_sentence_pairs([TEXT], per_text=2))
    assert [p["summary"] for p in pairs] == ["青禾市地铁三号线今天开通，市民很高兴", "青禾市民说三号线好"]
    assert pairs[1]["text"] == f"今天天气很好。青禾市地铁三号线今天开通，市民很高兴。{GAP_MARK}"
    assert len(list(gap_sentence_pairs([TEXT], per_text=5))) == 3  # no more pairs than sentences


def test_the_mark_can_be_left_out():
    (pair,) = gap_sentence_pairs([TEXT], mark="")
    assert pair["text"] == "今天天气很好。青禾市民说三号线好。"


def test_a_text_of_one_sentence_gives_its_clauses_and_one_clause_gives_no_pair():
    (pair,) = gap_sentence_pairs(["地铁三号线开通，地铁三号线东延段开通，市民高兴。"])
    assert pair == {"text": f"地铁三号线开通，{GAP_MARK}市民高兴。", "summary": "地铁三号线东延段开通"}
    assert list(gap_sentence_pairs(["地铁三号线开通运营。", "没有标点的一句话", "", "。！"])) == []


def test_a_sentence_longer_than_max_chars_takes_part_as_its_clauses():
    text = "地铁三号线东延段今天开通，全长十二公里，设站八座。地铁三号线东延段开通。"
    whole = list(gap_sentence_pairs([text], per_text=4, max_chars=None))
    cut = list(gap_sentence_pairs([text], per_text=4, max_chars=20))  # the first has 25 characters
    assert len(whole) == 2
    units = ["地铁三号线东延段今天开通", "全长十二公里", "设站八座", "地铁三号线东延段开通"]
    assert sorted(p["summary"] for p in cut) == sorted(units)


@pytest.mark.parametrize("kw", [{"per_text": 0}, {"max_chars": 0}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        list(gap_sentence_pairs([TEXT], **kw))


# ------------------------------------------------------------------------ training
def _cfg(out: Path, **kw) -> TrainConfig:
    base = dict(data=str(DEMO_CORPUS), out=str(out), max_train=40, steps=4, batch_size=8, warmup=2,
                max_src_len=60, max_tgt_len=12, progress=False, model=ModelConfig(emb_dim=16, hidden_size=16))
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A tiny gap-sentence pretraining run on the demo corpus's texts (summaries left out)."""
    folder = tmp_path_factory.mktemp("pretrain")
    texts = folder / "texts.jsonl"
    with open(DEMO_CORPUS, encoding="utf-8") as f, open(texts, "w", encoding="utf-8") as out:
        for line in f:
            out.write(json.dumps({"text": json.loads(line)["text"]}, ensure_ascii=False) + "\n")
    train(_cfg(folder / "pre", data=str(texts), objective="gap-sentence", gap_sentences=2))
    return folder / "pre"


def test_pretraining_trains_on_the_pseudo_pairs_with_the_vocabulary_of_a_summary_run(tmp_path):
    gap = Trainer(_cfg(tmp_path / "gap", objective="gap-sentence"))
    assert all(GAP_MARK in e.src_tokens for e in gap.train_set)
    pseudo = {"".join(e.tgt_tokens) for e in gap.train_set}
    rows = [json.loads(line) for line in DEMO_CORPUS.read_text(encoding="utf-8").splitlines()[:40]]
    assert not pseudo & {r["summary"] for r in rows}  # it learns sentences, not the summaries
    summary = Trainer(_cfg(tmp_path / "summary"))
    assert gap.vocab.tokens == summary.vocab.tokens  # so that their models can form an ensemble


def test_init_starts_from_the_folders_weights_and_vocabulary(pretrained, tmp_path):
    trainer = Trainer(_cfg(tmp_path / "ft", init=str(pretrained), seed=7))
    saved = mg.load(pretrained / ckpt.WEIGHTS)
    loaded = trainer.model.state_dict()
    assert sorted(saved) == sorted(loaded)
    for name, value in saved.items():
        np.testing.assert_array_equal(loaded[name].numpy(), value.numpy(), err_msg=name)
    _, vocab, _ = ckpt.load_model(pretrained)
    assert trainer.vocab.tokens == vocab.tokens
    fresh = Trainer(_cfg(tmp_path / "fresh", seed=7)).model.state_dict()  # what --init replaced
    assert any(fresh[k].shape == v.shape and not np.array_equal(fresh[k].numpy(), v.numpy())
               for k, v in saved.items())


def test_init_names_the_size_that_differs(pretrained, tmp_path):
    cfg = _cfg(tmp_path / "ft", init=str(pretrained), model=ModelConfig(emb_dim=16, hidden_size=32))
    with pytest.raises(ckpt.ModelDirError, match=r"hidden_size 16 \(this run: 32\)"):
        Trainer(cfg)


def test_init_allows_another_dropout(pretrained, tmp_path):
    model = ModelConfig(emb_dim=16, hidden_size=16, dropout=0.5)
    cfg = _cfg(tmp_path / "ft", init=str(pretrained), model=model)
    assert Trainer(cfg).meta.model.dropout == 0.5


@pytest.mark.parametrize("kw, says", [
    ({"model": ModelConfig(model="transformer", hidden_size=16)},
     "holds a rnn model .* this run trains a transformer"),
    ({"tokenizer": "word"}, "'char' tokenizer; this run trains a rnn model with 'word'"),
])
def test_init_refuses_another_model_type_or_tokenizer(pretrained, tmp_path, kw, says):
    with pytest.raises(ckpt.ModelDirError, match=says):
        Trainer(_cfg(tmp_path / "ft", init=str(pretrained), **kw))


def test_init_refuses_its_own_folder_and_a_folder_that_is_no_model(pretrained, tmp_path):
    with pytest.raises(TrainConfigError, match="same folder"):
        Trainer(_cfg(pretrained, init=str(pretrained)))
    with pytest.raises(ckpt.ModelDirError, match="not a model folder"):
        Trainer(_cfg(tmp_path / "ft", init=str(tmp_path)))


def test_pretrain_then_finetune_from_the_command_line(tmp_path, capsys):
    data = str(DEMO_CORPUS)
    small = ["--max-train", "40", "--steps", "4", "--batch-size", "8", "--emb-dim", "16",
             "--hidden-size", "16", "--max-src-len", "60", "--max-tgt-len", "12", "--no-progress"]
    assert main(["train", "--objective", "gap-sentence", "--data", data, "--out", str(tmp_path / "pre"),
                 *small]) == 0
    assert main(["train", "--init", str(tmp_path / "pre"), "--data", data, "--dev", data, "--eval-every", "2",
                 "--eval-samples", "4", "--out", str(tmp_path / "ft"), *small]) == 0
    assert "best dev ROUGE-1/2/L" in capsys.readouterr().out
    pre, ft = (json.loads((tmp_path / name / ckpt.CONFIG).read_text()) for name in ("pre", "ft"))
    assert ft["vocab_fingerprint"] == pre["vocab_fingerprint"]
    assert main(["summarize", "--model", str(tmp_path / "ft"), "--beam", "1", TEXT]) == 0
    assert main(["train", "--init", str(tmp_path / "pre"), "--data", data, "--out", str(tmp_path / "bad"),
                 *small, "--hidden-size", "24"]) == 2  # (the last --hidden-size counts)
    assert "error: --init" in capsys.readouterr().err
