r"""An encoder-decoder Transformer over token sequences, trained with teacher forcing.

source (B, Nk) --embedding + PE--> ``depth`` :class:`mhsa_ms.EncoderLayer` --> memory (B, Nk, D)
decoder input (B, Nq) --embedding + PE--> ``depth`` :class:`mhsa_ms.DecoderLayer` (causal
self-attention, cross-attention over the memory, FFN) --> linear head --> logits (B, Nq, V).

The decoder's input is the target shifted right by one with a start token in front
(:func:`shift_right`): position i sees the target tokens before i and predicts token i.
Lesson 5 trains it to sort sequences (:func:`mhsa_ms.sort_task`).

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> model = mm.Seq2SeqTransformer(vocab_size=10, max_tokens=6, embed_dim=16, depth=1, num_heads=2)
>>> source = np.zeros((3, 6), np.int32)                           # (B, Nk)
>>> decoder_inputs = mm.shift_right(source, model.start_token)    # (B, Nq): [start, t_0, ..., t_4]
>>> logits = model(ms.Tensor(source), ms.Tensor(decoder_inputs))
>>> logits.shape                                                  # (B, Nq, V)
(3, 6, 10)
"""
import numpy as np
from mindspore import Tensor, nn
from mindspore.common.initializer import Normal

from .._checks import check_array_dims, check_bool, check_int, check_positive_int, check_rank
from .positional import SinusoidalPositionalEncoding
from .transformer import DecoderLayer, EncoderLayer, layer_norm


def shift_right(targets, start_token):
    """Teacher forcing's decoder input: ``[start_token, t_0, ..., t_{N-2}]`` for each target row.

    Args:
        targets: int array (B, N) of target tokens.
        start_token: the id that opens every decoder input (an id no target uses).

    Returns:
        int32 array (B, N).

    >>> import numpy as np, mhsa_ms as mm
    >>> mm.shift_right(np.array([[4, 5, 6]]), 9).tolist()
    [[9, 4, 5]]
    """
    targets = check_array_dims("targets", targets, 2, "(B, N) token ids")
    check_int("start_token", start_token, minimum=0)
    start = np.full((targets.shape[0], 1), start_token, np.int32)  # (B, 1)
    return np.concatenate([start, targets[:, :-1].astype(np.int32)], axis=1)  # (B, N)


class Seq2SeqTransformer(nn.Cell):
    """Encoder-decoder Transformer: the original paper's architecture, small.

    Args:
        vocab_size: number of token ids V of sources and targets; the decoder's
            input has one more id, :attr:`start_token` = V.
        max_tokens: longest source or target sequence N.
        embed_dim, depth, num_heads, mlp_ratio, norm_first: as in
            :class:`mhsa_ms.EncoderLayer`; ``depth`` encoder layers and
            ``depth`` decoder layers.

    Both sides add the sinusoidal encoding to their token embeddings
    (initialised N(0, 1), the encoding's scale).  Call ``(source,
    decoder_inputs, return_attention=False)`` with int tokens source (B, Nk)
    and decoder_inputs (B, Nq) (:func:`shift_right` of the targets); returns
    logits (B, Nq, V), or (logits, attention) where attention is a dict of
    tuples with one entry per layer: ``"encoder"`` (B, h, Nk, Nk),
    ``"decoder_self"`` (B, h, Nq, Nq) and ``"cross"`` (B, h, Nq, Nk).
    The decoder's self-attention is causal, so the logits at position i
    depend on decoder inputs 0..i only; :meth:`generate` decodes greedily.
    """

    def __init__(self, vocab_size, max_tokens, embed_dim, depth, num_heads, mlp_ratio=2.0, norm_first=True):
        super().__init__()
        check_int("vocab_size", vocab_size, minimum=2)
        check_positive_int("max_tokens", max_tokens)
        check_positive_int("depth", depth)
        self.vocab_size, self.max_tokens = vocab_size, max_tokens
        self.start_token = vocab_size
        self.source_embed = nn.Embedding(vocab_size, embed_dim, embedding_table=Normal(1.0))
        self.target_embed = nn.Embedding(vocab_size + 1, embed_dim, embedding_table=Normal(1.0))
        self.positions = SinusoidalPositionalEncoding(max_tokens, embed_dim)
        self.encoder_layers = nn.CellList([
            EncoderLayer(embed_dim, num_heads, mlp_ratio, norm_first=norm_first) for _ in range(depth)
        ])
        self.decoder_layers = nn.CellList([
            DecoderLayer(embed_dim, num_heads, mlp_ratio, norm_first=norm_first) for _ in range(depth)
        ])
        self.encoder_norm = layer_norm(embed_dim) if norm_first else None
        self.decoder_norm = layer_norm(embed_dim) if norm_first else None
        self.head = nn.Dense(embed_dim, vocab_size)

    def encode(self, source):
        """memory (B, Nk, D) and the encoder's attention weights (one (B, h, Nk, Nk) per layer)."""
        check_rank("source", source.shape, 2, "(B, Nk) token ids")
        x = self.positions(self.source_embed(source))  # (B, Nk, D)
        weights = ()
        for layer in self.encoder_layers:
            x, layer_weights = layer(x)  # (B, Nk, D), (B, h, Nk, Nk)
            weights = weights + (layer_weights,)
        if self.encoder_norm is not None:
            x = self.encoder_norm(x)  # pre-norm layers leave the residual stream unnormalised
        return x, weights

    def decode(self, decoder_inputs, memory):
        """logits (B, Nq, V), self-attention and cross-attention weights (one tuple entry per layer)."""
        check_rank("decoder_inputs", decoder_inputs.shape, 2, "(B, Nq) token ids")
        x = self.positions(self.target_embed(decoder_inputs))  # (B, Nq, D)
        self_weights, cross_weights = (), ()
        for layer in self.decoder_layers:
            x, self_w, cross_w = layer(x, memory)  # (B, Nq, D), (B, h, Nq, Nq), (B, h, Nq, Nk); causal
            self_weights = self_weights + (self_w,)
            cross_weights = cross_weights + (cross_w,)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return self.head(x), self_weights, cross_weights  # (B, Nq, V)

    def construct(self, source, decoder_inputs, return_attention=False):
        check_bool("return_attention", return_attention)
        memory, encoder_weights = self.encode(source)  # (B, Nk, D)
        logits, self_weights, cross_weights = self.decode(decoder_inputs, memory)  # (B, Nq, V)
        if return_attention:
            return logits, {"encoder": encoder_weights, "decoder_self": self_weights, "cross": cross_weights}
        return logits

    def generate(self, source, num_tokens=None):
        """Greedy decoding: (tokens (B, n) int32, logits (B, n, V) float32), NumPy arrays.

        Starts from :attr:`start_token` and appends, ``num_tokens`` times
        (default: the source length), the most likely next token; the logits
        are those of each step, computed from the tokens generated so far
        only.  Runs in evaluation mode and restores the training mode.
        """
        source = Tensor(check_array_dims("source", source, 2, "(B, Nk) token ids").astype(np.int32))
        num_tokens = source.shape[1] if num_tokens is None else num_tokens
        check_int("num_tokens", num_tokens, 1, below=self.max_tokens + 1, below_name="max_tokens + 1")
        was_training = self.training
        self.set_train(False)
        memory, _ = self.encode(source)  # (B, Nk, D), once for all steps
        tokens = np.full((source.shape[0], 1), self.start_token, np.int32)  # (B, 1)
        step_logits = []
        for _ in range(num_tokens):
            logits, _, _ = self.decode(Tensor(tokens), memory)  # (B, t, V)
            last = logits.asnumpy()[:, -1]  # (B, V): the next token's scores
            step_logits.append(last)
            tokens = np.concatenate([tokens, last.argmax(-1).astype(np.int32)[:, None]], axis=1)  # (B, t + 1)
        self.set_train(was_training)
        return tokens[:, 1:], np.stack(step_logits, axis=1)  # (B, n), (B, n, V)
