"""``python -m tests.nlp.exact_worker MODEL OUT`` (alone, or under ``mpiexec -n N``): a few
steps of ``nlp.train.Trainer`` on a small model in float64, without dropout, so that runs on
different numbers of processes can be compared to rounding; rank 0 saves the parameters
before and after (``OUT/start.npz``, ``OUT/model.npz``) and the logged losses
(``OUT/loss.json``). The 41 pairs at batch 8 end each epoch with a batch of one pair, fewer
than two processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import minigrad as mg
import minigrad.distributed as dist
from nlp.demo import DEMO_CORPUS
from nlp.models import ModelConfig
from nlp.train import TrainConfig, Trainer

STEPS = 6


def main(model: str, out: Path) -> None:
    dist.init_process_group(timeout=60)
    cfg = TrainConfig(data=str(DEMO_CORPUS), out=str(out / "run"), max_train=41, batch_size=8, steps=STEPS,
                      eval_every=10**6, warmup=2, max_tgt_len=12, progress=False,
                      model=ModelConfig(model=model, emb_dim=16, hidden_size=16, dropout=0.0, layers=1,
                                        heads=2, ff_size=32))
    trainer = Trainer(cfg)
    trainer.model.double()
    if dist.get_rank() == 0:
        mg.save(trainer.model.state_dict(), out / "start.npz")
    result = trainer.run()
    if dist.get_rank() == 0:
        mg.save(trainer.model.state_dict(), out / "model.npz")
        (out / "loss.json").write_text(json.dumps(result.history["loss"]))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
