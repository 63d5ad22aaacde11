"""Shared test set-up: the hypothesis profile for CI and the backend fixture."""

from __future__ import annotations

import os

# One BLAS thread: on 2 shared cores, OpenBLAS's threads fight each other and pytest's
# work (a learning test took 23 s with default threads, 3 s with one).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

try:  # numpy may already be loaded (and its BLAS threads started) by a plugin
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:
    pass

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _cuda_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


CUDA = _cuda_available()


@pytest.fixture(
    params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)],
)
def device(request) -> str:
    """Every backend test runs on cpu, and on cuda when a GPU and CuPy are present."""
    if request.param == "cuda" and not CUDA:
        pytest.skip("needs a CUDA GPU and CuPy (pip install -e '.[gpu]')")
    return request.param
