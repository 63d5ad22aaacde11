"""A tiny trained summariser shared by the tests that only need *a* model (seconds to train)."""

from __future__ import annotations

import pytest

from nlp.demo import DEMO_CORPUS
from nlp.models import ModelConfig
from nlp.train import TrainConfig, train


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A GRU + copy model folder trained for a few steps on the demo corpus."""
    out = tmp_path_factory.mktemp("tiny") / "model"
    train(TrainConfig(data=str(DEMO_CORPUS), dev=str(DEMO_CORPUS), out=str(out), max_train=40, steps=8,
                      batch_size=8, eval_every=4, eval_samples=4, max_src_len=60, max_tgt_len=10,
                      progress=False, model=ModelConfig(emb_dim=16, hidden_size=16)))
    return out
