"""Functional checks of assignment 5, called by the grader as ``check(submission, **args)``."""

from __future__ import annotations


def beats_unigram(hw, margin: float, steps: int) -> str:
    """The attention model, trained ``steps`` steps on the demo corpus, predicts held-out
    characters better than character frequencies do, by at least ``margin`` nats."""
    model_loss, unigram_loss = hw.train_char_model(train_steps=steps)
    assert model_loss < unigram_loss - margin, (
        f"held-out loss {model_loss:.3f} after {steps} steps; the unigram model's is "
        f"{unigram_loss:.3f}, and the attention model must be below {unigram_loss - margin:.3f}"
    )
    return f"held-out loss {model_loss:.3f} vs unigram {unigram_loss:.3f} after {steps} steps"
