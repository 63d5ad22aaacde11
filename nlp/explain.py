"""The picture of what the summariser read and copied (``summarize --explain PNG``).

:func:`draw_explanation` draws a :class:`nlp.summarizer.Explanation`: a heat map of the
attention weights (one row per summary token, one column per source token) and, for
the copy model, a bar per row with the probability that the token was copied. Chinese
labels need a font with CJK glyphs; :func:`find_cjk_font` looks for one among the fonts
installed on the system (e.g. Debian's ``fonts-noto-cjk`` or ``fonts-wqy-microhei``).
Without one, the axes are labelled with token positions instead and one
:class:`FontWarning` says how to get the characters. Needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import TYPE_CHECKING, Any

from minigrad.serialization import atomic_write

if TYPE_CHECKING:
    from .summarizer import Explanation

__all__ = ["draw_explanation", "find_cjk_font", "FontWarning", "PlotUnavailableError"]

# Files whose names say CJK are tried first, so a usual system finds its font at once.
_CJK_NAME_HINTS = ("cjk", "wqy", "wenquanyi", "han", "droidsansfallback", "uming", "ukai", "simhei",
                   "simsun", "msyh", "yahei", "pingfang", "hiragino", "arphic")
_POSITION_EVERY = 5  # with positions as labels, label every 5th


class FontWarning(UserWarning):
    """No installed font can draw the text's characters: the picture shows positions."""


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailableError(
            "drawing the picture needs matplotlib: pip install -e \".[plot]\" (or pip install matplotlib)"
        ) from None
    return plt


@functools.lru_cache(maxsize=1)
def _font_files() -> tuple[str, ...]:
    from matplotlib import font_manager

    found = set(font_manager.findSystemFonts()) | {f.fname for f in font_manager.fontManager.ttflist}
    hinted = lambda path: not any(h in os.path.basename(path).lower() for h in _CJK_NAME_HINTS)  # noqa: E731
    return tuple(sorted(found, key=lambda path: (hinted(path), path)))


@functools.lru_cache(maxsize=64)
def _charmap(path: str) -> frozenset[int]:
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
        return frozenset()


def find_cjk_font(chars: str) -> str | None:
    """The path of an installed font that has a glyph for every non-ASCII character of
    ``chars`` (None when no font has them all). Only files matplotlib can open are
    considered: system font folders and matplotlib's own fonts."""
    needed = {ord(c) for c in chars if ord(c) > 0x7F and not c.isspace()}
    if not needed:
        return None
    for path in _font_files():
        if needed <= _charmap(path):
            return path
    return None


def _labels(tokens: list[str], as_text: bool) -> list[str]:
    if as_text:
        return tokens
    return [str(i) if i % _POSITION_EVERY == 0 else "" for i in range(len(tokens))]


def draw_explanation(explanation: Explanation, path: str | os.PathLike, font: str | None = None) -> bool:
    """Draw ``explanation`` into the PNG file ``path`` (written atomically). ``font`` is a
    font file for the labels (default: :func:`find_cjk_font`). Returns True when the
    axes show the tokens themselves, False when they show positions (after one
    :class:`FontWarning`)."""
    plt = _pyplot()
    from matplotlib.font_manager import FontProperties

    e = explanation
    chars = "".join(e.source) + "".join(e.summary_tokens)
    needs_font = any(ord(c) > 0x7F and not c.isspace() for c in chars)
    font = font or (find_cjk_font(chars) if needs_font else None)
    as_text = font is not None or not needs_font
    if not as_text:
        warnings.warn(
            "no installed font can draw these characters, so the picture labels token positions "
            "instead; for the characters themselves install a CJK font (Debian/Ubuntu: "
            "apt-get install fonts-noto-cjk, or fonts-wqy-microhei) and run again",
            FontWarning, stacklevel=2,
        )
    props = FontProperties(fname=font) if font else FontProperties()
    S, T = len(e.source), len(e.summary_tokens)
    width = min(max(2.5 + 0.14 * S, 6.0), 26.0)
    height = min(max(2.0 + 0.28 * T, 3.5), 14.0)
    fig = plt.figure(figsize=(width, height), dpi=100)
    try:
        side = max(3.0, 0.12 * S)  # width of the p(copy) panel, in source columns
        columns = [S, side, 0.25 * side] if e.p_copy is not None else [S, 0.25 * side]
        grid = fig.add_gridspec(1, len(columns), width_ratios=columns, wspace=0.08)
        ax = fig.add_subplot(grid[0])
        image = ax.imshow(e.attention, aspect="auto", cmap="Blues", vmin=0.0, interpolation="nearest")
        ax.set_xticks(range(S), _labels(e.source, as_text), fontproperties=props, fontsize=7)
        ax.set_yticks(range(T), _labels(e.summary_tokens, as_text), fontproperties=props, fontsize=8)
        ax.set_xlabel("source token" if as_text else "source position")
        ax.set_ylabel("summary token" if as_text else "summary position")
        ax.set_title("attention while writing each summary token", fontsize=10)
        fig.colorbar(image, cax=fig.add_subplot(grid[-1]), label="attention weight")
        if e.p_copy is not None:
            bars = fig.add_subplot(grid[1], sharey=ax)
            bars.barh(range(T), e.p_copy, color="tab:orange")
            bars.set_xlim(0.0, 1.0)
            bars.set_xlabel("p(copy)")
            bars.tick_params(labelleft=False)
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return as_text
