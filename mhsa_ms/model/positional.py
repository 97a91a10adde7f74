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

from .._checks import check_last_dim, check_positive_int, check_rank


def sinusoidal_positional_encoding(num_tokens, dim):
    r"""The paper's fixed encoding as a float32 NumPy array (N, D).

    .. math:: PE_{(pos, 2i)} = \sin(pos / 10000^{2i/D}), \quad PE_{(pos, 2i+1)} = \cos(pos / 10000^{2i/D})

    >>> import mhsa_ms as mm
    >>> mm.sinusoidal_positional_encoding(2, 4).astype(float).round(3).tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.841, 0.54, 0.01, 1.0]]
    """
    check_positive_int("num_tokens", num_tokens)
    check_positive_int("dim", dim)
    if dim % 2:
        raise ValueError(f"dim must be even for sin/cos pairs, got {dim}")
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
        self.dim = dim
        self.encoding = Tensor(sinusoidal_positional_encoding(max_tokens, dim))  # (N_max, D), not trained

    def construct(self, x):
        check_rank("x", x.shape, 3, "(B, N, D)")
        check_last_dim("x", x.shape, self.dim, "dim")
        if x.shape[1] > self.encoding.shape[0]:
            raise ValueError(f"x has {x.shape[1]} tokens, more than max_tokens={self.encoding.shape[0]}")
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
        if x.shape[1:] != self.embedding.shape[1:]:
            raise ValueError(f"x must have shape (B, {self.embedding.shape[1]}, {self.embedding.shape[2]}), "
                             f"got {x.shape}")
        return x + self.embedding
