"""float32 MindSpore modules against the float64 NumPy reference (tests/reference.py).

One attention must agree within 1e-5, deeper stacks (encoder, decoder, ViT) within 1e-4.
"""
import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
import reference as ref
from support import as_bool, max_error, randomize, random_projections, tensor

ONE_ATTENTION = 1e-5
DEEP_STACK = 1e-4


def _fully_masked_mask(rng, shape):
    """A random boolean mask in which every query may attend key 0, except query 1 of the
    first (batch, head) slice, which may attend nothing."""
    mask = rng.random(shape) > 0.4
    mask[..., 0] = True  # every row can attend somewhere ...
    mask[(0,) * (len(shape) - 2) + (1,)] = False  # ... except query 1 of the first slice
    return mask


@pytest.mark.parametrize("with_mask", [False, True])
def test_sdpa_matches_reference(with_mask):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 5, 8))  # (B, h, Nq, d_k)
    k = rng.standard_normal((2, 3, 7, 8))  # (B, h, Nk, d_k)
    v = rng.standard_normal((2, 3, 7, 6))  # (B, h, Nk, d_v)
    mask = _fully_masked_mask(rng, (2, 1, 5, 7)) if with_mask else None
    out, weights = mm.scaled_dot_product_attention(
        tensor(q), tensor(k), tensor(v), None if mask is None else as_bool(mask))
    expected_out, expected_weights = ref.sdpa(q, k, v, mask)
    assert out.shape == (2, 3, 5, 6) and weights.shape == (2, 3, 5, 7)
    assert max_error(out, expected_out) < ONE_ATTENTION
    assert max_error(weights, expected_weights) < ONE_ATTENTION
    if with_mask:
        # the fully masked row: exactly zero weights and output, in every head
        assert not weights.asnumpy()[0, :, 1].any() and not out.asnumpy()[0, :, 1].any()
        assert np.allclose(weights.asnumpy()[1].sum(-1), 1.0, atol=1e-6)


def test_sdpa_three_d_inputs_and_two_d_causal_mask():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 6, 4)) for _ in range(3))  # (B, N, d)
    mask = np.tril(np.ones((6, 6), dtype=bool))
    out, weights = mm.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v), mm.causal_mask(6))
    expected_out, expected_weights = ref.sdpa(q, k, v, mask)
    assert max_error(out, expected_out) < ONE_ATTENTION
    assert max_error(weights, expected_weights) < ONE_ATTENTION
    assert not np.triu(weights.asnumpy(), 1).any()  # nothing from the future


def test_sdpa_float16_keeps_dtype_and_accuracy():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((2, 5, 8)) for _ in range(3))
    half = [mindspore.Tensor(a.astype(np.float16)) for a in (q, k, v)]
    out, weights = mm.scaled_dot_product_attention(*half)
    assert out.dtype == mindspore.float16 and weights.dtype == mindspore.float16
    expected_out, _ = ref.sdpa(*(a.astype(np.float16) for a in (q, k, v)))
    assert max_error(out, expected_out) < 1e-2  # float16 storage, float32 softmax


def test_sdpa_dropout_only_in_training():
    rng = np.random.default_rng(3)
    q, k, v = (tensor(rng.standard_normal((2, 16, 8))) for _ in range(3))
    plain_out, plain_weights = mm.scaled_dot_product_attention(q, k, v)
    eval_out, _ = mm.scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False)
    assert np.array_equal(eval_out.asnumpy(), plain_out.asnumpy())
    mm.seed_everything(0)
    _, dropped = mm.scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=True)
    dropped, kept = dropped.asnumpy(), plain_weights.asnumpy()
    zero = dropped == 0
    assert 0.3 < zero.mean() < 0.7  # about half dropped
    np.testing.assert_allclose(dropped[~zero], kept[~zero] / 0.5, rtol=1e-5)  # survivors rescaled by 1/(1-p)


MHA_CASES = {
    # name: (kdim, vdim, Nq, Nk, bias, masks)
    "self": (None, None, 5, 5, True, {}),
    "self_is_causal": (None, None, 5, 5, True, {"is_causal": True}),
    "self_padding_empty_row": (None, None, 5, 5, True, {"key_padding_mask": "bool_empty"}),
    "self_padding_and_causal": (None, None, 5, 5, True, {"key_padding_mask": "bool", "is_causal": True}),
    "self_float_attn_float_padding": (None, None, 5, 5, True, {"attn_mask": "float2d", "key_padding_mask": "float"}),
    "cross_kdim_vdim_bool_attn_3d": (6, 10, 4, 7, True, {"attn_mask": "bool3d"}),
    "cross_no_bias_per_head_attn_4d": (6, 10, 4, 7, False, {"attn_mask": "bool4d", "key_padding_mask": "bool"}),
    "cross_causal_rectangular": (None, None, 4, 7, True, {"is_causal": True}),
}


def _mha_masks(spec, rng, batch, heads, q_len, k_len):
    """Torch-convention masks as MindSpore keyword arguments and as NumPy ones for the reference."""
    ours, numpy = {}, {}
    for name, kind in spec.items():
        if name == "is_causal":
            ours[name] = numpy[name] = kind
            continue
        if name == "key_padding_mask":
            lengths = np.array([3, 0] if kind == "bool_empty" else [k_len, 2])
            array = np.arange(k_len)[None, :] >= lengths[:, None]  # (B, Nk) True = padding
            if kind == "float":
                array = np.where(array, -np.inf, 0.3 * rng.standard_normal((batch, k_len)))
        else:
            shape = {"2d": (q_len, k_len), "3d": (batch * heads, q_len, k_len),
                     "4d": (batch, heads, q_len, k_len)}[kind[-2:]]
            array = _fully_masked_mask(rng, shape) if kind.startswith("bool") else rng.standard_normal(shape)
            if kind.startswith("bool"):
                array = ~array  # torch's convention: True = not allowed
            else:
                array[rng.random(shape) < 0.2] = -np.inf
        numpy[name] = array
        ours[name] = as_bool(array) if array.dtype == bool else tensor(array)
    return ours, numpy


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multi_head_attention_matches_reference(case):
    kdim, vdim, q_len, k_len, bias, spec = MHA_CASES[case]
    rng = np.random.default_rng(4)
    embed_dim, heads, batch = 16, 4, 2
    mha = mm.MultiHeadAttention(embed_dim, heads, kdim=kdim, vdim=vdim, bias=bias)
    mha.set_projection_matrices(random_projections(embed_dim, kdim or embed_dim, vdim or embed_dim, bias, 5))
    query = rng.standard_normal((batch, q_len, embed_dim))
    masks, np_masks = _mha_masks(spec, rng, batch, heads, q_len, k_len)
    if q_len == k_len and kdim is None:
        out, weights = mha(tensor(query), **masks)
        expected_out, expected_weights = ref.mha(mha.projection_matrices(), heads, query, **np_masks)
    else:
        key = rng.standard_normal((batch, k_len, kdim or embed_dim))
        value = rng.standard_normal((batch, k_len, vdim or embed_dim))
        out, weights = mha(tensor(query), tensor(key), tensor(value), **masks)
        expected_out, expected_weights = ref.mha(mha.projection_matrices(), heads, query, key, value, **np_masks)
    assert out.shape == (batch, q_len, embed_dim) and weights.shape == (batch, heads, q_len, k_len)
    assert max_error(out, expected_out) < ONE_ATTENTION
    assert max_error(weights, expected_weights) < ONE_ATTENTION
    if "empty" in str(spec):  # an empty sequence: zero heads, so the output is the bias b_o
        assert not weights.asnumpy()[1].any()
        np.testing.assert_allclose(out.asnumpy()[1], np.broadcast_to(mha.b_o.asnumpy(), (q_len, embed_dim)),
                                   atol=1e-7)


def test_reference_masks_follow_torch_conventions():
    """The reference's reading of torch's masks, on hand-made ones: True = not allowed, float added."""
    allowed, bias = ref.torch_masks(2, 1, 2, 3, attn_mask=np.array([[False, True, False], [False, False, False]]),
                                    key_padding_mask=np.array([[False, False, True], [False, False, False]]))
    assert allowed[0, 0].tolist() == [[True, False, False], [True, True, False]]
    assert allowed[1, 0].tolist() == [[True, False, True], [True, True, True]]
    _, bias = ref.torch_masks(1, 1, 2, 2, attn_mask=np.array([[0.5, -np.inf], [0.0, 1.0]]))
    assert bias[0, 0].tolist() == [[0.5, 0.0], [0.0, 1.0]]
    causal, _ = ref.torch_masks(1, 1, 2, 3, is_causal=True)
    assert causal[0, 0].tolist() == [[True, False, False], [True, True, False]]


def test_projection_matrices_round_trip_and_convention():
    mha = mm.MultiHeadAttention(8, 2, kdim=6, vdim=4)
    matrices = random_projections(8, 6, 4, True, 6)
    mha.set_projection_matrices(matrices)
    got = mha.projection_matrices()
    assert set(got) == {"W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o"}
    for name, value in matrices.items():
        assert np.array_equal(got[name], value), name
    # y = x @ W + b: with one head and the identity as W^Q, W^K, W^O a token attending
    # only to itself returns its own value projection x @ W_v
    single = mm.MultiHeadAttention(3, 1, bias=False)
    w_v = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    eye = np.eye(3, dtype=np.float32)
    single.set_projection_matrices({"W_q": eye, "W_k": eye, "W_v": w_v, "W_o": eye})
    x = np.array([[[1.0, 2.0, 3.0]]], np.float32)
    out, _ = single(tensor(x))
    np.testing.assert_allclose(out.asnumpy()[0, 0], (x @ w_v)[0, 0], rtol=1e-6)
    assert not np.allclose((x @ w_v.T)[0, 0], out.asnumpy()[0, 0])  # not the transposed convention


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre_norm", "post_norm"])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_encoder_layer_matches_reference(norm_first, activation):
    rng = np.random.default_rng(7)
    layer = randomize(mm.EncoderLayer(16, 4, mlp_ratio=2.0, norm_first=norm_first, activation=activation), 8)
    layer.set_train(False)
    x = rng.standard_normal((2, 5, 16))
    padding = np.arange(5)[None, :] >= np.array([5, 3])[:, None]  # (B, N) True = padding
    out, weights = layer(tensor(x), src_key_padding_mask=as_bool(padding), is_causal=True)
    expected_out, expected_weights = ref.encoder_layer(
        ref.cell_params(layer), 4, x, norm_first, activation, key_padding_mask=padding, is_causal=True)
    assert max_error(out, expected_out) < DEEP_STACK
    assert max_error(weights, expected_weights) < DEEP_STACK


def test_feed_forward_matches_reference():
    rng = np.random.default_rng(9)
    ffn = randomize(mm.FeedForward(8, 32), 10)
    x = rng.standard_normal((2, 3, 8)) * 2.0  # wide range: exact erf GELU, not the tanh form
    assert max_error(ffn(tensor(x)), ref.feed_forward(ref.cell_params(ffn), x)) < ONE_ATTENTION


def test_layer_norm_epsilon_is_1e_5():
    """MindSpore's nn.LayerNorm defaults to epsilon 1e-7; on a nearly constant input only 1e-5 matches."""
    from mhsa_ms.model.transformer import layer_norm

    norm = randomize(layer_norm(8), 21)
    x = 1e-3 * np.random.default_rng(22).standard_normal((2, 3, 8))  # variance ~1e-6, comparable to epsilon
    params = ref.cell_params(norm)
    assert max_error(norm(tensor(x)), ref.layer_norm(params, x)) < ONE_ATTENTION
    assert max_error(norm(tensor(x)), ref.layer_norm(params, x, eps=1e-7)) > 0.1


@pytest.mark.parametrize("cell", ["feed_forward", "encoder", "attention"])
def test_dropout_argument_is_the_drop_probability(cell):
    """dropout=0.25 drops about a quarter in training (nn.Dropout's old argument was the keep probability)
    and nothing in evaluation."""
    mm.seed_everything(23)
    x = tensor(np.ones((4, 16, 16)))
    builders = {"feed_forward": lambda: mm.FeedForward(16, 32, dropout=0.25),
                "encoder": lambda: mm.EncoderLayer(16, 4, dropout=0.25),
                "attention": lambda: mm.MultiHeadAttention(16, 4, dropout=0.25)}
    module = builders[cell]()

    def sample():
        if cell == "attention":
            return module(x)[1].asnumpy()  # equal inputs: weights 1/16 before dropout
        return module.drop(x).asnumpy()

    module.set_train(True)
    dropped = sample()
    assert 0.2 < (dropped == 0).mean() < 0.3
    kept = dropped[dropped != 0]
    np.testing.assert_allclose(kept, kept.max(), rtol=1e-6)  # the survivors share one rescaled value
    module.set_train(False)
    assert (sample() != 0).all()


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre_norm", "post_norm"])
def test_decoder_layer_matches_reference(norm_first):
    rng = np.random.default_rng(11)
    layer = randomize(mm.DecoderLayer(16, 4, mlp_ratio=2.0, norm_first=norm_first), 12)
    x, memory = rng.standard_normal((2, 4, 16)), rng.standard_normal((2, 6, 16))
    out, self_weights, cross_weights = layer(tensor(x), tensor(memory),
                                             memory_key_padding_mask=mm.key_padding_mask([6, 2], 6))
    memory_padding = np.arange(6)[None, :] >= np.array([6, 2])[:, None]  # (B, Nk) True = padding
    expected = ref.decoder_layer(ref.cell_params(layer), 4, x, memory, norm_first, {"is_causal": True},
                                 {"key_padding_mask": memory_padding})
    assert max_error(out, expected[0]) < DEEP_STACK
    assert max_error(self_weights, expected[1]) < DEEP_STACK
    assert max_error(cross_weights, expected[2]) < DEEP_STACK


def test_positional_encodings_match_reference():
    np.testing.assert_allclose(mm.sinusoidal_positional_encoding(7, 6), ref.sinusoidal(7, 6), atol=1e-6)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 5, 6))
    fixed = mm.SinusoidalPositionalEncoding(max_tokens=9, dim=6)
    assert max_error(fixed(tensor(x)), x + ref.sinusoidal(5, 6)) < 1e-6
    learned = randomize(mm.LearnedPositionalEmbedding(5, 6), 14)
    assert max_error(learned(tensor(x)), x + ref.f64(learned.embedding)) < 1e-6


def test_decoder_layer_tgt_mask_as_torch_and_causal_default():
    """tgt_is_causal=None: causal without tgt_mask, tgt_mask alone with one (torch's result), both with True."""
    rng = np.random.default_rng(24)
    layer = randomize(mm.DecoderLayer(16, 4, mlp_ratio=2.0), 25)
    x, memory = rng.standard_normal((2, 4, 16)), rng.standard_normal((2, 6, 16))
    params = ref.cell_params(layer)
    window = np.abs(np.arange(4)[:, None] - np.arange(4)[None, :]) > 1  # (Nq, Nq) True = not allowed
    for kwargs, masks in (({}, {"is_causal": True}),
                          ({"tgt_mask": as_bool(window)}, {"attn_mask": window}),
                          ({"tgt_mask": as_bool(window), "tgt_is_causal": True}, {"attn_mask": window, "is_causal": True}),
                          ({"tgt_is_causal": False}, {})):
        out, self_weights, _ = layer(tensor(x), tensor(memory), **kwargs)
        expected = ref.decoder_layer(params, 4, x, memory, True, masks)
        assert max_error(out, expected[0]) < DEEP_STACK, kwargs
        assert max_error(self_weights, expected[1]) < DEEP_STACK, kwargs


@pytest.mark.parametrize("image_size, patch_size", [(6, 3), ((6, 8), (3, 2))])
def test_patch_embedding_matches_reference(image_size, patch_size):
    rng = np.random.default_rng(15)
    embed = randomize(mm.PatchEmbedding(image_size=image_size, patch_size=patch_size, in_channels=2, embed_dim=5), 16)
    height, width = (image_size,) * 2 if isinstance(image_size, int) else image_size
    images = rng.standard_normal((2, 2, height, width))
    out = embed(tensor(images))
    assert out.shape == (2, embed.num_patches, 5)
    expected = ref.patch_embedding(ref.sub(ref.cell_params(embed), "proj"), images, patch_size)
    assert max_error(out, expected) < ONE_ATTENTION


@pytest.mark.parametrize("knobs", [{}, {"image_size": (8, 12), "patch_size": (4, 3)},
                                   {"global_pool": "avg", "qkv_bias": False},
                                   {"layer_norm_eps": 1e-5, "global_pool": "avg"}],
                         ids=["digits", "rectangular", "avg_no_qkv_bias", "eps_1e-5"])
def test_vision_transformer_matches_reference(knobs):
    rng = np.random.default_rng(17)
    config = {**mm.VIT_PRESETS["digits"], **knobs}
    vit = randomize(mm.VisionTransformer(**config), 18)
    vit.set_train(False)
    height, width = ((config["image_size"],) * 2 if isinstance(config["image_size"], int)
                     else config["image_size"])
    images = rng.standard_normal((2, config["in_channels"], height, width))
    logits, attention = vit(tensor(images), return_attention=True)
    expected_logits, expected_attention = ref.vision_transformer(
        ref.cell_params(vit), config["num_heads"], config["depth"], config["patch_size"], images,
        eps=config.get("layer_norm_eps", 1e-6), global_pool=config.get("global_pool", "token"))
    assert logits.shape == (2, config["num_classes"])
    assert max_error(logits, expected_logits) < DEEP_STACK
    assert len(attention) == config["depth"]
    for got, expected in zip(attention, expected_attention):
        assert max_error(got, expected) < DEEP_STACK
    assert max_error(vit(tensor(images)), expected_logits) < DEEP_STACK  # return_attention=False


def test_vision_transformer_layer_norm_epsilon_is_1e_6():
    """ViT's LayerNorms use epsilon 1e-6 (timm), the encoder layer's default stays PyTorch's 1e-5."""
    vit = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
    epsilons = {cell.epsilon for _, cell in vit.cells_and_names() if isinstance(cell, mindspore.nn.LayerNorm)}
    assert epsilons == {1e-6}
    assert mm.EncoderLayer(8, 2).norm1.epsilon == 1e-5
    assert mm.EncoderLayer(8, 2, layer_norm_eps=1e-6).norm1.epsilon == 1e-6


@pytest.mark.parametrize("tokens, dim, heads", [(5, 16, 4), (9, 12, 1), (3, 24, 6)])
def test_attention_flops_matches_counted_macs(tokens, dim, heads):
    cost = mm.attention_flops(tokens, dim)
    parts = ("projections", "scores", "weighted_values", "output_projection")
    assert sum(cost[name] for name in parts) == cost["total"]
    assert cost["total"] == 4 * tokens * dim**2 + 2 * tokens**2 * dim
    assert cost["total_flops"] == 2 * cost["total"]
    # count the multiply-accumulates of the matrix products of an actual forward pass
    macs = {}
    rng = np.random.default_rng(19)
    x = rng.standard_normal((1, tokens, dim))
    ref.mha(random_projections(dim, dim, dim, True, 20), heads, x, macs=macs)
    assert macs == {name: cost[name] for name in parts}
    batch = mm.attention_flops(tokens, dim, batch_size=3)
    batch_macs = {}
    ref.mha(random_projections(dim, dim, dim, True, 20), heads, np.concatenate([x] * 3), macs=batch_macs)
    assert batch_macs == {name: batch[name] for name in parts}
    assert batch["total"] == 3 * cost["total"]
