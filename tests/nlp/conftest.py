"""A tiny trained summariser shared by the tests that only need *a* model (seconds to train)."""

from __future__ import annotations

import pytest

from nlp.demo import DEMO_CORPUS
from nlp.models import ModelConfig
from nlp.train import TrainConfig, train


def train_tiny(out, seed: int = 0, max_train: int = 40):
    """A GRU + copy model folder trained for a few steps on the first ``max_train`` pairs
    of the demo corpus."""
    train(TrainConfig(data=str(DEMO_CORPUS), dev=str(DEMO_CORPUS), out=str(out), max_train=max_train, steps=8,
                      batch_size=8, eval_every=4, eval_samples=4, max_src_len=60, max_tgt_len=10, seed=seed,
                      progress=False, model=ModelConfig(emb_dim=16, hidden_size=16)))
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model_2(tmp_path_factory):
    """Another tiny model with the same vocabulary, from another seed (for ensembles)."""
    return train_tiny(tmp_path_factory.mktemp("tiny2") / "model", seed=1)
