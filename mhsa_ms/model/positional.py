r"""Positional encodings: attention is blind to order until positions are added to the tokens.

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> encode = mm.SinusoidalPositionalEncoding(max_tokens=8, dim=4)
>>> encode(ms.Tensor(np.zeros((2, 3, 4), np.float32))).shape     # (B, N, D)
(2, 3, 4)
"""
import math

import numpy as np
import mindspore
from mindspore import Parameter, Tensor, nn
from mindspore.common.initializer import TruncatedNormal, initializer

from .._checks import check_at_most, check_divisible, check_last_dim, check_positive_int, check_rank, check_shape


def sinusoidal_positional_encoding(num_tokens, dim):
    r"""The paper's fixed encoding as a float32 NumPy array (N, D).

    .. math:: PE_{(pos, 2i)} = \sin(pos / 10000^{2i/D}), \quad PE_{(pos, 2i+1)} = \cos(pos / 10000^{2i/D})

    >>> import mhsa_ms as mm
    >>> mm.sinusoidal_positional_encoding(2, 4).astype(float).round(3).tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.841, 0.54, 0.01, 1.0]]
    """
    check_positive_int("num_tokens", num_tokens)
    check_positive_int("dim", dim)
    check_divisible("dim", dim, "2 (sin/cos pairs)", 2)
    position = np.arange(num_tokens)[:, None]  # (N, 1)
    frequency = np.exp(-math.log(10000.0) * np.arange(0, dim, 2) / dim)  # (D/2,)
    encoding = np.zeros((num_tokens, dim))
    encoding[:, 0::2] = np.sin(position * frequency)
    encoding[:, 1::2] = np.cos(position * frequency)
    return encoding.astype(np.float32)


class SinusoidalPositionalEncoding(nn.Cell):
    """Adds the fixed sinusoidal encoding to x (B, N, D) for N <= ``max_tokens``."""

    def __init__(self, max_tokens, dim):
        super().__init__()
        check_positive_int("max_tokens", max_tokens)
        self.dim = dim
        self.encoding = Tensor(sinusoidal_positional_encoding(max_tokens, dim))  # (N_max, D), not trained

    def construct(self, x):
        check_rank("x", x.shape, 3, "(B, N, D)")
        check_last_dim("x", x.shape, self.dim, "dim")
        check_at_most("x tokens N", x.shape[1], self.encoding.shape[0], "max_tokens")
        return x + self.encoding[: x.shape[1]]


class LearnedPositionalEmbedding(nn.Cell):
    """Adds a trained position embedding (1, N, D), initialised N(0, 0.02^2) truncated."""

    def __init__(self, num_tokens, dim):
        super().__init__()
        check_positive_int("num_tokens", num_tokens)
        check_positive_int("dim", dim)
        self.embedding = Parameter(initializer(TruncatedNormal(0.02), (1, num_tokens, dim), mindspore.float32),
                                   name="embedding")

    def construct(self, x):
        check_rank("x", x.shape, 3, "(B, N, D)")
        check_shape("x", x.shape, (x.shape[0],) + tuple(self.embedding.shape[1:]), "(B, num_tokens, dim)")
        return x + self.embedding
