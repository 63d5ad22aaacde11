"""The summarisation models: the copy loss, train/decode consistency, learning, padded GRUs."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from nlp.data import batches, encode_pairs
from nlp.models import ModelConfig, build_model
from nlp.models.copying import copy_nll, extended_log_probs, uniform_ce
from nlp.models.padded import run_padded
from nlp.tokenizer import Tokenizer
from nlp.vocab import Vocab

PAIRS = [
    ("小明今天在北京参加了会议，讨论了新政策。", "小明北京开会"),
    ("华为发布新手机Mate，售价三千元。", "华为发布Mate"),
    ("上海的天气今天非常好，阳光明媚。", "上海天气好"),
    ("研究人员发现一种新的材料可以储存能量。", "新材料储能"),
]
TOK = Tokenizer("char")


def _data(left_out=("华", "Mate", "京", "储")):
    """The pairs as one batch; the ``left_out`` tokens are source OOVs to be copied."""
    tokens = [t for text, summ in PAIRS for t in TOK(text) + TOK(summ) if t not in left_out]
    vocab = Vocab(tokens, mode="char")
    enc = encode_pairs(PAIRS, TOK, vocab)
    return vocab, next(batches(enc, len(enc), shuffle=False))


def _model(kind, vocab, **kw):
    mg.manual_seed(0)
    cfg = ModelConfig(model=kind, vocab_size=len(vocab), emb_dim=16, hidden_size=16, dropout=0.0,
                      layers=1, heads=2, ff_size=32, **kw)
    return build_model(cfg)


def _teacher_forced_logp(model, batch) -> float:
    """Mean log-prob of the reference tokens, step by step through decode_step."""
    model.eval()
    with mg.no_grad():
        state = model.start_decoding(batch.src, batch.src_mask, batch.src_ext, batch.max_oov)
        total, count = 0.0, 0
        prefix = np.full((len(batch), 1), Vocab.bos_id)
        for t in range(batch.tgt_out.shape[1]):
            logp, state = model.decode_step(state, prefix)
            picked = logp[np.arange(len(batch)), batch.tgt_out_ext[:, t]]
            total += float((picked * batch.tgt_mask[:, t]).sum())
            count += int(batch.tgt_mask[:, t].sum())
            prefix = np.concatenate([prefix, batch.tgt_out_ext[:, t : t + 1]], axis=1)
    return total / count


@pytest.mark.parametrize("kind", ["rnn", "transformer"])
@pytest.mark.parametrize("copy", [True, False])
def test_training_loss_equals_the_decoders_step_by_step_likelihood(kind, copy):
    vocab, batch = _data()
    assert batch.max_oov > 0 and (batch.tgt_out_ext >= len(vocab)).any()
    model = _model(kind, vocab, copy=copy)
    model.eval()
    loss = model(batch).item()
    if not copy:  # without copy a source OOV in the target is scored as <unk>
        batch.tgt_out_ext = batch.tgt_out
    assert loss == pytest.approx(-_teacher_forced_logp(model, batch), rel=1e-4)


def test_copy_nll_is_the_mixture_likelihood_and_has_exact_gradients():
    rng = np.random.default_rng(0)
    B, T, S, V = 2, 3, 4, 6
    src_ext = np.array([[4, 6, 7, 0], [5, 6, 4, 4]])  # ids 6, 7 are source OOVs
    tgt = np.array([[6, 4, 3], [4, 7, 0]])  # row 1: 7 is not in row 1's source -> only <unk> mass... none
    tmask = np.array([[True, True, True], [True, True, False]])
    logits = mg.tensor(rng.standard_normal((B, T, V)), requires_grad=True)
    attn_logits = mg.tensor(rng.standard_normal((B, T, S)), requires_grad=True)
    gate = mg.tensor(rng.standard_normal((B, T, 1)), requires_grad=True)

    def loss(lg, al, g):
        return copy_nll(lg, mg.functional.softmax(al, -1), g.sigmoid(), src_ext, tgt, tmask)

    assert mg.gradcheck(loss, [logits, attn_logits, gate])
    # against the full extended distribution built by the decoder, position by position
    attn = mg.functional.softmax(attn_logits, -1)
    expected = []
    for t in range(T):
        lp = extended_log_probs(logits[:, t], attn[:, t], gate[:, t].sigmoid(), src_ext, 2)
        expected += [lp[b, tgt[b, t]] for b in range(B) if tmask[b, t]]
    expected = np.maximum(expected, np.log(1e-9))  # the loss's floor for impossible targets
    assert loss(logits, attn_logits, gate).item() == pytest.approx(-np.mean(expected), rel=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "transformer"])
def test_a_tiny_model_learns_to_reproduce_its_training_summaries(kind):
    vocab, batch = _data(left_out=())
    model = _model(kind, vocab)
    params = list(model.parameters())
    from minigrad import optim

    opt = optim.Adam(params, lr=0.02)
    model.train()
    first = model(batch).item()
    for _ in range(100):
        opt.zero_grad()
        loss = model(batch)
        loss.backward()
        opt.step()
    assert loss.item() < first / 5
    out = model.generate(batch, max_length=12)
    decoded = ["".join(vocab.decode(ids, oovs=o)) for ids, o in zip(out, batch.oovs)]
    assert decoded == [PAIRS[i][1] for i in batch.indices]


def test_copy_reproduces_source_words_outside_the_vocabulary():
    vocab, _ = _data()
    model = _model("rnn", vocab)
    # a source made only of OOV tokens; with the generator switched off (p_gen -> 0) all
    # probability goes to source positions, so every output must be one of those words
    enc = encode_pairs([("Mate华京储", "华")], TOK, vocab)
    batch = next(batches(enc, 1))
    assert batch.max_oov == 4
    model.gen.bias.data[...] = -50.0
    ids = model.generate(batch, max_length=3, min_length=3)[0]
    assert len(ids) == 3 and all(i >= len(vocab) for i in ids)
    assert set(vocab.decode(ids, oovs=batch.oovs[0])) <= {"Mate", "华", "京", "储"}


def test_run_padded_reads_each_row_to_its_length_in_both_directions():
    gru = nn.GRU(3, 4, bidirectional=True, batch_first=True)
    x = mg.randn(2, 5, 3)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=bool)
    out, h_n = run_padded(gru, x, mask)
    assert out.shape == (2, 5, 8) and h_n.shape == (2, 2, 4)
    assert not out[1, 2:].numpy().any()  # zero at padding
    np.testing.assert_allclose(h_n[0, 1].numpy(), out[1, 1, :4].numpy())  # after the last real token
    np.testing.assert_allclose(h_n[1].numpy(), out[:, 0, 4:].numpy())
    short, _ = gru(x[1:, :2])  # the second row alone, unpadded
    np.testing.assert_allclose(out[1:, :2].numpy(), short.numpy(), atol=1e-6)


def test_model_config_round_trips_and_rejects_unknowns():
    cfg = ModelConfig(vocab_size=100, hidden_size=32)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model settings"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="model must be one of"):
        ModelConfig(model="lstm")


def test_clause_spans_split_after_punctuation_and_skip_empty_pieces():
    from nlp.models.clause import clause_spans

    # tokens: a b , c 。 。 d   (ids 10 11 5 12 6 6 13), ends = {5, 6}
    ids = np.array([10, 11, 5, 12, 6, 6, 13, 0])
    assert clause_spans(ids, 7, {5, 6}) == [(0, 2, 3), (3, 4, 5), (6, 7, 7)]
    assert clause_spans(np.array([10, 11]), 2, {5}) == [(0, 2, 2)]


def _clause_model(vocab):
    from nlp.models import is_clause_end

    mg.manual_seed(0)
    ends = [i for i, t in enumerate(vocab.tokens) if is_clause_end(t)]
    return build_model(ModelConfig(model="clause", vocab_size=len(vocab), emb_dim=16, hidden_size=16,
                                   dropout=0.0, clause_end_ids=ends))


def test_the_clause_model_learns_the_oracle_clause_and_emits_it_without_punctuation():
    pairs = [("今天天气很好，小明去北京开会，晚上回家。", "小明北京开会"),
             ("华为发布新手机Mate，售价三千元。", "华为发布Mate手机"),
             ("研究人员发现，一种新材料可以储存能量。", "新材料可储存能量")]
    vocab = Vocab([t for a, b in pairs for t in TOK(a) + TOK(b) if t != "京"], mode="char")
    batch = next(batches(encode_pairs(pairs, TOK, vocab), 3, shuffle=False))
    model = _clause_model(vocab)
    spans = model._spans(batch.src, batch.src_mask)
    expected = {"小明去北京开会", "华为发布新手机Mate", "一种新材料可以储存能量"}
    oracle = {TOK.detokenize(vocab.decode(batch.src_ext[b, s[0]:s[1]], oovs=batch.oovs[b]))
              for b, s in enumerate(spans[b][i] for b, i in enumerate(model.oracle(batch, spans)))}
    assert oracle == expected
    from minigrad import optim

    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        loss = model(batch)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
    out = model.generate(batch, max_length=20, beam_size=2)
    decoded = {TOK.detokenize(vocab.decode(ids, oovs=o)) for ids, o in zip(out, batch.oovs)}
    assert decoded == expected  # the OOV "京" is copied back from the source


def test_coverage_penalty_counts_attention_spent_twice():
    from nlp.models.copying import coverage_penalty

    once = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # step 1 attends elsewhere: no penalty
    twice = np.array([[[1.0, 0.0], [1.0, 0.0]]])  # step 1 attends the same source again
    mask = np.ones((1, 2), dtype=bool)
    assert coverage_penalty(mg.tensor(once), mask).item() == 0.0
    assert coverage_penalty(mg.tensor(twice), mask).item() == pytest.approx(0.5)
    soft = mg.tensor(np.random.default_rng(0).dirichlet(np.ones(4), size=(2, 3)), requires_grad=True)
    assert mg.gradcheck(lambda a: coverage_penalty(a, np.ones((2, 3), dtype=bool)), [soft])
    vocab, batch = _data()
    assert _model("rnn", vocab, coverage=1.0)(batch).item() > _model("rnn", vocab)(batch).item()


def test_model_folders_from_before_the_rename_load_their_clause_model():
    cfg = ModelConfig.from_dict({"model": "extractive", "vocab_size": 50, "clause_end_ids": [7]})
    assert cfg.model == "clause" and cfg.clause_end_ids == [7]


def test_label_smoothing_mixes_the_uniform_cross_entropy_into_the_copy_loss():
    rng = np.random.default_rng(1)
    B, T, V = 2, 3, 6
    tmask = np.array([[True, True, True], [True, False, False]])
    logits = mg.tensor(rng.standard_normal((B, T, V)), requires_grad=True)
    assert mg.gradcheck(lambda lg: uniform_ce(lg, tmask), [logits])
    logp = logits.numpy() - np.log(np.exp(logits.numpy()).sum(-1, keepdims=True))
    assert uniform_ce(logits, tmask).item() == pytest.approx(-logp.mean(-1)[tmask].mean(), rel=1e-9)
    vocab, batch = _data()
    model = _model("rnn", vocab)
    model.eval()
    plain = model(batch).item()
    model.label_smoothing = 0.1
    logits, _, _ = model.teacher_forced(batch.src, batch.src_mask, batch.tgt_in)
    expected = 0.9 * plain + 0.1 * uniform_ce(logits, batch.tgt_mask).item()
    assert model(batch).item() == pytest.approx(expected, rel=1e-5) and expected != pytest.approx(plain)


def test_label_smoothing_without_copy_is_pytorchs_cross_entropy_smoothing():
    vocab, batch = _data()
    model = _model("transformer", vocab, copy=False, label_smoothing=0.2)
    model.eval()
    logits, _, _ = model.teacher_forced(batch.src, batch.src_mask, batch.tgt_in)
    B, T, V = logits.shape
    expected = mg.functional.cross_entropy(logits.reshape(B * T, V), batch.tgt_out.reshape(-1),
                                           ignore_index=0, label_smoothing=0.2)
    assert model(batch).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("eps", [-0.1, 1.0])
def test_label_smoothing_outside_0_1_is_a_clear_error(eps):
    with pytest.raises(ValueError, match=f"label_smoothing must be in \\[0, 1\\), got {eps}"):
        ModelConfig(label_smoothing=eps)


@pytest.mark.parametrize("kind", ["rnn", "transformer", "clause"])
def test_a_batchs_loss_is_the_mean_of_its_parts_losses_weighed_by_their_loss_terms(kind):
    """What data-parallel training relies on to give each process's loss its exact weight."""
    vocab, batch = _data()
    model = _clause_model(vocab) if kind == "clause" else _model(kind, vocab)
    model.eval()
    enc = encode_pairs(PAIRS, TOK, vocab)
    parts = [next(batches([enc[i] for i in rows], len(rows), shuffle=False)) for rows in ([0, 2, 3], [1])]
    whole = model(batch).item()
    losses = [model(p).item() for p in parts]
    weighed = sum(model.loss_terms(p) * loss for p, loss in zip(parts, losses)) / model.loss_terms(batch)
    assert model.loss_terms(batch) == sum(model.loss_terms(p) for p in parts)
    assert weighed == pytest.approx(whole, rel=1e-5)
    assert sum(losses) / 2 != pytest.approx(whole, rel=1e-3)  # (the plain mean of the parts' is not)


@pytest.mark.parametrize("kind", ["rnn", "transformer", "clause"])
def test_step_cost_grows_with_every_padded_length_and_works_on_arrays(kind):
    vocab, _ = _data()
    model = _clause_model(vocab) if kind == "clause" else _model(kind, vocab)
    rows, src, tgt = np.array([1, 2, 2, 2]), np.array([10, 10, 20, 20]), np.array([5, 5, 5, 9])
    costs = model.step_cost(rows, src, tgt)
    assert costs.tolist() == [model.step_cost(int(r), int(s), int(t)) for r, s, t in zip(rows, src, tgt)]
    assert costs[1] == 2 * costs[0] and costs[2] > costs[1]
    if kind == "clause":  # it reads only the source
        assert costs[3] == costs[2]
    else:
        assert costs[3] > costs[2]
