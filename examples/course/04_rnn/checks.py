"""Functional checks of assignment 4, called by the grader as ``check(submission, **args)``."""

from __future__ import annotations


def recalls_first_bit(hw, accuracy: float, steps: int, seq_len: int) -> str:
    """An RNN built on the submission's Function, trained ``steps`` Adam steps, recalls the
    first of ``seq_len`` bits with at least ``accuracy``."""
    got = hw.train_first_bit(train_steps=steps, seq_len=seq_len)
    assert got >= accuracy, (
        f"accuracy {got:.3f} after {steps} steps on {seq_len}-bit sequences; needs ≥ {accuracy:g} "
        "(check how ∂L/∂h_t flows back to h_(t−1))"
    )
    return f"accuracy {got:.3f} after {steps} steps (≥ {accuracy:g})"
