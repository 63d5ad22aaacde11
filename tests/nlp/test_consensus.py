"""Consensus (MBR) decoding: several models propose summaries, the one that agrees best
with the others is chosen."""

from __future__ import annotations

import json

import pytest

from nlp.cli import main
from nlp.consensus import Consensus, consensus_choice
from nlp.metrics import chars, rouge_l
from nlp.summarizer import Summarizer, TruncationWarning
from tests.nlp.conftest import train_tiny

TEXTS = ["青禾市地铁三号线东延段今天上午正式开通运营。新线路全长十二公里，设站八座。",
         "研究人员发现，每天步行三十分钟可以明显降低心血管疾病的风险。"]


def _agreement(pool: list[str], i: int) -> float:
    return sum(rouge_l(chars(pool[i]), chars(other))["f"] for j, other in enumerate(pool) if j != i)


def test_the_choice_is_the_candidate_closest_to_all_others():
    pool = ["甲乙丙丁", "甲乙丙", "甲乙丙戊", "子丑"]
    chosen = consensus_choice(pool)
    assert chosen == 1  # all of it is in both long ones: F1 6/7 with each, against 6/7 + 3/4
    assert all(_agreement(pool, chosen) >= _agreement(pool, i) for i in range(len(pool)))
    assert consensus_choice(["只有一个"]) == 0
    assert consensus_choice(["甲乙", "丙丁"]) == 0  # a tie goes to the first


def test_no_candidates_is_an_error():
    with pytest.raises(ValueError, match="at least one candidate"):
        consensus_choice([])


def test_candidates_are_the_beams_finished_summaries_best_first(tiny_model):
    s = Summarizer.load(tiny_model)
    nbest = s.candidates(TEXTS, beam_size=3)
    assert [pool[0] for pool in nbest] == s.summarize(TEXTS, beam_size=3)
    assert all(1 <= len(pool) <= 3 for pool in nbest)
    assert s.candidates(TEXTS) == [[summary] for summary in s.summarize(TEXTS)]  # greedy: one each


def test_consensus_summary_is_one_members_candidate_chosen_by_agreement(tiny_model, tiny_model_2):
    members = [Summarizer.load(tiny_model), Summarizer.load(tiny_model_2)]
    chosen = Consensus(members).summarize(TEXTS, beam_size=3, batch_size=1)
    for i, summary in enumerate(chosen):
        pool = [c for m in members for c in m.candidates([TEXTS[i]], beam_size=3)[0]]
        assert summary == pool[consensus_choice(pool)]
    assert Consensus(members).summarize(TEXTS[0], beam_size=3) == chosen[0]


def test_members_may_have_different_vocabularies(tiny_model, tmp_path):
    other = train_tiny(tmp_path / "other", max_train=20)  # another vocabulary: no ensemble possible
    summaries = Consensus.load([tiny_model, other]).summarize(TEXTS, beam_size=2)
    assert len(summaries) == len(TEXTS) and all(isinstance(s, str) for s in summaries)


def test_a_consensus_needs_two_members(tiny_model):
    with pytest.raises(ValueError, match="at least two models, got 1"):
        Consensus([Summarizer.load(tiny_model)])


def test_cli_combine_consensus(tiny_model, tiny_model_2, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [json.dumps({"text": t, "summary": t[:8]}, ensure_ascii=False) for t in TEXTS]
    src.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    models = ["--model", str(tiny_model), "--model", str(tiny_model_2), "--combine", "consensus"]
    assert main(["summarize", *models, "--input", str(src), "--output", str(out), "--no-progress"]) == 0
    expected = Consensus.load([tiny_model, tiny_model_2]).summarize(TEXTS, beam_size=4)
    assert [json.loads(line)["summary"] for line in out.read_text(encoding="utf-8").splitlines()] == expected
    assert main(["evaluate", *models, "--data", str(src), "--beam", "2"]) == 0
    assert "model, beam 2" in capsys.readouterr().out


def test_cli_consensus_of_one_model_or_with_explain_is_refused(tiny_model, tmp_path, capsys):
    assert main(["summarize", "--model", str(tiny_model), "--combine", "consensus", TEXTS[0]]) == 2
    assert "give --model at least twice" in capsys.readouterr().err
    png = str(tmp_path / "a.png")
    assert main(["summarize", "--model", str(tiny_model), "--model", str(tiny_model), "--combine",
                 "consensus", "--explain", png, TEXTS[0]]) == 2
    assert "--explain shows what one model read" in capsys.readouterr().err


def test_a_cut_text_is_reported_once_not_once_per_member_and_batch(tiny_model, tiny_model_2):
    long_text = TEXTS[0] * 40  # past the models' maximum source length
    with pytest.warns(TruncationWarning) as caught:
        Consensus.load([tiny_model, tiny_model_2]).summarize([long_text, TEXTS[1], long_text], batch_size=1)
    messages = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(messages) == 1 and messages[0].startswith("2 of 3 texts exceeded")
