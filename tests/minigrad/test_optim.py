"""Optimizers, clipping and LR schedules against torch.optim, state dicts, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim import lr_scheduler

from .._torch import requires_torch, torch

STEPS = 10


# -- one problem, solved step by step in both frameworks -----------------------------------


def _problem(seed: int = 0):
    """Initial parameters and a batch per step for a small tanh regression."""
    gen = np.random.default_rng(seed)
    params = [gen.standard_normal((3, 4)), gen.standard_normal(3)]
    batches = [(gen.standard_normal((4, 5)), gen.standard_normal((3, 5))) for _ in range(STEPS)]
    return params, batches


def _mg_loss(params, x, y):
    w, b = params
    r = (w @ mg.tensor(x, dtype=w.dtype, device=w.device) + b.reshape(3, 1)).tanh()
    r = r - mg.tensor(y, dtype=w.dtype, device=w.device)
    return (r * r).sum()


def _torch_loss(params, x, y):
    w, b = params
    r = (w @ torch.tensor(x, dtype=w.dtype) + b.reshape(3, 1)).tanh() - torch.tensor(y, dtype=w.dtype)
    return (r * r).sum()


def _groups(params, spec):
    """``spec`` None: a plain list; else a list of (indices, options) parameter groups."""
    if spec is None:
        return list(params)
    return [{"params": [params[i] for i in idx], **opts} for idx, opts in spec]


def _run_mg(name, kwargs, arrays, batches, spec=None, dtype=mg.float64, device="cpu"):
    params = [mg.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
    opt = getattr(optim, name)(_groups(params, spec), **kwargs)
    history = []
    for x, y in batches:
        opt.zero_grad()
        _mg_loss(params, x, y).backward()
        opt.step()
        history.append([p.numpy().copy() for p in params])
    return history, opt, params


def _run_torch(name, kwargs, arrays, batches, spec=None, dtype=None):
    dtype = torch.float64 if dtype is None else dtype
    params = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    opt = getattr(torch.optim, name)(_groups(params, spec), **kwargs)
    history = []
    for x, y in batches:
        opt.zero_grad()
        _torch_loss(params, x, y).backward()
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history, opt, params


def _assert_same_history(ours, theirs, rtol=1e-10, atol=1e-12):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for k, (p, q) in enumerate(zip(a, b)):
            np.testing.assert_allclose(p, q, rtol=rtol, atol=atol, err_msg=f"step {step}, param {k}")


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.05, weight_decay=0.5)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
@requires_torch
def test_matches_torch_step_by_step(name, kwargs):
    arrays, batches = _problem()
    ours, opt, params = _run_mg(name, kwargs, arrays, batches)
    theirs, topt, tparams = _run_torch(name, kwargs, arrays, batches)
    _assert_same_history(ours, theirs)
    # The optimizer state (moments, momentum buffers) matches too, under PyTorch's names.
    for p, tp in zip(params, tparams):
        tstate = topt.state[tp]
        assert set(opt.state.get(p, {})) == set(tstate)
        for key, value in opt.state.get(p, {}).items():
            expected = tstate[key].numpy() if key != "step" else int(tstate[key].item())
            np.testing.assert_allclose(np.asarray(value.numpy() if key != "step" else value), expected,
                                       rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
@requires_torch
def test_defaults_are_torchs(name):
    import inspect

    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for key, param in ours.items():
        if key != "params":
            assert param.default == theirs[key].default, key


@requires_torch
def test_param_groups_with_their_own_options_match_torch():
    arrays, batches = _problem(1)
    spec = [([0], dict(lr=0.02, momentum=0.5)), ([1], dict(weight_decay=0.2))]
    ours, opt, _ = _run_mg("SGD", dict(lr=0.1, momentum=0.9), arrays, batches, spec)
    theirs, _, _ = _run_torch("SGD", dict(lr=0.1, momentum=0.9), arrays, batches, spec)
    _assert_same_history(ours, theirs)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.5, 0.9]


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.05, amsgrad=True)),
                                         ("AdamW", dict(lr=0.05))])
@requires_torch
def test_float32_parameters_stay_float32_and_match_torch(name, kwargs, device):
    arrays, batches = _problem(2)
    ours, _, params = _run_mg(name, kwargs, arrays, batches, dtype=mg.float32, device=device)
    theirs, _, _ = _run_torch(name, kwargs, arrays, batches, dtype=torch.float32)
    assert all(p.dtype == mg.float32 and p.device == device for p in params)
    assert all(a.dtype == np.float32 for step in ours for a in step)
    _assert_same_history(ours, theirs, rtol=1e-4, atol=1e-5)


def test_numpy_float64_hyperparameters_do_not_promote_float32_parameters():
    p = mg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=np.float64(0.1), momentum=np.float64(0.9), weight_decay=np.float64(0.01))
    p.grad = mg.tensor(np.ones(3, dtype=np.float32))
    opt.step()
    opt.step()
    assert p.dtype == mg.float32
    assert opt.state[p]["momentum_buffer"].dtype == mg.float32


def test_step_updates_the_modules_own_parameters_in_place():
    mg.manual_seed(0)
    model = nn.Linear(3, 2)
    weight = model.weight
    array = weight.data
    before = weight.numpy().copy()
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(mg.randn(4, 3)).sum().backward()
    opt.step()
    assert model.weight is weight and weight.data is array  # same Parameter, same buffer
    assert not np.allclose(weight.numpy(), before)


def test_an_empty_group_is_allowed_and_later_groups_join_it():
    a = mg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": []}], lr=0.1)
    opt.add_param_group({"params": a, "lr": 0.5})  # a lone Tensor is a group of one, as in PyTorch
    a.grad = mg.tensor([1.0])
    opt.step()
    assert [len(g["params"]) for g in opt.param_groups] == [0, 1] and a.tolist() == [0.5]


def test_step_skips_parameters_without_gradient():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    assert b.tolist() == [3.0, 4.0] and b not in opt.state and a in opt.state


@requires_torch
def test_step_with_closure_returns_its_loss_and_matches_torch():
    arrays, batches = _problem(3)
    x, y = batches[0]
    params = [mg.tensor(a, requires_grad=True) for a in arrays]
    tparams = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = optim.SGD(params, lr=0.1)
    topt = torch.optim.SGD(tparams, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = _mg_loss(params, x, y)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = _torch_loss(tparams, x, y)
        loss.backward()
        return loss

    with mg.no_grad():  # the closure still records its graph, as in PyTorch
        loss = opt.step(closure)
    np.testing.assert_allclose(loss.item(), topt.step(tclosure).item(), rtol=1e-12)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-12)


def test_zero_grad_sets_none_or_zeros_in_place():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0]
    (p * p).sum().backward()
    assert p.grad.tolist() == [2.0, 4.0]  # accumulates from zero
    opt.zero_grad()
    assert p.grad is None


# -- state dicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
                                         ("AdamW", dict(lr=0.05))])
def test_state_dict_round_trip_resumes_identically(name, kwargs):
    arrays, batches = _problem(4)
    reference, _, _ = _run_mg(name, kwargs, arrays, batches)
    half = STEPS // 2
    first, opt, params = _run_mg(name, kwargs, arrays, batches[:half])
    state = opt.state_dict()
    # A fresh optimizer on copies of the parameters, as after a restart.
    params2 = [mg.tensor(p.numpy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, name)(params2, lr=123.0)
    opt2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    history = []
    for x, y in batches[half:]:
        opt2.zero_grad()
        _mg_loss(params2, x, y).backward()
        opt2.step()
        history.append([p.numpy().copy() for p in params2])
    for a, b in zip(first + history, reference):
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)


@requires_torch
def test_state_dict_has_torchs_layout():
    arrays, batches = _problem(5)
    spec = [([0], dict(lr=0.02)), ([1], {})]
    _, opt, _ = _run_mg("Adam", dict(lr=0.05), arrays, batches[:2], spec)
    _, topt, _ = _run_torch("Adam", dict(lr=0.05), arrays, batches[:2], spec)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert list(ours["state"]) == list(theirs["state"]) == [0, 1]
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    for g, tg in zip(ours["param_groups"], theirs["param_groups"]):
        for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
            assert g[key] == tg[key], key
    for i in (0, 1):
        for key in ("exp_avg", "exp_avg_sq"):
            assert isinstance(ours["state"][i][key], mg.Tensor)
            ours_i, theirs_i = ours["state"][i][key].numpy(), theirs["state"][i][key].numpy()
            np.testing.assert_allclose(ours_i, theirs_i, rtol=1e-10)


def test_state_dict_is_a_snapshot():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    state = opt.state_dict()
    saved = state["state"][0]["exp_avg"].numpy().copy()
    opt.step()
    np.testing.assert_array_equal(state["state"][0]["exp_avg"].numpy(), saved)
    assert state["state"][0]["step"] == 1


def test_load_state_dict_copies_and_casts_state_to_the_parameters():
    p64 = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    opt64 = optim.Adam([p64], lr=0.1)
    (p64 * p64).sum().backward()
    opt64.step()
    state = opt64.state_dict()
    p32 = mg.tensor([1.0, 2.0], requires_grad=True)
    opt32 = optim.Adam([p32], lr=0.1)
    opt32.load_state_dict(state)
    loaded = opt32.state[p32]["exp_avg"]
    assert loaded.dtype == mg.float32
    assert loaded.data is not state["state"][0]["exp_avg"].data


def _trained_adam():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    q = mg.tensor([[3.0]], requires_grad=True)
    opt = optim.Adam([p, q], lr=0.1)
    (p * p).sum().backward()
    (q * q).sum().backward()
    opt.step()
    return opt, p, q


def _snapshot(opt):
    return repr(opt.param_groups), {id(p): {k: np.array(v.numpy() if isinstance(v, mg.Tensor) else v)
                                            for k, v in s.items()} for p, s in opt.state.items()}


def _same_snapshot(a, b):
    assert a[0] == b[0] and a[1].keys() == b[1].keys()
    for k in a[1]:
        assert a[1][k].keys() == b[1][k].keys()
        for key in a[1][k]:
            np.testing.assert_array_equal(a[1][k][key], b[1][k][key])


def _bad_group_count(sd):
    sd["param_groups"].append(dict(sd["param_groups"][0]))


def _bad_group_size(sd):
    sd["param_groups"][0]["params"] = [0]


def _bad_state_shape(sd):
    sd["state"][1]["exp_avg"] = mg.zeros(2, 2)


def _bad_state_key(sd):
    sd["state"][7] = sd["state"][0]


def _bad_option(sd):
    sd["param_groups"][0]["lr"] = -1.0


def _bad_layout(sd):
    del sd["state"]


def _bad_group_layout(sd):
    del sd["param_groups"][0]["params"]


def _bad_state_layout(sd):
    sd["state"][0] = [1, 2]


@pytest.mark.parametrize("corrupt,message", [
    (_bad_group_count, "2 parameter group"),
    (_bad_group_size, "group 0 has 1 parameter"),
    (_bad_state_shape, "has shape (2, 2) but the parameter has shape (1, 1)"),
    (_bad_state_key, "parameter 7"),
    (_bad_option, "invalid lr"),
    (_bad_layout, "expected optimizer.state_dict()'s layout"),
    (_bad_group_layout, "expected optimizer.state_dict()'s layout"),
    (_bad_state_layout, "expected optimizer.state_dict()'s layout"),
])
def test_load_state_dict_rejects_a_mismatch_and_changes_nothing(corrupt, message):
    opt, p, q = _trained_adam()
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5  # would change the lr if anything were loaded
    corrupt(sd)
    before = _snapshot(opt)
    with pytest.raises(ValueError, match=_escape(message)):
        opt.load_state_dict(sd)
    _same_snapshot(_snapshot(opt), before)


def _escape(text):
    import re

    return re.escape(text)


# -- bad construction ------------------------------------------------------------------------


def test_a_parameter_on_another_device_is_refused_naming_both_devices(monkeypatch):
    class OtherDevice:  # stands in for a GPU, so the test runs without one
        type, index = "cuda", 0

        def __str__(self):
            return "cuda:0"

    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([2.0], requires_grad=True)
    monkeypatch.setattr(b, "device", OtherDevice())
    with pytest.raises(RuntimeError, match=r"parameter 1 .* is on cuda:0 but the others are on cpu"):
        optim.Adam([a, b])
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(RuntimeError, match="cuda:0.*cpu"):
        opt.add_param_group({"params": [b]})
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["params"] == [a]


@pytest.mark.parametrize("make,error,message", [
    (lambda p: optim.SGD(p[0], lr=0.1), TypeError, "single Tensor"),
    (lambda p: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda p: optim.SGD([p[0], p[0]], lr=0.1), ValueError, "more than once"),
    (lambda p: optim.SGD([{"params": [p[0]]}, {"params": [p[0]]}], lr=0.1), ValueError, "more than once"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), ValueError, "non-leaf"),
    (lambda p: optim.SGD([np.ones(2)], lr=0.1), TypeError, "param 0 is a ndarray"),
    (lambda p: optim.SGD({p[0]}, lr=0.1), TypeError, "sets have no stable order"),
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, "invalid lr"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda p: optim.SGD([{"params": p, "momentum": -1.0}], lr=0.1), ValueError, "invalid momentum"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, "invalid betas"),
    (lambda p: optim.AdamW(p, eps=-1.0), ValueError, "AdamW: invalid eps"),
])
def test_bad_construction_gives_a_clear_error(make, error, message):
    params = [mg.tensor([1.0, 2.0], requires_grad=True)]
    with pytest.raises(error, match=message):
        make(params)


# -- clipping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@requires_torch
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    gen = np.random.default_rng(6)
    grads = [gen.standard_normal((3, 4)), gen.standard_normal(5), gen.standard_normal(())]
    params = [mg.tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(params, tparams, grads):
        p.grad = mg.tensor(g)
        tp.grad = torch.tensor(g)
    total = optim.clip_grad_norm_(params, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert isinstance(total, mg.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-12)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_keeps_float32_and_skips_missing_grads():
    a = mg.tensor([3.0, 4.0], requires_grad=True)
    b = mg.tensor([1.0], requires_grad=True)
    a.grad = mg.tensor([3.0, 4.0])
    total = optim.clip_grad_norm_([a, b], 1.0)
    assert total.dtype == mg.float32 and a.grad.dtype == mg.float32 and b.grad is None
    np.testing.assert_allclose(total.item(), 5.0)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert optim.clip_grad_norm_([b], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    a.grad = mg.tensor([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="nan"):
        optim.clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        optim.clip_grad_norm_(a, 1.0, norm_type=0)


@requires_torch
def test_clip_grad_value_matches_torch():
    g = np.random.default_rng(7).standard_normal((4, 3))
    p = mg.tensor(np.zeros((4, 3)), requires_grad=True)
    tp = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    p.grad, tp.grad = mg.tensor(g), torch.tensor(g)
    grad = p.grad
    optim.clip_grad_value_(p, 0.5)
    torch.nn.utils.clip_grad_value_(tp, 0.5)
    assert p.grad is grad  # in place
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


# -- learning-rate schedules -----------------------------------------------------------------


def _lr_sequences(make_ours, make_theirs, steps=25, groups=(0.1, 0.02)):
    ps = [mg.tensor([1.0], requires_grad=True) for _ in groups]
    tps = [torch.ones(1, requires_grad=True) for _ in groups]
    opt = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, groups)], lr=1.0)
    topt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(tps, groups)], lr=1.0)
    sched, tsched = make_ours(opt), make_theirs(topt)
    ours, theirs = [], []
    for _ in range(steps):
        ours.append(sched.get_last_lr() + [g["lr"] for g in opt.param_groups])
        theirs.append(tsched.get_last_lr() + [g["lr"] for g in topt.param_groups])
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    return np.array(ours), np.array(theirs)


@pytest.mark.parametrize("ours,theirs", [
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9**e),
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 0.9**e)),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: e]),
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: e])),
    (lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.5)),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10)),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
], ids=["lambda", "lambda-per-group", "step", "cosine", "cosine-eta_min-past-T_max"])
@requires_torch
def test_schedules_match_torch(ours, theirs):
    a, b = _lr_sequences(ours, theirs)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)


def _lrs(sched, steps):
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        sched.step()
    return out


def test_warmup_inverse_sqrt_closed_form():
    base, warmup = 0.5, 8
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=base)
    lrs = _lrs(lr_scheduler.WarmupInverseSqrt(opt, warmup), 4 * warmup + 1)
    assert lrs[0] == lrs[1] == base / warmup  # step 0 counts as step 1
    np.testing.assert_allclose(lrs[1 : warmup + 1], [base * k / warmup for k in range(1, warmup + 1)])
    assert max(lrs) == lrs[warmup] == base
    np.testing.assert_allclose(lrs[4 * warmup], base / 2)  # √(warmup / 4·warmup)
    np.testing.assert_allclose(lrs[2 * warmup], base / math.sqrt(2))
    assert all(a > b for a, b in zip(lrs[warmup:], lrs[warmup + 1 :]))


def test_warmup_cosine_closed_form():
    base, warmup, total, floor = 0.4, 4, 14, 0.01
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=base)
    lrs = _lrs(lr_scheduler.WarmupCosine(opt, warmup, total, min_lr=floor), total + 5)
    np.testing.assert_allclose(lrs[:warmup + 1], [base / 4, base / 4, base / 2, 3 * base / 4, base])
    np.testing.assert_allclose(lrs[(warmup + total) // 2], (base + floor) / 2)
    np.testing.assert_allclose(lrs[total:], floor)
    assert all(a > b for a, b in zip(lrs[warmup:total], lrs[warmup + 1 : total + 1]))


def test_warmup_cosine_without_warmup_starts_at_base_lr():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.3)
    assert lr_scheduler.WarmupCosine(opt, 0, 10).get_last_lr() == [0.3]


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01),
    lambda o: lr_scheduler.WarmupInverseSqrt(o, 4),
    lambda o: lr_scheduler.WarmupCosine(o, 3, 12, min_lr=0.001),
    lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9**e),
])
def test_schedule_state_dict_resumes_identically(make):
    def fresh():
        p = mg.tensor([1.0], requires_grad=True)
        opt = optim.SGD([p], lr=0.2)
        return opt, make(opt)

    opt, sched = fresh()
    reference = _lrs(sched, 12)
    opt, sched = fresh()
    _lrs(sched, 5)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    opt2, sched2 = fresh()
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.get_last_lr() == [opt2.param_groups[0]["lr"]] == [reference[5]]
    assert _lrs(sched2, 7) == reference[5:]


def test_schedule_load_state_dict_rejects_a_mismatch_and_changes_nothing():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.2)
    sched = lr_scheduler.StepLR(opt, 2)
    sched.step()
    before = sched.state_dict()
    with pytest.raises(ValueError, match="expected the keys"):
        sched.load_state_dict({"last_epoch": 9})
    bad = dict(before, base_lrs=[0.1, 0.2], last_epoch=9)
    with pytest.raises(ValueError, match="2 base lr"):
        sched.load_state_dict(bad)
    assert sched.state_dict() == before


@pytest.mark.parametrize("make,message", [
    (lambda o: lr_scheduler.StepLR(o, 0), "step_size"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: lr_scheduler.WarmupInverseSqrt(o, 0), "warmup_steps"),
    (lambda o: lr_scheduler.WarmupCosine(o, 10, 10), "warmup_steps < total_steps"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0] * 2), "expected 1 lr_lambdas"),
    (lambda o: lr_scheduler.StepLR(object(), 2), "needs a minigrad Optimizer"),
])
def test_bad_schedule_arguments(make, message):
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.2)
    with pytest.raises((ValueError, TypeError), match=message):
        make(opt)
    assert opt.param_groups[0]["lr"] == 0.2
