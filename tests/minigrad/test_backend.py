"""Devices: parsing and interning, the MINIGRAD_DEVICE flag, the default device, and the
CUDA selection / transfer / error logic, tested on the CPU with a stand-in CuPy module.
Tests that need a real GPU are marked ``gpu`` and skip cleanly without one."""

from __future__ import annotations

import pickle
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend

from ..conftest import CUDA

# -- a stand-in CuPy: NumPy underneath, arrays that say which GPU they live on -------------


class _GpuId:
    def __init__(self, index: int) -> None:
        self.id = index


class FakeGpuArray(np.ndarray):
    """A NumPy array that claims to live on GPU 0, as a CuPy array does via ``.device.id``."""

    @property
    def device(self):  # shadows NumPy 2's ndarray.device ("cpu")
        return _GpuId(0)


def _on_fake_gpu(value):
    """Arrays returned by the stand-in move 'onto the GPU'; modules and generators it hands
    out (``cupy.random``, ``RandomState``) are wrapped the same way."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and not isinstance(value, FakeGpuArray):
        return value.view(FakeGpuArray)
    if isinstance(value, (types.ModuleType, np.random.RandomState)):
        return _OnFakeGpu(value)
    return value


class _OnFakeGpu:
    """NumPy (or one of its modules/objects) behind a CuPy-like face."""

    def __init__(self, target) -> None:
        self._target = target

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if isinstance(attr, types.ModuleType):
            return _OnFakeGpu(attr)
        if not callable(attr) or (isinstance(attr, type) and issubclass(attr, np.generic)):
            return attr

        def on_gpu(*args, **kwargs):
            return _on_fake_gpu(attr(*args, **kwargs))

        return on_gpu


class _FakeCudaDevice:
    def __init__(self, index: int) -> None:
        self.index = index

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fake_cupy(gpu_count: int = 1, count_error: Exception | None = None) -> _OnFakeGpu:
    cupy = _OnFakeGpu(np)

    def get_device_count():
        if count_error is not None:
            raise count_error
        return gpu_count

    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=get_device_count), Device=_FakeCudaDevice
    )
    cupy.asarray = lambda a, dtype=None: np.array(a, dtype=dtype).view(FakeGpuArray)
    cupy.asnumpy = lambda a: np.array(a, copy=True).view(np.ndarray)
    return cupy


def _forget_cuda_devices() -> None:
    for key in [k for k in backend.Device._cache if k[0] == "cuda"]:
        del backend.Device._cache[key]
    for dev in [d for d in backend._rngs if d.type == "cuda"]:
        del backend._rngs[dev]


@pytest.fixture
def use_cupy(monkeypatch):
    """``use_cupy(module_or_error)``: make ``_import_cupy`` return the module (or raise the
    error). CUDA devices made during the test are forgotten after it, so nothing leaks."""
    _forget_cuda_devices()
    saved_default = backend._default

    def install(module):
        def import_cupy():
            if isinstance(module, Exception):
                raise module
            return module

        _forget_cuda_devices()
        monkeypatch.setattr(backend, "_import_cupy", import_cupy)

    yield install
    backend._default = saved_default
    _forget_cuda_devices()


@pytest.fixture
def restore_default_device():
    saved = backend._default
    yield
    backend._default = saved


# -- Device --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["cpu", " CPU ", "Cpu"])
def test_cpu_spellings(spec):
    dev = mg.Device(spec)
    assert dev is mg.Device("cpu") and dev.type == "cpu" and dev.index is None
    assert dev.xp is np and str(dev) == "cpu" and repr(dev) == "device('cpu')"


def test_devices_are_interned_immutable_and_compare_with_strings(use_cupy):
    use_cupy(fake_cupy(gpu_count=2))
    assert mg.Device("cuda") is mg.Device("cuda:0") is mg.Device("gpu") is mg.Device(mg.Device("cuda:0"))
    one = mg.Device("cuda:1")
    assert (one.type, one.index, str(one)) == ("cuda", 1, "cuda:1")
    assert one == "cuda:1" and one != "cuda:0" and mg.Device("cuda") == "cuda" and one != "nonsense"
    assert mg.Device("cpu") != mg.Device("cuda")
    assert hash(mg.Device("cuda:0")) == hash(mg.Device("cuda"))
    assert pickle.loads(pickle.dumps(one)) is one
    with pytest.raises(AttributeError, match="immutable"):
        one.index = 0


# -- MINIGRAD_DEVICE and the default device -----------------------------------------------------


def test_env_flag_unset_or_empty_means_cpu(monkeypatch):
    monkeypatch.delenv("MINIGRAD_DEVICE", raising=False)
    assert backend._device_from_env() is mg.Device("cpu")
    monkeypatch.setenv("MINIGRAD_DEVICE", "  ")
    assert backend._device_from_env() is mg.Device("cpu")


def test_env_flag_selects_a_gpu(monkeypatch, use_cupy):
    use_cupy(fake_cupy(gpu_count=2))
    monkeypatch.setenv("MINIGRAD_DEVICE", "cuda")
    assert backend._device_from_env() is mg.Device("cuda:0")
    monkeypatch.setenv("MINIGRAD_DEVICE", "cuda:1")
    assert backend._device_from_env() is mg.Device("cuda:1")


def test_env_flag_errors_name_the_flag(monkeypatch, use_cupy):
    monkeypatch.setenv("MINIGRAD_DEVICE", "tpu")
    with pytest.raises(ValueError, match="MINIGRAD_DEVICE='tpu'.*unknown device"):
        backend._device_from_env()
    use_cupy(ImportError("No module named 'cupy'"))
    monkeypatch.setenv("MINIGRAD_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="MINIGRAD_DEVICE='cuda'.*CuPy is not installed.*pip install cupy"):
        backend._device_from_env()


def test_the_default_device_comes_from_the_flag(monkeypatch, restore_default_device):
    monkeypatch.setenv("MINIGRAD_DEVICE", "cpu")
    backend._default = None  # as in a fresh process
    assert mg.get_default_device() is mg.Device("cpu")


def test_set_default_device_places_new_tensors(use_cupy):
    use_cupy(fake_cupy())
    mg.set_default_device("cuda")
    assert mg.get_default_device() is mg.Device("cuda:0")
    for t in (mg.zeros(2), mg.ones(2, 2), mg.randn(3), mg.tensor([1.0, 2.0]), mg.arange(3)):
        assert t.device == "cuda:0" and isinstance(t.data, FakeGpuArray)
    mg.set_default_device("cpu")
    assert mg.zeros(2).device is mg.Device("cpu")


# -- asking for CUDA without CuPy or without a GPU ------------------------------------------------


def test_cuda_without_cupy_says_what_to_install(use_cupy, restore_default_device):
    use_cupy(ImportError("No module named 'cupy'"))
    for attempt in (lambda: mg.Device("cuda"), lambda: mg.set_default_device("cuda:0"),
                    lambda: mg.tensor([1.0], device="cuda"), lambda: mg.ones(2).to("cuda")):
        with pytest.raises(RuntimeError, match="CuPy is not installed.*pip install cupy-cuda12x"):
            attempt()
    assert mg.get_default_device() is not None  # the failed set_default_device changed nothing


def test_cuda_with_zero_gpus_says_there_is_no_gpu(use_cupy):
    use_cupy(fake_cupy(gpu_count=0))
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        mg.Device("cuda")


def test_cuda_without_a_driver_says_there_is_no_usable_gpu(use_cupy):
    use_cupy(fake_cupy(count_error=OSError("cudaErrorNoDevice: no CUDA-capable device is detected")))
    with pytest.raises(RuntimeError, match="no CUDA GPU is usable.*nvidia-smi"):
        mg.Device("cuda")


def test_cuda_index_out_of_range(use_cupy):
    use_cupy(fake_cupy(gpu_count=2))
    assert mg.Device("cuda:1").index == 1
    with pytest.raises(RuntimeError, match="cuda:2.*only 2 CUDA GPU"):
        mg.Device("cuda:2")


# -- transfers and device mixing -------------------------------------------------------------------


def test_transfer_round_trip_keeps_values_and_gradients_flow_back(use_cupy):
    use_cupy(fake_cupy())
    values = np.array([[1.0, -2.0], [0.5, 3.0]])
    x = mg.tensor(values, dtype=mg.float64, requires_grad=True)
    on_gpu = x.to("cuda")
    assert on_gpu.device is mg.Device("cuda:0") and isinstance(on_gpu.data, FakeGpuArray)
    y = (on_gpu * on_gpu).tanh()
    assert y.device == "cuda:0" and isinstance(y.data, FakeGpuArray)
    back = y.cpu()
    assert back.device is mg.Device("cpu") and type(back.data) is np.ndarray
    np.testing.assert_allclose(back.numpy(), np.tanh(values**2))
    back.sum().backward()
    assert x.grad.device is mg.Device("cpu") and type(x.grad.data) is np.ndarray
    np.testing.assert_allclose(x.grad.numpy(), 2 * values * (1 - np.tanh(values**2) ** 2))
    assert mg.gradcheck(lambda t: (t.to("cuda") * 2.0).exp().to("cpu"), (x,))


def test_tensor_numpy_of_a_gpu_tensor_is_a_host_copy(use_cupy):
    use_cupy(fake_cupy())
    t = mg.tensor([1.0, 2.0], device="cuda")
    host = t.numpy()
    assert type(host) is np.ndarray and host.tolist() == [1.0, 2.0]
    assert t.tolist() == [1.0, 2.0] and mg.tensor([3.0], device="cuda").item() == 3.0


@pytest.mark.parametrize(
    "op,name",
    [(lambda a, b: a + b, "Add"), (lambda a, b: a @ b, "MatMul"), (mg.maximum, "Maximum"),
     (lambda a, b: mg.concat([a, b]), "Concat"), (lambda a, b: a < b, "compare")],
    ids=["add", "matmul", "maximum", "concat", "compare"],
)
def test_mixing_devices_names_the_op_and_both_devices(use_cupy, op, name):
    use_cupy(fake_cupy())
    cpu_t = mg.ones(2, requires_grad=True)
    gpu_t = mg.ones(2, device="cuda")
    for a, b in ((cpu_t, gpu_t), (gpu_t, cpu_t)):
        with pytest.raises(RuntimeError, match=f"{name}: expected all tensors on one device") as info:
            op(a, b)
        assert "cpu" in str(info.value) and "cuda:0" in str(info.value)


# -- on a real GPU ------------------------------------------------------------------------------------

needs_gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU and CuPy (pip install -e '.[gpu]')")


@pytest.mark.gpu
@needs_gpu
def test_real_gpu_round_trip_and_mixing():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=mg.float64, requires_grad=True)
    y = (x.to("cuda") @ x.to("cuda")).sum()
    assert y.device == "cuda:0" and type(y.data).__module__.startswith("cupy")
    y.backward()
    expected = np.ones((2, 2)) @ x.numpy().T + x.numpy().T @ np.ones((2, 2))
    np.testing.assert_allclose(x.grad.numpy(), expected)
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        x + x.to("cuda")
