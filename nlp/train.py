"""Training a summariser: the loop, dev evaluation, best/last checkpoints, resume.

``train(TrainConfig(...))`` is what ``python -m nlp train`` runs. The loop:

* builds (or, with ``resume``, reloads) the vocabulary, model, Adam optimizer and a
  warmup + cosine learning-rate schedule;
* walks the training set in length-bucketed batches whose order depends only on
  ``(seed, epoch)``, so a resumed run sees exactly the batches it would have seen;
* every ``eval_every`` steps decodes ``eval_samples`` dev pairs greedily, records
  character ROUGE, and keeps the weights with the best ROUGE-L as the model folder's
  ``model.npz``; it also writes the training state (model, optimizer, schedule, RNG,
  progress, history) for ``resume`` and redraws the loss/ROUGE curve;
* with ``objective="gap-sentence"`` it trains on pseudo-pairs made from the texts alone
  (:mod:`nlp.pretrain`); with ``init`` it starts from another model folder's weights and
  vocabulary (fine-tuning a pretrained model), after checking that they fit this run;
* on SIGTERM or Ctrl-C it finishes the current step, writes the training state and
  returns (a second Ctrl-C stops at once), so resuming loses nothing.

Under ``mpiexec -n N`` (with mpi4py installed) the run is data-parallel: every process forms
the same global batches as one process would and cuts each into N shares of equal cost
(:func:`nlp.data.split_batch`: pairs of similar target length together, so each share pads
little, and the share sizes chosen so that the processes take as long as each other); the
global batch stays ``batch_size``. Each process weighs its loss by its share of the global
batch's loss terms (target tokens), so the gradients that
:class:`~minigrad.nn.parallel.DistributedDataParallel` averages are exactly those of one
process on the whole batch. Only rank 0 evaluates, writes files (checkpoints, curves) and
shows the progress bar; the logged loss and tokens/s are over all ranks.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import platform
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn, optim

from . import checkpoint as ckpt
from .curves import plot_history
from .data import Batch, DataError, batches, collate, encode_pairs, read_jsonl, split_batch
from .metrics import corpus_rouge
from .models import ModelConfig, build_model, is_clause_end
from .pretrain import OBJECTIVES, gap_sentence_pairs
from .summarizer import Summarizer, TruncationWarning
from .tokenizer import Tokenizer
from .vocab import Vocab

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "Trainer", "train"]


@dataclass
class TrainConfig:
    """Everything a training run needs: data, schedule and limits here, the architecture in
    ``model`` (its data-dependent fields are filled in by :meth:`model_config`). Either
    ``steps`` or ``epochs`` bounds the run (``steps`` wins when both are given)."""

    data: str
    out: str
    dev: str | None = None
    device: str = "cpu"
    tokenizer: str = "char"
    steps: int | None = None
    epochs: int | None = 10
    batch_size: int = 64
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup: int = 100
    clip: float = 2.0
    eval_every: int = 200
    eval_samples: int = 300
    checkpoint_every: int | None = None  # default: at every evaluation
    max_src_len: int = 150
    max_tgt_len: int = 30
    min_freq: int = 2
    max_vocab: int | None = 20000
    seed: int = 0
    resume: bool = False
    max_train: int | None = None  # use only the first N training pairs (quick runs)
    progress: bool = True
    objective: str = "summary"  # or "gap-sentence": pseudo-pairs from the texts (nlp.pretrain)
    gap_sentences: int = 1  # gap-sentence: pseudo-pairs per text
    init: str | None = None  # a model folder to start from (its weights and vocabulary)
    model: ModelConfig = field(default_factory=ModelConfig)  # the architecture to train

    def model_config(self, vocab: Vocab) -> ModelConfig:
        """``model`` completed with what the data decides: vocabulary size, the clause-ending
        tokens' ids (clause model) and enough positions for the longest sequence."""
        picks_clauses = self.model.model == "clause"
        ends = [i for i, t in enumerate(vocab.tokens) if is_clause_end(t)] if picks_clauses else []
        return replace(
            self.model, vocab_size=len(vocab), clause_end_ids=ends,
            max_positions=max(self.max_src_len, self.max_tgt_len + 2) + 8,
        )


@dataclass
class TrainResult:
    step: int
    interrupted: bool
    best: dict[str, Any] | None
    history: dict[str, list] = field(default_factory=dict)
    seconds: float = 0.0
    rank: int = 0  # which process of a distributed run this is (only rank 0 reports)


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop stops after the current step. A second SIGINT
    raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _read_rows(cfg: TrainConfig, path: str, max_rows: int | None = None) -> tuple[list[dict], list[dict]]:
    """The file's rows, and the pairs the run trains (or is scored) on: the same rows, or
    gap-sentence pseudo-pairs made from their texts (summaries are then optional: not trained on,
    only counted in the vocabulary when present)."""
    if cfg.objective == "summary":
        rows = read_jsonl(path, max_rows=max_rows)
        return rows, rows
    rows = read_jsonl(path, max_rows=max_rows, fields=("text",))
    pairs = gap_sentence_pairs((r["text"] for r in rows), cfg.gap_sentences, max_chars=cfg.max_tgt_len)
    return rows, list(pairs)


def _vocab_tokens(rows: list[dict], tok: Tokenizer) -> Iterator[list[str]]:
    """The tokens of each row's text and summary (when it has one). A gap-sentence run counts
    the summaries too, so that it builds the vocabulary a summary run on the same file builds:
    the models fine-tuned from it then decode together with models trained directly."""
    for r in rows:
        summary = r.get("summary")
        yield tok(r["text"]) + (tok(summary) if isinstance(summary, str) else [])


# settings that shape no weight: they may differ between a pretrained model and its fine-tuning
_TRAINING_ONLY = frozenset({"dropout", "coverage", "label_smoothing"})


def _differences(have: ModelConfig, want: ModelConfig) -> list[str]:
    """The architecture settings in which ``have`` (the --init model) differs from ``want``."""
    return [f"{f.name} {getattr(have, f.name)!r} (this run: {getattr(want, f.name)!r})"
            for f in fields(ModelConfig)
            if f.name not in _TRAINING_ONLY and getattr(have, f.name) != getattr(want, f.name)]


def _init_vocab(cfg: TrainConfig, out: Path) -> tuple[Vocab, ckpt.ModelMeta]:
    """The vocabulary of the --init folder and this run's settings on it, after checking that
    the folder holds a model of the same type and tokenizer."""
    folder = Path(cfg.init)
    if folder.resolve() == out.resolve():
        raise TrainConfigError(f"--init and --out are the same folder ({folder}): write the fine-tuned "
                               "model to another one")
    init = ckpt.read_meta(folder)
    vocab = ckpt.read_vocab(folder, init)
    if init.model.model != cfg.model.model or init.tokenizer != cfg.tokenizer:
        raise ckpt.ModelDirError(
            f"--init {folder} holds a {init.model.model} model with the {init.tokenizer!r} tokenizer; "
            f"this run trains a {cfg.model.model} model with {cfg.tokenizer!r}: give --model "
            f"{init.model.model} --tokenizer {init.tokenizer}, or another --init folder"
        )
    meta = ckpt.ModelMeta(cfg.model_config(vocab), cfg.tokenizer, cfg.max_src_len, cfg.max_tgt_len)
    return vocab, meta


def _prepare_vocab(
    cfg: TrainConfig, out: Path, rows: list[dict], tok: Tokenizer
) -> tuple[Vocab, ckpt.ModelMeta]:
    if cfg.init and not cfg.resume:  # (a resumed run's folder already holds the --init vocabulary)
        return _init_vocab(cfg, out)
    if cfg.resume:
        meta = ckpt.read_meta(out)
        vocab = ckpt.read_vocab(out, meta)
        if meta.tokenizer != cfg.tokenizer or meta.model.model != cfg.model.model:
            raise ckpt.ModelDirError(
                f"--resume: {out} holds a {meta.model.model} model with the {meta.tokenizer!r} tokenizer, "
                f"not {cfg.model.model}/{cfg.tokenizer!r}"
            )
        return vocab, meta
    vocab = Vocab.build(
        _vocab_tokens(rows, tok),
        min_freq=cfg.min_freq, max_size=cfg.max_vocab, mode=cfg.tokenizer,
    )
    meta = ckpt.ModelMeta(cfg.model_config(vocab), cfg.tokenizer, cfg.max_src_len, cfg.max_tgt_len)
    return vocab, meta


# glibc's malloc returns a large block (above a threshold that it raises as blocks are freed)
# to the OS when it is freed, and trims the top of its heap; a training step frees arrays of
# megabytes that the next step allocates again, each time paying the page faults of fresh
# memory. Keeping freed memory for reuse made a step of the summariser 11% cheaper in CPU time
# (and the shares of a data-parallel step equal: the share with more pairs paid more faults).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
KEEP_BYTES = 2**30
OLD_GLIBC_MMAP_LIMIT = 32 * 2**20  # the largest mmap threshold glibc before 2.35 accepts (64-bit)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep the memory a training step frees for the next one: blocks up to
    1 GiB (32 MiB on old glibc) come from its heap, and up to 1 GiB of free heap stays with the
    process. Whether it applied (False where the C library is not glibc)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    mmap = libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) or libc.mallopt(M_MMAP_THRESHOLD, OLD_GLIBC_MMAP_LIMIT)
    return bool(mmap) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))


def _rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


class TrainConfigError(ValueError):
    """A setting that cannot work for this run (e.g. a batch that does not split over the processes)."""


def _check_batch_splits(batch_size: int, world: int) -> None:
    """Each process needs at least one pair of every full global batch."""
    if batch_size < world:
        raise TrainConfigError(f"--batch-size {batch_size} is smaller than the {world} processes: each "
                               f"process needs at least one pair of a batch; give at least {world}")


def _total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    if cfg.steps is not None:
        return cfg.steps
    if cfg.epochs is None:
        raise ValueError("give steps or epochs")
    return cfg.epochs * batches_per_epoch


class Trainer:
    """One training run (see the module docstring); :func:`train` drives it."""

    def __init__(self, cfg: TrainConfig, callback: Callable[[Trainer], None] | None = None) -> None:
        self.cfg, self.callback = cfg, callback
        self.device = mg.Device(cfg.device)  # fails here, before any work, without CuPy/GPU
        self.rank, self.world = _rank_and_world()
        self.writes = self.rank == 0  # only one process writes files and reports
        _check_batch_splits(cfg.batch_size, self.world)
        self.out = Path(cfg.out)
        self.tok = Tokenizer(cfg.tokenizer)
        if cfg.objective not in OBJECTIVES:
            raise TrainConfigError(f"objective must be one of {OBJECTIVES}, got {cfg.objective!r}")
        rows, pairs = _read_rows(cfg, cfg.data, max_rows=cfg.max_train)
        if not pairs:
            raise DataError(f"{cfg.data} holds no training pairs" if cfg.objective == "summary" else
                            f"{cfg.data} holds no text of two sentences or clauses to make gap-sentence "
                            "pairs of")
        self.dev_rows = _read_rows(cfg, cfg.dev)[1][: cfg.eval_samples] if cfg.dev else []
        if cfg.resume and not (self.out / ckpt.STATE).is_file():
            raise ckpt.ModelDirError(f"--resume: {self.out} holds no training state ({ckpt.STATE})")
        if self.writes:
            self.out.mkdir(parents=True, exist_ok=True)
        self.vocab, self.meta = _prepare_vocab(cfg, self.out, rows, self.tok)
        self.train_set = encode_pairs(pairs, self.tok, self.vocab, cfg.max_src_len, cfg.max_tgt_len)
        self.batches_per_epoch = math.ceil(len(self.train_set) / cfg.batch_size)
        self.total_steps = _total_steps(cfg, self.batches_per_epoch)
        mg.manual_seed(cfg.seed)
        self.model = build_model(self.meta.model).to(self.device)
        if cfg.init and not cfg.resume:
            self._load_init(Path(cfg.init))
        self.optimizer = optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.schedule = optim.lr_scheduler.WarmupCosine(
            self.optimizer, min(cfg.warmup, max(self.total_steps // 10, 1)), max(self.total_steps, 1),
            min_lr=cfg.min_lr,
        )
        self.step = 0
        self.history: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "rouge-1": [],
                                          "rouge-2": [], "rouge-l": [], "seconds": []}
        self.best: dict[str, Any] | None = None
        self.elapsed = 0.0  # training seconds before this process (resume)
        if cfg.resume:
            self._restore()
        elif self.writes:
            ckpt.write_json(self.out / ckpt.CONFIG, self.meta.to_dict())
            self.vocab.save(self.out / ckpt.VOCAB)
        # what a training step calls: the model itself, or on several processes a wrapper
        # that starts from rank 0's weights and averages gradients after backward
        self.parallel = nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else self.model

    def _load_init(self, folder: Path) -> None:
        """Start from the --init folder's weights, naming the settings that differ when they do not fit."""
        try:
            ckpt.load_weights(self.model, folder / ckpt.WEIGHTS, self.device)
        except ckpt.ModelDirError as e:
            diffs = _differences(ckpt.read_meta(folder).model, self.meta.model)
            if not diffs:  # the same settings: the weights file itself is the problem
                raise ckpt.ModelDirError(f"--init {folder}: {e}") from None
            raise ckpt.ModelDirError(
                f"--init {folder}: its weights do not fit the model this run builds; it differs in "
                f"{'; '.join(diffs)}. Give the same sizes as its training run (--emb-dim, "
                "--hidden-size, ...), or another --init folder"
            ) from None

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "rng": mg.get_rng_state(), "step": self.step,
            "history": self.history, "best": self.best, "elapsed": self.elapsed + self._run_seconds(),
            "vocab_fingerprint": ckpt.vocab_fingerprint(self.vocab),
        }

    def _run_seconds(self) -> float:
        return time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0

    def save_state(self) -> None:
        """Write the resumable training state (model, optimizer, schedule, RNG, progress);
        on rank 0 only, as every rank holds the same."""
        if self.writes:
            mg.save(self._state(), self.out / ckpt.STATE)

    def _restore(self) -> None:
        state = mg.load(self.out / ckpt.STATE, device=self.device)
        if state.get("vocab_fingerprint") != ckpt.vocab_fingerprint(self.vocab):
            raise ckpt.ModelDirError(f"{self.out / ckpt.STATE} was written with another vocabulary")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        mg.set_rng_state(state["rng"])
        self.step, self.history, self.best = int(state["step"]), state["history"], state["best"]
        self.elapsed = float(state["elapsed"])

    # --------------------------------------------------------------- evaluation
    def evaluate(self) -> dict[str, float]:
        """Greedy ROUGE on the dev subset; saves the model when it is the best so far. On
        rank 0 only: every rank holds the same weights, so the scores are one process's."""
        if not self.dev_rows or not self.writes:
            return {}
        summarizer = Summarizer(self.model, self.vocab, self.meta)
        with warnings.catch_warnings():  # dev texts beyond max_src_len are cut as in training
            warnings.simplefilter("ignore", TruncationWarning)
            hyps = summarizer.summarize([r["text"] for r in self.dev_rows], batch_size=100)
        self.model.train()
        scores = corpus_rouge(hyps, [r["summary"] for r in self.dev_rows])
        self.history["eval_step"].append(self.step)
        for k, v in scores.items():
            self.history[k].append(v)
        if self.best is None or scores["rouge-l"] > self.best["rouge-l"]:
            self.best = {"step": self.step, **scores}
            self.meta.best = self.best
            ckpt.save_model(self.out, self.model, self.vocab, self.meta)
        return scores

    def _checkpoint(self, evaluate: bool) -> dict[str, float]:
        scores = self.evaluate() if evaluate else {}
        self.save_state()
        if self.writes:
            plot_history(self.history, self.out / "curves.png")
        return scores

    # --------------------------------------------------------------------- loop
    def _batch_stream(self):
        """(epoch, global batch) pairs from the current step on; the order depends only on
        (seed, epoch), so resuming replays the same sequence."""
        epoch, skip = divmod(self.step, self.batches_per_epoch)
        while True:
            seed = self.cfg.seed * 1000 + epoch
            stream = batches(self.train_set, self.cfg.batch_size, shuffle=True, seed=seed)
            for i, batch in enumerate(stream):
                if i >= skip:
                    yield epoch, batch
            epoch, skip = epoch + 1, 0

    def _share(self, batch: Batch) -> tuple[Batch, float]:
        """This process's share of a global batch (:func:`nlp.data.split_batch`) and the weight
        of its loss: N × its part of the batch's loss terms, so that the mean over the N
        processes of the weighted losses is the loss of the whole batch. A batch with fewer
        pairs than processes (the last, short one) gives the processes left over its first
        pair with weight 0."""
        if self.world == 1:
            return batch, 1.0
        examples = [self.train_set[i] for i in batch.indices]
        shares = split_batch(examples, min(self.world, len(batch)), self.model.step_cost)
        positions = shares[self.rank] if self.rank < len(shares) else [0]
        indices = [batch.indices[k] for k in positions]
        share = collate([self.train_set[i] for i in indices], indices=indices)
        if self.rank >= len(shares):
            return share, 0.0
        return share, self.world * self.model.loss_terms(share) / self.model.loss_terms(batch)

    def _train_step(self, batch: Batch) -> float:
        """One optimizer step on a global batch; returns this process's part of its loss
        (the loss of the batch on one process)."""
        share, weight = self._share(batch)
        self.optimizer.zero_grad()
        loss = self.parallel(share) * weight
        loss.backward()
        if self.cfg.clip:
            optim.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        self.schedule.step()
        self.step += 1
        return loss.item() / self.world

    def run(self) -> TrainResult:
        cfg = self.cfg
        every = cfg.checkpoint_every or cfg.eval_every
        keep_freed_memory()
        self._t0 = time.perf_counter()
        self.model.train()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (cfg.progress and self.writes),
                   unit="step", dynamic_ncols=True)
        tokens, tick, smooth = 0, time.perf_counter(), None
        interrupted = False
        with _StopFlag() as stop:
            stream = self._batch_stream()
            while self.step < self.total_steps:
                epoch, batch = next(stream)
                loss = self._train_step(batch)
                if self.callback is not None:
                    self.callback(self)
                loss, stopping = self._over_all_ranks(loss, stop.signal is not None)
                smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
                tokens += int(batch.src_mask.sum()) + batch.num_tgt_tokens
                self.history["step"].append(self.step)
                self.history["loss"].append(loss)
                self.history["seconds"].append(self.elapsed + self._run_seconds())
                rate = tokens / max(time.perf_counter() - tick, 1e-9)
                bar.set_postfix(epoch=epoch + 1, loss=f"{smooth:.3f}", tok_s=f"{rate:.0f}", refresh=False)
                bar.update(1)
                if self.step % cfg.eval_every == 0 or self.step == self.total_steps:
                    scores = self._checkpoint(evaluate=True)
                    if scores:  # (rank 0 only)
                        bar.write(f"step {self.step}: dev ROUGE-1/2/L {scores['rouge-1']:.1f} / "
                                  f"{scores['rouge-2']:.1f} / {scores['rouge-l']:.1f} (best R-L "
                                  f"{self.best['rouge-l']:.1f} at step {self.best['step']})")
                elif self.step % every == 0:
                    self._checkpoint(evaluate=False)
                if stopping:  # on every rank at the same step
                    interrupted = True
                    self.save_state()
                    if self.writes:
                        bar.write(f"interrupted at step {self.step}: training state saved in {self.out}; "
                                  "continue with --resume")
                    break
        bar.close()
        if self.best is None and not interrupted and self.writes:  # no dev set: the last weights
            ckpt.save_model(self.out, self.model, self.vocab, self.meta)
        seconds = self.elapsed + self._run_seconds()
        return TrainResult(self.step, interrupted, self.best, self.history, seconds, self.rank)

    def _over_all_ranks(self, loss: float, stopping: bool) -> tuple[float, bool]:
        """The loss of the global batch (the sum of the processes' parts) and whether any
        process was asked to stop (so that all stop after the same step): one small
        all-reduce per step."""
        if self.world == 1:
            return loss, stopping
        total = dist.all_reduce(mg.tensor([loss, stopping], dtype=mg.float64), op="sum").tolist()
        return total[0], total[1] > 0


@contextlib.contextmanager
def _process_group() -> Iterator[None]:
    """The MPI process group for one run, when mpi4py is installed (or mpiexec started this
    process) and none is set up yet (one process without mpiexec; N under ``mpiexec -n N``).
    After an error on several processes it stays up, so that the caller can report the error
    and then end the other processes (``mg.distributed.abort``) instead of leaving them
    waiting for this one."""
    if dist.is_initialized() or not (dist.is_available() or dist.launched_by_mpiexec()):
        yield
        return
    try:
        dist.init_process_group()
    except RuntimeError as e:  # started by mpiexec without mpi4py: N copies would each train alone
        raise TrainConfigError(f"started by mpiexec, but {e}") from None
    try:
        yield
    except BaseException:
        if dist.get_world_size() == 1:
            dist.destroy_process_group()
        raise
    dist.destroy_process_group()


def train(cfg: TrainConfig, callback: Callable[[Trainer], None] | None = None) -> TrainResult:
    """Run (or resume) training as ``cfg`` says; ``callback(trainer)`` runs after every step.
    Started by ``mpiexec -n N``, the N processes train one model together (module docstring)."""
    with _process_group():
        return Trainer(cfg, callback).run()
