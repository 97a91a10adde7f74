r"""The modules' masks, with the conventions of ``torch.nn.MultiheadAttention``.

:class:`mhsa_ms.MultiHeadAttention`, :class:`mhsa_ms.PerHeadAttention` and the
layers built on them take three masks, combined into one:

- ``attn_mask``: which keys each query may see.  Shape (Nq, Nk), (B·h, Nq, Nk)
  (row b·h + i is head i of sample b, as in torch) or (B, h, Nq, Nk) (axes of
  size 1 broadcast, as in ``torch.nn.functional.scaled_dot_product_attention``).
  Boolean: **True = not allowed to attend** (torch's convention).  Float: added
  to the scores before the softmax; -inf means not allowed.
- ``key_padding_mask``: (B, Nk), which keys are padding.  Boolean: **True =
  padding, ignored**; float: added to the scores of that key in every query.
  :func:`mhsa_ms.key_padding_mask` builds it from sequence lengths.
- ``is_causal``: query i attends only to keys j <= i (top-left aligned when
  Nq != Nk, as ``torch.nn.functional.scaled_dot_product_attention``).

Where this differs from ``torch.nn.MultiheadAttention``, on purpose:

- ``is_causal=True`` applies the causal mask itself; torch takes it only as a
  hint that ``attn_mask`` is causal and requires ``attn_mask`` too.  Given
  both, the two are combined, which is torch's result when ``attn_mask`` is the
  causal mask.
- A query with no allowed key gets zero weights, a zero attention output and
  zero gradients; torch's weights path gives NaN there.
- A 2-D ``attn_mask`` is refused when B = Nq > 1: its shape is also that of a
  (B, Nk) key padding mask, and a padding mask passed as ``attn_mask`` would
  be silently read as (Nq, Nk).  Pass padding as ``key_padding_mask``, a
  query-key mask as ``attn_mask[None, None]`` (1, 1, Nq, Nk), or ``is_causal=True``.
- Masks must have exactly these shapes: a (B, Nq, Nk) ``attn_mask`` with
  h > 1 and the lessons' (B, 1, Nk) :func:`mhsa_ms.padding_mask` as
  ``key_padding_mask`` are refused with a message saying what to pass.

The lessons' :func:`mhsa_ms.scaled_dot_product_attention` keeps its own
convention, ``mask`` True = may attend (:func:`mhsa_ms.causal_mask`,
:func:`mhsa_ms.padding_mask`): ``key_padding_mask=mm.key_padding_mask(lengths, N)``
is ``~mm.padding_mask(lengths, N)[:, 0]`` and ``is_causal=True`` is
``attn_mask=~mm.causal_mask(N)``.

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> mha = mm.MultiHeadAttention(8, 2)
>>> x = ms.Tensor(np.ones((2, 3, 8), np.float32))                     # (B, N, D)
>>> _, w = mha(x, key_padding_mask=mm.key_padding_mask([3, 1], 3), is_causal=True)
>>> w[1, 0].asnumpy().round(2).tolist()                              # sample 1 sees only token 0
[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
"""
import mindspore
from mindspore import ops

from .._checks import (
    check_attn_mask_shape,
    check_bool,
    check_key_padding_mask_shape,
    check_mask_dtype,
)

ATTN_MASK_MEANING = "True = not allowed to attend, as in torch"
KEY_PADDING_MEANING = "True = padding, ignored, as in torch"


def merge_masks(batch, heads, q_len, k_len, attn_mask=None, key_padding_mask=None, is_causal=False):
    """Check the masks and combine them into (allowed, bias) for :func:`.functional.attend`.

    ``allowed`` is boolean (True = may attend) and ``bias`` float32 (added to
    the scores), each broadcastable to (B, h, Nq, Nk) or None.
    """
    check_bool("is_causal", is_causal)
    allowed, bias = None, None
    if attn_mask is not None:
        check_mask_dtype("attn_mask", attn_mask, ATTN_MASK_MEANING)
        check_attn_mask_shape(attn_mask.shape, batch, heads, q_len, k_len)
        if attn_mask.ndim == 3:
            attn_mask = attn_mask.reshape((batch, heads, q_len, k_len))  # row b*h + i -> [b, i]
        allowed, bias = _split(_as_4d(attn_mask))
    if key_padding_mask is not None:
        check_mask_dtype("key_padding_mask", key_padding_mask, KEY_PADDING_MEANING)
        check_key_padding_mask_shape(key_padding_mask.shape, batch, k_len)
        padding_allowed, padding_bias = _split(key_padding_mask.reshape((batch, 1, 1, k_len)))  # (B, 1, 1, Nk)
        allowed = _both(allowed, padding_allowed)
        bias = padding_bias if bias is None else (bias if padding_bias is None else bias + padding_bias)
    if is_causal:
        allowed = _both(allowed, _causal(q_len, k_len))
    return allowed, bias


def _as_4d(mask):
    """(Nq, Nk) -> (1, 1, Nq, Nk); (B, Nq, Nk) -> (B, 1, Nq, Nk); 4-D unchanged."""
    if mask.ndim == 3:
        return mask.expand_dims(1)  # (B, 1, Nq, Nk)
    if mask.ndim < 4:
        return mask.reshape((1,) * (4 - mask.ndim) + mask.shape)  # (1, 1, Nq, Nk)
    return mask


def _split(mask):
    """A torch-convention mask -> (allowed, bias): a boolean one masks, a float one is added."""
    if mask.dtype == mindspore.bool_:
        return ops.logical_not(mask), None
    bias = mask.astype(mindspore.float32)
    return bias > float("-inf"), bias  # -inf: not allowed (masked, so a fully masked row is zero, not NaN)


def _both(a, b):
    return b if a is None else ops.logical_and(a, b)


def _causal(q_len, k_len):
    """(1, 1, Nq, Nk) boolean, True where key j <= query i."""
    keys = ops.arange(k_len).reshape((1, k_len))  # (1, Nk)
    queries = ops.arange(q_len).reshape((q_len, 1))  # (Nq, 1)
    return (keys <= queries).reshape((1, 1, q_len, k_len))
