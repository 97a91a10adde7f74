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
    # name: (kdim, vdim, Nq, Nk, bias, mask kind)
    "self": (None, None, 5, 5, True, None),
    "self_causal": (None, None, 5, 5, True, "causal"),
    "self_padding_empty_row": (None, None, 5, 5, True, "padding"),
    "cross_kdim_vdim": (6, 10, 4, 7, True, "batch"),
    "cross_no_bias_per_head_mask": (6, 10, 4, 7, False, "per_head"),
}


def _mha_mask(kind, rng, batch, heads, q_len, k_len):
    """(mask for MindSpore, same mask as a NumPy array)."""
    if kind is None:
        return None, None
    if kind == "causal":
        return mm.causal_mask(q_len), np.tril(np.ones((q_len, k_len), dtype=bool))
    if kind == "padding":  # second sequence has length 0: all its rows fully masked
        lengths = [3, 0]
        mask = np.arange(k_len)[None, None, :] < np.array(lengths)[:, None, None]  # (B, 1, Nk)
        return mm.padding_mask(lengths, k_len), mask
    shape = (batch, q_len, k_len) if kind == "batch" else (batch, heads, q_len, k_len)
    mask = _fully_masked_mask(rng, shape)
    return as_bool(mask), mask


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multi_head_attention_matches_reference(case):
    kdim, vdim, q_len, k_len, bias, mask_kind = MHA_CASES[case]
    rng = np.random.default_rng(4)
    embed_dim, heads, batch = 16, 4, 2
    mha = mm.MultiHeadAttention(embed_dim, heads, kdim=kdim, vdim=vdim, bias=bias)
    mha.set_projection_matrices(random_projections(embed_dim, kdim or embed_dim, vdim or embed_dim, bias, 5))
    query = rng.standard_normal((batch, q_len, embed_dim))
    mask, np_mask = _mha_mask(mask_kind, rng, batch, heads, q_len, k_len)
    if kdim is None:
        out, weights = mha(tensor(query), mask=mask)
        expected_out, expected_weights = ref.mha(mha.projection_matrices(), heads, query, mask=np_mask)
    else:
        key = rng.standard_normal((batch, k_len, kdim))
        value = rng.standard_normal((batch, k_len, vdim))
        out, weights = mha(tensor(query), tensor(key), tensor(value), mask=mask)
        expected_out, expected_weights = ref.mha(mha.projection_matrices(), heads, query, key, value, np_mask)
    assert out.shape == (batch, q_len, embed_dim) and weights.shape == (batch, heads, q_len, k_len)
    assert max_error(out, expected_out) < ONE_ATTENTION
    assert max_error(weights, expected_weights) < ONE_ATTENTION
    if mask_kind == "padding":  # an empty sequence: zero heads, so the output is the bias b_o
        assert not weights.asnumpy()[1].any()
        np.testing.assert_allclose(out.asnumpy()[1], np.broadcast_to(mha.b_o.asnumpy(), (q_len, embed_dim)),
                                   atol=1e-7)


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
    out, weights = layer(tensor(x), mm.causal_mask(5))
    expected_out, expected_weights = ref.encoder_layer(
        ref.cell_params(layer), 4, x, np.tril(np.ones((5, 5), bool)), norm_first, activation)
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
    out, self_weights, cross_weights = layer(tensor(x), tensor(memory), memory_mask=mm.padding_mask([6, 2], 6))
    memory_mask = (np.arange(6)[None, :] < np.array([6, 2])[:, None])[:, None, :]  # (B, 1, Nk)
    expected = ref.decoder_layer(ref.cell_params(layer), 4, x, memory, np.tril(np.ones((4, 4), bool)),
                                 memory_mask, norm_first)
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


def test_patch_embedding_matches_reference():
    rng = np.random.default_rng(15)
    embed = randomize(mm.PatchEmbedding(image_size=6, patch_size=3, in_channels=2, embed_dim=5), 16)
    images = rng.standard_normal((2, 2, 6, 6))
    out = embed(tensor(images))
    assert out.shape == (2, 4, 5)
    expected = ref.patch_embedding(ref.sub(ref.cell_params(embed), "proj"), images, 3)
    assert max_error(out, expected) < ONE_ATTENTION


def test_vision_transformer_matches_reference():
    rng = np.random.default_rng(17)
    config = dict(mm.VIT_PRESETS["digits"])
    vit = randomize(mm.VisionTransformer(**config), 18)
    vit.set_train(False)
    images = rng.standard_normal((2, config["in_channels"], config["image_size"], config["image_size"]))
    logits, attention = vit(tensor(images), return_attention=True)
    expected_logits, expected_attention = ref.vision_transformer(
        ref.cell_params(vit), config["num_heads"], config["depth"], config["patch_size"], images)
    assert logits.shape == (2, config["num_classes"])
    assert max_error(logits, expected_logits) < DEEP_STACK
    assert len(attention) == config["depth"]
    for got, expected in zip(attention, expected_attention):
        assert max_error(got, expected) < DEEP_STACK
    assert max_error(vit(tensor(images)), expected_logits) < DEEP_STACK  # return_attention=False


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
