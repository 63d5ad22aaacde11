"""PyTorch's keyword names next to NumPy's: ``dim=`` for ``axis=``, ``keepdim=`` for ``keepdims=``.

minigrad's array functions are named the NumPy way; code ported from PyTorch spells the same
arguments the PyTorch way. ``numpy_keywords`` lets a function take either spelling, one
mechanism for every method and function that has an axis.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

Fn = TypeVar("Fn", bound=Callable[..., Any])

TORCH_TO_NUMPY = {"dim": "axis", "keepdim": "keepdims"}


def numpy_keywords(fn: Fn) -> Fn:
    """Let ``fn`` (whose parameters are NumPy's ``axis``/``keepdims``) also take PyTorch's
    ``dim``/``keepdim``. Giving both spellings of one argument is a TypeError. A PyTorch name
    that ``fn`` declares itself (``max(dim=…)`` means something of its own) is passed through
    unrenamed, after the same check."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def accepting_torch_names(*args: Any, **kwargs: Any) -> Any:
        if "dim" in kwargs or "keepdim" in kwargs:  # the rare path: NumPy names skip all of this
            kwargs = _renamed(fn.__name__, sig, args, kwargs)
        return fn(*args, **kwargs)

    return accepting_torch_names  # type: ignore[return-value]


def _renamed(name: str, sig: inspect.Signature, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    positional = sig.bind_partial(*args).arguments
    out = dict(kwargs)
    for torch_name, numpy_name in TORCH_TO_NUMPY.items():
        if torch_name not in out:
            continue
        if numpy_name in out or numpy_name in positional:
            raise TypeError(
                f"{name}() got both {numpy_name} and {torch_name} (PyTorch's name for {numpy_name}); "
                "pass only one of them"
            )
        if torch_name not in sig.parameters:
            out[numpy_name] = out.pop(torch_name)
    return out
