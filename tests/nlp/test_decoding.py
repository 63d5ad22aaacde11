"""Greedy and beam search against a tiny Markov "model" whose probabilities are known."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.decoding import SearchConfig, _banned_ngram_tokens, generate
from nlp.vocab import Vocab

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class Markov:
    """log p(next | last token) from a fixed table over an extended vocabulary; the
    source row adds a per-example bias so batched rows really differ."""

    def __init__(self, table: np.ndarray, bias: np.ndarray | None = None):
        self.logp = np.log(table / table.sum(axis=1, keepdims=True))
        self.bias = bias
        self.calls = 0

    def start_decoding(self, src, src_mask, src_ext, max_oov):
        return {"row": np.arange(src.shape[0])}

    def decode_step(self, state, prefix):
        self.calls += 1
        out = self.logp[prefix[:, -1]].copy()
        if self.bias is not None:
            out += self.bias[state["row"]]
        return out, state


def table(n: int, edges: dict[int, dict[int, float]]) -> np.ndarray:
    t = np.full((n, n), 1e-6)
    for a, row in edges.items():
        for b, p in row.items():
            t[a, b] = p
    return t


SRC = np.array([[5, 6]])


def test_greedy_follows_the_most_probable_token_and_stops_at_eos():
    m = Markov(table(8, {BOS: {4: 0.9}, 4: {5: 0.8}, 5: {EOS: 0.9}}))
    assert generate(m, SRC, max_length=10) == [[4, 5]]


def test_max_length_cuts_and_min_length_blocks_eos():
    m = Markov(table(8, {BOS: {4: 0.9}, 4: {5: 0.8}, 5: {EOS: 0.9, 6: 0.05}, 6: {7: 1.0}, 7: {4: 1}}))
    assert generate(m, SRC, max_length=1) == [[4]]
    out = generate(m, SRC, max_length=10, min_length=4)[0]
    assert len(out) >= 4 and out[:3] == [4, 5, 6]


def test_beam_finds_the_sequence_greedy_misses():
    # greedy takes 4 (0.6) then gets only 0.3-probable continuations; 5 (0.4) leads to a sure EOS
    m = Markov(table(8, {BOS: {4: 0.6, 5: 0.4}, 4: {6: 0.3, 7: 0.3, EOS: 0.3}, 5: {EOS: 1.0},
                         6: {EOS: 1.0}, 7: {EOS: 1.0}}))
    assert generate(m, SRC, max_length=5, length_penalty=0.0)[0] in ([4], [4, 6], [4, 7])
    assert generate(m, SRC, max_length=5, beam_size=3, length_penalty=0.0) == [[5]]


def test_beam_of_one_equals_greedy():
    rng = np.random.default_rng(0)
    m = Markov(rng.random((12, 12)) + 0.01, bias=rng.standard_normal((4, 12)))
    src = np.ones((4, 3), dtype=np.int64) * 5
    cfg = dict(max_length=7, min_length=2)
    assert generate(m, src, beam_size=1, **cfg) == generate(m, src, beam_size=1, **cfg)
    greedy = generate(m, src, **cfg)
    from nlp.decoding import beam_search

    beam1 = beam_search(m, src, src != 0, src, 0, SearchConfig(beam_size=1, length_penalty=0.0, **cfg))
    assert beam1 == greedy


def test_batched_beam_equals_one_example_at_a_time():
    rng = np.random.default_rng(1)
    tab, bias = rng.random((10, 10)) + 0.01, rng.standard_normal((3, 10)) * 2
    src = np.full((3, 2), 5)
    together = generate(Markov(tab, bias), src, max_length=6, beam_size=3)
    alone = [generate(Markov(tab, bias[i : i + 1]), src[:1], max_length=6, beam_size=3)[0] for i in range(3)]
    assert together == alone
    assert len({tuple(s) for s in together}) > 1  # the rows really differ


def test_no_repeat_ngram_blocks_a_loop():
    m = Markov(table(8, {BOS: {4: 1.0}, 4: {5: 1.0}, 5: {5: 1.0, 6: 0.1}, 6: {EOS: 1.0}}))
    assert generate(m, SRC, max_length=6)[0] == [4, 5, 5, 5, 5, 5]
    # (5, 5) may occur once; the second time 6 must be taken instead
    assert generate(m, SRC, max_length=6, no_repeat_ngram_size=2)[0] == [4, 5, 5, 6]
    assert generate(m, SRC, max_length=6, no_repeat_ngram_size=2, beam_size=2)[0] == [4, 5, 5, 6]


def test_banned_ngram_tokens():
    assert _banned_ngram_tokens([4, 5, 4], 2) == [5]
    assert _banned_ngram_tokens([4, 5, 6], 2) == []
    assert sorted(_banned_ngram_tokens([7, 8], 1)) == [7, 8]


def test_specials_and_unk_are_never_generated_and_copy_ids_decode_to_source_words():
    # id 8 is beyond a vocabulary of 8: the first source OOV word
    vocab = Vocab(["a", "b", "c", "d"])
    assert len(vocab) == 8
    m = Markov(table(9, {BOS: {UNK: 0.5, PAD: 0.3, 8: 0.2}, 8: {EOS: 1.0}}))
    ids = generate(m, SRC, max_length=5, max_oov=1)[0]
    assert ids == [8]
    assert vocab.decode(ids, oovs=["微博"]) == ["微博"]
    assert generate(m, SRC, max_length=5, block_unk=False)[0][0] == UNK


@pytest.mark.parametrize("bad", [dict(max_length=0), dict(beam_size=0), dict(min_length=9, max_length=3),
                                 dict(no_repeat_ngram_size=-1)])
def test_bad_search_settings_are_refused(bad):
    with pytest.raises(ValueError):
        SearchConfig(**bad)


def test_generate_wants_a_2d_source():
    with pytest.raises(ValueError, match="batch, length"):
        generate(Markov(table(8, {})), np.array([1, 2, 3]))
