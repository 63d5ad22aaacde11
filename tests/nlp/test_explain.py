"""``Summarizer.explain`` and ``summarize --explain PNG``: the numbers decoding used, and the picture."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.image import imread

import nlp.explain as explain_module
from minigrad import no_grad
from nlp.cli import main
from nlp.data import collate, encode_pairs
from nlp.explain import FontWarning, draw_explanation, find_cjk_font
from nlp.models import ModelConfig, build_model
from nlp.models.copying import extended_log_probs
from nlp.summarizer import Summarizer
from nlp.vocab import Vocab

TEXT = "青禾市地铁三号线东延段今天上午正式开通运营。新线路全长十二公里，设站八座。"


@pytest.fixture(scope="module")
def summarizer(tiny_model):
    return Summarizer.load(tiny_model)


@pytest.mark.parametrize("beam", [1, 3])
def test_explain_gives_the_summary_and_attention_rows_per_summary_token(summarizer, beam):
    e = summarizer.explain(TEXT, beam_size=beam, min_length=4)
    assert e.summary == summarizer.summarize(TEXT, beam_size=beam, min_length=4)
    assert summarizer.tokenizer.detokenize(e.summary_tokens) == e.summary
    assert e.source == summarizer.tokenizer.tokenize(TEXT)[: summarizer.meta.max_src_len]
    assert e.attention.shape == (len(e.summary_tokens), len(e.source)) and len(e.summary_tokens) >= 4
    assert np.allclose(e.attention.sum(axis=1), 1.0, atol=1e-5) and (e.attention >= 0).all()
    assert e.p_copy.shape == (len(e.summary_tokens),) and ((e.p_copy > 0) & (e.p_copy < 1)).all()


def test_explain_numbers_are_the_ones_decoding_mixed_step_by_step(summarizer):
    """Rebuilding each step's output distribution from explain's attention and p_copy
    gives exactly what decode_step computed for that step."""
    e = summarizer.explain(TEXT, min_length=4)
    model = summarizer.model
    batch = collate(encode_pairs([(TEXT, "")], summarizer.tokenizer, summarizer.vocab))
    ids = summarizer.vocab.encode(e.summary_tokens)
    with no_grad():
        logits, _, _ = model.teacher_forced(batch.src, batch.src_mask, np.array([[Vocab.bos_id, *ids]]))
        state = model.start_decoding(batch.src, batch.src_mask, batch.src_ext, batch.max_oov)
        prefix = np.array([[Vocab.bos_id]])
        for t, token in enumerate(ids):
            logp, state = model.decode_step(state, prefix)
            attn, p_gen = _tensor(e.attention[t : t + 1]), _tensor(1.0 - e.p_copy[t : t + 1, None])
            rebuilt = extended_log_probs(logits[:, t], attn, p_gen, batch.src_ext, batch.max_oov)
            np.testing.assert_allclose(rebuilt, logp, atol=1e-4)
            prefix = np.concatenate([prefix, [[token]]], axis=1)


def _tensor(array):
    import minigrad as mg

    return mg.tensor(np.asarray(array, dtype=np.float32))


def test_a_model_without_copy_has_attention_but_no_p_copy(summarizer):
    plain = replace(summarizer.meta, model=replace(summarizer.meta.model, copy=False))
    model = build_model(plain.model)
    weights = summarizer.model.state_dict()
    model.load_state_dict({k: v for k, v in weights.items() if not k.startswith("gen.")})
    e = Summarizer(model.eval(), summarizer.vocab, plain).explain(TEXT)
    assert e.p_copy is None and e.attention.shape == (len(e.summary_tokens), len(e.source))


def test_explain_on_a_clause_picker_is_a_clear_error(summarizer):
    meta = replace(summarizer.meta, model=ModelConfig(model="clause", vocab_size=len(summarizer.vocab),
                                                     emb_dim=8, hidden_size=8, clause_end_ids=[5]))
    picker = Summarizer(build_model(meta.model), summarizer.vocab, meta)
    with pytest.raises(ValueError, match="explain needs a model that attends .* 'clause' model"):
        picker.explain(TEXT)


def _assert_a_real_picture(path):
    image = imread(path)
    height, width = image.shape[:2]
    assert height >= 250 and width >= 500  # 6+ inches wide at 100 dpi, less the tight crop
    ink = (image[..., :3] < 0.9).any(axis=-1).mean()
    assert ink > 0.05  # the heat map, the bars and the labels, not a blank canvas
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 20  # shades, not one flat colour


def test_without_a_cjk_font_the_picture_labels_positions_after_one_warning(summarizer, tmp_path, monkeypatch):
    monkeypatch.setattr(explain_module, "find_cjk_font", lambda chars: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert draw_explanation(summarizer.explain(TEXT, min_length=4), tmp_path / "a.png") is False
    assert [w.category for w in caught] == [FontWarning]  # one warning, and no "Glyph missing" ones
    assert "fonts-noto-cjk" in str(caught[0].message)
    _assert_a_real_picture(tmp_path / "a.png")


def test_text_a_default_font_can_draw_is_labelled_with_its_tokens(summarizer, tmp_path):
    e = summarizer.explain("Metro line 3 opened today, with 8 new stations.", min_length=3)
    assert all(ord(c) < 128 for c in "".join(e.source))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no font warning: none is needed
        assert draw_explanation(e, tmp_path / "b.png") is True
    _assert_a_real_picture(tmp_path / "b.png")


def test_a_font_is_chosen_only_if_it_has_every_character(monkeypatch):
    dejavu = font_manager.findfont("DejaVu Sans")
    monkeypatch.setattr(explain_module, "_font_files", lambda: (dejavu,))
    assert find_cjk_font("Zürich café") == dejavu  # Latin-1 is in DejaVu Sans
    assert find_cjk_font("Zürich 青禾") is None  # CJK is not
    assert find_cjk_font("plain ascii") is None  # nothing to look for


def test_cli_explain_writes_the_picture(tiny_model, tmp_path, capsys):
    png = tmp_path / "attention.png"
    assert main(["summarize", "--model", str(tiny_model), "--explain", str(png), "--beam", "1", TEXT]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() and f"attention picture written to {png}" in captured.err
    _assert_a_real_picture(png)


def test_cli_explain_is_for_one_text_not_a_file(tiny_model, tmp_path, capsys):
    assert main(["summarize", "--model", str(tiny_model), "--input", "x.jsonl", "--explain", "a.png"]) == 2
    assert "--explain draws the picture for one text" in capsys.readouterr().err


def test_cli_explain_without_matplotlib_says_how_to_install_it(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib fails
    assert main(["summarize", "--model", str(tiny_model), "--explain", str(tmp_path / "c.png"), TEXT]) == 2
    assert 'pip install -e ".[plot]"' in capsys.readouterr().err and not (tmp_path / "c.png").exists()
