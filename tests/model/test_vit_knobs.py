"""The reference ViT's knobs: presets with timm's values, stochastic depth, pooling, rectangular images."""
import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from support import randomize, tensor


def _count(cell):
    return sum(p.size for p in cell.trainable_params())


@pytest.mark.parametrize("preset, timm_count", [("vit_ti_16", 5_717_416), ("vit_s_16", 22_050_664)])
def test_presets_have_timms_parameter_count(preset, timm_count):
    """timm.create_model("vit_tiny_patch16_224") etc. count these (timm 1.0.31)."""
    assert _count(mm.VisionTransformer.from_preset(preset)) == timm_count


def test_presets_carry_the_reference_values():
    shapes = {"vit_ti_16": (192, 12, 3, 16), "vit_s_16": (384, 12, 6, 16), "vit_b_16": (768, 12, 12, 16),
              "vit_l_16": (1024, 24, 16, 16), "vit_h_14": (1280, 32, 16, 14)}
    for name, (dim, depth, heads, patch) in shapes.items():
        preset = mm.VIT_PRESETS[name]
        assert (preset["embed_dim"], preset["depth"], preset["num_heads"], preset["patch_size"]) == \
            (dim, depth, heads, patch), name
        assert preset["image_size"] == 224 and preset["mlp_ratio"] == 4.0 and preset["num_classes"] == 1000
        assert preset["layer_norm_eps"] == 1e-6 and preset["qkv_bias"] is True and preset["global_pool"] == "token"


def test_qkv_bias_false_drops_only_the_qkv_biases():
    with_bias, without = mm.EncoderLayer(16, 4), mm.EncoderLayer(16, 4, qkv_bias=False)
    assert _count(with_bias) - _count(without) == 3 * 16
    assert without.attn.b_q is None and without.attn.b_o is not None


def test_drop_path_rises_linearly_over_depth():
    vit = mm.VisionTransformer(8, 4, 1, 3, 16, 5, 2, drop_path=0.2)
    np.testing.assert_allclose([layer.drop_path.p for layer in vit.layers], [0.0, 0.05, 0.1, 0.15, 0.2])
    assert [layer.drop_path.p for layer in mm.VisionTransformer(8, 4, 1, 3, 16, 1, 2, drop_path=0.2).layers] == [0.0]


def test_drop_path_drops_whole_samples_in_training_only():
    mm.seed_everything(0)
    drop = mm.model.transformer.DropPath(0.5)
    x = tensor(np.ones((400, 3, 4)))
    drop.set_train(True)
    out = drop(x).asnumpy()
    per_sample = out.reshape(400, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}  # a sample is dropped whole or kept, scaled by 1 / (1 - p)
    assert (per_sample == per_sample[:, :1]).all()
    assert 0.35 < (per_sample[:, 0] == 0).mean() < 0.65
    drop.set_train(False)
    np.testing.assert_array_equal(drop(x).asnumpy(), x.asnumpy())


def test_encoder_layer_dropouts_split_as_timm():
    layer = mm.EncoderLayer(16, 4, dropout=0.1, attn_drop=0.0, proj_drop=0.2)
    assert layer.attn.dropout == 0.0 and layer.drop.p == 0.2 and layer.ffn.drop.p == 0.2
    same = mm.EncoderLayer(16, 4, dropout=0.1)  # torch's one dropout for all of them
    assert same.attn.dropout == 0.1 and same.drop.p == 0.1


def test_vit_in_training_with_every_dropout_runs_eagerly_and_under_jit():
    mm.seed_everything(1)
    vit = randomize(mm.VisionTransformer((8, 12), (4, 6), 1, 3, 16, 3, 2, pos_drop=0.1, attn_drop=0.1,
                                         proj_drop=0.1, drop_path=0.3, global_pool="avg"), 2)
    vit.set_train(True)
    images = tensor(np.random.default_rng(3).standard_normal((4, 1, 8, 12)))
    assert vit(images).shape == (4, 3)
    assert mindspore.jit(vit.construct)(images).shape == (4, 3)
    vit.set_train(False)
    np.testing.assert_array_equal(vit(images).asnumpy(), vit(images).asnumpy())  # no randomness in evaluation


def test_token_encoder_passes_masks_to_every_layer():
    mm.seed_everything(4)
    model = mm.TokenEncoder(vocab_size=6, max_tokens=5, embed_dim=8, depth=2, num_heads=2)
    tokens = mindspore.Tensor(np.random.default_rng(5).integers(0, 6, (2, 5)).astype(np.int32))
    padding = mm.key_padding_mask([5, 3], 5)
    _, attention = model(tokens, return_attention=True, key_padding_mask=padding, is_causal=True)
    for weights in attention:
        w = weights.asnumpy()
        assert not np.triu(w, 1).any()  # causal
        assert not w[1, :, :, 3:].any()  # sequence 1's padding gets no weight
    changed = tokens.asnumpy().copy()
    changed[:, 4] = (changed[:, 4] + 1) % 6  # change the last token only
    before = model(tokens, key_padding_mask=padding, is_causal=True).asnumpy()
    after = model(mindspore.Tensor(changed), key_padding_mask=padding, is_causal=True).asnumpy()
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-6)  # earlier positions never see it
