"""PyTorch for the tests that compare against it, and only for those.

PyTorch is not a test dependency (``pip install -e ".[test]"`` leaves it out), so a test
module must not skip itself as a whole when it is missing: its gradchecks, learning tests
and bad-input tests need only minigrad. Import ``torch`` from here (``None`` without
PyTorch) and mark each test that compares against it with ``@requires_torch``.
"""

from __future__ import annotations

import pytest

try:
    import torch
except ImportError:
    torch = None

requires_torch = pytest.mark.skipif(
    torch is None, reason="compares against PyTorch, which is not installed (pip install torch)"
)

__all__ = ["requires_torch", "torch"]
