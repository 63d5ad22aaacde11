import functools
import itertools
import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.metrics import corpus_rouge, lcs_length, rouge_chars

DEMO = Path(__file__).resolve().parents[2] / "nlp" / "corpus" / "demo.jsonl"
DATA = Path(os.environ.get("NLP_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))


# --------------------------------------------------------------------- hand-computed cases
def test_hand_computed_example():
    s = rouge_chars("我爱北京", "我爱上海")
    # unigrams: 我, 爱 shared out of 4 each
    assert s["rouge-1"] == pytest.approx({"p": 0.5, "r": 0.5, "f": 0.5})
    # bigrams: 我爱 shared out of 3 each
    assert s["rouge-2"] == pytest.approx({"p": 1 / 3, "r": 1 / 3, "f": 1 / 3})
    # LCS 我爱 = 2
    assert s["rouge-l"] == pytest.approx({"p": 0.5, "r": 0.5, "f": 0.5})


def test_counts_are_clipped():
    s = rouge_chars("啊啊啊", "啊")
    assert s["rouge-1"] == pytest.approx({"p": 1 / 3, "r": 1.0, "f": 0.5})
    assert s["rouge-2"] == {"p": 0.0, "r": 0.0, "f": 0.0}  # the reference has no bigram
    assert s["rouge-l"] == pytest.approx({"p": 1 / 3, "r": 1.0, "f": 0.5})


def test_unequal_lengths_and_order():
    # hyp 5 chars, ref 3; LCS("甲乙丙丁戊", "丙甲戊") = 2 (甲戊 or 丙戊)
    s = rouge_chars("甲乙丙丁戊", "丙甲戊")
    p, r = 3 / 5, 3 / 3
    assert s["rouge-1"]["f"] == pytest.approx(2 * p * r / (p + r))
    assert s["rouge-2"]["f"] == 0.0
    p, r = 2 / 5, 2 / 3
    assert s["rouge-l"] == pytest.approx({"p": p, "r": r, "f": 2 * p * r / (p + r)})


def test_whitespace_is_ignored():
    assert rouge_chars("我 爱\n北京", "我爱北京")["rouge-2"]["f"] == pytest.approx(1.0)
    assert rouge_chars("a b", "ab")["rouge-l"]["f"] == pytest.approx(1.0)


@pytest.mark.parametrize("hyp, ref", [("", "北京"), ("北京", ""), ("", ""), ("  ", " \n")])
def test_empty_scores_zero(hyp, ref):
    s = rouge_chars(hyp, ref)
    for k in ("rouge-1", "rouge-2", "rouge-l"):
        assert s[k] == {"p": 0.0, "r": 0.0, "f": 0.0}


def test_identical_scores_one():
    s = rouge_chars("李嘉诚回应撤资", "李嘉诚回应撤资")
    assert all(s[k]["f"] == pytest.approx(1.0) for k in s)


def test_single_char_has_no_bigrams():
    assert rouge_chars("好", "好")["rouge-2"]["f"] == 0.0


def test_corpus_rouge_averages_f1_times_100():
    out = corpus_rouge(["ab", "ab", "我爱北京"], ["ab", "cd", "我爱上海"])
    assert set(out) == {"rouge-1", "rouge-2", "rouge-l"}
    assert out["rouge-1"] == pytest.approx(100 * (1 + 0 + 0.5) / 3)
    assert out["rouge-2"] == pytest.approx(100 * (1 + 0 + 1 / 3) / 3)
    assert out["rouge-l"] == pytest.approx(100 * (1 + 0 + 0.5) / 3)


def test_corpus_rouge_rejects_bad_input():
    with pytest.raises(ValueError):
        corpus_rouge(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        corpus_rouge([], [])


# ------------------------------------------------------ independent reference implementation
def _ref_ngram_overlap(h, r, n):
    """Multiset overlap by greedy matching and removal (no Counter)."""
    hg = [tuple(h[i : i + n]) for i in range(len(h) - n + 1)]
    pool = [tuple(r[i : i + n]) for i in range(len(r) - n + 1)]
    hits = 0
    for g in hg:
        if g in pool:
            pool.remove(g)
            hits += 1
    return hits, len(hg), len(r) - n + 1 if len(r) >= n else 0


def _ref_lcs(a, b):
    @functools.lru_cache(maxsize=None)
    def go(i, j):
        if i == len(a) or j == len(b):
            return 0
        if a[i] == b[j]:
            return 1 + go(i + 1, j + 1)
        return max(go(i + 1, j), go(i, j + 1))

    return go(0, 0)


def _f(hit, nh, nr):
    if not hit:
        return 0.0
    p, r = hit / nh, hit / nr
    return 2 * p * r / (p + r)


def _reference(hyp, ref):
    h = [c for c in hyp if not c.isspace()]
    r = [c for c in ref if not c.isspace()]
    return {
        "rouge-1": _f(*_ref_ngram_overlap(h, r, 1)),
        "rouge-2": _f(*_ref_ngram_overlap(h, r, 2)),
        "rouge-l": _f(_ref_lcs(tuple(h), tuple(r)), len(h), len(r)),
    }


def _random_pairs(n, seed=0):
    rng = random.Random(seed)
    alphabet = "我爱北京天安门的了是在abc12，。 "
    pairs = []
    for _ in range(n):
        ref = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        # hypotheses that share material with the reference, as real summaries do
        hyp = "".join(c for c in ref if rng.random() < 0.6)
        hyp += "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        pairs.append((hyp, ref))
    return pairs


def test_matches_independent_reference_on_generated_pairs():
    for hyp, ref in _random_pairs(300):
        got = rouge_chars(hyp, ref)
        want = _reference(hyp, ref)
        for k in want:
            assert got[k]["f"] == pytest.approx(want[k]), (hyp, ref, k)


@settings(max_examples=300, deadline=None)
@given(st.text("abcab ", max_size=12), st.text("abcab ", max_size=12))
def test_lcs_matches_recursive_definition(a, b):
    assert lcs_length(a, b) == _ref_lcs(a, b)
    assert lcs_length(a, b) == lcs_length(b, a)


def test_lcs_small_exhaustive():
    for a in itertools.product("ab", repeat=4):
        for b in itertools.product("ab", repeat=3):
            assert lcs_length(a, b) == _ref_lcs(a, b)


# ------------------------------------------------------------------ against rouge-score
class _CharTokenizer:
    def tokenize(self, text):
        return [c for c in text if not c.isspace()]


def _check_against_rouge_score(pairs):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_CharTokenizer())
    names = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-l": "rougeL"}
    for hyp, ref in pairs:
        theirs = scorer.score(ref, hyp)  # score(target, prediction)
        ours = rouge_chars(hyp, ref)
        for k, name in names.items():
            assert ours[k]["p"] == pytest.approx(theirs[name].precision), (hyp, ref, k)
            assert ours[k]["r"] == pytest.approx(theirs[name].recall), (hyp, ref, k)
            assert ours[k]["f"] == pytest.approx(theirs[name].fmeasure), (hyp, ref, k)


def test_matches_rouge_score_on_generated_pairs():
    _check_against_rouge_score(_random_pairs(300, seed=1))


def _demo_pairs():
    from nlp.data import read_jsonl
    from nlp.extractive import lead

    return [(lead(r["text"]), r["summary"]) for r in read_jsonl(DEMO)]


def test_matches_independent_reference_on_demo_corpus():
    for hyp, ref in _demo_pairs():
        got, want = rouge_chars(hyp, ref), _reference(hyp, ref)
        assert [got[k]["f"] for k in want] == pytest.approx(list(want.values())), (hyp, ref)


def test_matches_rouge_score_on_demo_corpus():
    _check_against_rouge_score(_demo_pairs())


def test_matches_rouge_score_on_lcsts_dev():
    path = DATA / "lcsts_dev.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found (set NLP_DATA_DIR)")
    from nlp.data import read_jsonl

    rows = read_jsonl(path, max_rows=300)
    # hypothesis: the first sentence-ish chunk of the text, a realistic extractive guess
    _check_against_rouge_score([(r["text"][:20], r["summary"]) for r in rows])
