"""Layers check dtypes as PyTorch does: an input whose dtype differs from the layer's
parameters is a clear error naming the layer and both dtypes, never a silent promotion;
plain Tensor arithmetic keeps NumPy's promotion."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

E = 4


def _layers():
    """(layer, a float64 call of it) for every layer that owns the check."""
    x64 = mg.randn(3, 2, E, dtype=mg.float64)
    return {
        "Linear": (nn.Linear(E, 2), lambda m: m(x64)),
        "LayerNorm": (nn.LayerNorm(E), lambda m: m(x64)),
        "MultiHeadAttention": (nn.MultiHeadAttention(E, 2), lambda m: m(x64, x64, x64)),
        "TransformerEncoderLayer": (nn.TransformerEncoderLayer(E, 2, 8), lambda m: m(x64)),
        "TransformerDecoderLayer": (nn.TransformerDecoderLayer(E, 2, 8), lambda m: m(x64, x64)),
        "Transformer": (nn.Transformer(E, 2, 1, 1, 8), lambda m: m(x64, x64)),
        "RNN": (nn.RNN(E, 3), lambda m: m(x64)),
        "GRU": (nn.GRU(E, 3, batch_first=True), lambda m: m(x64)),
        "LSTM": (nn.LSTM(E, 3), lambda m: m(x64)),
        "GRUCell": (nn.GRUCell(E, 3), lambda m: m(x64[0])),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_float64_input_to_float32_layer_names_layer_and_both_dtypes(name):
    layer, call = _layers()[name]
    with pytest.raises(TypeError, match=rf"^{name}\(.*float64.*float32.*astype\(mg\.float32\)") as info:
        call(layer)
    assert ".to(mg.float64)" in str(info.value)


@pytest.mark.parametrize("name", list(_layers()))
def test_layer_converted_to_the_input_dtype_accepts_it(name):
    layer, call = _layers()[name]
    out = call(layer.double())
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == mg.float64


def test_float32_input_to_float64_layer_raises_too():
    with pytest.raises(TypeError, match=r"input has dtype float32 but the layer's parameters are float64"):
        nn.Linear(3, 2).double()(mg.randn(1, 3))


def test_integer_input_to_linear_suggests_converting_the_input_only():
    with pytest.raises(TypeError, match=r"int64.*astype\(mg\.float32\)$"):
        nn.Linear(3, 2)(mg.tensor([[1, 2, 3]]))


def test_decoder_layer_names_memory():
    layer = nn.TransformerDecoderLayer(E, 2, 8)
    with pytest.raises(TypeError, match="memory has dtype float64"):
        layer(mg.randn(3, 2, E), mg.randn(3, 2, E, dtype=mg.float64))


@pytest.mark.parametrize("which", ["key", "value"])
def test_attention_names_the_mismatched_argument(which):
    x = mg.randn(3, 2, E)
    args = {"query": x, "key": x, "value": x, which: x.astype(mg.float64)}
    with pytest.raises(TypeError, match=f"{which} has dtype float64"):
        nn.MultiHeadAttention(E, 2)(**args)


def test_float_mask_of_another_dtype_raises_but_bool_masks_pass():
    x = mg.randn(3, 2, E)
    mha = nn.MultiHeadAttention(E, 2)
    mask64 = np.triu(np.full((3, 3), -np.inf), 1)  # NumPy builds float64 masks by default
    with pytest.raises(TypeError, match="attn_mask has dtype float64"):
        mha(x, x, x, attn_mask=mask64)
    with pytest.raises(TypeError, match="key_padding_mask has dtype float64"):
        mha(x, x, x, key_padding_mask=np.zeros((2, 3)))
    out, _ = mha(x, x, x, attn_mask=np.triu(np.ones((3, 3), dtype=bool), 1))
    assert out.dtype == mg.float32


def test_embedding_float_ids_name_the_layer_and_point_to_max_dim():
    logits = mg.randn(2, 5)
    _, not_ids = logits.max(1)  # NumPy's meaning: values, not PyTorch's (values, indices)
    with pytest.raises(TypeError, match=r"^Embedding\(5, 2\): ids must be integers, got dtype float32.*"
                                        r"x\.max\(dim=d\) returns \(values, indices\)"):
        nn.Embedding(5, 2)(not_ids)


def test_layer_norm_without_parameters_accepts_any_float_dtype():
    ln = nn.LayerNorm(E, elementwise_affine=False)
    assert ln(mg.randn(2, E, dtype=mg.float64)).dtype == mg.float64


def test_plain_arithmetic_keeps_numpy_promotion():
    a, b = mg.randn(2), mg.randn(2, dtype=mg.float64)
    assert (a + b).dtype == mg.float64
    assert (a * 2.0).dtype == mg.float32
