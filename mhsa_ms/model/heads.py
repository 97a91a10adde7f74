r"""Heads: splitting a width-D projection into h heads of width d_h = D / h.

Splitting is a matrix product: head i of x is ``x @ S_i`` with the 0/1
selection matrix :math:`S_i \in \{0,1\}^{D \times d_h}`, so a per-head
projection :math:`W_i^Q = W^Q S_i` is a column block of the fused
:math:`W^Q`.

>>> import numpy as np, mhsa_ms as mm
>>> q = np.array([[[1., 1., 0., 1.]]])                    # (B=1, N=1, D=4)
>>> [(q @ mm.head_selection_matrix(4, 2, i))[0, 0].tolist() for i in range(2)]
[[1.0, 1.0], [0.0, 1.0]]
>>> mm.split_heads(q, 2)[0, :, 0].tolist()               # (B, h, N, d_h)[0, :, 0]
[[1.0, 1.0], [0.0, 1.0]]
"""
import numpy as np
from mindspore import ops

from .._checks import check_divisible, check_int, check_positive_int, check_rank


def _transpose(x, perm):
    return np.transpose(x, perm) if isinstance(x, np.ndarray) else ops.transpose(x, perm)


def split_heads(x, num_heads):
    """(B, N, D) -> (B, h, N, d_h); works on MindSpore tensors and NumPy arrays."""
    check_positive_int("num_heads", num_heads)
    check_rank("x", x.shape, 3, "(B, N, D)")
    batch, tokens, width = x.shape
    check_divisible("x last dimension D", width, "num_heads", num_heads)
    x = x.reshape((batch, tokens, num_heads, width // num_heads))  # (B, N, h, d_h)
    return _transpose(x, (0, 2, 1, 3))  # (B, h, N, d_h)


def merge_heads(x):
    """(B, h, N, d_h) -> (B, N, h * d_h), the inverse of :func:`split_heads`."""
    check_rank("x", x.shape, 4, "(B, h, N, d_h)")
    batch, heads, tokens, head_dim = x.shape
    x = _transpose(x, (0, 2, 1, 3))  # (B, N, h, d_h)
    return x.reshape((batch, tokens, heads * head_dim))  # (B, N, D)


def head_selection_matrix(d_model, num_heads, head):
    """The 0/1 matrix S_i (d_model x d_h) with ``x @ S_i == split_heads(x)[:, i]``.

    Column j of S_i is the unit vector e_{i*d_h + j}: it copies coordinate
    i*d_h + j of x into coordinate j of head i.
    """
    check_positive_int("d_model", d_model)
    check_positive_int("num_heads", num_heads)
    check_divisible("d_model", d_model, "num_heads", num_heads)
    check_int("head", head, 0, below=num_heads, below_name="num_heads")
    head_dim = d_model // num_heads
    selection = np.zeros((d_model, head_dim), dtype=np.float32)
    selection[head * head_dim + np.arange(head_dim), np.arange(head_dim)] = 1.0
    return selection


def per_head_weights(w_fused, num_heads):
    """Slice a fused projection W (d_in, D) into h blocks W_i = W S_i (d_in, d_h).

    >>> import numpy as np, mhsa_ms as mm
    >>> w = np.arange(8.0).reshape(2, 4)
    >>> [block.tolist() for block in mm.per_head_weights(w, 2)]
    [[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]
    """
    check_positive_int("num_heads", num_heads)
    check_rank("w_fused", w_fused.shape, 2, "(d_in, D)")
    width = w_fused.shape[1]
    check_divisible("w_fused columns D", width, "num_heads", num_heads)
    head_dim = width // num_heads
    return [w_fused[:, i * head_dim:(i + 1) * head_dim] for i in range(num_heads)]
