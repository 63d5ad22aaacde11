"""DistributedDataParallel on 2 MPI processes equals one process on the whole batch."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minigrad as mg
from tests._mpi import ok, requires_mpi, run_mpi
from tests.minigrad.distributed.worker import STEPS, build, train

pytestmark = requires_mpi

# float32: the two runs add the same numbers in another order (halves, then the sum over
# ranks), so values agree to a few float32 roundings (measured: 6e-8 after 4 Adam steps).
TOLERANCE = {"float64": 1e-10, "float32": 1e-6}


def _run(tmp_path, optimizer: str, dtype: str, micro_batches: int = 1, bucket_mb: float = 4.0):
    ok(run_mpi(["-m", "tests.minigrad.distributed.worker", "equivalence", str(tmp_path), optimizer, dtype,
                str(micro_batches), str(bucket_mb)]))
    return mg.load(tmp_path / "model.npz"), json.loads((tmp_path / "report.json").read_text())


def _reference(optimizer: str, dtype: str) -> dict[str, np.ndarray]:
    model = build(np.dtype(dtype), seed=0)
    train(model, optimizer, np.dtype(dtype))
    return {k: v.numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_on_half_batches_match_one_process_on_the_whole_batch(tmp_path, optimizer, dtype):
    state, report = _run(tmp_path, optimizer, dtype)
    expected = _reference(optimizer, dtype)
    assert report["agree"], "the ranks ended with different parameters"
    assert list(state) == list(expected)  # state_dict names are the plain module's
    start = build(np.dtype(dtype), seed=0).state_dict()
    for name, value in expected.items():
        assert not np.allclose(value, start[name].numpy()), f"{name} never moved: this would prove nothing"
        np.testing.assert_allclose(state[name].numpy(), value, rtol=0, atol=TOLERANCE[dtype], err_msg=name)


def test_no_sync_accumulation_and_small_buckets_still_match(tmp_path):
    """Two micro-batches per step (the first under no_sync) with buckets of ~200 bytes: one
    all-reduce per bucket per step, none for the no_sync backward, same result."""
    state, report = _run(tmp_path, "adam", "float64", micro_batches=2, bucket_mb=0.0002)
    expected = _reference("adam", "float64")
    assert report["buckets"] > 1
    assert report["all_reduce_calls"] == report["buckets"] * STEPS
    for name, value in expected.items():
        np.testing.assert_allclose(state[name].numpy(), value, rtol=0, atol=1e-10, err_msg=name)


def test_one_bucket_by_default_for_a_small_model(tmp_path):
    _, report = _run(tmp_path, "sgd", "float64")
    assert report["buckets"] == 1 and report["all_reduce_calls"] == STEPS
