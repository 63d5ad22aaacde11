"""The command line: every command, and every bad input the issue names."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from nlp.cli import main
from nlp.demo import DEMO_CORPUS
from nlp.summarizer import TruncationWarning
from nlp.vocab import Vocab

TINY = ["--max-train", "40", "--steps", "8", "--batch-size", "8", "--emb-dim", "16", "--hidden-size", "16",
        "--eval-every", "4", "--eval-samples", "4", "--max-src-len", "60", "--max-tgt-len", "10",
        "--no-progress"]
TEXT = "青禾市地铁三号线东延段今天上午正式开通运营。新线路全长十二公里，设站八座。"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    args = ["train", "--data", str(DEMO_CORPUS), "--dev", str(DEMO_CORPUS), "--out", str(out), *TINY]
    assert main(args) == 0
    return out


def _copy(model_dir, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(model_dir, dst)
    return dst


def test_train_writes_the_model_and_its_curve(model_dir):
    assert (model_dir / "model.npz").is_file() and (model_dir / "curves.png").is_file()


def test_summarize_from_argument_stdin_and_file(model_dir, tmp_path, capsys, monkeypatch):
    assert main(["summarize", "--model", str(model_dir), TEXT]) == 0
    from_arg = capsys.readouterr().out.strip()
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(TEXT))
    assert main(["summarize", "--model", str(model_dir)]) == 0
    assert capsys.readouterr().out.strip() == from_arg
    f = tmp_path / "t.txt"
    f.write_text(TEXT, encoding="utf-8")
    assert main(["summarize", "--model", str(model_dir), "--file", str(f), "--beam", "1"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_a_clear_error(model_dir, capsys, text):
    assert main(["summarize", "--model", str(model_dir), text]) == 2
    assert "empty" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["😀😀🎉", "Hello world, this is plain English text.", "\u200b👍🏽 ok"])
def test_non_chinese_text_gets_a_summary_or_a_message_never_a_crash(model_dir, capsys, text):
    assert main(["summarize", "--model", str(model_dir), text]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() or "no summary" in captured.err


def test_text_longer_than_the_model_maximum_is_truncated_with_a_warning(model_dir, capsys):
    assert main(["summarize", "--model", str(model_dir), TEXT * 5]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip()
    assert captured.err.startswith("warning: the text exceeded the model's maximum of 60 tokens")
    from nlp.summarizer import Summarizer

    with pytest.warns(TruncationWarning, match="only the first 60 tokens"):
        Summarizer.load(model_dir).summarize(TEXT * 5)


def test_evaluate_prints_model_lead_and_textrank(model_dir, capsys):
    assert main(["evaluate", "--model", str(model_dir), "--data", str(DEMO_CORPUS), "--limit", "6",
                 "--beam", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("model, greedy", "model, beam 2", "Lead", "TextRank", "R-L"):
        assert row in out


@pytest.mark.parametrize("line, problem", [('{"text": "a", "summary": ', "JSON"),
                                           ('{"text": "只有正文"}', "summary")])
def test_a_malformed_jsonl_line_names_file_and_line(tmp_path, capsys, line, problem):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "正文", "summary": "摘要"}\n' + line + "\n", encoding="utf-8")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m"), *TINY]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and problem in err


def test_an_empty_training_file_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "m"), *TINY]) == 2
    assert "holds no training pairs" in capsys.readouterr().err


def test_a_model_folder_with_another_vocabulary_is_refused(model_dir, tmp_path, capsys):
    other = _copy(model_dir, tmp_path)
    Vocab(["甲", "乙", "丙"], mode="char").save(other / "vocab.json")
    assert main(["summarize", "--model", str(other), TEXT]) == 2
    assert "not the vocabulary this model was trained with" in capsys.readouterr().err


def test_a_model_folder_from_another_version_is_refused(model_dir, tmp_path, capsys):
    other = _copy(model_dir, tmp_path)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "version": 99}))
    assert main(["evaluate", "--model", str(other), "--data", str(DEMO_CORPUS)]) == 2
    assert "version 99" in capsys.readouterr().err


def test_a_folder_that_is_no_model_is_refused(tmp_path, capsys):
    assert main(["summarize", "--model", str(tmp_path), TEXT]) == 2
    assert "not a model folder" in capsys.readouterr().err


@pytest.mark.skipif("cupy" in sys.modules, reason="a machine with CuPy may have a GPU")
def test_cuda_without_cupy_fails_before_any_work(tmp_path, capsys):
    # the data file does not exist: the error must be about the device, found first
    code = main(["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "m"),
                 "--device", "cuda"])
    err = capsys.readouterr().err
    if "cuda" not in err.lower():
        pytest.skip("a CUDA GPU is available here")
    assert code == 2 and "CuPy" in err and "missing.jsonl" not in err
    assert not (tmp_path / "m").exists()


def test_python_dash_m_nlp_runs():
    out = subprocess.run([sys.executable, "-m", "nlp", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("train", "evaluate", "summarize", "demo"):
        assert cmd in out.stdout


def test_demo_trains_and_compares_with_lead(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "30", "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("reference:") == 2 and "Lead (first sentence)" in out and "model, beam 4" in out


def test_label_smoothing_outside_0_1_stops_training_with_one_line(tmp_path, capsys):
    code = main(["train", "--data", str(DEMO_CORPUS), "--out", str(tmp_path / "m"),
                 "--label-smoothing", "1.5", *TINY])
    assert code == 2 and "error: label_smoothing must be in [0, 1), got 1.5" in capsys.readouterr().err
