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
from mindspore import nn, ops

from .._checks import check_bool, check_choice, check_number, check_positive_int, check_probability, check_rank
from .attention import MultiHeadAttention

LAYER_NORM_EPS = 1e-5  # PyTorch's default (nn.LayerNorm, nn.TransformerEncoderLayer); MindSpore's is 1e-7
_ACTIVATIONS = ("gelu", "relu")


def layer_norm(dim, eps=LAYER_NORM_EPS):
    """``nn.LayerNorm`` over the last axis of width ``dim`` with epsilon ``eps`` (default 1e-5, PyTorch's)."""
    check_number("layer_norm_eps", eps, 0.0, exclusive_minimum=True)
    return nn.LayerNorm((dim,), epsilon=float(eps))


class FeedForward(nn.Cell):
    r"""Position-wise feed-forward network: FFN(x) = act(x W_1 + b_1) W_2 + b_2.

    (B, N, D) -> (B, N, D) with hidden width ``hidden_dim``; ``activation`` is
    "gelu" (exact erf form, as in PyTorch and ViT) or "relu" (the paper's).
    ``dropout`` drops after the activation and after W_2 (timm's Mlp ``drop``).
    """

    def __init__(self, embed_dim, hidden_dim, dropout=0.0, activation="gelu"):
        super().__init__()
        check_positive_int("embed_dim", embed_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_probability("dropout", dropout)
        check_choice("activation", activation, _ACTIVATIONS)
        self.fc1 = nn.Dense(embed_dim, hidden_dim)
        self.act = nn.GELU(approximate=False) if activation == "gelu" else nn.ReLU()
        self.fc2 = nn.Dense(hidden_dim, embed_dim)
        self.drop = nn.Dropout(p=dropout)  # p = probability to drop (keep_prob is deprecated)

    def construct(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))  # (B, N, D)


class DropPath(nn.Cell):
    r"""Stochastic depth: in training, drop a whole residual branch per sample with probability ``p``.

    .. math:: \mathrm{DropPath}(x)_b = \frac{m_b}{1 - p}\, x_b, \qquad m_b \sim \mathrm{Bernoulli}(1 - p)

    The identity in evaluation and when p = 0 (timm's ``DropPath``).
    """

    def __init__(self, p=0.0):
        super().__init__()
        check_probability("drop_path", p)
        self.p = float(p)

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = ops.ones((x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)  # (B, 1, ..., 1)
        return x * ops.dropout(keep, p=self.p, training=True)  # each sample: 0 or 1 / (1 - p)


def _check_layer_args(embed_dim, num_heads, mlp_ratio, norm_first):
    check_positive_int("embed_dim", embed_dim)
    check_positive_int("num_heads", num_heads)
    check_number("mlp_ratio", mlp_ratio, 0.0, exclusive_minimum=True)
    check_bool("norm_first", norm_first)


def _or_default(value, default):
    return default if value is None else value


class EncoderLayer(nn.Cell):
    """One Transformer encoder layer: self-attention and FFN, each with residual and LayerNorm.

    Args:
        embed_dim, num_heads: D and h of the attention.
        mlp_ratio: FFN hidden width / D.
        dropout: one probability for every dropout, as
            ``torch.nn.TransformerEncoderLayer``'s: the attention weights
            (``attn_drop``), the attention output and the FFN (``proj_drop``).
        norm_first: pre-norm (ViT) when True, post-norm (the original paper) when False.
        activation: "gelu" (exact) or "relu".
        attn_drop, proj_drop: override ``dropout`` for the attention weights
            and for the projections (timm's Block arguments); None = ``dropout``.
        drop_path: stochastic depth of both residual branches (:class:`DropPath`).
        layer_norm_eps: LayerNorm epsilon (PyTorch's 1e-5; ViT and timm use 1e-6).
        qkv_bias: biases on W^Q, W^K, W^V (the output projection keeps its bias).

    Call ``(x, src_mask=None, src_key_padding_mask=None, is_causal=False,
    need_weights=True)`` with x (B, N, D), the masks of
    ``torch.nn.TransformerEncoderLayer`` (the ``attn_mask`` and
    ``key_padding_mask`` of :class:`mhsa_ms.MultiHeadAttention`, conventions in
    :mod:`mhsa_ms.model.masks`; ``is_causal`` applies the causal mask itself).
    Returns (x (B, N, D), attention weights (B, h, N, N) or None).
    """

    def __init__(self, embed_dim, num_heads, mlp_ratio=4.0, dropout=0.0, norm_first=True, activation="gelu", *,
                 attn_drop=None, proj_drop=None, drop_path=0.0, layer_norm_eps=LAYER_NORM_EPS, qkv_bias=True):
        super().__init__()
        _check_layer_args(embed_dim, num_heads, mlp_ratio, norm_first)
        check_probability("dropout", dropout)
        attn_drop, proj_drop = _or_default(attn_drop, dropout), _or_default(proj_drop, dropout)
        check_probability("attn_drop", attn_drop)
        check_probability("proj_drop", proj_drop)
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout=attn_drop, qkv_bias=qkv_bias)
        self.ffn = FeedForward(embed_dim, int(embed_dim * mlp_ratio), proj_drop, activation)
        self.norm1 = layer_norm(embed_dim, layer_norm_eps)
        self.norm2 = layer_norm(embed_dim, layer_norm_eps)
        self.drop = nn.Dropout(p=proj_drop)
        self.drop_path = DropPath(drop_path)

    def construct(self, x, src_mask=None, src_key_padding_mask=None, is_causal=False, need_weights=True):
        if self.norm_first:
            attended, weights = self.attn(self.norm1(x), key_padding_mask=src_key_padding_mask,
                                          need_weights=need_weights, attn_mask=src_mask, is_causal=is_causal)
            x = x + self.drop_path(self.drop(attended))
            x = x + self.drop_path(self.ffn(self.norm2(x)))
        else:
            attended, weights = self.attn(x, key_padding_mask=src_key_padding_mask, need_weights=need_weights,
                                          attn_mask=src_mask, is_causal=is_causal)
            x = self.norm1(x + self.drop_path(self.drop(attended)))
            x = self.norm2(x + self.drop_path(self.ffn(x)))
        return x, weights


class DecoderLayer(nn.Cell):
    """One Transformer decoder layer: masked self-attention, encoder-decoder
    (cross) attention over ``memory``, FFN; each with residual and LayerNorm.

    Arguments as :class:`EncoderLayer` (``dropout`` for every dropout).

    Call ``(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``,
    the names and conventions of ``torch.nn.TransformerDecoderLayer``, with
    tgt (B, Nq, D) and memory (B, Nk, D); masks as in
    :mod:`mhsa_ms.model.masks` (boolean True = not allowed / padding).
    Unlike torch, the self-attention is causal unless told otherwise:
    ``tgt_is_causal=None`` means causal when no ``tgt_mask`` is given (a
    decoder never sees later positions) and ``tgt_mask`` alone when one is
    (torch's result); True adds the causal mask to ``tgt_mask``, False turns it off.
    Returns (x (B, Nq, D), self-attention weights (B, h, Nq, Nq),
    cross-attention weights (B, h, Nq, Nk)).
    """

    def __init__(self, embed_dim, num_heads, mlp_ratio=4.0, dropout=0.0, norm_first=True, activation="gelu", *,
                 layer_norm_eps=LAYER_NORM_EPS):
        super().__init__()
        _check_layer_args(embed_dim, num_heads, mlp_ratio, norm_first)
        check_probability("dropout", dropout)
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(embed_dim, num_heads, dropout=dropout)
        self.ffn = FeedForward(embed_dim, int(embed_dim * mlp_ratio), dropout, activation)
        self.norm1, self.norm2, self.norm3 = (layer_norm(embed_dim, layer_norm_eps) for _ in range(3))
        self.drop = nn.Dropout(p=dropout)

    def construct(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                  memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        check_rank("tgt", tgt.shape, 3, "(B, Nq, D)")
        if tgt_is_causal is None:
            tgt_is_causal = tgt_mask is None
        x = tgt
        if self.norm_first:
            attended, self_weights = self.self_attn(self.norm1(x), key_padding_mask=tgt_key_padding_mask,
                                                    attn_mask=tgt_mask, is_causal=tgt_is_causal)
            x = x + self.drop(attended)
            attended, cross_weights = self.cross_attn(self.norm2(x), memory, memory,
                                                      key_padding_mask=memory_key_padding_mask,
                                                      attn_mask=memory_mask, is_causal=memory_is_causal)
            x = x + self.drop(attended)
            x = x + self.ffn(self.norm3(x))
        else:
            attended, self_weights = self.self_attn(x, key_padding_mask=tgt_key_padding_mask, attn_mask=tgt_mask,
                                                    is_causal=tgt_is_causal)
            x = self.norm1(x + self.drop(attended))
            attended, cross_weights = self.cross_attn(x, memory, memory, key_padding_mask=memory_key_padding_mask,
                                                      attn_mask=memory_mask, is_causal=memory_is_causal)
            x = self.norm2(x + self.drop(attended))
            x = self.norm3(x + self.ffn(x))
        return x, self_weights, cross_weights
