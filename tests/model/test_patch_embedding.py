"""The patch embedding's two forms, Conv2D and reshape + matmul, give the same tokens and gradients.

One weight in the Conv2D layout (D, C, P_h, P_w) serves both (so checkpoints and
the timm converter see one layout); on CPU the module runs the matmul form, which
benchmarks/patch_embedding.py measures against MindSpore's slow Conv2D there.
"""
import numpy as np
import pytest
import mindspore
from mindspore import nn

import mhsa_ms as mm
from mhsa_ms.model.vit import use_patch_matmul
from support import randomize, tensor

SHAPES = {  # name: (image_size, patch_size, C, D)
    "digits": (8, 4, 1, 16),
    "rectangular": ((12, 8), (4, 2), 3, 10),
    "vit_patch16": (32, 16, 3, 24),
}


def _sum_of_magnitudes(embed, images):
    """(B, N, D): sum |x_i w_i| + |b| of each output, the scale float32 rounding of a dot product scales with."""
    weight = np.abs(embed.proj.weight.asnumpy()).astype(np.float64)  # (D, C, P_h, P_w)
    x = np.abs(images.asnumpy()).astype(np.float64)
    batch, channels = x.shape[:2]
    (rows, cols), (patch_h, patch_w) = embed.grid_size, embed.patch_size
    x = x.reshape(batch, channels, rows, patch_h, cols, patch_w).transpose(0, 2, 4, 1, 3, 5)
    patches = x.reshape(batch, rows * cols, -1)  # (B, N, C*P_h*P_w)
    return patches @ weight.reshape(weight.shape[0], -1).T + np.abs(embed.proj.bias.asnumpy())


def assert_equal_to_1e6(actual, expected, scale):
    """Equal to 1e-6 of each output's sum of magnitudes: the same float32 products summed in two orders."""
    assert (np.abs(actual - expected) <= 1e-6 * scale).all(), np.max(np.abs(actual - expected) / scale)


def _embed_and_images(name):
    image_size, patch_size, channels, dim = SHAPES[name]
    mm.seed_everything(0)
    embed = randomize(mm.PatchEmbedding(image_size, patch_size, channels, dim), 0)
    height, width = (image_size,) * 2 if isinstance(image_size, int) else image_size
    images = tensor(np.random.default_rng(1).standard_normal((2, channels, height, width)))
    return embed, images


@pytest.mark.parametrize("name", list(SHAPES))
def test_matmul_form_equals_conv2d(name):
    embed, images = _embed_and_images(name)
    matmul = embed._matmul_form(images).asnumpy()
    conv = embed._conv_form(images).asnumpy()
    assert matmul.shape == (2, embed.num_patches, embed.proj.weight.shape[0])
    scale = _sum_of_magnitudes(embed, images)
    assert_equal_to_1e6(matmul, conv, scale)
    # an independent nn.Conv2d given the same weights: the layout is Conv2D's own
    _, patch_size, channels, dim = SHAPES[name]
    kernel = tuple(embed.patch_size)
    reference = nn.Conv2d(channels, dim, kernel, stride=kernel, pad_mode="valid", has_bias=True)
    reference.weight.set_data(embed.proj.weight.value())
    reference.bias.set_data(embed.proj.bias.value())
    feature_map = reference(images).asnumpy()  # (B, D, H/P_h, W/P_w)
    tokens = feature_map.reshape(2, dim, -1).transpose(0, 2, 1)  # (B, N, D)
    assert_equal_to_1e6(matmul, tokens, scale)


@pytest.mark.parametrize("name", list(SHAPES))
def test_matmul_form_gradients_equal_conv2d(name):
    embed, images = _embed_and_images(name)
    params = embed.trainable_params()
    probe = tensor(np.random.default_rng(2).standard_normal((2, embed.num_patches, embed.proj.weight.shape[0])))

    def loss(form):
        def total(x):
            return (form(x) * probe).sum()
        return total

    grads = {form: mindspore.grad(loss(getattr(embed, form)), (0,), params)(images)
             for form in ("_matmul_form", "_conv_form")}
    (image_grad_m, param_grads_m), (image_grad_c, param_grads_c) = grads["_matmul_form"], grads["_conv_form"]
    np.testing.assert_allclose(image_grad_m.asnumpy(), image_grad_c.asnumpy(), rtol=0, atol=1e-5)
    for g_m, g_c in zip(param_grads_m, param_grads_c):
        np.testing.assert_allclose(g_m.asnumpy(), g_c.asnumpy(), rtol=1e-5, atol=1e-5)


def test_module_takes_the_matmul_form_on_cpu():
    assert use_patch_matmul() == (mindspore.get_context("device_target") == "CPU")
    embed, images = _embed_and_images("rectangular")
    chosen = embed._matmul_form if use_patch_matmul() else embed._conv_form
    np.testing.assert_array_equal(embed(images).asnumpy(), chosen(images).asnumpy())
    jitted = mindspore.jit(embed.construct)(images).asnumpy()
    assert_equal_to_1e6(jitted, chosen(images).asnumpy(), _sum_of_magnitudes(embed, images))
