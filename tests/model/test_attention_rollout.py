"""Attention rollout (Abnar & Zuidema, 2020), mm.attention_rollout: hand-computed cases and a ViT's rows."""
import numpy as np
import pytest
from mindspore import Tensor

import mhsa_ms as mm


def _one_head(*rows):
    return np.array([[rows]], np.float64)  # (B=1, h=1, N, N)


def test_two_layers_by_hand():
    first = _one_head([1.0, 0.0], [1.0, 0.0])  # both tokens read token 0
    second = _one_head([0.0, 1.0], [0.0, 1.0])  # both tokens read token 1
    # A~1 = 0.5 A1 + 0.5 I = [[1, 0], [.5, .5]], A~2 = [[.5, .5], [0, 1]]; R = A~2 A~1
    expected = [[0.75, 0.25], [0.5, 0.5]]
    np.testing.assert_allclose(mm.attention_rollout([first, second])[0], expected, rtol=0, atol=1e-12)
    # the other order of the layers gives A~1 A~2 = [[.5, .5], [.25, .75]]: the first layer is rightmost
    np.testing.assert_allclose(mm.attention_rollout((second, first))[0], [[0.5, 0.5], [0.25, 0.75]],
                               rtol=0, atol=1e-12)


def test_heads_are_averaged_and_residual_weight_zero_multiplies_the_bare_maps():
    heads = np.array([[[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    np.testing.assert_allclose(mm.attention_rollout([heads], residual_weight=0.0)[0], [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(mm.attention_rollout([heads])[0], [[0.75, 0.25], [0.25, 0.75]])
    np.testing.assert_allclose(mm.attention_rollout([heads], residual_weight=1.0)[0], np.eye(2))


def test_rollout_of_a_vit_has_rows_summing_to_one_and_equals_the_matrix_product():
    mm.seed_everything(0)
    vit = mm.VisionTransformer(**{**mm.VIT_PRESETS["digits"], "depth": 3})
    images = mm.load_digits().x_test[:3]  # (B, C, H, W)
    _, attention = vit(Tensor(images), return_attention=True)  # depth x (B, h, N+1, N+1)
    rollout = mm.attention_rollout(attention)  # (B, N+1, N+1)
    tokens = attention[0].shape[-1]
    assert rollout.shape == (3, tokens, tokens) and rollout.dtype == np.float64
    np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-5)
    mixed = [0.5 * a.asnumpy().astype(np.float64).mean(1) + 0.5 * np.eye(tokens) for a in attention]
    np.testing.assert_allclose(rollout, mixed[2] @ mixed[1] @ mixed[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention, error", [
    ([np.ones((1, 2, 2)) / 2], ValueError),  # 3-D, not (B, h, N, N)
    ([np.ones((1, 1, 2, 2)) / 2, np.ones((1, 1, 3, 3)) / 3], ValueError),  # layers of different N
    ([np.ones((1, 1, 2, 3)) / 3], ValueError),  # not square
    (np.ones((1, 1, 2, 2)), TypeError),  # one array, not a sequence of layers
])
def test_bad_attention_is_refused(attention, error):
    with pytest.raises(error, match="attention"):
        mm.attention_rollout(attention)
