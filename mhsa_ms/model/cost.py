r"""Cost of one multi-head self-attention layer, counted in multiply-accumulates.

.. math:: \underbrace{3ND^2}_{QKV} + \underbrace{N^2 D}_{QK^\top} + \underbrace{N^2 D}_{AV}
          + \underbrace{ND^2}_{W^O} = 4ND^2 + 2N^2D

One multiply-accumulate (MAC) is two floating-point operations; softmax,
scaling and biases are O(N^2 h + N D) and left out, as is usual.
"""
from .._checks import check_positive_int


def attention_flops(num_tokens, dim, batch_size=1):
    """Multiply-accumulates of one self-attention over N tokens of width D.

    Returns a dict with ``projections`` (3ND^2, for Q, K, V), ``scores``
    (N^2 D, for QK^T), ``weighted_values`` (N^2 D, weights times V),
    ``output_projection`` (ND^2, for W^O), ``total`` (4ND^2 + 2N^2D) and
    ``total_flops`` (2 x total), all multiplied by ``batch_size``.  The
    count does not depend on the number of heads.

    >>> import mhsa_ms as mm
    >>> cost = mm.attention_flops(4, 16)
    >>> cost["total"] == 4 * 4 * 16**2 + 2 * 4**2 * 16
    True
    """
    check_positive_int("num_tokens", num_tokens)
    check_positive_int("dim", dim)
    check_positive_int("batch_size", batch_size)
    n, d = num_tokens, dim
    parts = {
        "projections": 3 * n * d * d,
        "scores": n * n * d,
        "weighted_values": n * n * d,
        "output_projection": n * d * d,
    }
    parts = {name: batch_size * count for name, count in parts.items()}
    parts["total"] = sum(parts.values())
    parts["total_flops"] = 2 * parts["total"]
    return parts
