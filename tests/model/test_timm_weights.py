"""timm ViT weights load into mm.VisionTransformer and give timm's logits (tests/fixtures/timm_vit).

The fixture holds two tiny random timm ViTs (made by make_fixture.py with torch
and timm, which are not needed here): rectangular images and patches with
class-token pooling, and mean pooling without qkv biases.
"""
import json
import pathlib

import numpy as np
import pytest
import mindspore

import mhsa_ms as mm

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "timm_vit"
MODELS = ("token_rect", "avg_no_qkv_bias")
TOLERANCE = 1e-5


def _io(name):
    with np.load(FIXTURES / f"{name}.io.npz") as archive:
        return json.loads(str(archive["config"])), archive["images"], archive["logits_float32"], \
            archive["logits_float64"]


def _model(config):
    config = {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}
    model = mm.VisionTransformer(**config)
    model.set_train(False)
    return model


@pytest.mark.parametrize("name", MODELS)
def test_timm_weights_give_timm_logits(name):
    config, images, logits32, logits64 = _io(name)
    model = mm.load_timm_weights(_model(config), FIXTURES / f"{name}.weights.npz")
    logits = model(mindspore.Tensor(images)).asnumpy().astype(np.float64)
    assert np.abs(logits - logits64).max() <= TOLERANCE
    assert np.abs(logits - logits32).max() <= TOLERANCE
    assert np.abs(logits64).max() > 0.1  # logits that say something


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_gives_back_timm_arrays(name):
    config, _, _, _ = _io(name)
    with np.load(FIXTURES / f"{name}.weights.npz") as archive:
        state = {key: archive[key] for key in archive.files}
    model = mm.load_timm_weights(_model(config), state)
    back = mm.timm_state_dict(model)
    assert set(back) == set(state)
    for key, value in state.items():
        assert back[key].shape == value.shape and back[key].dtype == np.float32, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_timm_state_dict_of_a_fresh_model_loads_back_unchanged():
    model = mm.VisionTransformer(image_size=(6, 4), patch_size=2, in_channels=2, num_classes=3, embed_dim=8,
                                 depth=2, num_heads=2, global_pool="avg", qkv_bias=False)
    images = mindspore.Tensor(np.random.default_rng(0).standard_normal((2, 2, 6, 4)).astype(np.float32))
    model.set_train(False)
    copy = mm.VisionTransformer(image_size=(6, 4), patch_size=2, in_channels=2, num_classes=3, embed_dim=8,
                                depth=2, num_heads=2, global_pool="avg", qkv_bias=False)
    copy.set_train(False)
    mm.load_timm_weights(copy, mm.timm_state_dict(model))
    np.testing.assert_array_equal(copy(images).asnumpy(), model(images).asnumpy())


def test_mismatched_configuration_is_refused_with_the_keys():
    config, _, _, _ = _io("avg_no_qkv_bias")
    weights = FIXTURES / "avg_no_qkv_bias.weights.npz"
    with pytest.raises(ValueError, match=r"state_dict is missing the timm keys \['norm.bias', 'norm.weight'\]"):
        mm.load_timm_weights(_model({**config, "global_pool": "token"}), weights)
    with pytest.raises(ValueError, match=r"missing the timm keys \['blocks.0.attn.qkv.bias'"):
        mm.load_timm_weights(_model({**config, "qkv_bias": True}), weights)
    with pytest.raises(ValueError, match=r"keys this VisionTransformer has no place for: \['blocks.2"):
        mm.load_timm_weights(_model({**config, "depth": 2}), weights)
    with np.load(weights) as archive:
        state = {key: archive[key] for key in archive.files}
    with pytest.raises(ValueError, match=r"no place for: \['blocks.0.ls1.gamma'\]"):
        mm.load_timm_weights(_model(config), {**state, "blocks.0.ls1.gamma": np.ones(12, np.float32)})
    with pytest.raises(ValueError, match=r"state_dict\['head.weight'\] \(for head.weight\) must have shape "
                                         r"of this model = \(5, 12\), got \(4, 12\)"):
        mm.load_timm_weights(_model({**config, "num_classes": 5}), state)
    with pytest.raises(TypeError, match=r"model must be a mhsa_ms.VisionTransformer, got EncoderLayer"):
        mm.load_timm_weights(mm.EncoderLayer(8, 2), state)
    with pytest.raises(TypeError, match=r"state_dict must be a dict of arrays or the path of an .npz file, got list"):
        mm.load_timm_weights(_model(config), [])
