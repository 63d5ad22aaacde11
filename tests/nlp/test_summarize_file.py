"""``python -m nlp summarize --input FILE --output FILE``: whole files, bad lines, atomic output."""

from __future__ import annotations

import io
import json

import pytest

from nlp.cli import main
from nlp.summarize_file import read_texts, summarize_file
from nlp.summarizer import Summarizer

TEXTS = ["青禾市地铁三号线东延段今天上午正式开通运营。新线路全长十二公里，设站八座。",
         "本市今年第一季度生产总值同比增长百分之六。",
         "研究人员发现，每天步行三十分钟可以明显降低心血管疾病的风险，专家建议坚持锻炼。"]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _rows():
    return [{"id": i, "text": t, "source": "test"} for i, t in enumerate(TEXTS)]


def _read_rows(text):
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def good_input(tmp_path):
    return _write(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in _rows()])


@pytest.mark.parametrize("beam", ["1", "3"])
def test_rows_keep_their_fields_and_order_and_get_the_models_summary(tiny_model, good_input, tmp_path,
                                                                     capsys, beam):
    out = tmp_path / "out.jsonl"
    assert main(["summarize", "--model", str(tiny_model), "--input", str(good_input), "--output", str(out),
                 "--beam", beam, "--batch-size", "2"]) == 0
    rows = _read_rows(out.read_text(encoding="utf-8"))
    expected = Summarizer.load(tiny_model).summarize(TEXTS, beam_size=int(beam))
    assert [{k: v for k, v in r.items() if k != "summary"} for r in rows] == _rows()
    assert [r["summary"] for r in rows] == expected
    err = capsys.readouterr().err
    assert "summarised 3 texts into" in err and "3/3" in err  # the progress bar reached the end


def test_dash_reads_stdin_and_writes_stdout(tiny_model, good_input, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(good_input.read_bytes()), encoding="utf-8"))
    assert main(["summarize", "--model", str(tiny_model), "--input", "-", "--output", "-", "--beam", "1",
                 "--no-progress"]) == 0
    rows = _read_rows(capsys.readouterr().out)
    assert [r["summary"] for r in rows] == Summarizer.load(tiny_model).summarize(TEXTS)


def test_an_existing_summary_field_is_replaced_and_blank_lines_are_ignored(tiny_model, tmp_path):
    src = _write(tmp_path / "in.jsonl", ["", json.dumps({"text": TEXTS[0], "summary": "旧的"}), "   "])
    rows, skipped = read_texts(str(src))
    assert len(rows) == 1 and not skipped
    out = tmp_path / "out.jsonl"
    result = summarize_file(Summarizer.load(tiny_model), str(src), str(out), progress=False)
    assert result.written == 1
    assert _read_rows(out.read_text(encoding="utf-8"))[0]["summary"] == Summarizer.load(tiny_model).summarize(
        TEXTS[0])


BAD_LINES = [
    ('{"text": "没有结尾', "malformed JSON"),
    ('["text", "一个列表"]', "expected a JSON object, got list"),
    ('{"id": 7}', "missing field 'text'"),
    ('{"text": 42}', "field 'text' must be a string, got int"),
    ('{"text": "  "}', "field 'text' is empty or only whitespace"),
]


@pytest.mark.parametrize("line, message", BAD_LINES)
def test_a_bad_line_stops_with_file_and_line_and_writes_nothing(tiny_model, tmp_path, capsys, line, message):
    src = _write(tmp_path / "in.jsonl", [json.dumps({"text": TEXTS[0]}, ensure_ascii=False), "", line])
    out = tmp_path / "out.jsonl"
    assert main(["summarize", "--model", str(tiny_model), "--input", str(src), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {src}:3: {message}" in err
    assert not out.exists()


def test_a_line_that_is_not_utf8_is_named(tiny_model, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"text": "\xff\xfe"}\n')
    assert main(["summarize", "--model", str(tiny_model), "--input", str(src), "--output", "-"]) == 2
    captured = capsys.readouterr()
    assert f"{src}:1: not valid UTF-8" in captured.err and captured.out == ""  # nothing half-printed


def test_a_failure_while_decoding_leaves_the_old_output_untouched(tiny_model, good_input, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text("earlier results\n", encoding="utf-8")
    real = Summarizer.summarize_batches

    def fails_after_one_batch(self, *args, **kwargs):
        stream = real(self, *args, **kwargs)
        yield next(stream)
        raise KeyboardInterrupt

    monkeypatch.setattr(Summarizer, "summarize_batches", fails_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        summarize_file(Summarizer.load(tiny_model), str(good_input), str(out), batch_size=1, progress=False)
    assert out.read_text(encoding="utf-8") == "earlier results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no temporary file


def test_skip_bad_writes_the_good_rows_and_lists_the_bad_lines_at_the_end(tiny_model, tmp_path, capsys):
    lines = [json.dumps({"text": TEXTS[0]}, ensure_ascii=False), BAD_LINES[0][0],
             json.dumps({"text": TEXTS[1]}, ensure_ascii=False), BAD_LINES[2][0]]
    src = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    assert main(["summarize", "--model", str(tiny_model), "--input", str(src), "--output", str(out),
                 "--skip-bad", "--no-progress"]) == 0
    assert [r["text"] for r in _read_rows(out.read_text(encoding="utf-8"))] == TEXTS[:2]
    err = capsys.readouterr().err
    assert "skipped 2 bad lines:" in err
    assert err.index(f"{src}:2: malformed JSON") < err.index(f"{src}:4: missing field 'text'")


@pytest.mark.parametrize("args, message", [
    (["--output", "o.jsonl", "一段文字"], "--output and --skip-bad go with --input"),
    (["--skip-bad"], "--output and --skip-bad go with --input"),
    (["--input", "in.jsonl", "一段文字"],
     "give only one of a text, --file or --input (got a text and --input)"),
])
def test_options_that_do_not_fit_together_are_clear_errors(tiny_model, capsys, args, message):
    assert main(["summarize", "--model", str(tiny_model), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_input_file_is_named(tiny_model, tmp_path, capsys):
    assert main(["summarize", "--model", str(tiny_model), "--input", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_the_throughput_benchmark_reports_greedy_and_beam(tiny_model, good_input, tmp_path, capsys):
    from benchmarks.decoding import main as bench

    out = tmp_path / "t.json"
    results = bench(["--model", str(tiny_model), "--data", str(good_input), "--beams", "1,2",
                     "--batch-size", "2", "--json", str(out)])
    assert [r["decoding"] for r in results] == ["greedy", "beam 2"]
    assert all(r["texts"] == 3 and r["texts_per_s"] > 0 for r in results)
    assert json.loads(out.read_text()) == results and "| beam 2 |" in capsys.readouterr().out


def test_search_options_reach_the_decoder(tiny_model, capsys):
    assert main(["summarize", "--model", str(tiny_model), "--beam", "2", "--length-penalty", "2.0",
                 "--no-repeat-ngram", "1", TEXTS[0]]) == 0
    out = capsys.readouterr().out.strip()
    assert out == Summarizer.load(tiny_model).summarize(TEXTS[0], beam_size=2, length_penalty=2.0,
                                                        no_repeat_ngram_size=1)
    assert len(set(out)) == len(out)  # no character twice: the 1-gram block is on


@pytest.mark.parametrize("args, message", [(["--beam", "0"], "argument --beam: must be at least 1, got 0"),
                                           (["--no-repeat-ngram", "-1"], "must be at least 0, got -1"),
                                           (["--batch-size", "x"], "invalid int value: 'x'")])
def test_bad_search_settings_are_usage_errors(tiny_model, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["summarize", "--model", str(tiny_model), *args, TEXTS[0]])
    assert exit_.value.code == 2 and message in capsys.readouterr().err

