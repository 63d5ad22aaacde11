"""matmul: 1-D, 2-D and batched operands, batch dimensions broadcast."""

from __future__ import annotations

import operator

import numpy as np
from hypothesis import strategies as st

from minigrad.ops import MatMul
from minigrad.testing import broadcastable_shapes

from ._opcheck import OpCase, floats

_SIDE = st.integers(1, 4)


@st.composite
def _matmul_case(draw, device):
    """(a, b) with a: (…, n, k) or (k,) and b: (…, k, m) or (k,); the batch dims of the
    two broadcast against each other (size-1 and missing dims included)."""
    n, k, m = draw(_SIDE), draw(_SIDE), draw(_SIDE)
    batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    a_shape = (k,) if draw(st.booleans()) else batch_a + (n, k)
    b_shape = (k,) if draw(st.booleans()) else batch_b + (k, m)
    return draw(floats(device, shape=a_shape)), draw(floats(device, shape=b_shape))


CASES = [OpCase("matmul", (MatMul,), operator.matmul, np.matmul, _matmul_case, rtol=1e-9, max_examples=50)]
