"""Running a script on several MPI processes from a test.

The ``test`` extra installs mpi4py and the MPICH wheel, so CI runs these tests for real;
where they are missing (a bare ``pip install -e .``) the multi-process tests are skipped
with the pip command, and the single-process ones still run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import minigrad.distributed as dist

ROOT = Path(__file__).resolve().parents[1]


def _mpiexec() -> str | None:
    """The mpiexec next to this Python (the MPICH wheel's), else the one on PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()

requires_mpi = pytest.mark.skipif(
    not dist.is_available() or MPIEXEC is None,
    reason=f"needs mpi4py and mpiexec: {dist.INSTALL_HINT}",
)


def run_mpi(args: list[str], n: int = 2, timeout: float = 120, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``mpiexec -n n python args…`` with this repository importable and one BLAS thread per
    rank; output captured. A run past ``timeout`` seconds is killed and fails the test."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
                   "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    command = [MPIEXEC, "-n", str(n), sys.executable, *args]
    # A session of its own, so a hung job is killed whole (mpiexec, its proxies and the ranks).
    process = subprocess.Popen(command, cwd=cwd or ROOT, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command)} ran past {timeout} s (a hang?); output:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``result``, after checking that every rank succeeded (else fail with its output)."""
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


__all__ = ["requires_mpi", "run_mpi", "ok", "MPIEXEC", "ROOT"]
