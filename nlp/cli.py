"""``python -m nlp train|evaluate|summarize|demo`` (also installed as ``minigrad-summarize``).

Every error a user can cause (bad data line, wrong model folder, empty text, a device
that is not there) is printed as one ``error: …`` line and exits with status 2; an
interrupted training run exits with 128 + the signal number after saving its state.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import minigrad as mg

from .checkpoint import ModelDirError
from .consensus import Consensus
from .data import DataError, read_jsonl
from .models import MODEL_TYPES, ModelConfig
from .pretrain import OBJECTIVES
from .summarizer import EmptyTextError, Summarizer, TruncationWarning
from .tokenizer import MODES
from .train import TrainConfig, TrainConfigError, train

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


class UserError(Exception):
    """An error to report in one line (exit status 2), not as a traceback."""


def _device(spec: str) -> mg.Device:
    """The device, or a UserError saying what is missing (before any other work)."""
    try:
        return mg.Device(spec)
    except (RuntimeError, ValueError) as e:
        raise UserError(str(e)) from None


def _count(minimum: int):
    """An argparse type: an int that is at least ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    parse.__name__ = "int"  # argparse names the type in its error message
    return parse


def _add_search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=_count(1), default=4, help="beam size (1: greedy)")
    p.add_argument("--length-penalty", type=float, help="beam search ranks finished summaries by "
                   "log-probability / length**this (default: the summariser's, see docs/summariser.md)")
    p.add_argument("--no-repeat-ngram", type=_count(0), help="never repeat an n-gram of this size "
                   "(0: off; default: 2 with beam search, 0 greedy)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, action="append", metavar="FOLDER",
                   help="model folder; repeat (--model A --model B) to decode with several models")
    p.add_argument("--combine", choices=("ensemble", "consensus"), default="ensemble",
                   help="with several models: ensemble (mix their distributions at every step; they "
                   "must share the vocabulary) or consensus (each proposes its beam's summaries and "
                   "the one that agrees best with the others is chosen; see docs/summariser.md)")


def _load(args: argparse.Namespace, device: Any) -> Summarizer | Consensus:
    if args.combine == "consensus":
        if len(args.model) < 2:
            raise UserError("--combine consensus chooses among several models' summaries: give --model "
                            "at least twice")
        return Consensus.load(args.model, device)
    return Summarizer.load(args.model, device)


def _search_options(args: argparse.Namespace) -> dict[str, Any]:
    """The search settings given on the command line (the others keep the summariser's defaults)."""
    given = {"length_penalty": args.length_penalty, "no_repeat_ngram_size": args.no_repeat_ngram}
    return {k: v for k, v in given.items() if v is not None}


# ----------------------------------------------------------------------------- train
_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"model"}  # model: the ModelConfig
_DEFAULTS = {f.name: f.default for f in (*fields(ModelConfig), *fields(TrainConfig)) if f.name != "model"}
_DEFAULTS["model"] = ModelConfig.model


def _add_train_args(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    p.add_argument("--data", required=True, help="training pairs, JSON Lines {text, summary} "
                   "(with --objective gap-sentence, {text} is enough)")
    p.add_argument("--dev", help="dev pairs for ROUGE during training (best checkpoint by ROUGE-L)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--model", choices=MODEL_TYPES, default=d["model"],
                   help="rnn: GRU + attention + copy; transformer; clause: learned clause picker")
    p.add_argument("--tokenizer", choices=MODES, default=d["tokenizer"])
    p.add_argument("--objective", choices=OBJECTIVES, default=d["objective"],
                   help="summary: learn the data's summaries; gap-sentence: pretrain on the texts alone, "
                   "writing back the sentence taken out of each (then fine-tune with --init)")
    p.add_argument("--gap-sentences", type=_count(1), default=d["gap_sentences"],
                   help="gap-sentence: pseudo-pairs per text (its best sentences, one taken out in each)")
    p.add_argument("--init", metavar="FOLDER", help="start from this model folder's weights and vocabulary "
                   "(e.g. a gap-sentence pretraining run); the architecture settings must match it, "
                   "--min-freq and --max-vocab do not apply")
    p.add_argument("--steps", type=int, help="optimizer steps (overrides --epochs)")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["lr"], help="peak learning rate (Adam, warmup + cosine)")
    p.add_argument("--min-lr", type=float, default=d["min_lr"])
    p.add_argument("--warmup", type=int, default=d["warmup"])
    p.add_argument("--clip", type=float, default=d["clip"], help="gradient norm clip (0: off)")
    p.add_argument("--eval-every", type=int, default=d["eval_every"], help="steps between dev evaluations")
    p.add_argument("--eval-samples", type=int, default=d["eval_samples"], help="dev pairs per evaluation")
    p.add_argument("--checkpoint-every", type=int, help="steps between training-state saves "
                   "(default: at every evaluation)")
    p.add_argument("--max-src-len", type=int, default=d["max_src_len"])
    p.add_argument("--max-tgt-len", type=int, default=d["max_tgt_len"])
    p.add_argument("--min-freq", type=int, default=d["min_freq"])
    p.add_argument("--max-vocab", type=int, default=d["max_vocab"])
    p.add_argument("--emb-dim", type=int, default=d["emb_dim"])
    p.add_argument("--hidden-size", type=int, default=d["hidden_size"], help="GRU size / d_model")
    p.add_argument("--layers", type=int, default=d["layers"], help="transformer layers")
    p.add_argument("--heads", type=int, default=d["heads"], help="transformer heads")
    p.add_argument("--ff-size", type=int, default=d["ff_size"], help="transformer feed-forward size")
    p.add_argument("--dropout", type=float, default=d["dropout"])
    p.add_argument("--no-copy", dest="copy", action="store_false", help="turn the copy mechanism off")
    p.add_argument("--coverage", type=float, default=d["coverage"], help="rnn: coverage loss weight (0: off)")
    p.add_argument("--label-smoothing", type=float, default=d["label_smoothing"],
                   help="rnn/transformer: label smoothing epsilon (0: off)")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--max-train", type=int, help="use only the first N training pairs")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def cmd_train(args: argparse.Namespace) -> int:
    _device(args.device)
    given = vars(args)
    try:
        model = ModelConfig(**{k: v for k, v in given.items() if k in _MODEL_FIELDS})
    except ValueError as e:
        raise UserError(str(e)) from None
    cfg = TrainConfig(**{k: v for k, v in given.items() if k in _TRAIN_FIELDS}, model=model)
    result = train(cfg)
    if result.interrupted:
        return 130
    if result.rank != 0:  # a distributed run reports once, from rank 0
        return 0
    best = result.best
    summary = (f"best dev ROUGE-1/2/L {best['rouge-1']:.1f} / {best['rouge-2']:.1f} / {best['rouge-l']:.1f} "
               f"at step {best['step']}" if best else "no dev set given")
    print(f"trained {result.step} steps in {result.seconds / 60:.1f} min; {summary}; model in {cfg.out}")
    return 0


# -------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_systems, format_table

    device = _device(args.device)
    rows = read_jsonl(args.data, max_rows=args.limit)
    if not rows:
        raise UserError(f"{args.data} holds no pairs")
    summarizer = _load(args, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # long texts are expected here; truncation is the model's setting
        results = evaluate_systems(summarizer, rows, beam_size=args.beam, **_search_options(args))
    print(format_table(results, f"{args.data}: {len(rows)} pairs, character ROUGE F1 (x100)"))
    return 0


# ------------------------------------------------------------------------- summarize
def _check_one_source(args: argparse.Namespace) -> None:
    given = [name for name, value in (("a text", args.text), ("--file", args.file), ("--input", args.input))
             if value is not None]
    if len(given) > 1:
        raise UserError(f"give only one of a text, --file or --input (got {' and '.join(given)})")
    if args.input is not None and args.explain:
        raise UserError("--explain draws the picture for one text: give the text (or --file), not --input")
    if args.explain and args.combine == "consensus":
        raise UserError("--explain shows what one model read: give one --model, or an ensemble "
                        "(--combine ensemble)")
    if args.input is None and (args.output is not None or args.skip_bad):
        raise UserError("--output and --skip-bad go with --input FILE (a JSON Lines file to summarise)")


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return args.text
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                return f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read {args.file}: {e}") from None
    return sys.stdin.read()


def _print_caught(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)


def _summarize_one(args: argparse.Namespace, summarizer: Summarizer | Consensus) -> int:
    text = _read_text(args)
    if not text.strip():
        raise UserError("the text is empty or only whitespace: nothing to summarise")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        summary = summarizer.summarize(text, beam_size=args.beam, **_search_options(args))
    _print_caught(caught)
    if not summary.strip():
        print("(the model produced no summary for this text: it may hold nothing the model "
              "can read, e.g. only emoji or an unfamiliar script)", file=sys.stderr)
        return 0
    print(summary)
    if args.explain:
        _explain(args, summarizer, text)
    return 0


def _explain(args: argparse.Namespace, summarizer: Summarizer, text: str) -> None:
    from .explain import FontWarning, PlotUnavailableError, draw_explanation

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", TruncationWarning)  # reported with the summary already
        warnings.simplefilter("always", FontWarning)
        try:
            explanation = summarizer.explain(text, beam_size=args.beam, **_search_options(args))
            draw_explanation(explanation, args.explain)
        except (PlotUnavailableError, ValueError) as e:
            raise UserError(str(e)) from None
    _print_caught(caught)
    print(f"attention picture written to {args.explain}", file=sys.stderr)


def _summarize_whole_file(args: argparse.Namespace, summarizer: Summarizer | Consensus) -> int:
    from .summarize_file import summarize_file

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        result = summarize_file(summarizer, args.input, args.output, beam_size=args.beam,
                                batch_size=args.batch_size, skip_bad=args.skip_bad, progress=args.progress,
                                **_search_options(args))
    _print_caught(caught)
    where = "standard output" if args.output == "-" else args.output
    print(f"summarised {result.written} texts into {where}", file=sys.stderr)
    if result.skipped:
        print(f"skipped {len(result.skipped)} bad lines:", file=sys.stderr)
        for e in result.skipped:
            print(f"  {e}", file=sys.stderr)
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    device = _device(args.device)
    _check_one_source(args)
    summarizer = _load(args, device)
    if args.input is not None:
        args.output = args.output or "-"
        return _summarize_whole_file(args, summarizer)
    return _summarize_one(args, summarizer)


# ------------------------------------------------------------------------------ demo
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _device(args.device)
    run_demo(args.out, args.device, steps=args.steps, show=args.show)
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nlp", description="Chinese summarisation on minigrad")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, fn, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
        p.set_defaults(fn=fn)
        return p

    _add_train_args(command("train", cmd_train, "train a summariser"))
    p = command("evaluate", cmd_evaluate, "score a model against Lead and TextRank")
    _add_model_args(p)
    p.add_argument("--data", required=True, help="JSON Lines pairs to score on")
    _add_search_args(p)
    p.add_argument("--limit", type=int, help="score only the first N pairs")
    p = command("summarize", cmd_summarize, "summarise a text (argument, --file or stdin) or a "
                "JSON Lines file (--input)")
    _add_model_args(p)
    p.add_argument("text", nargs="?", help="the text (default: read stdin)")
    p.add_argument("--file", help="read the text from this UTF-8 file")
    p.add_argument("--input", help="JSON Lines file of {\"text\": ...} rows to summarise (-: stdin)")
    p.add_argument("--output", help="with --input: where to write the rows with their \"summary\" "
                   "(-: stdout, the default); written atomically")
    p.add_argument("--skip-bad", action="store_true",
                   help="with --input: leave out malformed lines and list them at the end")
    p.add_argument("--explain", metavar="PNG", help="also draw the attention over the text and the "
                   "probability of copying at each summary token into this PNG (needs matplotlib)")
    p.add_argument("--batch-size", type=_count(1), default=64, help="texts decoded together")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    _add_search_args(p)
    p = command("demo", cmd_demo, "train a small model on the bundled demo corpus and show it")
    p.add_argument("--out", help="where to keep the demo model (default: a temporary folder)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the demo recipe)")
    p.add_argument("--show", type=int, default=8, help="held-out paragraphs to print")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (UserError, DataError, ModelDirError, EmptyTextError, TrainConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        if mg.distributed.is_initialized() and mg.distributed.get_world_size() > 1:
            mg.distributed.abort(EXIT_USAGE)  # the other processes would wait for this one
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
