"""``mpiexec -n N python -m tests.nlp.train_worker ARGS…``: ``python -m nlp train ARGS…`` on
every rank, recording which files each rank creates or renames into place; each rank ends
by printing one line ``{"rank": R, "writes": [...]}``. With ``BREAK_RANK=R`` in the
environment, rank R alone is given a training file that does not exist."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from mpi4py import MPI

from nlp.cli import main

writes: set[str] = set()
# numba's on-disk cache of compiled kernels (minigrad.kernels): every rank that compiles a
# kernel first stores it, atomically; not a file of the training run.
_JIT_CACHE = (".nbi", ".nbc")


def _spy(module, name: str, path_of) -> None:
    original = getattr(module, name)

    def spying(*args, **kwargs):
        result = original(*args, **kwargs)
        name = os.path.basename(path_of(args, kwargs, result))
        if not name.endswith(_JIT_CACHE):
            writes.add(name)
        return result

    setattr(module, name, spying)


_spy(os, "replace", lambda args, kw, result: str(args[1]))
_spy(os, "mkdir", lambda args, kw, result: str(args[0]))
_spy(tempfile, "mkstemp", lambda args, kw, result: result[1])

def _argv() -> list[str]:
    """The arguments, except that on rank $BREAK_RANK (if set) --data names a missing file."""
    args = sys.argv[1:]
    if os.environ.get("BREAK_RANK") == str(MPI.COMM_WORLD.Get_rank()):
        args[args.index("--data") + 1] = "/nonexistent/train.jsonl"
    return args


if __name__ == "__main__":
    code = main(["train", *_argv()])
    print(json.dumps({"rank": MPI.COMM_WORLD.Get_rank(), "writes": sorted(writes)}), flush=True)
    sys.exit(code)
