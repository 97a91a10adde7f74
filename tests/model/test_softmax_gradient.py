"""The attention softmax's gradient with row sums as a matmul (the CPU path) equals MindSpore's own."""
import numpy as np
import pytest
import mindspore
from mindspore import ops

import mhsa_ms as mm
from mhsa_ms.model.functional import _SOFTMAX_ROW_SUMS_AS_MATMUL, use_matmul_row_sums


def _gradients(softmax, scores, probe, jit):
    def loss(x):
        return (softmax(x) * probe).sum()

    grad = mindspore.grad(loss)
    return (mindspore.jit(grad) if jit else grad)(scores).asnumpy()


def _plain(x):
    return ops.softmax(x, -1)


@pytest.mark.parametrize("shape", [(3, 8, 4, 4), (2, 3, 5, 7), (1, 2, 33, 65), (4, 2), (2, 6)])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_matmul_row_sums_give_mindspores_softmax_gradient(shape, jit):
    rng = np.random.default_rng(sum(shape))
    scores = mindspore.Tensor(3 * rng.standard_normal(shape).astype(np.float32))
    probe = mindspore.Tensor(rng.standard_normal(shape).astype(np.float32))
    np.testing.assert_allclose(_SOFTMAX_ROW_SUMS_AS_MATMUL(scores).asnumpy(), _plain(scores).asnumpy(), rtol=0, atol=0)
    expected = _gradients(_plain, scores, probe, jit)
    got = _gradients(_SOFTMAX_ROW_SUMS_AS_MATMUL, scores, probe, jit)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(got).max() > 0


def test_masked_rows_keep_zero_gradients_through_the_cpu_path():
    """A fully masked row of attention: zero output, zero gradient, no NaN (the matmul row sums included)."""
    x = mindspore.Tensor(np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32))
    mha = mm.MultiHeadAttention(8, 2)
    mask = mm.key_padding_mask([0, 3], 3)  # every key of sample 0 is padding

    def loss(inputs):
        return mha(inputs, key_padding_mask=mask)[0].sum()

    grad = mindspore.grad(loss)(x).asnumpy()
    assert np.isfinite(grad).all()
    assert (grad[0] == 0).all() and np.abs(grad[1]).max() > 0


def test_the_cpu_path_is_chosen_on_cpu_only():
    assert use_matmul_row_sums() == (mindspore.get_context("device_target") == "CPU")
