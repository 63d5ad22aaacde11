"""Data-parallel scaling of the summariser: ``mpiexec -n N python -m nlp train`` against one
process, at the same global batch, each process on one BLAS thread.

    python -m benchmarks.distributed [--data PATH.jsonl] [--max-train 2560] [--batch-size 64]
                                     [--epochs 1] [--processes 2] [--json PATH] [--plot PATH.png]

Both runs train the same model from the same initial weights for the same epochs of the same
pairs (the N-process run cuts each global batch of ``--batch-size`` into N shares, as
``nlp.train`` does), so both process the same tokens; the ratio of tokens/s is the speed-up.
It is given on the wall clock and on the CPU clock: the sum over steps of the step's largest
per-process CPU time outside all-reduce calls (the critical path of the computation if every
process had a core to itself), which other programs' load on a shared machine does not
inflate, nor a process polling while it waits for another. Every run goes through
``nlp.train.train``, as ``python -m nlp train`` does. Printed: tokens/s of each run, the
speed-up, the time per step spent in all-reduce calls (gradient buckets plus the one small
reduce of loss/stop per step), split into waiting for the slower process to enter each call
and the collective itself (from the machine-wide clock, read on entry and exit by every
process), the time of one all-reduce of every gradient alone, and how close the two loss
curves are; ``--plot`` draws both curves.

The worker mode (``--worker OUT.json``) is what each run executes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "nlp" / "corpus" / "demo.jsonl"
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ------------------------------------------------------------------------------ a run
def _now() -> float:
    """The machine-wide monotonic clock: its readings compare between processes on one machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _timed_all_reduce(dist) -> list[list[float]]:
    """Record each all-reduce call made from now on: [start, end, CPU seconds spent in it]."""
    calls: list[list[float]] = []
    original = dist.all_reduce

    def timed(tensor, op="sum"):
        start, cpu = _now(), time.process_time()
        try:
            return original(tensor, op)
        finally:
            calls.append([start, _now(), time.process_time() - cpu])

    dist.all_reduce = timed
    return calls


def _communication(everyone: list[list[list[float]]]) -> tuple[float, float]:
    """(waiting, moving): seconds, summed over the calls and averaged over the processes, that a
    process spent in all-reduce calls before the last process entered the call (waiting for
    it), and after (the collective itself). ``everyone``: each process's calls, in order."""
    waiting = moving = 0.0
    for calls in zip(*everyone):
        last_in = max(start for start, _, _ in calls)
        waiting += sum(last_in - start for start, _, _ in calls) / len(calls)
        moving += sum(end - last_in for _, end, _ in calls) / len(calls)
    return waiting, moving


def _epoch_tokens(trainer) -> int:
    """Source + target tokens of an epoch, counted as the trainer counts a batch's (both runs
    train on the same global batches)."""
    from nlp.data import collate

    return sum(int(b.src_mask.sum()) + b.num_tgt_tokens for b in (collate([e]) for e in trainer.train_set))


def _bare_all_reduce_seconds(dist, numel: int, repeats: int = 20) -> float:
    """Median time of one all-reduce of every gradient at once (float32), started together
    after a barrier: the communication alone, without waiting for a slower process."""
    import minigrad as mg

    flat = mg.zeros(numel)
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def worker(args: argparse.Namespace) -> None:
    import minigrad.distributed as dist
    from nlp.train import TrainConfig, train

    dist.init_process_group()
    calls = _timed_all_reduce(dist)
    stamps: list[float] = []
    cpu_stamps: list[float] = []
    tokens: list[int] = []
    numel: list[int] = []

    def callback(trainer) -> None:
        if not tokens:
            tokens.append(_epoch_tokens(trainer))
            numel.append(sum(p.data.size for p in trainer.model.parameters()))
        stamps.append(_now())
        cpu_stamps.append(time.process_time())

    start = _now()
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(data=args.data, out=out, epochs=args.epochs, batch_size=args.batch_size,
                          max_train=args.max_train, eval_every=10**9, progress=False, seed=0)
        result = train(cfg, callback)
    # the first step builds caches and pays one-off costs: time from its end to the last step's
    steps = len(stamps) - 1
    seconds = stamps[-1] - stamps[0]
    world = dist.get_world_size()
    timed = [c for c in calls if stamps[0] <= c[0] <= stamps[-1]]
    # each step's CPU time outside all-reduce calls (where a process polls while it waits): its
    # computation; a step ends when the slowest process ends it, so the critical path is the sum
    # over steps of the largest of them
    compute = [b - a - sum(cpu for start, _, cpu in timed if t0 <= start <= t1)
               for a, b, t0, t1 in zip(cpu_stamps, cpu_stamps[1:], stamps, stamps[1:])]
    critical_cpu = sum(max(times) for times in zip(*dist.all_gather_object(compute)))
    waiting, moving = _communication(dist.all_gather_object(timed))
    bare = _bare_all_reduce_seconds(dist, numel[0])
    if dist.get_rank() == 0:
        report = {
            "processes": world, "steps": result.step, "timed_steps": steps, "seconds": seconds,
            "total_seconds": _now() - start,
            "tokens_per_s": tokens[0] * args.epochs / result.step * steps / seconds,
            "cpu_tokens_per_s": tokens[0] * args.epochs / result.step * steps / critical_cpu,
            "all_reduce_s_per_step": sum(end - begin for begin, end, _ in timed) / steps,
            "all_reduce_calls_per_step": len(timed) / steps,
            "all_reduce_waiting_s_per_step": waiting / steps, "all_reduce_moving_s_per_step": moving / steps,
            "parameters": numel[0], "bare_all_reduce_s": bare,
            "loss": result.history["loss"], "load_average": os.getloadavg(),
        }
        Path(args.worker).write_text(json.dumps(report))


# ---------------------------------------------------------------------- orchestration
def _run(command: list[str], out: Path) -> dict:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    subprocess.run(command + ["--worker", str(out)], cwd=ROOT, env=env, check=True)
    return json.loads(out.read_text())


def _worker_command(args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "benchmarks.distributed", "--data", args.data, "--batch-size",
            str(args.batch_size), "--epochs", str(args.epochs), "--max-train", str(args.max_train)]


def _mpiexec() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else "mpiexec"


def _plot(one: dict, many: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = range(1, len(one["loss"]) + 1)
    ax.plot(steps, one["loss"], label="1 process", linewidth=2)
    ax.plot(steps, many["loss"], label=f"{many['processes']} processes (mpiexec)", linewidth=1,
            linestyle="--")
    ax.set_xlabel("step (global batch)")
    ax.set_ylabel("training loss")
    ax.set_title("summariser: one process vs data-parallel, same global batch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(_worker_command(args), Path(tmp) / "one.json")
        many = _run([_mpiexec(), "-n", str(args.processes)] + _worker_command(args), Path(tmp) / "many.json")
    gap = [abs(a - b) for a, b in zip(one["loss"], many["loss"])]
    result = {
        "one": one, "many": many, "speedup": many["tokens_per_s"] / one["tokens_per_s"],
        "cpu_speedup": many["cpu_tokens_per_s"] / one["cpu_tokens_per_s"],
        "loss_gap_max": max(gap), "loss_gap_last": gap[-1], "loss_first": one["loss"][0],
        "loss_last": one["loss"][-1],
    }
    print(f"summariser, global batch {args.batch_size}, {one['steps']} steps, one BLAS thread per process")
    print(f"  1 process:   {one['tokens_per_s']:8.0f} tokens/s  "
          f"({one['seconds'] / one['timed_steps']:.3f} s/step)")
    print(f"  {many['processes']} processes: {many['tokens_per_s']:8.0f} tokens/s  "
          f"({many['seconds'] / many['timed_steps']:.3f} s/step; all-reduce "
          f"{1000 * many['all_reduce_s_per_step']:.1f} ms/step in {many['all_reduce_calls_per_step']:.0f} "
          f"calls: {1000 * many['all_reduce_waiting_s_per_step']:.1f} ms waiting for the slower process, "
          f"{1000 * many['all_reduce_moving_s_per_step']:.1f} ms in the collectives themselves)")
    print(f"  one all-reduce of all {many['parameters']:,} gradients (float32), alone: "
          f"{1000 * many['bare_all_reduce_s']:.1f} ms")
    print(f"  speed-up: {result['speedup']:.2f}x on the wall clock; {result['cpu_speedup']:.2f}x on the CPU "
          "clock (each step's slowest process, outside all-reduce calls), which other programs' load "
          "does not inflate")
    print(f"  loss: {result['loss_first']:.3f} -> {result['loss_last']:.3f}; largest gap between the runs "
          f"{result['loss_gap_max']:.4f}, at the last step {result['loss_gap_last']:.4f}")
    print(f"  load average before/after: {one['load_average'][0]:.1f} / {many['load_average'][0]:.1f}")
    if args.plot:
        _plot(one, many, args.plot)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEMO), help="training pairs (JSON Lines)")
    p.add_argument("--max-train", type=int, default=2560, help="pairs used (one epoch = max-train / batch)")
    p.add_argument("--batch-size", type=int, default=64, help="the global batch")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--json", help="write every measurement here")
    p.add_argument("--plot", help="draw both loss curves into this PNG")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
