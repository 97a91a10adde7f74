"""Batch-first vs sequence-first: attention on an untransposed [N, B, C] tensor mixes the images.

``mm.MultiHeadAttention`` and ``mm.VisionTransformer`` take (B, N, D).  PyTorch's
``nn.MultiheadAttention`` defaults to sequence-first (N, B, D); feeding that
layout to a batch-first module without transposing makes attention run over
the batch axis, so each image's output depends on the other images.  Lesson 6
shows this; these tests prove it.
"""
import numpy as np
import pytest
from mindspore import Tensor

import mhsa_ms as mm

B, N, D, HEADS = 3, 16, 32, 4


def _tokens(seed):
    return np.random.default_rng(seed).normal(size=(B, N, D)).astype(np.float32)  # (B, N, D)


def _change_image(tokens, index):
    changed = tokens.copy()
    changed[index] += 1.0  # a different image `index`, the others untouched
    return changed


@pytest.fixture(scope="module")
def mha():
    mm.seed_everything(0)
    return mm.MultiHeadAttention(D, HEADS)


def test_batch_first_attention_keeps_images_apart(mha):
    tokens = _tokens(0)
    out, weights = mha(Tensor(tokens))
    out_changed, _ = mha(Tensor(_change_image(tokens, 2)))
    assert tuple(weights.shape) == (B, HEADS, N, N)  # patches attend to patches of the same image
    np.testing.assert_array_equal(out_changed.asnumpy()[:2], out.asnumpy()[:2])
    assert np.abs(out_changed.asnumpy()[2] - out.asnumpy()[2]).max() > 1e-3


def test_sequence_first_tensor_without_transpose_mixes_the_images(mha):
    tokens = _tokens(0)
    seq_first = tokens.transpose(1, 0, 2)  # (N, B, D), PyTorch's batch_first=False layout
    out, weights = mha(Tensor(seq_first))  # read as B' = N "sequences" of N' = B tokens
    assert tuple(weights.shape) == (N, HEADS, B, B)  # the maps are between images, not patches
    seq_first_changed = _change_image(tokens, 2).transpose(1, 0, 2)  # (N, B, D)
    out_changed, _ = mha(Tensor(seq_first_changed))
    image_0 = np.abs(out_changed.asnumpy()[:, 0] - out.asnumpy()[:, 0]).max()
    assert image_0 > 1e-3  # image 0's output moved although only image 2 changed


def test_transposing_sequence_first_input_gives_the_batch_first_result(mha):
    tokens = _tokens(1)
    seq_first = Tensor(tokens.transpose(1, 0, 2))  # (N, B, D)
    out, _ = mha(seq_first.transpose(1, 0, 2))  # back to (B, N, D) before attention
    reference, _ = mha(Tensor(tokens))
    np.testing.assert_allclose(out.asnumpy(), reference.asnumpy(), rtol=0, atol=1e-6)


def test_vision_transformer_classifies_each_image_independently():
    mm.seed_everything(0)
    vit = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
    images = mm.load_digits().x_test[:4]  # (B, C, H, W)
    logits = vit(Tensor(images)).asnumpy()  # (B, classes)
    changed = images.copy()
    changed[3] = 1.0 - changed[3]
    logits_changed = vit(Tensor(changed)).asnumpy()
    np.testing.assert_allclose(logits_changed[:3], logits[:3], rtol=0, atol=1e-6)
    assert np.abs(logits_changed[3] - logits[3]).max() > 1e-4
    single = vit(Tensor(images[1:2])).asnumpy()  # the same image alone in its batch
    np.testing.assert_allclose(single[0], logits[1], rtol=0, atol=1e-5)
