"""Half-precision inputs: float16 everywhere MindSpore computes it, bfloat16 where the device does.

The attention modules cast their float32 weights to the input's dtype and keep
the softmax in float32; whole layers and the ViT go to half precision the
MindSpore way, ``cell.to_float(mindspore.float16)``.  Measured with MindSpore 2.10
on CPU: float16 (and float64) work; bfloat16 has no CPU MatMul/BatchMatMul/Softmax
kernel, so it is refused up front with a TypeError naming the dtypes that work
(tests/model/test_errors.py).
"""
import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from support import randomize, tensor

ON_CPU = mindspore.get_context("device_target") == "CPU"
HALF = [mindspore.float16] + ([] if ON_CPU else [mindspore.bfloat16])
HALF_ATOL = {mindspore.float16: 5e-3, mindspore.bfloat16: 5e-2}


def _f64(t):
    return t.astype(mindspore.float32).asnumpy().astype(np.float64)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return tensor(rng.standard_normal((2, 5, 16))), tensor(rng.standard_normal((2, 7, 16)))


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("cls", [mm.MultiHeadAttention, mm.PerHeadAttention])
def test_attention_modules_take_half_inputs(cls, dtype):
    module = randomize(cls(16, 4), 1)
    query, memory = _inputs()
    float_padding = tensor(np.where(mm.key_padding_mask([7, 4], 7).asnumpy(), -np.inf, 0.25)).astype(dtype)
    for call in (lambda q, m: module(q, is_causal=True),
                 lambda q, m: module(q, m, m, key_padding_mask=float_padding)):
        full_out, full_weights = call(query, memory)
        out, weights = call(query.astype(dtype), memory.astype(dtype))
        assert out.dtype == dtype and weights.dtype == dtype
        assert np.abs(_f64(out) - full_out.asnumpy()).max() < HALF_ATOL[dtype]
        assert np.abs(_f64(weights) - full_weights.asnumpy()).max() < HALF_ATOL[dtype]


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_half_attention_under_jit_and_gradients_finite(dtype):
    mha = randomize(mm.MultiHeadAttention(16, 4), 2)
    query = _inputs()[0].astype(dtype)
    eager, _ = mha(query, None, None, mm.key_padding_mask([5, 2], 5))
    jitted, _ = mindspore.jit(mha.construct)(query, None, None, mm.key_padding_mask([5, 2], 5))
    assert jitted.dtype == dtype
    np.testing.assert_allclose(_f64(jitted), _f64(eager), rtol=0, atol=HALF_ATOL[dtype])

    def loss(x):
        return mha(x, is_causal=True)[0].astype(mindspore.float32).sum()

    grads = mindspore.value_and_grad(loss, 0, mha.trainable_params())(query)[1]
    assert grads[0].dtype == dtype and np.isfinite(_f64(grads[0])).all()
    assert all(np.isfinite(g.asnumpy()).all() for g in grads[1])


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_layers_and_vit_in_half_precision_with_to_float(dtype):
    layer = randomize(mm.EncoderLayer(16, 4, mlp_ratio=2.0), 3)
    x = _inputs()[0]
    full, _ = layer(x, is_causal=True)
    layer.to_float(dtype)
    half, weights = layer(x.astype(dtype), is_causal=True)
    assert half.dtype == dtype and weights.dtype == dtype
    assert np.abs(_f64(half) - full.asnumpy()).max() < 10 * HALF_ATOL[dtype]

    mm.seed_everything(4)
    vit = mm.VisionTransformer(**{**mm.VIT_PRESETS["digits"], "image_size": (8, 12)})
    vit.set_train(False)
    images = tensor(np.random.default_rng(5).random((2, 1, 8, 12)))
    full_logits = vit(images)
    vit.to_float(dtype)
    logits = vit(images.astype(dtype))
    assert logits.dtype == dtype
    assert np.abs(_f64(logits) - full_logits.asnumpy()).max() < 10 * HALF_ATOL[dtype]


def test_float64_inputs_keep_their_dtype():
    mha = randomize(mm.MultiHeadAttention(16, 4), 6)
    query = _inputs()[0]
    out, weights = mha(query.astype(mindspore.float64), is_causal=True)
    full_out, _ = mha(query, is_causal=True)
    assert out.dtype == mindspore.float64 and weights.dtype == mindspore.float64
    np.testing.assert_allclose(out.asnumpy(), full_out.asnumpy(), rtol=0, atol=1e-5)


@pytest.mark.skipif(ON_CPU, reason="MindSpore's CPU kernels have no bfloat16 MatMul: refused there "
                                   "(test_errors.py::test_bfloat16_refused_on_cpu_with_a_clear_error)")
def test_bfloat16_is_let_through_off_cpu():
    assert mindspore.bfloat16 in mm.model.functional.compute_dtypes()
