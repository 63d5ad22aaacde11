import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from nlp.data import Batch, DataError, EncodedExample, batches, collate, encode_pairs, read_jsonl, split_batch
from nlp.tokenizer import Tokenizer
from nlp.vocab import Vocab

CHAR = Tokenizer("char")
DEMO = Path(__file__).resolve().parents[2] / "nlp" / "corpus" / "demo.jsonl"


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _row(text, summary, **extra):
    return json.dumps({"text": text, "summary": summary, **extra}, ensure_ascii=False)


# -------------------------------------------------------------------------------- reading
def test_read_jsonl_rows_blank_lines_and_extra_fields(tmp_path):
    p = _write(
        tmp_path / "d.jsonl",
        [_row("正文一", "摘要一", id="a"), "", "   ", _row("正文二", "摘要二")],
    )
    rows = read_jsonl(p)
    assert [r["text"] for r in rows] == ["正文一", "正文二"]
    assert [r["summary"] for r in rows] == ["摘要一", "摘要二"]
    assert rows[0]["id"] == "a"
    assert read_jsonl(p, max_rows=1) == rows[:1]
    assert read_jsonl(str(p), max_rows=0) == []


def test_read_jsonl_accepts_bom(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes("\ufeff".encode() + _row("文", "摘").encode())
    assert read_jsonl(p) == [{"text": "文", "summary": "摘"}]


@pytest.mark.parametrize(
    "bad_line, words",
    [
        ('{"text": "文", "summary": ', "malformed JSON"),
        ('{"text": "文"}', "summary"),
        ('{"summary": "摘"}', "text"),
        ('{"text": 3, "summary": "摘"}', "text"),
        ('{"text": "文", "summary": null}', "summary"),
        ('["文", "摘"]', "object"),
    ],
)
def test_read_jsonl_errors_name_file_and_line(tmp_path, bad_line, words):
    p = _write(tmp_path / "bad.jsonl", [_row("a", "b"), "", bad_line, _row("c", "d")])
    with pytest.raises(DataError) as e:
        read_jsonl(p)
    assert isinstance(e.value, ValueError)
    assert f"{p}:3:" in str(e.value)
    assert words in str(e.value)
    assert e.value.lineno == 3 and e.value.path == str(p)


def test_read_jsonl_invalid_utf8(tmp_path):
    p = tmp_path / "bin.jsonl"
    p.write_bytes(_row("a", "b").encode() + b"\n\xff\xfe\n")
    with pytest.raises(DataError, match=":2:"):
        read_jsonl(p)


def test_read_jsonl_stops_before_a_bad_line_past_max_rows(tmp_path):
    p = _write(tmp_path / "d.jsonl", [_row("a", "b"), "not json"])
    assert len(read_jsonl(p, max_rows=1)) == 1


# ------------------------------------------------------------------------------- encoding
VOCAB = Vocab(list("我爱北京"))  # ids: 我 4, 爱 5, 北 6, 京 7; size 8


def test_encode_pairs_ids_and_copy_vocabulary():
    (ex,) = encode_pairs([{"text": "我爱天安门天", "summary": "爱门猫"}], CHAR, VOCAB)
    assert ex.src_tokens == list("我爱天安门天")
    assert ex.src_ids == [4, 5, 1, 1, 1, 1]
    assert ex.oovs == ["天", "安", "门"]
    assert ex.src_ext_ids == [4, 5, 8, 9, 10, 8]  # repeated OOV keeps its extended id
    assert ex.tgt_ids == [2, 5, 1, 1, 3]
    # 门 is copied from the source (8 + 2); 猫 is nowhere in the source: plain <unk>
    assert ex.tgt_ext_ids == [2, 5, 10, 1, 3]
    assert ex.index == 0


def test_encode_pairs_truncation_and_tuple_input():
    (ex,) = encode_pairs([("我爱天安门", "门北京我")], CHAR, VOCAB, max_src_len=3, max_tgt_len=2)
    assert ex.src_tokens == ["我", "爱", "天"] and ex.oovs == ["天"]
    assert ex.tgt_tokens == ["门", "北"]
    assert ex.tgt_ids == [2, 1, 6, 3]
    assert ex.tgt_ext_ids == [2, 1, 6, 3]  # 门 was cut from the source: not copyable


def test_encode_pairs_empty_source_and_summary():
    (ex,) = encode_pairs([{"text": "  \u200b", "summary": ""}], CHAR, VOCAB)
    assert ex.src_ids == [VOCAB.unk_id] and ex.oovs == []
    assert ex.tgt_ids == [2, 3]


def test_encode_pairs_accepts_a_plain_callable():
    (ex,) = encode_pairs([("我 爱", "爱")], str.split, VOCAB)
    assert ex.src_ids == [4, 5]


def test_encode_pairs_rejects_bad_limits():
    with pytest.raises(ValueError):
        encode_pairs([("a", "b")], CHAR, VOCAB, max_src_len=0)


# ------------------------------------------------------------------------------- batching
def _corpus(n=57, seed=0):
    rng = np.random.default_rng(seed)
    alphabet = list("我爱北京天安门猫狗鱼")
    pairs = []
    for _ in range(n):
        src = "".join(rng.choice(alphabet, size=rng.integers(1, 30)))
        tgt = "".join(rng.choice(alphabet, size=rng.integers(0, 8)))
        pairs.append({"text": src, "summary": tgt})
    return pairs, encode_pairs(pairs, CHAR, VOCAB)


def test_collate_shapes_padding_and_shift():
    exs = encode_pairs([("我爱", "北京"), ("我爱北京天", "我")], CHAR, VOCAB)
    b = collate(exs)
    assert isinstance(b, Batch) and len(b) == 2
    np.testing.assert_array_equal(b.src, [[4, 5, 0, 0, 0], [4, 5, 6, 7, 1]])
    np.testing.assert_array_equal(b.src_mask, [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(b.src_padding_mask, ~b.src_mask)
    np.testing.assert_array_equal(b.tgt_in, [[2, 6, 7], [2, 4, 0]])
    np.testing.assert_array_equal(b.tgt_out, [[6, 7, 3], [4, 3, 0]])
    np.testing.assert_array_equal(b.tgt_mask, [[1, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(b.src_ext, [[4, 5, 0, 0, 0], [4, 5, 6, 7, 8]])
    np.testing.assert_array_equal(b.tgt_out_ext, b.tgt_out)
    assert b.oovs == [[], ["天"]] and b.max_oov == 1
    assert b.src.dtype == np.int64 and b.tgt_out_ext.dtype == np.int64
    assert b.src_mask.dtype == np.bool_ and b.tgt_mask.dtype == np.bool_
    np.testing.assert_array_equal(b.src_lengths, [2, 5])
    assert b.num_tgt_tokens == 5


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("bucket", [False, True])
def test_batches_cover_every_example_once_and_rows_match(shuffle, bucket):
    pairs, enc = _corpus()
    seen = []
    for b in batches(enc, batch_size=8, shuffle=shuffle, seed=3, bucket=bucket):
        assert 1 <= len(b) <= 8
        assert b.src.shape == b.src_mask.shape == b.src_ext.shape
        assert b.tgt_in.shape == b.tgt_out.shape == b.tgt_mask.shape == b.tgt_out_ext.shape
        assert b.src_mask[:, 0].all()  # no all-padding row
        for row, i in enumerate(b.indices):
            ex = enc[i]
            n, t = len(ex.src_ids), len(ex.tgt_ids) - 1
            assert b.src[row, :n].tolist() == ex.src_ids and (b.src[row, n:] == 0).all()
            assert b.src_mask[row].sum() == n and b.tgt_mask[row].sum() == t
            # a summary character decodes to itself when it is in the vocabulary or can
            # be copied from the source, else to <unk>
            text, summary = pairs[i]["text"], pairs[i]["summary"]
            expected = [c if c in VOCAB or c in text else VOCAB.UNK for c in summary]
            assert VOCAB.decode(b.tgt_out_ext[row], oovs=b.oovs[row]) == expected
            assert b.tgt_in[row, 0] == VOCAB.bos_id and b.tgt_out[row, t - 1] == VOCAB.eos_id
            # the decoder input is the target shifted right by one
            assert (b.tgt_in[row, 1:t] == b.tgt_out[row, : t - 1]).all()
            # extended ids differ from plain ids only where the plain id is <unk>
            diff = b.src_ext[row] != b.src[row]
            assert (b.src[row][diff] == VOCAB.unk_id).all()
            assert (b.src_ext[row][diff] >= len(VOCAB)).all()
        assert b.max_oov == max(len(o) for o in b.oovs)
        seen.extend(b.indices)
    assert sorted(seen) == list(range(len(enc)))
    if not shuffle and not bucket:
        assert seen == list(range(len(enc)))


def test_bucketing_reduces_padding_and_sorts_within_chunks():
    _, enc = _corpus(n=200)

    def padded(bs):
        return sum(b.src.size for b in bs)

    plain = list(batches(enc, 10, shuffle=True, seed=0, bucket=False))
    bucketed = list(batches(enc, 10, shuffle=True, seed=0, bucket=True))
    assert padded(bucketed) < padded(plain)
    ordered = [
        i for b in batches(enc, 10, shuffle=False, bucket=True, bucket_batches=5) for i in b.indices
    ]
    for start in range(0, 200, 50):  # chunks of 5 batches x 10
        chunk = ordered[start : start + 50]
        assert sorted(chunk) == list(range(start, start + 50))
        lens = [len(enc[i].src_ids) for i in chunk]
        assert lens == sorted(lens)


def test_shuffle_is_reproducible_and_seed_dependent():
    _, enc = _corpus()

    def order(seed):
        return [b.indices for b in batches(enc, 8, shuffle=True, seed=seed)]

    assert order(1) == order(1)
    assert order(1) != order(2)
    rng = np.random.default_rng(5)
    assert [b.indices for b in batches(enc, 8, seed=rng)] != [
        b.indices for b in batches(enc, 8, seed=rng)
    ]


def test_drop_last_and_arguments():
    _, enc = _corpus(n=20)
    assert [len(b) for b in batches(enc, 8, shuffle=False, bucket=False)] == [8, 8, 4]
    assert [len(b) for b in batches(enc, 8, shuffle=False, bucket=False, drop_last=True)] == [8, 8]
    assert list(batches([], 8)) == []
    with pytest.raises(ValueError):
        list(batches(enc, 0))
    with pytest.raises(ValueError):
        collate([])


def test_demo_corpus_end_to_end():
    rows = read_jsonl(DEMO)
    assert len(rows) > 100 and all(r["text"] and r["summary"] for r in rows)
    tok = Tokenizer("word")
    vocab = Vocab.build((tok.tokenize(r["text"] + r["summary"]) for r in rows), min_freq=2)
    enc = encode_pairs(rows, tok, vocab, max_src_len=60, max_tgt_len=12)
    seen = 0
    for b in batches(enc, 32, shuffle=True, seed=0):
        assert b.src.shape[1] <= 60 and b.tgt_in.shape[1] <= 13
        for row, i in enumerate(b.indices):
            # copy ids restore every source token, OOV or not
            n = int(b.src_mask[row].sum())
            toks = vocab.decode(b.src_ext[row, :n], strip_special=False, oovs=b.oovs[row])
            assert toks == tok.tokenize(rows[i]["text"])[:60]
        seen += len(b)
    assert seen == len(rows)


# ------------------------------------------------------------------- splitting for processes
def _example(src_len: int, tgt_len: int) -> EncodedExample:
    ids = [5] * src_len
    return EncodedExample(index=0, src_tokens=[], tgt_tokens=[], src_ids=ids, src_ext_ids=ids,
                          tgt_ids=[2, *[5] * tgt_len, 3], tgt_ext_ids=[2, *[5] * tgt_len, 3], oovs=[])


def _cost(rows, src_len, tgt_len):
    """A seq2seq-like cost: per position, a target costs more than a source, plus attention."""
    return rows * (3 * src_len + 10 * tgt_len + 2 * src_len * tgt_len)


def _share_cost(examples, share) -> int:
    batch = collate([examples[i] for i in share])
    return _cost(len(batch), batch.src.shape[1], batch.tgt_in.shape[1])


def test_split_batch_gives_every_example_to_one_share_in_target_length_order():
    rng = np.random.default_rng(0)
    examples = [_example(int(rng.integers(1, 30)), int(rng.integers(0, 12))) for _ in range(23)]
    shares = split_batch(examples, 3, _cost)
    assert len(shares) == 3 and all(shares)
    assert sorted(i for share in shares for i in share) == list(range(23))
    longest = [max(len(examples[i].tgt_ids) for i in share) for share in shares]
    shortest = [min(len(examples[i].tgt_ids) for i in share) for share in shares]
    assert all(a <= b for a, b in zip(longest, shortest[1:]))  # consecutive runs of target length


def test_split_batch_finds_the_cut_with_the_smallest_largest_share():
    rng = np.random.default_rng(1)
    for _ in range(40):
        n = int(rng.integers(1, 9))
        parts = int(rng.integers(1, n + 1))
        examples = [_example(int(rng.integers(1, 20)), int(rng.integers(0, 10))) for _ in range(n)]
        got = max(_share_cost(examples, share) for share in split_batch(examples, parts, _cost))
        order = sorted(range(n), key=lambda i: (len(examples[i].tgt_ids), len(examples[i].src_ids)))
        best = min(max(_share_cost(examples, order[a:b]) for a, b in zip((0, *cuts), (*cuts, n)))
                   for cuts in itertools.combinations(range(1, n), parts - 1))
        assert got == best


def test_split_batch_beats_dealing_round_robin_on_real_batches():
    """Length-bucketed batches of the demo corpus: the slowest share of the split costs less than
    the slower half of dealing the pairs out in turn, which pads both halves to about the longest
    target."""
    vocab = Vocab.build(CHAR(r["text"]) + CHAR(r["summary"]) for r in read_jsonl(DEMO))
    encoded = encode_pairs(read_jsonl(DEMO), CHAR, vocab)
    split, dealt = 0, 0
    for batch in batches(encoded, 16, seed=0):
        examples = [encoded[i] for i in batch.indices]
        split += max(_share_cost(examples, s) for s in split_batch(examples, 2, _cost))
        dealt += max(_share_cost(examples, list(range(k, len(examples), 2))) for k in (0, 1))
    assert split < 0.95 * dealt


def test_split_batch_needs_an_example_per_share():
    with pytest.raises(ValueError, match="cannot cut 2 examples into 3 non-empty shares"):
        split_batch([_example(3, 2), _example(4, 1)], 3, _cost)
