"""``python -m minigrad.course release SOURCE OUT`` — student starters from solutions.

SOURCE is a course folder (its sub-folders holding a grading.toml are the assignments) or
one assignment folder. Each assignment is copied to OUT/<assignment>/ with every ``.py``
file's solution blocks replaced by a stub that raises::

    def backward(ctx, grad):                def backward(ctx, grad):
        (x,) = ctx.saved_tensors                (x,) = ctx.saved_tensors
        # BEGIN SOLUTION              ->        # YOUR CODE HERE
        return grad * x.sigmoid()               raise NotImplementedError("write this part")
        # END SOLUTION

(the convention of nbgrader and Otter-Grader). Everything else is copied as it is, so the
starters are generated, never hand-copied: fix a solution and release again.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .grading import SPEC_NAME

__all__ = ["strip_solutions", "find_assignments", "release", "ReleaseError", "main"]

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
_STUB = ("# YOUR CODE HERE", 'raise NotImplementedError("write this part")')
_SKIPPED = {"__pycache__", ".pytest_cache", ".hypothesis"}


class ReleaseError(Exception):
    """A solution file is malformed (unbalanced markers, or a starter that does not compile)."""


def strip_solutions(source: str, name: str = "<solution>") -> str:
    """``source`` with each BEGIN/END SOLUTION block replaced by a raising stub, indented
    as its BEGIN marker. The result must still compile (it is checked)."""
    out: list[str] = []
    begin_line = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin_line is not None:
                raise ReleaseError(f"{name}:{number}: {BEGIN} inside the block opened at line {begin_line}")
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(f"{indent}{stub}\n" for stub in _STUB)
        elif marker == END:
            if begin_line is None:
                raise ReleaseError(f"{name}:{number}: {END} without a {BEGIN} before it")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ReleaseError(f"{name}:{begin_line}: {BEGIN} is never closed by {END}")
    starter = "".join(out)
    try:
        compile(starter, name, "exec")
    except SyntaxError as e:
        raise ReleaseError(f"{name}: the starter does not compile once solutions are removed: {e}") from e
    return starter


def find_assignments(source: Path) -> list[Path]:
    """The assignment folders under ``source`` (itself, if it holds a grading spec)."""
    if (source / SPEC_NAME).is_file():
        return [source]
    found = sorted(p.parent for p in source.glob(f"*/{SPEC_NAME}"))
    if not found:
        raise ReleaseError(f"no assignment in {str(source)!r}: no folder there holds a {SPEC_NAME}")
    return found


def release(source: str | Path, out: str | Path) -> list[Path]:
    """Write the student version of every assignment under ``source`` into ``out``
    (replacing an earlier release there); returns the folders written. Nothing is written
    unless every solution file is well-formed and ``out`` is outside the assignments."""
    source, out = Path(source), Path(out)
    assignments = find_assignments(source)
    plans = [(folder, out / folder.name, _starter_files(folder)) for folder in assignments]
    for folder, target, _ in plans:
        if target.resolve().is_relative_to(folder.resolve()):
            raise ReleaseError(f"cannot release {str(folder)!r} into {str(target)!r}: that would "
                               "overwrite the solutions; choose an OUT outside the assignments")
    for _, target, files in plans:
        if target.exists():
            shutil.rmtree(target)
        for relative, content in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copy2(content, path)
            else:
                path.write_text(content, encoding="utf-8")
    return [target for _, target, _ in plans]


def _starter_files(folder: Path) -> dict[Path, str | Path]:
    """Relative path -> stripped text (Python files) or the file to copy (anything else)."""
    files: dict[Path, str | Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_dir() or _SKIPPED.intersection(relative.parts):
            continue
        if path.suffix == ".py":
            files[relative] = strip_solutions(path.read_text(encoding="utf-8"), str(path))
        else:
            files[relative] = path
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigrad.course",
                                     description="Course tools: release student starters from solutions.")
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="write student starters (solution blocks removed)")
    rel.add_argument("source", help="the course folder, or one assignment folder")
    rel.add_argument("out", help="where the starters go (OUT/<assignment>/)")
    args = parser.parse_args(argv)
    try:
        written = release(args.source, args.out)
    except (ReleaseError, OSError) as e:
        print(f"minigrad.course: {e}", file=sys.stderr)
        return 2
    for folder in written:
        print(f"released {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
