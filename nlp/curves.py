"""The training curve picture: loss per step and dev ROUGE per evaluation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from minigrad.serialization import atomic_write

__all__ = ["plot_history"]

_warned = False


def _smooth(values: list[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < window or window < 2:
        return v
    kernel = np.ones(window) / window
    return np.convolve(v, kernel, mode="valid")


def plot_history(history: dict[str, list], path: Path) -> bool:
    """Draw ``history`` (keys ``step``, ``loss``, ``eval_step``, ``rouge-*``) to a PNG at
    ``path``; returns False (warning once) when matplotlib is not installed."""
    global _warned
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not _warned:
            warnings.warn("matplotlib is not installed: no training curve is drawn "
                          "(pip install matplotlib)", stacklevel=2)
            _warned = True
        return False
    if not history.get("step"):
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    window = max(1, len(history["loss"]) // 50)
    loss = _smooth(history["loss"], window)
    ax.plot(history["step"][len(history["step"]) - len(loss):], loss, color="tab:blue", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (NLL per token)", color="tab:blue")
    if history.get("eval_step"):
        ax2 = ax.twinx()
        for key, colour in (("rouge-1", "tab:green"), ("rouge-2", "tab:orange"), ("rouge-l", "tab:red")):
            ax2.plot(history["eval_step"], history[key], marker="o", ms=3, color=colour, label=f"dev {key}")
        ax2.set_ylabel("dev ROUGE F1 (chars, x100)")
        ax2.legend(loc="lower right")
    ax.legend(loc="upper right")
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return True
