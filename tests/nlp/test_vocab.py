import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.vocab import BOS, EOS, PAD, UNK, Vocab


def test_special_tokens_have_fixed_ids():
    v = Vocab()
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert [v.id_to_token(i) for i in range(4)] == [PAD, UNK, BOS, EOS]
    assert (PAD, UNK, BOS, EOS) == ("<pad>", "<unk>", "<s>", "</s>")
    assert len(v) == 4


def test_build_orders_by_frequency_then_first_appearance():
    v = Vocab.build([["b", "a", "b"], ["c", "a", "b"], ["d"]])
    # counts: b 3, a 2, c 1, d 1 (c seen before d)
    assert v.tokens[4:] == ["b", "a", "c", "d"]
    assert v.token_to_id("b") == 4 and v.token_to_id("d") == 7


def test_build_ties_are_deterministic():
    v1 = Vocab.build([["x", "y"], ["y", "x"]])
    v2 = Vocab.build([["x", "y"], ["y", "x"]])
    assert v1.tokens[4:] == ["x", "y"]
    assert v1 == v2


def test_min_freq_and_max_size():
    data = [["a", "a", "a", "b", "b", "c"]]
    assert Vocab.build(data, min_freq=2).tokens[4:] == ["a", "b"]
    v = Vocab.build(data, max_size=5)
    assert len(v) == 5 and v.tokens[4:] == ["a"]
    assert len(Vocab.build(data, max_size=4)) == 4
    with pytest.raises(ValueError):
        Vocab.build(data, max_size=3)
    with pytest.raises(ValueError):
        Vocab.build(data, min_freq=0)


def test_build_skips_special_tokens_in_data():
    v = Vocab.build([["<unk>", "a", "<pad>", "a"]])
    assert v.tokens == [PAD, UNK, BOS, EOS, "a"]


def test_build_rejects_raw_strings():
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build(["一段文本", "另一段"])


def test_contains_len_and_lookup():
    v = Vocab(["北京", "天安门"])
    assert "北京" in v and "上海" not in v
    assert len(v) == 6
    assert v.token_to_id("上海") == v.unk_id
    assert v.id_to_token(5) == "天安门"
    with pytest.raises(IndexError):
        v.id_to_token(6)
    with pytest.raises(IndexError):
        v.id_to_token(-1)


def test_encode_with_unknowns_and_framing():
    v = Vocab(["我", "爱"])
    assert v.encode(["我", "爱", "猫"]) == [4, 5, 1]
    assert v.encode(["我"], add_bos=True, add_eos=True) == [2, 4, 3]
    assert v.encode([]) == []
    with pytest.raises(TypeError):
        v.encode("我爱")


def test_decode_strips_specials_and_stops_at_eos():
    v = Vocab(["我", "爱"])
    assert v.decode([2, 4, 0, 5, 1, 3, 4, 4]) == ["我", "爱", UNK]
    assert v.decode([2, 4, 3, 5], strip_special=False) == [BOS, "我", EOS, "爱"]
    assert v.decode([]) == []


def test_decode_extended_ids_with_oovs():
    v = Vocab(["我"])  # size 5
    assert v.decode([4, 5, 6], oovs=["猫", "狗"]) == ["我", "猫", "狗"]
    with pytest.raises(IndexError):
        v.decode([7], oovs=["猫", "狗"])
    with pytest.raises(IndexError):
        v.decode([5])


def test_decode_accepts_numpy_ints():
    np = pytest.importorskip("numpy")
    v = Vocab(["我", "爱"])
    assert v.decode(np.array([4, 5, 3], dtype=np.int64)) == ["我", "爱"]


def test_save_load_round_trip(tmp_path):
    v = Vocab.build([list("北京欢迎你"), list("北京")], mode="char")
    path = tmp_path / "vocab.json"
    v.save(path)
    w = Vocab.load(path)
    assert w == v and w.mode == "char" and w.tokens == v.tokens
    raw = path.read_text(encoding="utf-8")
    obj = json.loads(raw)
    assert obj["version"] == 1 and obj["mode"] == "char"
    assert "北京"[0] in raw  # stored as readable UTF-8, not \u escapes
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temp file left


def test_load_rejects_other_json(tmp_path):
    p = tmp_path / "other.json"
    p.write_text('{"weights": [1, 2, 3]}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a vocabulary") as e:
        Vocab.load(p)
    assert str(p) in str(e.value)
    p.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a vocabulary"):
        Vocab.load(p)


def test_load_rejects_non_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_bytes(b"\x00\xff not json")
    with pytest.raises(ValueError, match="not a vocabulary"):
        Vocab.load(p)


def test_load_rejects_wrong_version(tmp_path):
    p = tmp_path / "v.json"
    obj = Vocab(["a"]).to_dict()
    obj["version"] = 99
    p.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(ValueError, match="version 99"):
        Vocab.load(p)


def test_load_rejects_corrupt_token_lists(tmp_path):
    p = tmp_path / "v.json"
    for tokens in (["a", "a"], ["a", "<unk>"], ["a", 3]):
        obj = Vocab().to_dict()
        obj["tokens"] = tokens
        p.write_text(json.dumps(obj), encoding="utf-8")
        with pytest.raises(ValueError):
            Vocab.load(p)


token_lists = st.lists(
    st.lists(st.sampled_from(list("abcdefgh") + ["北京", "<s>"]), max_size=8), max_size=8
)


@settings(max_examples=200, deadline=None)
@given(token_lists, st.integers(1, 3), st.one_of(st.none(), st.integers(4, 9)))
def test_build_properties(lists, min_freq, max_size):
    v = Vocab.build(lists, min_freq=min_freq, max_size=max_size)
    counts = Counter(t for toks in lists for t in toks)
    kept = v.tokens[4:]
    assert len(set(v.tokens)) == len(v)
    if max_size is not None:
        assert len(v) <= max_size
    # frequencies never increase along the id order, all above min_freq
    freqs = [counts[t] for t in kept]
    assert freqs == sorted(freqs, reverse=True)
    assert all(f >= min_freq for f in freqs)
    eligible = [t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK, BOS, EOS)]
    if max_size is None:
        assert set(kept) == set(eligible)
    # whatever was left out is no more frequent than anything kept
    if kept:
        assert all(counts[t] <= freqs[-1] for t in eligible if t not in v)
    for toks in lists:
        ids = v.encode(toks)
        assert v.decode(ids, strip_special=False) == [t if t in v else UNK for t in toks]
