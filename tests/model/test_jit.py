"""Every module gives the same result eagerly and under ``mindspore.jit(cell.construct)``."""
import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from support import as_bool, randomize, tensor

RNG_SEED = 0


def _flatten(result):
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _flatten(item)]
    return [result]


def _assert_eager_equals_jit(function, *args):
    eager = _flatten(function(*args))
    jitted = _flatten(mindspore.jit(function)(*args))
    assert len(eager) == len(jitted)
    for a, b in zip(eager, jitted):
        if a is None or b is None:
            assert a is None and b is None
            continue
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=0, atol=1e-6)


def _x(*shape):
    return tensor(np.random.default_rng(RNG_SEED).standard_normal(shape))


def _random_mask(*shape):
    mask = np.random.default_rng(RNG_SEED + 1).random(shape) > 0.5
    mask[..., 0] = True
    return as_bool(mask)


def test_sdpa_eager_equals_jit():
    q, k, v = _x(2, 3, 4, 8), _x(2, 3, 6, 8), _x(2, 3, 6, 5)
    _assert_eager_equals_jit(mm.scaled_dot_product_attention, q, k, v, _random_mask(2, 1, 4, 6))


def test_multi_head_self_attention_eager_equals_jit():
    mha = randomize(mm.MultiHeadAttention(16, 4), 1)
    _assert_eager_equals_jit(mha.construct, _x(2, 5, 16), None, None, mm.causal_mask(5))


def test_multi_head_cross_attention_eager_equals_jit():
    mha = randomize(mm.MultiHeadAttention(16, 4, kdim=6, vdim=10), 2)
    _assert_eager_equals_jit(mha.construct, _x(2, 3, 16), _x(2, 7, 6), _x(2, 7, 10), _random_mask(2, 3, 7))


def test_multi_head_attention_without_weights_eager_equals_jit():
    mha = randomize(mm.MultiHeadAttention(16, 4), 3)
    _assert_eager_equals_jit(mha.construct, _x(2, 5, 16), None, None, None, False)


def test_per_head_attention_eager_equals_jit():
    per_head = randomize(mm.PerHeadAttention(12, 3), 4)
    _assert_eager_equals_jit(per_head.construct, _x(2, 4, 12), None, None, _random_mask(2, 3, 4, 4))


def test_feed_forward_eager_equals_jit():
    ffn = randomize(mm.FeedForward(8, 16), 5)
    _assert_eager_equals_jit(ffn.construct, _x(2, 3, 8))


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre_norm", "post_norm"])
def test_encoder_layer_eager_equals_jit(norm_first):
    layer = randomize(mm.EncoderLayer(16, 4, mlp_ratio=2.0, norm_first=norm_first), 6)
    _assert_eager_equals_jit(layer.construct, _x(2, 5, 16), mm.causal_mask(5))


def test_decoder_layer_eager_equals_jit():
    layer = randomize(mm.DecoderLayer(16, 4, mlp_ratio=2.0), 7)
    _assert_eager_equals_jit(layer.construct, _x(2, 4, 16), _x(2, 6, 16), None, mm.padding_mask([6, 3], 6))


def test_positional_encodings_eager_equal_jit():
    _assert_eager_equals_jit(mm.SinusoidalPositionalEncoding(8, 6).construct, _x(2, 5, 6))
    _assert_eager_equals_jit(randomize(mm.LearnedPositionalEmbedding(5, 6), 8).construct, _x(2, 5, 6))


def test_patch_embedding_eager_equals_jit():
    embed = randomize(mm.PatchEmbedding(6, 3, 2, 5), 9)
    _assert_eager_equals_jit(embed.construct, _x(2, 2, 6, 6))


@pytest.mark.parametrize("return_attention", [True, False])
def test_vision_transformer_eager_equals_jit(return_attention):
    vit = randomize(mm.VisionTransformer(image_size=4, patch_size=2, in_channels=1, num_classes=3,
                                         embed_dim=8, depth=2, num_heads=2, mlp_ratio=2.0), 10)
    vit.set_train(False)
    _assert_eager_equals_jit(vit.construct, _x(2, 1, 4, 4), return_attention)
