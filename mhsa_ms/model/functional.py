r"""Scaled dot-product attention, with a plain path and a fused one.

.. math::  \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> q = ms.Tensor(np.ones((2, 3, 4), np.float32))
>>> out, weights = mm.scaled_dot_product_attention(q, q, q)
>>> out.shape, weights.shape
((2, 3, 4), (2, 3, 3))
"""
import functools
import math
import os

import mindspore
import numpy as np
from mindspore import nn, ops

from .._checks import (
    check_bool,
    check_boolean_mask,
    check_choice,
    check_broadcastable,
    check_dim,
    check_float_dtype,
    check_int_array,
    check_last_dim,
    check_positive_int,
    check_probability,
    check_rank_at_least,
    check_same,
)

FUSED_ENV = "MHSA_MS_FUSED_ATTN"
_FLOAT32_MIN = float(np.finfo(np.float32).min)


@functools.lru_cache(maxsize=None)
def use_fused_attn():
    """Whether ``scaled_dot_product_attention`` may take the fused kernel.

    Decided once per process (timm's pattern): True on Ascend, where
    ``mindspore.ops.flash_attention_score`` exists, unless the environment
    variable ``MHSA_MS_FUSED_ATTN=0``; ``MHSA_MS_FUSED_ATTN=1`` cannot force
    it on a device without the kernel.  :func:`mhsa_ms.use_device` resets
    the decision.
    """
    setting = os.environ.get(FUSED_ENV, "").strip()
    check_choice(FUSED_ENV, setting, ("", "0", "1"))
    on_ascend = mindspore.get_context("device_target") == "Ascend"
    return on_ascend and setting != "0"


def causal_mask(num_tokens):
    """The lessons' boolean (N, N) causal mask, True where query i may attend to key j <= i.

    The teaching convention of :func:`scaled_dot_product_attention`'s ``mask``
    (True = may attend).  The modules take PyTorch's convention instead:
    ``is_causal=True`` applies this mask, and so does ``attn_mask=~causal_mask(N)``
    (True = not allowed).

    >>> import mhsa_ms as mm
    >>> mm.causal_mask(3).asnumpy().astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """
    check_positive_int("num_tokens", num_tokens)
    return mindspore.Tensor(np.tril(np.ones((num_tokens, num_tokens), dtype=bool)))


def padding_mask(lengths, num_tokens):
    """The lessons' boolean (B, 1, N) padding mask: True for the first ``lengths[b]`` tokens (may attend).

    Broadcasts against attention scores (B, Nq, Nk) in
    :func:`scaled_dot_product_attention`.  The modules take PyTorch's
    ``key_padding_mask`` instead, (B, Nk) with True = padding:
    :func:`key_padding_mask` builds it, and equals ``~padding_mask(lengths, N)[:, 0]``.

    >>> import mhsa_ms as mm
    >>> mm.padding_mask([2, 3], 3).asnumpy().astype(int)
    array([[[1, 1, 0]],
    <BLANKLINE>
           [[1, 1, 1]]])
    """
    keep = _first_tokens(lengths, num_tokens)  # (B, N)
    return mindspore.Tensor(keep[:, None, :])  # (B, 1, N)


def key_padding_mask(lengths, num_tokens):
    """PyTorch's boolean (B, N) ``key_padding_mask``: True marks the padding after the first ``lengths[b]`` tokens.

    What :class:`mhsa_ms.MultiHeadAttention` and the layers take as
    ``key_padding_mask`` (as ``torch.nn.MultiheadAttention`` does); the
    opposite of the lessons' :func:`padding_mask` (True = may attend), without its query axis.

    >>> import mhsa_ms as mm
    >>> mm.key_padding_mask([2, 3], 3).asnumpy().astype(int)
    array([[0, 0, 1],
           [0, 0, 0]])
    """
    return mindspore.Tensor(~_first_tokens(lengths, num_tokens))  # (B, N)


def _first_tokens(lengths, num_tokens):
    """(B, N) NumPy booleans, True for the first lengths[b] of the N tokens."""
    check_positive_int("num_tokens", num_tokens)
    lengths = check_int_array("lengths", lengths, 0, num_tokens, "num_tokens")
    return np.arange(num_tokens)[None, :] < lengths[:, None]  # (B, N)


_MATMUL = ops.MatMul()
_MATMUL_T = ops.MatMul(transpose_b=True)
_BATCH_MATMUL = ops.BatchMatMul()
_BATCH_MATMUL_T = ops.BatchMatMul(transpose_b=True)


def _matmul(a, b, transpose_b=False):
    """a @ b (or a @ b^T): the MatMul / BatchMatMul primitives when the batch axes agree.

    Their gradients are matmuls with transpose flags, where ``ops.matmul``'s
    add explicit Transpose ops (and a ReduceSum for broadcast operands).
    """
    if a.ndim == 2 and b.ndim == 2:
        return _MATMUL_T(a, b) if transpose_b else _MATMUL(a, b)
    if a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2]:
        return _BATCH_MATMUL_T(a, b) if transpose_b else _BATCH_MATMUL(a, b)
    return ops.matmul(a, b.swapaxes(-1, -2) if transpose_b else b)


@functools.lru_cache(maxsize=None)
def use_matmul_row_sums():
    """Whether the attention softmax differentiates with its row sums as a matmul (decided once per process).

    True on CPU, where MindSpore's ReduceSum over the last axis is slow: the
    gradient of the softmax sums each row of dy * y, and as a matrix-vector
    product that sum took 1.2 ms instead of 15 ms on 3 x 1024 x 1024 scores;
    the softmax forward+backward went from 31 to 17 ms there and from 8.8 to
    4.6 ms at ViT-Ti's (8, 3, 197, 197) (MindSpore 2.10, one kernel thread;
    benchmarks/kernels.py names the kernel).  Elsewhere MindSpore's own
    softmax gradient.  Both give the same gradient (tested).
    :func:`mhsa_ms.use_device` resets the decision.
    """
    return mindspore.get_context("device_target") == "CPU"


class _SoftmaxRowSumsAsMatmul(nn.Cell):
    r"""Softmax over the last axis, differentiated with the row sums as a matmul.

    .. math:: y = \mathrm{softmax}(x), \qquad
        \frac{\partial L}{\partial x} = y \odot \Big(\frac{\partial L}{\partial y}
        - \big(\tfrac{\partial L}{\partial y} \odot y\big)\,\mathbf{1}\Big)
    """

    def construct(self, scores):
        return ops.softmax(scores, -1)

    def bprop(self, scores, weights, grad_weights):
        # 1. the product dy * y, each row summed as (rows, Nk) @ (Nk, 1)
        product = grad_weights * weights  # (..., Nq, Nk)
        width = product.shape[-1]
        row_sums = _MATMUL(product.reshape((-1, width)), ops.ones((width, 1), product.dtype))  # (rows, 1)
        row_sums = row_sums.reshape(product.shape[:-1] + (1,))  # (..., Nq, 1)
        # 2. dx = y * (dy - row sums)
        return (weights * (grad_weights - row_sums),)


_SOFTMAX_ROW_SUMS_AS_MATMUL = _SoftmaxRowSumsAsMatmul()


def _fused_attention(q, k, v, scale):
    """Ascend flash attention on (B, h, N, d_h) inputs, computed in float16."""
    out = ops.flash_attention_score(
        q.astype(mindspore.float16),
        k.astype(mindspore.float16),
        v.astype(mindspore.float16),
        head_num=q.shape[1],
        scalar_value=scale,
        input_layout="BNSD",
    )
    return out.astype(q.dtype)


def scaled_dot_product_attention(q, k, v, mask=None, dropout_p=0.0, training=False, need_weights=True,
                                 scale=None):
    r"""Attention of queries ``q`` over keys ``k`` and values ``v`` (the lessons' teaching function).

    Args:
        q: (..., Nq, d_k) queries.
        k: (..., Nk, d_k) keys.
        v: (..., Nk, d_v) values.
        mask: optional boolean tensor broadcastable to (..., Nq, Nk) with the
            lessons' convention, **True = may attend** (:func:`causal_mask`,
            :func:`padding_mask`).  This is the opposite of PyTorch's boolean
            ``attn_mask`` (True = not allowed), which the modules
            (:class:`mhsa_ms.MultiHeadAttention` and the layers) take.  A query
            whose keys are all masked gets zero weights and a zero output, never NaN.
        dropout_p: probability of dropping an attention weight in training.
        training: apply dropout only when True.
        need_weights: when False the weights are not returned (None) and, on
            Ascend, the fused ``flash_attention_score`` kernel may be used for
            4-D inputs without mask or dropout (see :func:`use_fused_attn`).
        scale: factor of the scores, default 1/sqrt(d_k); a caller that has
            already scaled q (as :class:`MultiHeadAttention` does, inside its
            projection) passes 1.0.

    Returns:
        (out, weights): out (..., Nq, d_v) in v's dtype; weights (..., Nq, Nk)
        or None.  float16 (and, off CPU, bfloat16) inputs are multiplied in
        their dtype; the softmax is computed in float32 whatever the input dtype.
    """
    check_bool("training", training)
    check_bool("need_weights", need_weights)
    check_same(("q", "k", "v"), (q.ndim, k.ndim, v.ndim), "rank (number of dimensions)")
    check_rank_at_least("q", q.shape, 2, "(..., Nq, d_k)")
    check_last_dim("k", k.shape, q.shape[-1], "q's d_k")
    check_dim("v", v.shape, -2, k.shape[-2], "k's Nk")
    check_compute_dtype("q", q.dtype)
    allowed = None
    if mask is not None:
        check_boolean_mask(mask)
        check_broadcastable("mask", mask.shape, q.shape[:-1] + (k.shape[-2],), "(..., Nq, Nk)")
        allowed = mask
    return attend(q, k, v, allowed, None, dropout_p, training, need_weights, scale)


def attend(q, k, v, allowed=None, bias=None, dropout_p=0.0, training=False, need_weights=True, scale=None):
    r"""The attention every module runs; masks already checked (see :mod:`.masks`).

    .. math:: \mathrm{softmax}\!\left(s\,QK^\top + \mathrm{bias},\ \text{over allowed keys}\right) V

    ``allowed`` (boolean, True = may attend) and ``bias`` (float32, added to
    the scores) broadcast to (..., Nq, Nk); either may be None.  A row with no
    allowed key gets zero weights: a zero output and zero gradients, never NaN.
    """
    check_probability("dropout_p", dropout_p)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if (not need_weights and allowed is None and bias is None and (dropout_p == 0.0 or not training)
            and q.ndim == 4 and use_fused_attn()):
        return _fused_attention(q, k, v, scale), None

    # 1. scores = Q K^T / sqrt(d_k), scaling q first (N*d_k products, not N*N)
    if scale != 1.0:
        q = q * scale
    scores = _matmul(q, k, transpose_b=True)  # (..., Nq, Nk)
    # 2. softmax in float32: add the bias (clamped, so that no allowed score overflows to
    #    -inf), give masked scores the float32 minimum
    if scores.dtype != mindspore.float32:
        scores = scores.astype(mindspore.float32)
    if bias is not None:
        scores = ops.maximum(scores + bias, _FLOAT32_MIN)
    if allowed is not None:
        scores = ops.masked_fill(scores, ops.logical_not(allowed), _FLOAT32_MIN)
    if use_matmul_row_sums():
        weights = _SOFTMAX_ROW_SUMS_AS_MATMUL(scores)  # (..., Nq, Nk)
    else:
        weights = ops.softmax(scores, -1)  # (..., Nq, Nk)
    # 3. a fully masked row would be uniform over masked keys: zero it
    if allowed is not None:
        weights = weights * allowed.astype(mindspore.float32)
    # 4. dropout on the weights (training only)
    if training and dropout_p > 0.0:
        weights = ops.dropout(weights, p=dropout_p, training=True)
    if weights.dtype != v.dtype:
        weights = weights.astype(v.dtype)
    # 5. out = weights V
    out = _matmul(weights, v)  # (..., Nq, d_v)
    return out, (weights if need_weights else None)


@functools.lru_cache(maxsize=None)
def compute_dtypes():
    """The input dtypes attention computes on the current device (decided once per process).

    Measured with MindSpore 2.10 on CPU: float32, float16 and float64; bfloat16
    has no CPU MatMul, BatchMatMul or Softmax kernel.  On GPU and Ascend every
    float dtype is let through (where a kernel lacks one, MindSpore says so
    itself).  :func:`mhsa_ms.use_device` resets the decision.
    """
    if mindspore.get_context("device_target") == "CPU":
        return (mindspore.float32, mindspore.float16, mindspore.float64)
    return (mindspore.float32, mindspore.float16, mindspore.bfloat16, mindspore.float64)


def check_compute_dtype(name, dtype):
    """A float dtype the current device computes attention in (see :func:`compute_dtypes`)."""
    check_float_dtype(name, dtype, compute_dtypes(), "this device's kernels")
