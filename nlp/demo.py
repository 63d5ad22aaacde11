"""``python -m nlp demo``: train a small summariser on the bundled demo corpus, then show
it on held-out paragraphs next to their references, with ROUGE against Lead."""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

from .data import read_jsonl
from .evaluate import evaluate_systems, format_table
from .extractive import lead
from .models import ModelConfig
from .summarizer import Summarizer
from .train import TrainConfig, train

__all__ = ["DEMO_CORPUS", "run_demo", "demo_config"]

DEMO_CORPUS = Path(__file__).resolve().parent / "corpus" / "demo.jsonl"
HOLD_OUT_EVERY = 10  # every 10th paragraph is held out: 27 of 275


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def demo_config(data: Path, dev: Path, out: Path, device: str, steps: int | None) -> TrainConfig:
    """The demo recipe: a small character model that trains in about 30 s on 2 idle cores."""
    return TrainConfig(
        data=str(data), dev=str(dev), out=str(out), device=device, tokenizer="char",
        steps=steps or 800, batch_size=16, lr=3e-3, warmup=30, eval_every=100, eval_samples=1000,
        min_freq=1, max_src_len=160, max_tgt_len=25,
        model=ModelConfig(emb_dim=96, hidden_size=192, dropout=0.1),
    )


def run_demo(out: str | None, device: str = "cpu", steps: int | None = None, show: int = 8) -> dict:
    """Train on the demo corpus minus every 10th paragraph, then print held-out summaries
    and the ROUGE table; returns the table as ``{system: scores}``."""
    rows = read_jsonl(DEMO_CORPUS)
    held = rows[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
    train_rows = [r for i, r in enumerate(rows) if (i + 1) % HOLD_OUT_EVERY]
    with tempfile.TemporaryDirectory(prefix="nlp-demo-") as tmp:
        folder = Path(out) if out else Path(tmp) / "model"
        folder.mkdir(parents=True, exist_ok=True)
        data, dev = folder / "demo_train.jsonl", folder / "demo_heldout.jsonl"
        _write_jsonl(data, train_rows)
        _write_jsonl(dev, held)
        print(f"training a small GRU + copy model on {len(train_rows)} demo paragraphs "
              f"({len(held)} held out) ...")
        start = time.perf_counter()
        train(demo_config(data, dev, folder, device, steps))
        print(f"trained in {time.perf_counter() - start:.0f} s\n")
        summarizer = Summarizer.load(folder, device)
        texts = [r["text"] for r in held]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hyps = summarizer.summarize(texts, beam_size=4)
        for r, hyp in list(zip(held, hyps))[:show]:
            print(f"text:      {r['text']}\nreference: {r['summary']}")
            print(f"model:     {hyp}\nLead:      {lead(r['text'])}\n")
        results = evaluate_systems(summarizer, held, beam_size=4)
        print(format_table(results, f"held-out demo paragraphs ({len(held)}), character ROUGE F1 (x100)"))
        if not out:
            print("\n(the demo model was temporary; pass --out DIR to keep it)")
    return dict(results)
