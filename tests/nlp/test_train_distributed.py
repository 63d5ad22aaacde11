"""``mpiexec -n 2 python -m nlp train``: one global batch, files written by rank 0 only and
atomically, dev scores that a single process reproduces, and --resume after a killed job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from nlp import checkpoint as ckpt
from nlp.data import read_jsonl
from nlp.demo import DEMO_CORPUS
from nlp.metrics import corpus_rouge
from nlp.summarizer import Summarizer
from tests._mpi import MPIEXEC, ROOT, ok, requires_mpi, run_mpi

pytestmark = requires_mpi

SMALL = ["--data", str(DEMO_CORPUS), "--max-train", "48", "--batch-size", "8", "--warmup", "2",
         "--max-tgt-len", "12", "--emb-dim", "16", "--hidden-size", "16", "--no-progress"]
EVAL_SAMPLES = 6


def _reports(stdout: str) -> dict[int, list[str]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"rank"')]
    return {r["rank"]: r["writes"] for r in lines}


def test_two_processes_keep_the_global_batch_and_only_rank_0_writes(tmp_path):
    out = tmp_path / "model"
    args = SMALL + ["--out", str(out), "--epochs", "1", "--dev", str(DEMO_CORPUS), "--eval-every", "3",
                    "--eval-samples", str(EVAL_SAMPLES)]
    result = ok(run_mpi(["-m", "tests.nlp.train_worker", *args]))
    # 48 pairs, global batch 8: 6 steps in one epoch, as for one process
    assert result.stdout.count("trained 6 steps") == 1  # and reported once
    writes = _reports(result.stdout)
    assert writes[1] == []
    for name in (ckpt.CONFIG, ckpt.VOCAB, ckpt.WEIGHTS, ckpt.STATE, "curves.png"):
        assert name in writes[0] and (out / name).is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_dev_scores_of_a_distributed_run_are_what_one_process_gets_from_the_saved_model(tmp_path):
    out = tmp_path / "model"
    ok(run_mpi(["-m", "nlp", "train", *SMALL, "--out", str(out), "--steps", "6", "--dev", str(DEMO_CORPUS),
                "--eval-every", "3", "--eval-samples", str(EVAL_SAMPLES)]))
    best = json.loads((out / ckpt.CONFIG).read_text())["best"]
    dev = read_jsonl(DEMO_CORPUS)[:EVAL_SAMPLES]
    summarizer = Summarizer.load(out)
    hyps = summarizer.summarize([r["text"] for r in dev], batch_size=100)
    scores = corpus_rouge(hyps, [r["summary"] for r in dev])
    assert scores == {k: v for k, v in best.items() if k != "step"}


def test_a_batch_smaller_than_the_number_of_processes_is_refused(tmp_path):
    result = run_mpi(["-m", "nlp", "train", *SMALL, "--out", str(tmp_path), "--steps", "2",
                      "--batch-size", "1"])
    assert result.returncode == 2
    assert "error: --batch-size 1 is smaller than the 2 processes: each process needs at least one " \
        "pair of a batch; give at least 2" in result.stderr


def test_an_odd_batch_splits_over_two_processes(tmp_path):
    result = ok(run_mpi(["-m", "nlp", "train", *SMALL, "--out", str(tmp_path), "--steps", "3",
                         "--batch-size", "7", "--eval-every", "1000"]))
    assert result.stdout.count("trained 3 steps") == 1


def test_an_error_on_one_process_ends_the_job_at_once(tmp_path):
    start = time.monotonic()
    result = run_mpi(["-m", "tests.nlp.train_worker", *SMALL, "--out", str(tmp_path), "--steps", "2"],
                     env={"BREAK_RANK": "1"}, timeout=60)
    assert time.monotonic() - start < 30  # not the collectives' 30-minute timeout
    assert result.returncode == 2
    assert "error: " in result.stderr and "/nonexistent/train.jsonl" in result.stderr


def test_mpiexec_without_mpi4py_is_refused_instead_of_training_n_unaware_copies(tmp_path):
    script = ("import sys; sys.modules['mpi4py'] = None\n"  # as if mpi4py were not installed
              "from nlp.cli import main\n"
              f"sys.exit(main(['train', *{SMALL!r}, '--out', {str(tmp_path)!r}, '--steps', '2']))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PMI_RANK": "0", "PMI_SIZE": "2"}  # as mpiexec sets
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: started by mpiexec, but minigrad.distributed needs mpi4py")
    assert 'pip install "minigrad[mpi]"' in result.stderr
    assert not (tmp_path / ckpt.STATE).exists()


def _state_step(folder: Path) -> int:
    try:
        return int(mg.load(folder / ckpt.STATE)["step"])
    except (FileNotFoundError, ValueError):
        return 0


def test_a_killed_job_resumes_from_its_last_checkpoint_as_if_never_stopped(tmp_path):
    args = SMALL + ["--steps", "30", "--checkpoint-every", "2", "--eval-every", "1000", "--dropout", "0"]
    straight = ok(run_mpi(["-m", "nlp", "train", *args, "--out", str(tmp_path / "straight")]))
    assert "trained 30 steps" in straight.stdout
    split = tmp_path / "split"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [MPIEXEC, "-n", "2", sys.executable, "-m", "nlp", "train", *args, "--out", str(split)]
    job = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 60
    while _state_step(split) < 4 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # mpiexec and both ranks, mid-run
    job.wait(timeout=30)
    saved = _state_step(split)  # the checkpoint on disk is complete: it loads
    assert 4 <= saved < 30
    resumed = ok(run_mpi(["-m", "nlp", "train", *args, "--out", str(split), "--resume"]))
    assert "trained 30 steps" in resumed.stdout
    a, b = mg.load(tmp_path / "straight" / ckpt.STATE), mg.load(split / ckpt.STATE)
    assert b["history"]["loss"] == a["history"]["loss"]
    for name, value in a["model"].items():
        assert (b["model"][name].numpy() == value.numpy()).all(), name


def _exact_run(folder: Path, model: str, processes: int) -> tuple[dict, list[float]]:
    args = ["-m", "tests.nlp.exact_worker", model, str(folder)]
    if processes == 1:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
        ok(subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120))
    else:
        ok(run_mpi(args, n=processes))
    weights = {k: v.numpy() for k, v in mg.load(folder / "model.npz").items()}
    return weights, json.loads((folder / "loss.json").read_text())


@pytest.mark.parametrize("model", ["rnn", "transformer", "clause"])
def test_two_processes_train_exactly_as_one_process_on_the_whole_batch(tmp_path, model):
    """Unequal shares (split by cost), each loss weighed by its share of the batch's loss terms
    (target tokens; rows for the clause model), a last batch of one pair for two processes:
    in float64 the parameters and the logged losses are one process's, to rounding."""
    one, one_loss = _exact_run(tmp_path / "one", model, 1)
    two, two_loss = _exact_run(tmp_path / "two", model, 2)
    assert len(two_loss) == len(one_loss) == 6
    np.testing.assert_allclose(two_loss, one_loss, rtol=1e-12)
    start = mg.load(tmp_path / "one" / "start.npz")
    still = [name for name, value in one.items() if np.allclose(value, start[name].numpy())]
    # (at most one may stay: a clause-score bias shifts every clause's score alike, so the loss
    # does not depend on it)
    assert len(still) <= 1, f"{still} never moved: the comparison would prove little"
    for name, value in one.items():
        np.testing.assert_allclose(two[name], value, rtol=0, atol=1e-10, err_msg=name)
