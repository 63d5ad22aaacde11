"""Fused functionals (linear, softmax cross-entropy, layer norm, attention) against
torch.nn.functional — values and gradients — plus gradcheck, gradgradcheck and the
errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

from .._torch import requires_torch, torch

TF = torch.nn.functional if torch is not None else None

ATOL = 1e-10


def _pair(shape, seed=0, dtype=np.float64):
    """The same random leaf in minigrad and torch."""
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _backward_both(ours, theirs, seed=1):
    g = np.random.default_rng(seed).standard_normal(ours.shape)
    ours.backward(mg.tensor(np.asarray(g, dtype=np.float64)))
    theirs.backward(torch.tensor(g, dtype=theirs.dtype))


def _close(a: mg.Tensor, b, atol=ATOL):
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=atol, rtol=0)


# -- linear ---------------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape", [(3,), (4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
@requires_torch
def test_linear_matches_torch(x_shape, bias):
    x, xt = _pair(x_shape)
    w, wt = _pair((2, 3), seed=2)
    b, bt = _pair((2,), seed=3) if bias else (None, None)
    y, yt = F.linear(x, w, b), TF.linear(xt, wt, bt)
    _close(y, yt)
    _backward_both(y, yt)
    _close(x.grad, xt.grad)
    _close(w.grad, wt.grad)
    if bias:
        _close(b.grad, bt.grad)


def test_linear_gradcheck_and_gradgradcheck():
    x, w, b = (mg.randn(*s, dtype=mg.float64, requires_grad=True) for s in ((2, 4, 3), (5, 3), (5,)))
    assert mg.gradcheck(F.linear, (x, w, b))
    assert mg.gradgradcheck(F.linear, (x, w, b))


@pytest.mark.parametrize("x_shape", [(3,), (4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_and_gradgradcheck_every_rank(x_shape, bias):
    x, w, b = (mg.randn(*s, dtype=mg.float64, requires_grad=True) for s in (x_shape, (2, 3), (2,)))
    args = (x, w, b) if bias else (x, w)
    assert mg.gradcheck(F.linear, args)
    assert mg.gradgradcheck(F.linear, args)


@pytest.mark.parametrize("x_shape", [(3,), (4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
@requires_torch
def test_linear_float32_matches_torch_and_stays_float32(x_shape, bias):
    x, xt = _pair(x_shape, dtype=np.float32)
    w, wt = _pair((2, 3), seed=2, dtype=np.float32)
    b, bt = _pair((2,), seed=3, dtype=np.float32) if bias else (None, None)
    y, yt = F.linear(x, w, b), TF.linear(xt, wt, bt)
    assert y.dtype == mg.float32
    _close(y, yt, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(mg.tensor(g))
    yt.backward(torch.tensor(g))
    for ours, theirs in [(x, xt), (w, wt)] + ([(b, bt)] if bias else []):
        assert ours.grad.dtype == mg.float32
        _close(ours.grad, theirs.grad, atol=1e-5)
    assert w.grad.data.flags["C_CONTIGUOUS"]  # W's gradient in W's own (out, in) layout


def test_linear_is_one_graph_node():
    x, w, b = (mg.randn(*s, requires_grad=True) for s in ((4, 3), (2, 3), (2,)))
    y = F.linear(x, w, b)
    assert type(y._ctx).__name__ == "Linear"
    assert all(inp is t for inp, t in zip(y._ctx.inputs, (x, w, b)))


def test_linear_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"linear.*\(2, 4\).*\(3, 5\)"):
        F.linear(mg.zeros(2, 4), mg.zeros(3, 5))


# -- cross-entropy ----------------------------------------------------------------------------

CE_CASES = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.15},
    {"weight": [0.5, 1.0, 2.0, 1.5]},
    {"weight": [0.5, 1.0, 2.0, 1.5], "label_smoothing": 0.2},
    {"ignore": True},
    {"ignore": True, "label_smoothing": 0.1, "weight": [1.0, 0.2, 3.0, 1.0]},
    {"ignore": True, "reduction": "none", "label_smoothing": 0.3},
]


def _ce_both(logits_shape, case, seed=0):
    x, xt = _pair(logits_shape, seed)
    n_classes = logits_shape[1] if len(logits_shape) > 1 else logits_shape[0]
    target_shape = (logits_shape[0],) + logits_shape[2:] if len(logits_shape) > 1 else ()
    t = np.random.default_rng(seed + 5).integers(0, n_classes, size=target_shape)
    kwargs = {k: v for k, v in case.items() if k != "ignore"}
    if case.get("ignore"):
        t.reshape(-1)[::3] = -100
    if "weight" in kwargs:
        kwargs["weight"] = np.asarray(kwargs["weight"])
    ours = F.cross_entropy(x, mg.tensor(t), ignore_index=-100, **kwargs)
    theirs_kwargs = dict(kwargs, weight=torch.tensor(kwargs["weight"])) if "weight" in kwargs else kwargs
    theirs = TF.cross_entropy(xt, torch.tensor(t), ignore_index=-100, **theirs_kwargs)
    return x, xt, ours, theirs


@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (2, 4, 2, 3)], ids=["NC", "NCd", "NCdd"])
@requires_torch
def test_cross_entropy_matches_torch(shape, case):
    x, xt, ours, theirs = _ce_both(shape, case)
    _close(ours, theirs)
    _backward_both(ours, theirs)
    _close(x.grad, xt.grad)


@pytest.mark.parametrize("case", [{}, {"label_smoothing": 0.1}, {"reduction": "none"}])
@requires_torch
def test_cross_entropy_of_one_unbatched_example_matches_torch(case):
    x, xt, ours, theirs = _ce_both((5,), case)
    assert ours.shape == tuple(theirs.shape)
    _close(ours, theirs)
    _backward_both(ours, theirs)
    _close(x.grad, xt.grad)


@pytest.mark.parametrize("case", [{}, {"label_smoothing": 0.2}, {"weight": [0.3, 1.0, 2.0]},
                                  {"reduction": "none", "label_smoothing": 0.1}])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
@requires_torch
def test_cross_entropy_with_probability_targets_matches_torch_including_target_grads(shape, case):
    x, xt = _pair(shape)
    probs = np.random.default_rng(9).dirichlet(np.ones(3), size=(shape[0],) + shape[2:])
    probs = np.moveaxis(probs, -1, 1)
    p, pt = mg.tensor(probs, requires_grad=True), torch.tensor(probs, requires_grad=True)
    kwargs = dict(case)
    tkwargs = dict(case)
    if "weight" in case:
        kwargs["weight"] = np.asarray(case["weight"])
        tkwargs["weight"] = torch.tensor(kwargs["weight"])
    ours, theirs = F.cross_entropy(x, p, **kwargs), TF.cross_entropy(xt, pt, **tkwargs)
    _close(ours, theirs)
    _backward_both(ours, theirs)
    _close(x.grad, xt.grad)
    _close(p.grad, pt.grad)


@requires_torch
def test_cross_entropy_all_targets_ignored_gives_nan_like_torch():
    x, xt = _pair((3, 4))
    t = np.full(3, -100)
    ours = F.cross_entropy(x, mg.tensor(t), ignore_index=-100)
    theirs = TF.cross_entropy(xt, torch.tensor(t))
    assert np.isnan(ours.item()) and np.isnan(theirs.item())


def test_cross_entropy_is_one_graph_node_for_integer_targets():
    x = mg.randn(4, 3, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([0, 1, 2, 1]), reduction="none")
    assert type(loss.grad_fn).__name__ == "SoftmaxCrossEntropy"


def test_cross_entropy_is_stable_for_huge_logits():
    x = mg.tensor([[1e4, 0.0, -1e4]], dtype=mg.float32, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([1]))
    loss.backward()
    assert np.isclose(loss.item(), 1e4, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("case", [{}, {"ignore_index": 1, "label_smoothing": 0.2, "weight": [1.0, 2.0, 0.5]}])
def test_cross_entropy_gradcheck_and_gradgradcheck(case):
    x = mg.randn(2, 3, 2, dtype=mg.float64, requires_grad=True)
    t = mg.tensor([[0, 1], [2, 1]])
    kwargs = dict(case, weight=np.asarray(case["weight"])) if "weight" in case else case

    def fn(logits):
        return F.cross_entropy(logits, t, **kwargs)

    assert mg.gradcheck(fn, (x,))
    assert mg.gradgradcheck(fn, (x,))


def test_cross_entropy_works_on_every_backend(device):
    x = mg.randn(5, 4, device=device, requires_grad=True)
    t = mg.tensor([0, 3, 1, 1, 2], device=device)
    loss = F.cross_entropy(x, t, label_smoothing=0.1)
    loss.backward()
    assert loss.device == device and x.grad.device == device
    np.testing.assert_allclose(x.grad.numpy().sum(axis=1), 0, atol=1e-6)  # softmax − q sums to 0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.tensor([0, 3])), IndexError, r"\[0, 3\).*got 3"),
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.tensor([-1, 0])), IndexError, "got -1"),
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.tensor([0, 1, 2])), ValueError, r"\(2,\).*\(3,\)"),
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.zeros(2, 4)), ValueError, "probability targets"),
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.tensor([0, 1]), reduction="avg"), ValueError,
         "reduction"),
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.tensor([0, 1]), weight=[1.0, 2.0]), ValueError, "weight"),
        (lambda: F.cross_entropy(mg.zeros(2, 3), mg.tensor([0, 1]), label_smoothing=1.5), ValueError,
         "label_smoothing"),
        (lambda: F.cross_entropy(mg.tensor(1.0), mg.tensor(0)), ValueError, "class axis"),
    ],
    ids=["target-too-big", "negative-target", "target-shape", "prob-shape", "reduction", "weight-shape",
         "smoothing", "scalar-logits"],
)
def test_cross_entropy_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- layer norm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("x_shape, norm_shape", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((6,), (6,))])
@requires_torch
def test_layer_norm_matches_torch(x_shape, norm_shape, affine):
    x, xt = _pair(x_shape)
    w, wt = _pair(norm_shape, seed=2) if affine != "none" else (None, None)
    b, bt = _pair(norm_shape, seed=3) if affine == "both" else (None, None)
    y, yt = F.layer_norm(x, norm_shape, w, b, 1e-5), TF.layer_norm(xt, norm_shape, wt, bt, 1e-5)
    _close(y, yt)
    _backward_both(y, yt)
    _close(x.grad, xt.grad)
    if w is not None:
        _close(w.grad, wt.grad)
    if b is not None:
        _close(b.grad, bt.grad)


def test_layer_norm_gradcheck_and_gradgradcheck():
    x, w, b = (mg.randn(*s, dtype=mg.float64, requires_grad=True) for s in ((3, 2, 4), (2, 4), (2, 4)))

    def fn(x, w, b):
        return F.layer_norm(x, (2, 4), w, b)

    assert mg.gradcheck(fn, (x, w, b))
    assert mg.gradgradcheck(fn, (x, w, b))


def test_layer_norm_is_one_graph_node():
    y = F.layer_norm(mg.randn(2, 3, requires_grad=True), 3, mg.ones(3), mg.zeros(3))
    assert type(y.grad_fn).__name__ == "LayerNorm"


@pytest.mark.parametrize(
    "args, match",
    [(((2, 5), 4), r"\(2, 5\).*\(4,\)"), (((2, 4), 4, (3,)), r"weight must have shape \(4,\)")],
)
def test_layer_norm_bad_input(args, match):
    shape, norm, *rest = args
    weight = mg.ones(*rest[0]) if rest else None
    with pytest.raises(ValueError, match=match):
        F.layer_norm(mg.zeros(*shape), norm, weight)


# -- scaled dot-product attention --------------------------------------------------------------


def _qkv(lq=4, lk=5, d=3, batch=(2, 2), seed=0):
    return _pair(batch + (lq, d), seed) + _pair(batch + (lk, d), seed + 1) + _pair(batch + (lk, 2), seed + 2)


def _attention_both(mask=None, mask_t=None, causal=False, lq=4, lk=5):
    q, qt, k, kt, v, vt = _qkv(lq, lk)
    y = F.scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
    yt = TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask_t, is_causal=causal)
    _close(y, yt)
    _backward_both(y, yt)
    for a, b in ((q, qt), (k, kt), (v, vt)):
        _close(a.grad, b.grad)
    return y


@requires_torch
def test_attention_matches_torch_without_mask():
    _attention_both()


@pytest.mark.parametrize("lq, lk", [(4, 4), (3, 5), (5, 3)])
@requires_torch
def test_causal_attention_is_top_left_aligned_like_torch(lq, lk):
    _attention_both(causal=True, lq=lq, lk=lk)


@requires_torch
def test_bool_mask_true_means_allowed_like_torch():
    m = np.random.default_rng(4).random((4, 5)) > 0.4
    m[:, 0] = True
    _attention_both(mg.tensor(m), torch.tensor(m))


@requires_torch
def test_float_mask_is_added_to_the_scores_like_torch():
    m = np.random.default_rng(4).standard_normal((2, 1, 4, 5))
    _attention_both(mg.tensor(m), torch.tensor(m))


@pytest.mark.parametrize("kind", ["bool", "float"])
@requires_torch
def test_fully_masked_query_gives_zeros_not_nan_like_torch(kind):
    allowed = np.ones((4, 5), dtype=bool)
    allowed[2] = False
    allowed[0, 3:] = False
    m = allowed if kind == "bool" else np.where(allowed, 0.0, -np.inf)
    y = _attention_both(mg.tensor(m), torch.tensor(m))
    assert np.isfinite(y.numpy()).all()
    np.testing.assert_array_equal(y.numpy()[..., 2, :], 0.0)


@requires_torch
def test_gradient_flows_into_a_float_mask_like_torch():
    q, qt, k, kt, v, vt = _qkv()
    m, mt = _pair((1, 2, 4, 5), seed=8)
    y = F.scaled_dot_product_attention(q, k, v, mask=m)
    yt = TF.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt)
    _backward_both(y, yt)
    _close(m.grad, mt.grad)


@requires_torch
def test_attention_broadcasts_keys_over_batch():
    q, qt = _pair((2, 3, 4))
    k, kt = _pair((5, 4), seed=1)
    v, vt = _pair((5, 2), seed=2)
    y = F.scaled_dot_product_attention(q, k, v)
    yt = TF.scaled_dot_product_attention(qt, kt.expand(2, 5, 4), vt.expand(2, 5, 2))
    _close(y, yt)
    _backward_both(y, yt)
    _close(k.grad, kt.grad)
    _close(v.grad, vt.grad)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "float"])
def test_attention_gradcheck_and_gradgradcheck(mask_kind):
    q = mg.randn(2, 3, 2, dtype=mg.float64, requires_grad=True)
    k = mg.randn(2, 4, 2, dtype=mg.float64, requires_grad=True)
    v = mg.randn(2, 4, 2, dtype=mg.float64, requires_grad=True)
    inputs = [q, k, v]
    if mask_kind == "float":
        inputs.append(mg.randn(3, 4, dtype=mg.float64, requires_grad=True))

    def fn(q, k, v, mask=None):
        return F.scaled_dot_product_attention(q, k, v, mask=mask, causal=mask_kind == "causal")

    assert mg.gradcheck(fn, inputs)
    assert mg.gradgradcheck(fn, inputs)


def test_attention_dropout_drops_weights_and_rescales_the_rest():
    mg.manual_seed(0)
    q, k, v = mg.randn(1, 50, 4), mg.randn(1, 60, 4), mg.randn(1, 60, 3)
    out, weights = F.attention(q, k, v, dropout_p=0.3, need_weights=True)
    clean = F.softmax((q @ k.swapaxes(-1, -2)) * 0.5, axis=-1).numpy()
    w = weights.numpy()
    dropped = w == 0
    assert abs(dropped.mean() - 0.3) < 0.03
    np.testing.assert_allclose(w[~dropped], clean[~dropped] / 0.7, rtol=1e-5)
    np.testing.assert_allclose(out.numpy(), w @ v.numpy(), rtol=1e-5, atol=1e-6)


def test_attention_with_dropout_passes_gradcheck_when_the_mask_is_fixed():
    q, k, v = (mg.randn(3, 2, dtype=mg.float64, requires_grad=True) for _ in range(3))

    def fn(q, k, v):
        mg.manual_seed(5)  # the same dropout mask on every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    assert mg.gradcheck(fn, (q, k, v))


def test_attention_without_training_ignores_dropout():
    q, k, v = mg.randn(3, 2), mg.randn(4, 2), mg.randn(4, 2)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.9, training=False).numpy()
    np.testing.assert_array_equal(a, F.scaled_dot_product_attention(q, k, v).numpy())


def test_attention_works_on_every_backend(device):
    q, k, v = (mg.randn(2, 3, 4, device=device, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, causal=True)
    out.sum().backward()
    assert out.device == device and q.grad.device == device
    np.testing.assert_allclose(out.numpy()[:, 0], v.numpy()[:, 0], rtol=1e-5)  # the first query sees one key


@pytest.mark.parametrize(
    "shapes, match",
    [
        (((2, 3), (4, 2), (4, 2)), "d_k"),
        (((2, 3), (4, 3), (5, 3)), "length"),
        (((3,), (4, 3), (4, 3)), "2 dims"),
    ],
)
def test_attention_bad_shapes_raise(shapes, match):
    q, k, v = (mg.zeros(*s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        F.scaled_dot_product_attention(q, k, v)


# -- small functionals ------------------------------------------------------------------------


def test_dropout_functional_keeps_expectation_and_rejects_bad_p():
    mg.manual_seed(1)
    y = F.dropout(mg.ones(100_000), 0.2).numpy()
    assert abs(y.mean() - 1.0) < 0.01 and set(np.unique(y)) <= {0.0, np.float32(1 / 0.8)}
    assert np.all(F.dropout(mg.ones(4), 1.0).numpy() == 0)
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(mg.ones(2), 1.2)


@requires_torch
def test_embedding_accepts_lists_and_matches_torch():
    w, wt = _pair((5, 3))
    ids = [[0, 4, 4], [2, 0, 1]]
    y, yt = F.embedding(ids, w, padding_idx=0), TF.embedding(torch.tensor(ids), wt, padding_idx=0)
    _close(y, yt)
    _backward_both(y, yt)
    _close(w.grad, wt.grad)
