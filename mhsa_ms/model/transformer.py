r"""Transformer building blocks: feed-forward network, encoder and decoder layers.

Pre-norm (``norm_first=True``, as in ViT):
    x = x + MHA(LN(x));   x = x + FFN(LN(x))
Post-norm ("Add & Norm" of the original paper, ``norm_first=False``):
    x = LN(x + MHA(x));   x = LN(x + FFN(x))

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> layer = mm.EncoderLayer(16, 4)
>>> out, weights = layer(ms.Tensor(np.zeros((2, 5, 16), np.float32)))
>>> out.shape, weights.shape
((2, 5, 16), (2, 4, 5, 5))
"""
from mindspore import nn

from .._checks import check_positive_int, check_probability, check_rank
from .attention import MultiHeadAttention
from .functional import causal_mask

LAYER_NORM_EPS = 1e-5  # PyTorch's default; MindSpore's nn.LayerNorm defaults to 1e-7
_ACTIVATIONS = ("gelu", "relu")


def layer_norm(dim):
    """``nn.LayerNorm`` over the last axis of width ``dim`` with epsilon 1e-5."""
    return nn.LayerNorm((dim,), epsilon=LAYER_NORM_EPS)


class FeedForward(nn.Cell):
    r"""Position-wise feed-forward network: FFN(x) = act(x W_1 + b_1) W_2 + b_2.

    (B, N, D) -> (B, N, D) with hidden width ``hidden_dim``; ``activation`` is
    "gelu" (exact erf form, as in PyTorch and ViT) or "relu" (the paper's).
    """

    def __init__(self, embed_dim, hidden_dim, dropout=0.0, activation="gelu"):
        super().__init__()
        check_positive_int("embed_dim", embed_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_probability("dropout", dropout)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        self.fc1 = nn.Dense(embed_dim, hidden_dim)
        self.act = nn.GELU(approximate=False) if activation == "gelu" else nn.ReLU()
        self.fc2 = nn.Dense(hidden_dim, embed_dim)
        self.drop = nn.Dropout(p=dropout)  # p = probability to drop (keep_prob is deprecated)

    def construct(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))  # (B, N, D)


def _check_layer_args(embed_dim, num_heads, mlp_ratio):
    check_positive_int("embed_dim", embed_dim)
    check_positive_int("num_heads", num_heads)
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, (int, float)) or mlp_ratio <= 0:
        raise ValueError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")


class EncoderLayer(nn.Cell):
    """One Transformer encoder layer: self-attention and FFN, each with residual and LayerNorm.

    Call ``(x, mask=None)`` with x (B, N, D); returns (x (B, N, D),
    attention weights (B, h, N, N)).
    """

    def __init__(self, embed_dim, num_heads, mlp_ratio=4.0, dropout=0.0, norm_first=True, activation="gelu"):
        super().__init__()
        _check_layer_args(embed_dim, num_heads, mlp_ratio)
        self.norm_first = bool(norm_first)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout)
        self.ffn = FeedForward(embed_dim, int(embed_dim * mlp_ratio), dropout, activation)
        self.norm1 = layer_norm(embed_dim)
        self.norm2 = layer_norm(embed_dim)
        self.drop = nn.Dropout(p=dropout)

    def construct(self, x, mask=None, need_weights=True):
        if self.norm_first:
            attended, weights = self.attn(self.norm1(x), mask=mask, need_weights=need_weights)
            x = x + self.drop(attended)
            x = x + self.ffn(self.norm2(x))
        else:
            attended, weights = self.attn(x, mask=mask, need_weights=need_weights)
            x = self.norm1(x + self.drop(attended))
            x = self.norm2(x + self.ffn(x))
        return x, weights


class DecoderLayer(nn.Cell):
    """One Transformer decoder layer: masked self-attention, encoder-decoder
    (cross) attention over ``memory``, FFN; each with residual and LayerNorm.

    Call ``(x, memory, self_mask=None, memory_mask=None)`` with x (B, Nq, D)
    and memory (B, Nk, D).  ``self_mask`` defaults to the causal mask, so a
    position never sees later ones.  Returns (x (B, Nq, D), self-attention
    weights (B, h, Nq, Nq), cross-attention weights (B, h, Nq, Nk)).
    """

    def __init__(self, embed_dim, num_heads, mlp_ratio=4.0, dropout=0.0, norm_first=True, activation="gelu"):
        super().__init__()
        _check_layer_args(embed_dim, num_heads, mlp_ratio)
        self.norm_first = bool(norm_first)
        self.self_attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout)
        self.ffn = FeedForward(embed_dim, int(embed_dim * mlp_ratio), dropout, activation)
        self.norm1, self.norm2, self.norm3 = layer_norm(embed_dim), layer_norm(embed_dim), layer_norm(embed_dim)
        self.drop = nn.Dropout(p=dropout)

    def construct(self, x, memory, self_mask=None, memory_mask=None):
        check_rank("x", x.shape, 3, "(B, Nq, D)")
        if self_mask is None:
            self_mask = causal_mask(x.shape[1])  # (Nq, Nq)
        if self.norm_first:
            attended, self_weights = self.self_attn(self.norm1(x), mask=self_mask)
            x = x + self.drop(attended)
            attended, cross_weights = self.cross_attn(self.norm2(x), memory, memory, mask=memory_mask)
            x = x + self.drop(attended)
            x = x + self.ffn(self.norm3(x))
        else:
            attended, self_weights = self.self_attn(x, mask=self_mask)
            x = self.norm1(x + self.drop(attended))
            attended, cross_weights = self.cross_attn(x, memory, memory, mask=memory_mask)
            x = self.norm2(x + self.drop(attended))
            x = self.norm3(x + self.ffn(x))
        return x, self_weights, cross_weights
