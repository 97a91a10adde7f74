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
from mindspore import ops

from .._checks import check_boolean_mask, check_broadcastable, check_probability

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
    if setting not in ("", "0", "1"):
        raise ValueError(f"{FUSED_ENV} must be '0' or '1', got {setting!r}")
    on_ascend = mindspore.get_context("device_target") == "Ascend"
    return on_ascend and setting != "0"


def causal_mask(num_tokens):
    """Boolean (N, N) mask, True where query i may attend to key j <= i.

    >>> import mhsa_ms as mm
    >>> mm.causal_mask(3).asnumpy().astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens <= 0:
        raise ValueError(f"num_tokens must be a positive int, got {num_tokens!r}")
    return mindspore.Tensor(np.tril(np.ones((num_tokens, num_tokens), dtype=bool)))


def padding_mask(lengths, num_tokens):
    """Boolean (B, 1, N) key-padding mask: True for the first ``lengths[b]`` tokens.

    Broadcasts against attention scores (B, Nq, Nk); ``MultiHeadAttention``
    inserts the head axis itself.

    >>> import mhsa_ms as mm
    >>> mm.padding_mask([2, 3], 3).asnumpy().astype(int)
    array([[[1, 1, 0]],
    <BLANKLINE>
           [[1, 1, 1]]])
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be a 1-D sequence of ints, got {lengths!r}")
    if (lengths < 0).any() or (lengths > num_tokens).any():
        raise ValueError(f"lengths must lie in [0, num_tokens={num_tokens}], got {lengths.tolist()}")
    keep = np.arange(num_tokens)[None, :] < lengths[:, None]  # (B, N)
    return mindspore.Tensor(keep[:, None, :])  # (B, 1, N)


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
    r"""Attention of queries ``q`` over keys ``k`` and values ``v``.

    Args:
        q: (..., Nq, d_k) queries.
        k: (..., Nk, d_k) keys.
        v: (..., Nk, d_v) values.
        mask: optional boolean tensor broadcastable to (..., Nq, Nk);
            True = may attend.  A query whose keys are all masked gets zero
            weights and a zero output, never NaN.
        dropout_p: probability of dropping an attention weight in training.
        training: apply dropout only when True.
        need_weights: when False the weights are not returned (None) and, on
            Ascend, the fused ``flash_attention_score`` kernel may be used for
            4-D float inputs without mask or dropout (see :func:`use_fused_attn`).
        scale: factor of the scores, default 1/sqrt(d_k); a caller that has
            already scaled q (as :class:`MultiHeadAttention` does, inside its
            projection) passes 1.0.

    Returns:
        (out, weights): out (..., Nq, d_v) in v's dtype; weights (..., Nq, Nk)
        or None.  The softmax is computed in float32 whatever the input dtype.
    """
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(
            f"q, k, v must have the same rank >= 2, got shapes {q.shape}, {k.shape}, {v.shape}"
        )
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k last dimension must equal q's d_k={q.shape[-1]}, got k shape {k.shape}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"v must have as many tokens as k (Nk={k.shape[-2]}), got v shape {v.shape}"
        )
    check_probability("dropout_p", dropout_p)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if (not need_weights and mask is None and (dropout_p == 0.0 or not training)
            and q.ndim == 4 and use_fused_attn()):
        return _fused_attention(q, k, v, scale), None
    scores_shape = q.shape[:-1] + (k.shape[-2],)
    if mask is not None:
        check_boolean_mask(mask)
        check_broadcastable("mask", mask.shape, scores_shape, "(..., Nq, Nk)")

    # 1. scores = Q K^T / sqrt(d_k), scaling q first (N*d_k products, not N*N)
    if scale != 1.0:
        q = q * scale
    scores = _matmul(q, k, transpose_b=True)  # (..., Nq, Nk)
    # 2. softmax in float32; masked scores take the float32 minimum
    if scores.dtype != mindspore.float32:
        scores = scores.astype(mindspore.float32)
    if mask is not None:
        scores = ops.masked_fill(scores, ops.logical_not(mask), _FLOAT32_MIN)
    weights = ops.softmax(scores, -1)  # (..., Nq, Nk)
    # 3. a fully masked row would be uniform over masked keys: zero it
    if mask is not None:
        weights = weights * mask.astype(mindspore.float32)
    # 4. dropout on the weights (training only)
    if training and dropout_p > 0.0:
        weights = ops.dropout(weights, p=dropout_p, training=True)
    if weights.dtype != v.dtype:
        weights = weights.astype(v.dtype)
    # 5. out = weights V
    out = _matmul(weights, v)  # (..., Nq, d_v)
    return out, (weights if need_weights else None)
