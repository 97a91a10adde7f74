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
    """The lessons' convention: True = may attend (key 0 always)."""
    mask = np.random.default_rng(RNG_SEED + 1).random(shape) > 0.5
    mask[..., 0] = True
    return as_bool(mask)


def _blocked(*shape):
    """torch's convention: True = not allowed (key 0 never)."""
    return ~_random_mask(*shape)


def _padding(lengths, tokens):
    return mm.key_padding_mask(lengths, tokens)  # (B, Nk), True = padding


def test_sdpa_eager_equals_jit():
    q, k, v = _x(2, 3, 4, 8), _x(2, 3, 6, 8), _x(2, 3, 6, 5)
    _assert_eager_equals_jit(mm.scaled_dot_product_attention, q, k, v, _random_mask(2, 1, 4, 6))


def test_multi_head_self_attention_eager_equals_jit():
    mha = randomize(mm.MultiHeadAttention(16, 4), 1)
    # (query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal)
    _assert_eager_equals_jit(mha.construct, _x(2, 5, 16), None, None, _padding([5, 2], 5), True, None, False, True)
    float_mask = tensor(np.where(_blocked(5, 5).asnumpy(), -np.inf, 0.5))
    _assert_eager_equals_jit(mha.construct, _x(2, 5, 16), None, None, None, True, float_mask, True, False)


def test_multi_head_cross_attention_eager_equals_jit():
    mha = randomize(mm.MultiHeadAttention(16, 4, kdim=6, vdim=10), 2)
    _assert_eager_equals_jit(mha.construct, _x(2, 3, 16), _x(2, 7, 6), _x(2, 7, 10), _padding([7, 4], 7), True,
                             _blocked(2 * 4, 3, 7))


def test_multi_head_attention_without_weights_eager_equals_jit():
    mha = randomize(mm.MultiHeadAttention(16, 4), 3)
    _assert_eager_equals_jit(mha.construct, _x(2, 5, 16), None, None, None, False)


def test_per_head_attention_eager_equals_jit():
    per_head = randomize(mm.PerHeadAttention(12, 3), 4)
    _assert_eager_equals_jit(per_head.construct, _x(2, 4, 12), None, None, _padding([4, 3], 4), True,
                             _blocked(2, 3, 4, 4))


def test_feed_forward_eager_equals_jit():
    ffn = randomize(mm.FeedForward(8, 16), 5)
    _assert_eager_equals_jit(ffn.construct, _x(2, 3, 8))


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre_norm", "post_norm"])
def test_encoder_layer_eager_equals_jit(norm_first):
    layer = randomize(mm.EncoderLayer(16, 4, mlp_ratio=2.0, norm_first=norm_first), 6)
    _assert_eager_equals_jit(layer.construct, _x(2, 5, 16), None, _padding([5, 3], 5), True)


def test_decoder_layer_eager_equals_jit():
    layer = randomize(mm.DecoderLayer(16, 4, mlp_ratio=2.0), 7)
    # (tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask)
    _assert_eager_equals_jit(layer.construct, _x(2, 4, 16), _x(2, 6, 16), None, None, None, _padding([6, 3], 6))
    _assert_eager_equals_jit(layer.construct, _x(2, 4, 16), _x(2, 6, 16), _blocked(4, 4), _blocked(4, 6))


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
