"""Ensembles: several model folders decoding as one (mean of their distributions at every step)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minigrad import no_grad
from nlp.checkpoint import ModelDirError
from nlp.cli import main
from nlp.data import collate, encode_pairs
from nlp.ensemble import Ensemble
from nlp.summarizer import Summarizer
from nlp.vocab import Vocab
from tests.nlp.conftest import train_tiny

TEXTS = ["青禾市地铁三号线东延段今天上午正式开通运营。新线路全长十二公里，设站八座。",
         "研究人员发现，每天步行三十分钟可以明显降低心血管疾病的风险。"]


def test_each_step_is_the_log_of_the_mean_of_the_members_probabilities(tiny_model, tiny_model_2):
    a, b = Summarizer.load(tiny_model), Summarizer.load(tiny_model_2)
    ensemble = Summarizer.load([tiny_model, tiny_model_2])
    assert isinstance(ensemble.model, Ensemble)
    batch = collate(encode_pairs([(t, "") for t in TEXTS], a.tokenizer, a.vocab, a.meta.max_src_len))
    prefix = np.array([[Vocab.bos_id, 7], [Vocab.bos_id, 9]])
    with no_grad():
        def step(model):
            state = model.start_decoding(batch.src, batch.src_mask, batch.src_ext, batch.max_oov)
            return model.decode_step(state, prefix)[0]

        p_a, p_b, mixed = np.exp(step(a.model)), np.exp(step(b.model)), step(ensemble.model)
    assert not np.allclose(p_a, p_b)  # two different members
    np.testing.assert_allclose(np.exp(mixed), (p_a + p_b) / 2, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(np.exp(mixed).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
def test_an_ensemble_of_one_model_twice_summarises_as_that_model(tiny_model, beam):
    single = Summarizer.load(tiny_model).summarize(TEXTS, beam_size=beam)
    assert Summarizer.load([tiny_model, tiny_model]).summarize(TEXTS, beam_size=beam) == single


def test_cli_model_repeated_decodes_with_the_ensemble(tiny_model, tiny_model_2, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [json.dumps({"text": t, "summary": t[:8]}, ensure_ascii=False) for t in TEXTS]
    src.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    models = ["--model", str(tiny_model), "--model", str(tiny_model_2)]
    assert main(["summarize", *models, "--input", str(src), "--output", str(out), "--no-progress"]) == 0
    expected = Summarizer.load([tiny_model, tiny_model_2]).summarize(TEXTS, beam_size=4)
    assert [json.loads(line)["summary"] for line in out.read_text(encoding="utf-8").splitlines()] == expected
    assert main(["evaluate", *models, "--data", str(src), "--beam", "2"]) == 0
    assert "model, beam 2" in capsys.readouterr().out


def test_members_with_another_vocabulary_are_refused(tiny_model, tmp_path):
    other = train_tiny(tmp_path / "other", max_train=20)  # fewer pairs: another vocabulary
    with pytest.raises(ModelDirError, match="cannot decode together: an ensemble needs the same vocabulary"):
        Summarizer.load([tiny_model, other])


def test_explain_on_an_ensemble_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="explain shows what one model read"):
        Summarizer.load([tiny_model, tiny_model]).explain(TEXTS[0])


def test_an_ensemble_needs_two_members():
    with pytest.raises(ValueError, match="at least two models, got 1"):
        Ensemble([object()])
