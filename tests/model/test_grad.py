"""Gradients reach every trainable parameter and are finite; fully masked rows give no NaN."""
import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from support import as_bool, randomize, tensor


def _probe(shape, seed):
    """A fixed random direction: loss = sum(out * probe) has no symmetry that zeroes gradients
    (sum(out) alone would, e.g. behind a LayerNorm)."""
    return tensor(np.random.default_rng(seed).standard_normal(shape))


def _x(*shape, seed=0):
    return tensor(np.random.default_rng(seed).standard_normal(shape))


def _check_gradients(cell, forward):
    """forward(cell) -> output tensor; checks value and gradient of sum(output * probe)."""
    params = cell.trainable_params()
    assert params, "nothing to train"
    probe = None

    def loss_fn():
        nonlocal probe
        out = forward(cell)
        if probe is None:
            probe = _probe(out.shape, 99)
        return (out * probe).sum()

    loss_fn()  # fix the probe's shape outside the differentiated call
    loss, grads = mindspore.value_and_grad(loss_fn, None, params)()
    assert np.isfinite(loss.asnumpy())
    assert len(grads) == len(params)
    for param, grad in zip(params, grads):
        grad = grad.asnumpy()
        assert grad.shape == param.shape, param.name
        assert np.isfinite(grad).all(), f"non-finite gradient for {param.name}"
        assert np.abs(grad).max() > 0, f"no gradient reaches {param.name}"


CASES = {
    "multi_head_self": (lambda: mm.MultiHeadAttention(8, 2),
                        lambda cell: cell(_x(2, 4, 8))[0]),
    "multi_head_cross": (lambda: mm.MultiHeadAttention(8, 2, kdim=6, vdim=5),
                         lambda cell: cell(_x(2, 3, 8), _x(2, 4, 6, seed=1), _x(2, 4, 5, seed=2))[0]),
    "per_head": (lambda: mm.PerHeadAttention(8, 2), lambda cell: cell(_x(2, 4, 8))[0]),
    "per_head_no_bias": (lambda: mm.PerHeadAttention(8, 2, bias=False), lambda cell: cell(_x(2, 4, 8))[0]),
    "feed_forward": (lambda: mm.FeedForward(8, 16), lambda cell: cell(_x(2, 4, 8))),
    "encoder_pre_norm": (lambda: mm.EncoderLayer(8, 2, mlp_ratio=2.0),
                         lambda cell: cell(_x(2, 4, 8), src_key_padding_mask=mm.key_padding_mask([4, 3], 4),
                                           is_causal=True)[0]),
    "encoder_post_norm": (lambda: mm.EncoderLayer(8, 2, mlp_ratio=2.0, norm_first=False),
                          lambda cell: cell(_x(2, 4, 8))[0]),
    "decoder": (lambda: mm.DecoderLayer(8, 2, mlp_ratio=2.0),
                lambda cell: cell(_x(2, 3, 8), _x(2, 5, 8, seed=1))[0]),
    "learned_position": (lambda: mm.LearnedPositionalEmbedding(4, 8), lambda cell: cell(_x(2, 4, 8))),
    "patch_embedding": (lambda: mm.PatchEmbedding(4, 2, 1, 8), lambda cell: cell(_x(2, 1, 4, 4))),
    "vision_transformer": (lambda: mm.VisionTransformer(4, 2, 1, 3, 8, 2, 2, mlp_ratio=2.0),
                           lambda cell: cell(_x(2, 1, 4, 4))),
    "vision_transformer_avg_no_qkv_bias": (
        lambda: mm.VisionTransformer((4, 6), (2, 3), 1, 3, 8, 2, 2, mlp_ratio=2.0, global_pool="avg", qkv_bias=False),
        lambda cell: cell(_x(2, 1, 4, 6))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_reach_every_parameter(case):
    build, forward = CASES[case]
    _check_gradients(randomize(build(), 1), forward)


def test_fully_masked_rows_sdpa_values_and_gradients_finite():
    rng = np.random.default_rng(2)
    q, k, v = (tensor(rng.standard_normal((2, 4, 8))) for _ in range(3))
    mask = np.tril(np.ones((4, 4), dtype=bool))[None].repeat(2, 0)  # (B, Nq, Nk)
    mask[0, 2] = False  # query 2 of sequence 0 may attend nothing
    mask = as_bool(mask)
    probe = _probe((2, 4, 8), 3)

    def loss_fn(q, k, v):
        out, weights = mm.scaled_dot_product_attention(q, k, v, mask)
        return (out * probe).sum() + (weights * weights).sum()

    loss, grads = mindspore.value_and_grad(loss_fn, (0, 1, 2))(q, k, v)
    assert np.isfinite(loss.asnumpy())
    for grad in grads:
        assert np.isfinite(grad.asnumpy()).all()
    # the masked query has no influence on the loss, the others do
    assert not grads[0].asnumpy()[0, 2].any()
    assert np.abs(grads[0].asnumpy()[0, 1]).max() > 0


FULLY_MASKED = {  # sequence 1 is empty: every one of its rows is fully masked
    "bool_padding": lambda: {"key_padding_mask": mm.key_padding_mask([3, 0], 4)},
    "float_padding": lambda: {"key_padding_mask": tensor(np.where(mm.key_padding_mask([3, 0], 4).asnumpy(),
                                                                  -np.inf, 0.0))},
    "bool_attn_4d": lambda: {"attn_mask": as_bool(np.arange(2)[:, None, None, None] == np.ones((2, 1, 4, 4)))},
}


@pytest.mark.parametrize("kind, module", [(kind, module) for kind in FULLY_MASKED
                                          for module in (mm.MultiHeadAttention, mm.PerHeadAttention)])
def test_fully_masked_sequence_multi_head_values_and_gradients_finite(kind, module):
    mha = randomize(module(8, 2), 4)
    x = _x(2, 4, 8, seed=5)
    masks = FULLY_MASKED[kind]()
    probe = _probe((2, 4, 8), 6)

    def loss_fn(x):
        out, _ = mha(x, **masks)
        return (out * probe).sum()

    out, weights = mha(x, **masks)
    assert np.isfinite(out.asnumpy()).all() and np.isfinite(weights.asnumpy()).all()
    assert not weights.asnumpy()[1].any()
    params = mha.trainable_params()
    loss, (x_grad, param_grads) = mindspore.value_and_grad(loss_fn, 0, params)(x)
    assert np.isfinite(loss.asnumpy()) and np.isfinite(x_grad.asnumpy()).all()
    assert not x_grad.asnumpy()[1].any()  # the empty sequence's tokens change nothing
    assert np.abs(x_grad.asnumpy()[0]).max() > 0
    for param, grad in zip(params, param_grads):
        assert np.isfinite(grad.asnumpy()).all(), param.name


def test_jitted_gradient_equals_eager_gradient():
    layer = randomize(mm.EncoderLayer(8, 2, mlp_ratio=2.0), 7)
    x, probe = _x(2, 4, 8, seed=8), _probe((2, 4, 8), 9)
    params = layer.trainable_params()

    def loss_fn(x):
        return (layer(x, is_causal=True)[0] * probe).sum()

    grad_fn = mindspore.value_and_grad(loss_fn, None, params)
    eager_loss, eager_grads = grad_fn(x)
    jit_loss, jit_grads = mindspore.jit(grad_fn)(x)
    np.testing.assert_allclose(jit_loss.asnumpy(), eager_loss.asnumpy(), rtol=1e-6)
    for param, a, b in zip(params, eager_grads, jit_grads):
        np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), rtol=0, atol=1e-5, err_msg=param.name)
