"""Module bookkeeping: registration, traversal, state dicts, modes, placement, printing."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.register_buffer("scale", mg.ones(4))
        self.register_buffer("cache", mg.zeros(2), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 1, bias=False)])
        self.gain = nn.Parameter(mg.ones(1))

    def forward(self, x):
        h = self.block(x)
        return [head(h) * self.gain for head in self.heads]


def test_parameters_register_by_assignment_with_pytorch_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "gain", "block.fc.weight", "block.fc.bias", "block.norm.weight", "block.norm.bias",
        "heads.0.weight", "heads.0.bias", "heads.1.weight",
    ]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert "block.note" not in names and net.block.note == "plain attribute"


def test_modules_children_and_named_modules_walk_the_tree_once():
    net = Net()
    assert [n for n, _ in net.named_modules()] == [
        "", "block", "block.fc", "block.norm", "heads", "heads.0", "heads.1",
    ]
    assert list(net.children()) == [net.block, net.heads]
    assert sum(1 for _ in net.modules()) == 7


def test_shared_parameter_is_listed_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2


def test_state_dict_has_parameters_and_persistent_buffers_detached():
    net = Net()
    sd = net.state_dict()
    assert "block.scale" in sd and "block.cache" not in sd
    assert "block.scale" not in [n for n, _ in net.named_parameters()]
    assert not any(t.requires_grad for t in sd.values())
    assert sd["block.fc.weight"].data is net.block.fc.weight.data  # shares memory, like PyTorch


def test_load_state_dict_copies_in_place():
    src, dst = Net(), Net()
    weight = dst.block.fc.weight
    dst.load_state_dict(src.state_dict())
    assert dst.block.fc.weight is weight
    for (n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)


def test_load_state_dict_accepts_numpy_arrays_and_casts_dtype():
    lin = nn.Linear(2, 3)
    w = np.arange(6, dtype=np.float64).reshape(3, 2)
    lin.load_state_dict({"weight": w, "bias": np.zeros(3)})
    assert lin.weight.dtype == mg.float32
    np.testing.assert_array_equal(lin.weight.numpy(), w.astype(np.float32))


def _snapshot(m: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda sd: sd.pop("block.fc.bias"), ['Missing key(s)', '"block.fc.bias"']),
        (lambda sd: sd.__setitem__("extra.weight", mg.zeros(1)), ['Unexpected key(s)', '"extra.weight"']),
        (
            lambda sd: sd.__setitem__("heads.0.weight", mg.zeros(3, 4)),
            ["size mismatch for heads.0.weight", "(3, 4)", "(2, 4)"],
        ),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_bad_state_dict_raises_listing_the_problem_and_changes_nothing(edit, fragments):
    net, other = Net(), Net()
    before = _snapshot(net)
    sd = other.state_dict()
    edit(sd)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    for f in fragments:
        assert f in str(info.value)
    after = _snapshot(net)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


def test_all_problems_are_reported_together():
    net = Net()
    sd = Net().state_dict()
    sd.pop("gain")
    sd["bogus"] = mg.zeros(1)
    sd["block.fc.weight"] = mg.zeros(9, 9)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    text = str(info.value)
    assert '"gain"' in text and '"bogus"' in text and "size mismatch for block.fc.weight" in text


def test_non_strict_load_reports_keys_but_still_refuses_wrong_shapes():
    net = Net()
    sd = Net().state_dict()
    sd.pop("gain")
    sd["bogus"] = mg.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["gain"] and result.unexpected_keys == ["bogus"]
    np.testing.assert_array_equal(net.block.fc.weight.numpy(), sd["block.fc.weight"].numpy())
    sd["block.fc.weight"] = mg.zeros(1, 1)
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict(sd, strict=False)


def test_non_tensor_value_is_refused_before_anything_is_copied():
    lin = nn.Linear(2, 2)
    before = _snapshot(lin)
    with pytest.raises(RuntimeError, match="not a tensor"):
        lin.load_state_dict({"weight": np.ones((2, 2)), "bias": "oops"})
    np.testing.assert_array_equal(lin.weight.numpy(), before["weight"])


def test_train_eval_set_every_module():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_sets_grads_to_none():
    net = Net()
    out = net(mg.randn(5, 3))
    (out[0].sum() + out[1].sum()).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_dtype_converts_in_place_keeping_parameter_objects():
    net = Net()
    params = list(net.parameters())
    assert net.to(mg.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == mg.float64 for p in net.parameters())
    assert net.block.scale.dtype == mg.float64
    out = net(mg.randn(2, 3, dtype=mg.float64))
    assert out[0].dtype == mg.float64


def test_to_device_moves_parameters_in_place(device):
    net = Net()
    params = list(net.parameters())
    net.to(device)
    assert all(p.device == device for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    out = net(mg.randn(2, 3, device=device))
    assert out[0].device == device


def test_apply_visits_children_before_parents():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "LayerNorm", "Block", "Linear", "Linear", "ModuleList", "Net"]


def test_assigning_a_plain_tensor_to_a_parameter_slot_is_refused():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = mg.zeros(2, 2)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_forgetting_super_init_gives_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_repr_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.LayerNorm(3), nn.Embedding(5, 3, padding_idx=0))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.LayerNorm(3), torch.nn.Embedding(5, 3, padding_idx=0)
    )
    assert repr(ours) == repr(theirs)


def test_parameter_shares_memory_with_its_source_tensor():
    t = mg.zeros(3)
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")


def test_sequential_and_modulelist_indexing():
    layers = [nn.Linear(2, 2) for _ in range(3)]
    seq = nn.Sequential(*layers)
    assert seq[-1] is layers[2] and len(seq) == 3
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    ml = nn.ModuleList(layers)
    assert ml[0] is layers[0] and list(ml) == layers
    with pytest.raises(IndexError):
        ml[3]


def test_load_state_dict_accepts_a_pytorch_state_dict_directly():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(3, 2)
    ours = nn.Linear(3, 2)
    ours.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


def test_pytorch_spelling_of_multihead_attention_is_the_same_class():
    assert nn.MultiheadAttention is nn.MultiHeadAttention


def test_optimizer_created_before_to_keeps_training_the_moved_parameters():
    from minigrad import optim

    lin = nn.Linear(2, 1)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    lin.to(mg.float64)
    before = lin.weight.numpy().copy()
    lin(mg.ones(1, 2, dtype=mg.float64)).sum().backward()
    opt.step()
    np.testing.assert_allclose(lin.weight.numpy(), before - 0.1)
