"""summariser: one training step of the nlp summariser at its default size (``python -m nlp
train``'s defaults: the GRU model with attention and copy, batch 64, Adam, gradient clipping),
on a batch of real text. Reported in tokens/s (source + target tokens, as the trainer counts
them). minigrad only: there is no hand-written NumPy or PyTorch twin of this model to
compare with, so there is no equality check either."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import minigrad as mg
from benchmarks.harness import Problem, Workload
from minigrad import optim
from nlp.data import batches, encode_pairs, read_jsonl
from nlp.models import ModelConfig, build_model
from nlp.tokenizer import Tokenizer
from nlp.train import TrainConfig
from nlp.vocab import Vocab

DEMO = Path(__file__).resolve().parents[2] / "nlp" / "corpus" / "demo.jsonl"


@dataclass(frozen=True)
class Config:
    batch: int = TrainConfig.batch_size
    hidden: int = ModelConfig.hidden_size
    model: str = ModelConfig.model
    data: str = str(DEMO)  # JSON Lines pairs; the vocabulary is built from them as training does


def make_problem(config: Config, seed: int) -> Problem:
    train = TrainConfig(data=config.data, out="", batch_size=config.batch, seed=seed,
                        model=ModelConfig(model=config.model, hidden_size=config.hidden))
    rows = read_jsonl(config.data)
    tok = Tokenizer(train.tokenizer)
    vocab = Vocab.build((tok(r["text"]) + tok(r["summary"]) for r in rows),
                        min_freq=train.min_freq, max_size=train.max_vocab, mode=train.tokenizer)
    encoded = encode_pairs(rows, tok, vocab, train.max_src_len, train.max_tgt_len)
    batch = next(batches(encoded, train.batch_size, shuffle=True, seed=seed))
    tokens = int(batch.src_mask.sum()) + batch.num_tgt_tokens
    return Problem(config, {}, {"batch": batch, "train": train, "vocab": vocab}, tokens=tokens)


class MinigradSummariser:
    """``nlp.train.Trainer``'s step: zero_grad, loss = model(batch), backward, clip, Adam."""

    def __init__(self, problem: Problem, device: str) -> None:
        train = problem.data["train"]
        mg.manual_seed(train.seed)
        self.model = build_model(train.model_config(problem.data["vocab"])).to(device)
        self.model.train()
        self.optimizer = optim.Adam(self.model.parameters(), lr=train.lr)
        self.clip = train.clip
        self.batch = problem.data["batch"]

    def step(self) -> float:
        self.optimizer.zero_grad()
        loss = self.model(self.batch)
        loss.backward()
        optim.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss.item()

    def grads(self) -> dict:
        return {k: p.grad for k, p in self.model.named_parameters() if p.grad is not None}


WORKLOAD = Workload(
    name="summariser",
    description="nlp summariser training step (python -m nlp train defaults), tokens/s",
    unit="step",
    default=Config(),
    smoke=Config(batch=4, hidden=16),
    make_problem=make_problem,
    impls={"minigrad": MinigradSummariser},
)
