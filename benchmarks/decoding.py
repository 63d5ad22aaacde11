"""Summarising throughput of a trained model: texts per second, greedy and beam search.

``python -m benchmarks.decoding --model runs/lcsts --data ../shared/data/lcsts_dev.jsonl``

This is what ``python -m nlp summarize --input FILE`` spends its time on: the texts are
decoded by :meth:`nlp.summarizer.Summarizer.summarize_batches` in batches of similar
length. Every beam size decodes the same texts after one untimed warm-up batch; the
table shows texts/s and milliseconds per text. ``--clock cpu --threads 1`` measures
process CPU time on one BLAS thread, which other processes' load does not change.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/decoding.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.frameworks import limit_threads  # noqa: E402
from benchmarks.harness import CLOCKS  # noqa: E402
from nlp.summarize_file import read_texts  # noqa: E402
from nlp.summarizer import Summarizer  # noqa: E402

__all__ = ["measure", "main"]


def measure(summarizer: Summarizer, texts: list[str], beam_size: int, batch_size: int, clock: str) -> float:
    """Seconds (by ``clock``) to summarise ``texts`` with ``beam_size`` beams."""
    now = CLOCKS[clock]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # long texts are cut to the model's maximum, as in use
        summarizer.summarize(texts[:batch_size], beam_size=beam_size, batch_size=batch_size)  # warm-up
        start = now()
        summarizer.summarize(texts, beam_size=beam_size, batch_size=batch_size)
        return now() - start


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.decoding", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a model folder (python -m nlp train --out ...)")
    p.add_argument("--data", required=True, help="JSON Lines rows with a \"text\" field")
    p.add_argument("--limit", type=int, default=300, help="texts to summarise (default 300)")
    p.add_argument("--beams", default="1,4", help="comma-separated beam sizes (1: greedy)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="BLAS threads (default: NumPy's own choice)")
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                   help="wall: elapsed time; cpu: process CPU time (meaningful with --threads 1)")
    p.add_argument("--json", metavar="PATH", help="also write the measurements to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    rows, _ = read_texts(args.data)
    texts = [r["text"] for r in rows[: args.limit]]
    summarizer = Summarizer.load(args.model, args.device)
    results = []
    print(f"{len(texts)} texts from {args.data}, batch {args.batch_size}, {args.clock} clock, "
          f"threads {args.threads or 'default'}, device {args.device}")
    print("| decoding | texts/s | ms/text |\n|---|---:|---:|")
    for beam in (int(b) for b in args.beams.split(",")):
        seconds = measure(summarizer, texts, beam, args.batch_size, args.clock)
        name = "greedy" if beam == 1 else f"beam {beam}"
        results.append({"decoding": name, "beam": beam, "texts": len(texts), "seconds": seconds,
                        "texts_per_s": len(texts) / seconds})
        print(f"| {name} | {len(texts) / seconds:.1f} | {1000 * seconds / len(texts):.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
