"""mg.save / mg.load (nesting, atomic writes, bad and unsafe files), RNG state, exact resume."""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import minigrad as mg
import minigrad.functional as F
from minigrad import backend, nn, optim
from minigrad.optim import lr_scheduler
from minigrad.serialization import CheckpointError, UnsafeCheckpointError, atomic_write

from .._torch import requires_torch, torch


def _state():
    return {
        "model": {"w": mg.tensor(np.arange(6.0).reshape(2, 3), dtype=mg.float32),
                  "b": mg.tensor([0.5, -1.5], dtype=mg.float64),
                  "ids": mg.tensor([[1, 2], [3, 4]]),
                  "mask": mg.tensor([True, False])},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": mg.tensor([1e-30, 2.0])}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False,
                                        "name": None, "params": [0, 1]}]},
        "step": 7,
        "big": 2**100 + 1,
        "loss": 1.0 / 3.0,
        "inf": math.inf,
        "tag": "run-1 ✓ 摘要",
        "nested": [1, [2.5, "x"], (None, True)],
        "raw": np.array([[1, 2]], dtype=np.int32),
    }


def _assert_same(a, b):
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, mg.Tensor)), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(b, mg.Tensor):
        a = a.numpy() if isinstance(a, mg.Tensor) else a
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b.numpy())
    else:
        assert a == b


# Both containers: the suffix chooses (anything but .safetensors is an .npz).
SUFFIXES = [".npz", ".safetensors"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_nesting_key_types_dtypes_and_values(tmp_path, suffix):
    path = tmp_path / f"ckpt{suffix}"
    state = _state()
    mg.save(state, path)
    _assert_same(state, mg.load(path))


def test_writes_exactly_the_path_given_and_numpy_can_read_the_arrays(tmp_path):
    path = tmp_path / "checkpoint.bin"
    mg.save(_state(), str(path))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.bin"]
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["model/w"], np.arange(6.0).reshape(2, 3))
        np.testing.assert_array_equal(npz["optimizer/state/0/exp_avg"], np.array([1e-30, 2.0], np.float32))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_keys_that_look_like_paths_do_not_clash(tmp_path, suffix):
    state = {"a/b": mg.tensor([1.0]), "a": {"b": mg.tensor([2.0])}}
    mg.save(state, tmp_path / f"c{suffix}")
    _assert_same(state, mg.load(tmp_path / f"c{suffix}"))


def test_an_npz_without_a_manifest_is_a_clear_error_with_a_hint(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weight=np.ones((2, 2), np.float32))
    with pytest.raises(CheckpointError, match="no manifest.*numpy.load") as excinfo:
        mg.load(path)
    _assert_invalid(path, excinfo.value)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_load_on_an_explicit_device(tmp_path, device, suffix):
    mg.save(_state(), tmp_path / f"c{suffix}")
    loaded = mg.load(tmp_path / f"c{suffix}", device=device)
    assert loaded["model"]["w"].device == device
    assert loaded["optimizer"]["state"][0]["exp_avg"].device == device
    np.testing.assert_array_equal(loaded["model"]["w"].numpy(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_loaded_tensors_are_writable_so_training_can_continue(tmp_path, suffix):
    mg.save({"w": mg.tensor([1.0, 2.0])}, tmp_path / f"c{suffix}")
    w = mg.load(tmp_path / f"c{suffix}")["w"]
    w.data += 1.0
    assert w.tolist() == [2.0, 3.0]


@pytest.mark.parametrize("obj,where", [
    ({"fn": lambda: 0}, "'fn'"),
    ({"s": {1, 2}}, "'s'"),
    ({"a": [1, np.array([object()], dtype=object)]}, "'a/1'"),
    ({"c": np.array([1j])}, "'c'"),
    ({(1, 2): 3}, "<top level>"),
])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_refuses_what_it_cannot_store_and_keeps_the_old_file(tmp_path, obj, where, suffix):
    path = tmp_path / f"c{suffix}"
    mg.save({"old": mg.tensor([1.0])}, path)
    with pytest.raises(TypeError, match=where):
        mg.save(obj, path)
    assert mg.load(path)["old"].tolist() == [1.0]
    assert os.listdir(tmp_path) == [path.name]


# -- atomic writes -------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failure_while_writing_leaves_the_existing_checkpoint_intact(tmp_path, monkeypatch, error):
    path = tmp_path / "c.npz"
    old = {"w": mg.tensor([1.0, 2.0]), "step": 1}
    mg.save(old, path)
    write_array = np.lib.format.write_array
    calls = []

    def failing_write(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first entry is already in the new file
            fp.write(b"partial")
            raise error
        return write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(type(error)):
        mg.save({"w": mg.tensor([9.0, 9.0]), "v": mg.tensor([3.0]), "step": 2}, path)
    monkeypatch.undo()
    assert len(calls) == 2
    _assert_same(old, mg.load(path))
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_permissions_of_an_existing_checkpoint_are_kept(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    mg.save({"a": 1}, path)
    assert (os.stat(path).st_mode & 0o777) == 0o644
    os.chmod(path, 0o600)
    mg.save({"a": 2}, path)
    assert (os.stat(path).st_mode & 0o777) == 0o600 and mg.load(path) == {"a": 2}


def test_atomic_write_replaces_a_text_file_whole_or_not_at_all(tmp_path):
    path = tmp_path / "rows.jsonl"
    with atomic_write(path) as f:
        f.write("第一行\n")
        assert not path.exists()  # nothing at the final name until the block ends
    assert path.read_text(encoding="utf-8") == "第一行\n" and (os.stat(path).st_mode & 0o777) == 0o644
    with pytest.raises(ValueError, match="half way"):
        with atomic_write(path) as f:
            f.write("第二行\n")
            raise ValueError("half way")
    assert path.read_text(encoding="utf-8") == "第一行\n"
    assert os.listdir(tmp_path) == ["rows.jsonl"]  # the temporary file is gone


def test_atomic_write_in_binary_mode_and_a_bad_mode(tmp_path):
    with atomic_write(tmp_path / "b.bin", "wb") as f:
        f.write(bytes([0, 255]))
    assert (tmp_path / "b.bin").read_bytes() == bytes([0, 255])
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'"):
        with atomic_write(tmp_path / "c.txt", "a"):
            pass


# -- truncated, corrupted and unsafe files --------------------------------------------------------


def _small_checkpoint(tmp_path, suffix=".npz"):
    path = tmp_path / f"c{suffix}"
    state = {"w": mg.tensor([[1.0, 2.0]]), "opt": {"state": {0: {"step": 2}}}, "name": "x"}
    mg.save(state, path)
    return path, state


def _assert_invalid(path, error):
    assert str(path) in str(error) and "not a valid minigrad checkpoint" in str(error)
    # Raised without a chained numpy/zipfile traceback.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_truncation_is_a_clear_error(tmp_path, suffix):
    path, _ = _small_checkpoint(tmp_path, suffix)
    data = path.read_bytes()
    bad = tmp_path / f"bad{suffix}"
    for n in range(len(data)):
        bad.write_bytes(data[:n])
        with pytest.raises(CheckpointError) as excinfo:
            mg.load(bad)
        _assert_invalid(bad, excinfo.value)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_corrupted_byte_is_a_clear_error_or_harmless(tmp_path, suffix):
    """Flip each byte in turn: loading either raises CheckpointError or (a byte zip ignores,
    like a timestamp) returns exactly the saved data. Never another error, never wrong data
    (in safetensors, which has no checksums of its own, minigrad's catch flipped weights)."""
    path, state = _small_checkpoint(tmp_path, suffix)
    data = path.read_bytes()
    bad = tmp_path / f"bad{suffix}"
    errors = 0
    for i in range(len(data)):
        corrupted = bytearray(data)
        corrupted[i] ^= 0xFF
        bad.write_bytes(bytes(corrupted))
        try:
            loaded = mg.load(bad)
        except CheckpointError as e:
            _assert_invalid(bad, e)
            errors += 1
        else:
            _assert_same(state, loaded)
    assert errors > len(data) // 2


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"PK\x03\x04" + b"\x00" * 40])
def test_garbage_is_a_clear_error(tmp_path, content, suffix):
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError) as excinfo:
        mg.load(bad)
    _assert_invalid(bad, excinfo.value)


def _npz_with(tmp_path, entries):
    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in entries.items():
            with zf.open(name, "w") as f:
                np.lib.format.write_array(f, array, allow_pickle=True)
    return path


def _manifest(text):
    return np.frombuffer(text.encode(), dtype=np.uint8)


def _tree(tree):
    return _manifest('{"format": "minigrad-checkpoint", "version": 1, "tree": %s}' % tree)


@pytest.mark.parametrize("entries,reason", [
    ({"__minigrad_manifest__.npy": _manifest("{not json")}, "unreadable manifest"),
    ({"__minigrad_manifest__.npy": _manifest('{"format": "other", "version": 1, "tree": {}}')}, "format"),
    ({"__minigrad_manifest__.npy": _manifest('{"format": "minigrad-checkpoint", "version": 99, "tree": {}}')},
     "newer"),
    ({"__minigrad_manifest__.npy": _tree('{"array": "missing"}')}, "malformed manifest"),
    ({"__minigrad_manifest__.npy": _tree('{"code": "import os"}')}, "unknown node kind"),
    ({"__minigrad_manifest__.npy": _tree('{"dict": [[[1], {"value": 1}]]}')}, "unhashable"),
    ({"__minigrad_manifest__.npy": np.zeros(3)}, "not bytes"),
    ({"x.txt": np.zeros(1)}, "unexpected entry"),
    ({"__minigrad_manifest__.npy": _tree('{"array": "c"}'), "c.npy": np.array([1j])}, "complex128"),
])
def test_crafted_archives_are_clear_errors(tmp_path, entries, reason):
    path = _npz_with(tmp_path, entries)
    with pytest.raises(CheckpointError, match=reason) as excinfo:
        mg.load(path)
    _assert_invalid(path, excinfo.value)


def test_a_missing_file_is_a_file_not_found_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        mg.load(tmp_path / "nope.npz")


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _object_array(marker):
    array = np.empty(1, dtype=object)
    array[0] = _Payload(marker)
    return array


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "code-ran"


def test_the_payload_really_runs_code_when_unpickled(tmp_path, marker):
    """The control: numpy with allow_pickle=True does run it, so the refusals below mean something."""
    np.savez(tmp_path / "evil.npz", evil=_object_array(marker))
    with np.load(tmp_path / "evil.npz", allow_pickle=True) as npz:
        with contextlib.suppress(Exception):
            npz["evil"]
    assert marker.exists()


def test_an_npz_with_a_pickled_object_is_refused_and_no_code_runs(tmp_path, marker):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.ones(2), evil=_object_array(marker))
    with pytest.raises(UnsafeCheckpointError, match="pickled Python objects") as excinfo:
        mg.load(path)
    assert "evil" in str(excinfo.value) and str(path) in str(excinfo.value)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_tampered_minigrad_checkpoint_with_a_pickle_is_refused(tmp_path, marker):
    path, _ = _small_checkpoint(tmp_path)
    with zipfile.ZipFile(path, "a") as zf, zf.open("w.npy", "w") as f:  # shadows the real entry
        np.lib.format.write_array(f, _object_array(marker), allow_pickle=True)
    with pytest.raises(UnsafeCheckpointError):
        mg.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("write", [
    lambda path, payload: path.write_bytes(pickle.dumps(payload)),  # what torch.save-like tools write
    lambda path, payload: np.save(path.open("wb"), np.array([payload], dtype=object)),
], ids=["raw-pickle", "npy-object-array"])
def test_a_pickle_file_is_refused_and_no_code_runs(tmp_path, marker, write):
    path = tmp_path / "evil.ckpt"
    write(path, _Payload(marker))
    with pytest.raises(CheckpointError) as excinfo:
        mg.load(path)
    _assert_invalid(path, excinfo.value)
    assert not marker.exists()


# -- safetensors: weights that travel ----------------------------------------------------------


def _safetensors_file(path, header, data=b""):
    """A safetensors file written by hand: 8-byte header length, JSON header, then the data."""
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


@pytest.mark.parametrize("header,data,reason", [
    ({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}}, bytes(16), "SafetensorError"),
    ({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, bytes(12), "SafetensorError"),
    ({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, bytes(4), "dtype BF16.*tensor.float()"),
    ({"__metadata__": {"__minigrad_manifest__": "{not json"}}, b"", "unreadable manifest"),
    ({"__metadata__": {"__minigrad_manifest__": '{"format": "minigrad-checkpoint", "version": 1, '
                                                '"tree": {"array": "gone"}}'}}, b"", "malformed manifest"),
    ({"__metadata__": {"__minigrad_crc32__": '{"w": 1}'},
      "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\x07", "does not match its checksum"),
], ids=["shape-larger-than-data", "data-larger-than-shape", "bfloat16", "bad-manifest", "missing-array",
        "checksum"])
def test_crafted_safetensors_files_are_clear_errors(tmp_path, header, data, reason):
    path = _safetensors_file(tmp_path / "crafted.safetensors", header, data)
    with pytest.raises(CheckpointError, match=reason) as excinfo:
        mg.load(path)
    _assert_invalid(path, excinfo.value)


def test_a_safetensors_file_from_another_tool_loads_as_a_flat_dict_of_tensors(tmp_path):
    weights = {"encoder.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.array(3)}
    safetensors.numpy.save_file(weights, tmp_path / "other.safetensors")
    loaded = mg.load(tmp_path / "other.safetensors")
    assert sorted(loaded) == sorted(weights)
    for name, array in weights.items():
        _assert_same(array, loaded[name])


def test_safetensors_names_are_the_state_dict_keys_and_strided_weights_keep_their_values(tmp_path):
    # safetensors reads an array's memory as it lies: a transposed view must be made contiguous.
    w = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    state = {"linear.weight": mg.tensor(w).T, "linear.bias": mg.tensor([1.0, 2.0, 3.0])}
    mg.save(state, tmp_path / "m.safetensors")
    with safetensors.safe_open(tmp_path / "m.safetensors", framework="numpy") as f:
        assert sorted(f.keys()) == ["linear.bias", "linear.weight"]
        np.testing.assert_array_equal(f.get_tensor("linear.weight"), w.T)
        assert f.metadata()["format"] == "pt"  # what Hugging Face loaders look for
    _assert_same(state, mg.load(tmp_path / "m.safetensors"))


def test_a_failure_while_writing_safetensors_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    mg.save({"w": mg.tensor([1.0, 2.0])}, path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.numpy, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"w": mg.tensor([9.0, 9.0])}, path)
    monkeypatch.undo()
    assert mg.load(path)["w"].tolist() == [1.0, 2.0] and os.listdir(tmp_path) == ["m.safetensors"]


def test_without_the_safetensors_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # what a missing package looks like to import
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    for call in (lambda: mg.save({"w": mg.tensor([1.0])}, tmp_path / "m.safetensors"),
                 lambda: mg.load(tmp_path / "m.safetensors")):
        with pytest.raises(ImportError, match=r"pip install safetensors.*\.npz"):
            call()
    mg.save({"w": mg.tensor([1.0])}, tmp_path / "m.npz")  # the .npz format needs nothing more
    assert mg.load(tmp_path / "m.npz")["w"].tolist() == [1.0]


_TRANSFORMER = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=12,
                    batch_first=True)


def _transformer_outputs(ours, theirs):
    rng = np.random.default_rng(0)
    src, tgt = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 3, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=mg.float64)
    out = ours(mg.tensor(src), mg.tensor(tgt), tgt_mask=mask).numpy()
    with torch.no_grad():
        out_t = theirs(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(mask.numpy())).numpy()
    return out, out_t


@requires_torch
def test_a_minigrad_transformer_saved_as_safetensors_loads_into_pytorch(tmp_path):
    import safetensors.torch

    mg.manual_seed(0)
    ours = nn.Transformer(**_TRANSFORMER).double().eval()
    mg.save(ours.state_dict(), tmp_path / "model.safetensors")
    theirs = torch.nn.Transformer(**_TRANSFORMER).double().eval()
    theirs.load_state_dict(safetensors.torch.load_file(tmp_path / "model.safetensors"), strict=True)
    out, out_t = _transformer_outputs(ours, theirs)
    np.testing.assert_allclose(out, out_t, atol=1e-12)


@requires_torch
def test_a_pytorch_transformer_saved_as_safetensors_loads_into_minigrad(tmp_path):
    import safetensors.torch

    torch.manual_seed(0)
    theirs = torch.nn.Transformer(**_TRANSFORMER).double().eval()
    safetensors.torch.save_file(theirs.state_dict(), tmp_path / "model.safetensors")
    ours = nn.Transformer(**_TRANSFORMER).double().eval()
    ours.load_state_dict(mg.load(tmp_path / "model.safetensors"))
    out, out_t = _transformer_outputs(ours, theirs)
    np.testing.assert_allclose(out, out_t, atol=1e-12)


# -- RNG state --------------------------------------------------------------------------------------


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    mg.manual_seed(3)
    mg.randn(5)
    mg.save({"rng": mg.get_rng_state()}, tmp_path / "r.npz")
    expected = mg.randn(4).numpy().copy()
    mg.manual_seed(99)
    mg.set_rng_state(mg.load(tmp_path / "r.npz")["rng"])
    np.testing.assert_array_equal(mg.randn(4).numpy(), expected)


def test_rng_state_restores_the_seed_for_devices_first_used_later():
    mg.manual_seed(5)
    state = mg.get_rng_state()
    mg.manual_seed(6)
    mg.set_rng_state(state)
    assert state["seed"] == 5 and backend._seed[0] == 5


@pytest.mark.parametrize("bad", [
    {},
    {"seed": 1},
    {"seed": 1, "devices": {"tpu": {}}},
    {"seed": 1, "devices": {"cpu": {"bit_generator": "MT19937"}}},
    {"seed": "x", "devices": {}},
])
def test_a_bad_rng_state_is_a_clear_error_and_changes_nothing(bad):
    mg.manual_seed(4)
    state = mg.get_rng_state()
    with pytest.raises(ValueError, match="set_rng_state: expected a state from mg.get_rng_state"):
        mg.set_rng_state(bad)
    expected = mg.randn(3).numpy().copy()
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected)


def _fake_cupy():
    """Enough of CuPy for backend's GPU generator: a RandomState that cannot export its state."""
    return types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
                                   Device=lambda index: contextlib.nullcontext()),
        random=types.SimpleNamespace(RandomState=np.random.RandomState),
    )


def _cpu_only_cache():
    return {("cpu", None): backend.Device("cpu")}


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", _fake_cupy)
    monkeypatch.setattr(backend.Device, "_cache", _cpu_only_cache())  # keep the stand-in out of the real one
    monkeypatch.setattr(backend, "_rngs", {})
    return backend.Device("cuda:0")


def test_a_gpu_generator_snapshot_replays_exactly(fake_gpu):
    mg.manual_seed(8)
    backend.rng(fake_gpu).random_sample(3)
    state = mg.get_rng_state()
    expected = backend.rng(fake_gpu).random_sample(4)
    backend.rng(fake_gpu).random_sample(2)
    mg.set_rng_state(state)
    np.testing.assert_array_equal(backend.rng(fake_gpu).random_sample(4), expected)


def test_devices_this_machine_cannot_open_are_skipped(fake_gpu, monkeypatch):
    mg.manual_seed(8)
    backend.rng(fake_gpu).random_sample(1)
    mg.randn(2)
    state = mg.get_rng_state()
    assert set(state["devices"]) == {"cpu", "cuda:0"}
    expected = mg.randn(3).numpy().copy()

    def no_cupy():
        raise ImportError("No module named 'cupy'")

    monkeypatch.setattr(backend, "_import_cupy", no_cupy)
    monkeypatch.setattr(backend.Device, "_cache", _cpu_only_cache())
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected)


# -- save → load → continue training == uninterrupted training -------------------------------------


def _model():
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 1))


def _training(model):
    opt = optim.AdamW(model.parameters(), lr=0.05)
    sched = lr_scheduler.WarmupCosine(opt, warmup_steps=3, total_steps=10)
    return opt, sched


def _train(model, opt, sched, steps):
    """Random batches and dropout masks come from mg's generator, so RNG state matters."""
    losses = []
    for _ in range(steps):
        x = mg.randn(8, 4)
        y = (x * x).sum(axis=1, keepdims=True)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def _resumed(path, restore_rng=True):
    """A fresh 'process': other seed, other initial weights, then the checkpoint."""
    mg.manual_seed(12345)
    model = _model()
    opt, sched = _training(model)
    ckpt = mg.load(path)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    if restore_rng:
        mg.set_rng_state(ckpt["rng"])
    assert ckpt["step"] == 4
    return model, opt, sched


@pytest.mark.parametrize("name", ["train_state.ckpt", "train_state.safetensors"])
def test_save_load_continue_matches_uninterrupted_training_bit_for_bit(tmp_path, name):
    mg.manual_seed(0)
    model = _model()
    opt, sched = _training(model)
    reference = _train(model, opt, sched, 8)
    final = [p.numpy().copy() for p in model.parameters()]

    mg.manual_seed(0)
    model = _model()
    opt, sched = _training(model)
    first = _train(model, opt, sched, 4)
    path = tmp_path / name
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "step": 4, "rng": mg.get_rng_state()}, path)
    del model, opt, sched

    model, opt, sched = _resumed(path)
    assert first + _train(model, opt, sched, 4) == reference
    for p, q in zip(model.parameters(), final):
        np.testing.assert_array_equal(p.numpy(), q)

    # The control: without the RNG state the continuation draws other batches.
    model, opt, sched = _resumed(path, restore_rng=False)
    assert first + _train(model, opt, sched, 4) != reference
