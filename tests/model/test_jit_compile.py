"""The fast path: mm.jit_compile and the scale argument of the attention."""
import math

import mindspore
import numpy as np
import pytest

import mhsa_ms as mm


def _tensor(shape, seed=0):
    return mindspore.Tensor(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def test_compile_cell_matches_eager_and_shares_parameters():
    mha = mm.MultiHeadAttention(12, 3)
    x = _tensor((2, 5, 12))
    fast = mm.jit_compile(mha)
    np.testing.assert_allclose(fast(x)[0].asnumpy(), mha(x)[0].asnumpy(), rtol=1e-5, atol=1e-6)
    assert fast(x, need_weights=False)[1] is None
    mindspore.ops.assign(mha.w_o, mindspore.Tensor(np.zeros((12, 12), np.float32)))  # in place, as optimizers do
    assert np.allclose(fast(x)[0].asnumpy(), mha.b_o.asnumpy())  # same parameters, not a copy


def test_compile_gradient_function_matches_eager():
    mha = mm.MultiHeadAttention(8, 2)
    x = _tensor((2, 3, 8), seed=1)

    def loss(inputs):
        return mha(inputs, need_weights=False)[0].sum()

    grad_fn = mindspore.value_and_grad(loss, None, mha.trainable_params())
    eager_loss, eager_grads = grad_fn(x)
    jit_loss, jit_grads = mm.jit_compile(grad_fn)(x)
    np.testing.assert_allclose(jit_loss.asnumpy(), eager_loss.asnumpy(), rtol=1e-5, atol=1e-5)
    for eager, jitted in zip(eager_grads, jit_grads):
        np.testing.assert_allclose(jitted.asnumpy(), eager.asnumpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model, level, error", [(lambda x: x, "O3", ValueError), (42, "O0", TypeError)])
def test_compile_rejects_bad_arguments(model, level, error):
    with pytest.raises(error, match="jit_level|model"):
        mm.jit_compile(model, jit_level=level)


@pytest.mark.parametrize("shape", [(2, 4, 6), (2, 3, 4, 6)])
def test_scale_argument_equals_scaling_q_first(shape):
    q, k, v = _tensor(shape, 2), _tensor(shape, 3), _tensor(shape, 4)
    out, weights = mm.scaled_dot_product_attention(q, k, v)
    scaled_out, scaled_weights = mm.scaled_dot_product_attention(q / math.sqrt(shape[-1]), k, v, scale=1.0)
    np.testing.assert_allclose(scaled_out.asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled_weights.asnumpy(), weights.asnumpy(), rtol=1e-5, atol=1e-6)
    half, _ = mm.scaled_dot_product_attention(q, k, v, scale=0.5)
    assert not np.allclose(half.asnumpy(), out.asnumpy(), atol=1e-4)


def test_attention_with_broadcast_batch_axes():
    q = _tensor((2, 3, 5, 4))
    k, v = _tensor((1, 3, 6, 4), 5), _tensor((1, 3, 6, 4), 6)  # batch axis broadcast
    out, weights = mm.scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5, 4) and weights.shape == (2, 3, 5, 6)
    expected = mm.scaled_dot_product_attention(q, mindspore.Tensor(np.repeat(k.asnumpy(), 2, 0)),
                                               mindspore.Tensor(np.repeat(v.asnumpy(), 2, 0)))[0]
    np.testing.assert_allclose(out.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
