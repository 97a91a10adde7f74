r"""A small Transformer encoder over token sequences, with one prediction per token.

tokens (B, N) --embedding--> (B, N, D) --+ positional encoding--> ``depth``
encoder layers --> LayerNorm (pre-norm only) --> linear head --> logits (B, N, V).
Lesson 5 trains it on :func:`mhsa_ms.reverse_task`, with and without positions.

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> model = mm.TokenEncoder(vocab_size=10, max_tokens=8, embed_dim=16, depth=1, num_heads=2)
>>> logits, attention = model(ms.Tensor(np.zeros((3, 8), np.int32)), return_attention=True)
>>> logits.shape, len(attention), attention[0].shape        # (B, N, V), depth x (B, h, N, N)
((3, 8, 10), 1, (3, 2, 8, 8))
"""

from mindspore import nn
from mindspore.common.initializer import Normal

from .._checks import check_bool, check_choice, check_positive_int, check_rank
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from .transformer import EncoderLayer, layer_norm

_POSITIONS = ("sinusoidal", "learned", "none")


class TokenEncoder(nn.Cell):
    """Token embedding, positional encoding, encoder layers and a per-token classifier.

    Args:
        vocab_size: number of token ids V (inputs and outputs).
        max_tokens: longest sequence N.
        embed_dim, depth, num_heads, mlp_ratio, norm_first: as in
            :class:`mhsa_ms.EncoderLayer`.
        positions: "sinusoidal" (fixed, the original paper's), "learned", or
            "none" (no positions: the model is then permutation-equivariant,
            permuting the tokens permutes the logits).

    Token embeddings are initialised N(0, 1), the scale of the sinusoidal
    encoding, so neither drowns the other at the start.  Call ``(tokens,
    return_attention=False, attn_mask=None, key_padding_mask=None,
    is_causal=False)`` with int tokens (B, N) and the masks of
    :class:`mhsa_ms.EncoderLayer` (torch's conventions, see
    :mod:`mhsa_ms.model.masks`), passed to every layer; returns logits
    (B, N, V), or (logits, tuple of ``depth`` weights (B, h, N, N)).
    """

    def __init__(self, vocab_size, max_tokens, embed_dim, depth, num_heads, mlp_ratio=2.0, norm_first=True,
                 positions="sinusoidal"):
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("depth", depth)
        check_choice("positions", positions, _POSITIONS)
        self.embed = nn.Embedding(vocab_size, embed_dim, embedding_table=Normal(1.0))
        if positions == "sinusoidal":
            self.positions = SinusoidalPositionalEncoding(max_tokens, embed_dim)
        elif positions == "learned":
            self.positions = LearnedPositionalEmbedding(max_tokens, embed_dim)
        else:
            self.positions = None
        self.layers = nn.CellList([
            EncoderLayer(embed_dim, num_heads, mlp_ratio, norm_first=norm_first) for _ in range(depth)
        ])
        self.norm = layer_norm(embed_dim) if norm_first else None
        self.head = nn.Dense(embed_dim, vocab_size)

    def construct(self, tokens, return_attention=False, attn_mask=None, key_padding_mask=None, is_causal=False):
        check_rank("tokens", tokens.shape, 2, "(B, N) token ids")
        check_bool("return_attention", return_attention)
        x = self.embed(tokens)  # (B, N, D)
        if self.positions is not None:
            x = self.positions(x)  # + position: (B, N, D)
        attention = ()
        for layer in self.layers:
            x, weights = layer(x, attn_mask, key_padding_mask, is_causal,
                               need_weights=return_attention)  # (B, N, D), (B, h, N, N)
            attention = attention + (weights,)
        if self.norm is not None:
            x = self.norm(x)  # pre-norm layers leave the residual stream unnormalised
        logits = self.head(x)  # (B, N, V)
        if return_attention:
            return logits, attention
        return logits
