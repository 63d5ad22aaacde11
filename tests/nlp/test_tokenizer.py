import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.tokenizer import Tokenizer, normalize

CHAR = Tokenizer("char")
WORD = Tokenizer("word")


# ----------------------------------------------------------------------------- normalize
def test_normalize_fullwidth_letters_digits_and_space():
    assert normalize("ＡＢＣ　ｘｙｚ　０１２３４５６７８９") == "ABC xyz 0123456789"


def test_normalize_keeps_chinese_punctuation():
    text = "你好，世界。真的吗？是！“引号”（括号）：；、％"
    assert normalize(text) == text


def test_normalize_fullwidth_decimal_point_between_digits_only():
    assert normalize("３．５") == "3.5"
    assert normalize("好．") == "好．"


def test_normalize_strips_control_and_zero_width():
    text = "中\u200b文\u200c\u200d\ufeff测\x00试\x07\x1b\u00ad"
    assert normalize(text) == "中文测试"


def test_normalize_collapses_whitespace():
    assert normalize("  a \t\n\r b\u3000\u3000c  ") == "a b c"
    assert normalize("") == ""
    assert normalize(" \n\t\u3000") == ""


def test_normalize_rejects_non_str():
    with pytest.raises(TypeError):
        normalize(None)


# ------------------------------------------------------------------------------ char mode
def test_char_mode_keeps_latin_and_digit_runs():
    assert CHAR.tokenize("iPhone6发布于2014年") == ["iPhone6", "发", "布", "于", "2014", "年"]
    assert CHAR.tokenize("售价3.5万元") == ["售", "价", "3.5", "万", "元"]
    assert CHAR.tokenize("ＧＤＰ增长７％") == ["GDP", "增", "长", "7", "％"]


def test_char_mode_drops_whitespace_and_splits_on_it():
    assert CHAR.tokenize(" hello  world 中 文 ") == ["hello", "world", "中", "文"]


def test_char_mode_punctuation_is_one_token_each():
    assert CHAR.tokenize("好！？“a”") == ["好", "！", "？", "“", "a", "”"]


@pytest.mark.parametrize("tok", [CHAR, WORD])
@pytest.mark.parametrize("text", ["", " ", "\n\t  \u3000", "\x00\x01\u200b", "\ufeff"])
def test_empty_and_invisible_inputs_give_no_tokens(tok, text):
    assert tok.tokenize(text) == []


@pytest.mark.parametrize("tok", [CHAR, WORD])
def test_emoji_survive_as_tokens(tok):
    tokens = tok.tokenize("好😀❤️")
    assert "".join(tokens) == "好😀❤️"
    assert "😀" in tokens
    assert "❤️" in tokens  # the variation selector stays with its heart


# ------------------------------------------------------------------------------ word mode
def test_word_mode_uses_jieba_words():
    assert WORD.tokenize("我爱北京天安门") == ["我", "爱", "北京", "天安门"]


def test_word_mode_drops_whitespace_tokens():
    tokens = WORD.tokenize("hello   world 北京")
    assert tokens == ["hello", "world", "北京"]


def test_word_mode_normalises_first():
    assert WORD.tokenize("ＡＢＣ\u200b公司") == Tokenizer("word").tokenize("ABC公司")


# ---------------------------------------------------------------------------- detokenize
def test_detokenize_spaces_only_between_latin_units():
    assert CHAR.detokenize(["iPhone", "6", "发", "布"]) == "iPhone 6发布"
    assert CHAR.detokenize(["2014", "年", "3.5", "万"]) == "2014年3.5万"
    assert CHAR.detokenize(["hello", "world", "！"]) == "hello world！"
    assert CHAR.detokenize([]) == ""


def test_detokenize_inverts_tokenize_on_mixed_text():
    text = "苹果 iPhone 6 发布，售价 3.5 万元（约 5000 USD）"
    tokens = CHAR.tokenize(text)
    assert CHAR.detokenize(tokens) == "苹果iPhone 6发布，售价3.5万元（约5000 USD）"
    assert CHAR.tokenize(CHAR.detokenize(tokens)) == tokens


def test_bad_mode_and_bad_input():
    with pytest.raises(ValueError, match="mode"):
        Tokenizer("bpe")
    with pytest.raises(TypeError):
        CHAR.tokenize(b"bytes")


# ------------------------------------------------------------------------------ properties
# Text mixing CJK, Latin, digits, punctuation, whitespace, control characters and emoji.
mixed_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("中文测试北京天安门我爱的了，。！？“”（）、：；"),
        st.sampled_from("abcXYZ0189 \t\n\u3000\x00\x1f\u200b\ufeff😀❤\ufe0f\u0301"),
        st.sampled_from("ＡＢ１２％．."),
        st.characters(),
    ),
    max_size=40,
)


def _squeeze(text: str) -> str:
    return "".join(normalize(text).split())


@settings(max_examples=300, deadline=None)
@given(mixed_text)
def test_char_tokens_cover_the_normalised_text(text):
    tokens = CHAR.tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in tokens)
    assert "".join(tokens) == _squeeze(text)


@settings(max_examples=150, deadline=None)
@given(mixed_text)
def test_word_tokens_cover_the_normalised_text(text):
    tokens = WORD.tokenize(text)
    assert all(t and not t.isspace() for t in tokens)
    assert "".join(tokens) == _squeeze(text)


@settings(max_examples=300, deadline=None)
@given(mixed_text.filter(lambda s: "." not in s and "．" not in s))
def test_char_detokenize_round_trip(text):
    # (a "." glues digits on re-tokenisation, "1 .5" -> "1.5", hence the filter)
    tokens = CHAR.tokenize(text)
    assert CHAR.tokenize(CHAR.detokenize(tokens)) == tokens
