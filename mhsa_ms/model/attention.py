r"""Multi-head attention: the fused module and the per-head teaching form.

.. math::
    \mathrm{head}_i = \mathrm{Attention}(Q W_i^Q, K W_i^K, V W_i^V), \qquad
    \mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h) W^O

Weights follow the paper's convention ``y = x @ W + b``: W^Q has shape
(D, D) and W_i^Q = W^Q[:, i*d_h:(i+1)*d_h].

>>> import numpy as np, mindspore as ms, mhsa_ms as mm
>>> mha = mm.MultiHeadAttention(16, 8)
>>> x = ms.Tensor(np.ones((3, 4, 16), np.float32))        # (B, N, D)
>>> out, weights = mha(x)
>>> out.shape, weights.shape                              # (B, N, D), (B, h, N, N)
((3, 4, 16), (3, 8, 4, 4))
"""
import math

import numpy as np
import mindspore
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import XavierUniform, initializer

from .._checks import (
    check_bool,
    check_convertible,
    check_dict_entry,
    check_divisible,
    check_instance,
    check_last_dim,
    check_positive_int,
    check_probability,
    check_rank,
    check_same,
    check_unused_bias,
)
from .functional import _matmul, attend, check_compute_dtype
from .heads import merge_heads, per_head_weights, split_heads
from .masks import merge_masks

_PROJECTIONS = ("q", "k", "v", "o")


def _xavier(rows, cols):
    """A (rows, cols) float32 NumPy matrix drawn from MindSpore's Xavier uniform."""
    return initializer(XavierUniform(), (rows, cols), mindspore.float32).init_data().asnumpy()


def _configure(cell, embed_dim, num_heads, kdim, vdim, bias, dropout, qkv_bias):
    """Check the arguments shared by both attention modules and store them on ``cell``."""
    check_positive_int("embed_dim", embed_dim)
    check_positive_int("num_heads", num_heads)
    check_divisible("embed_dim", embed_dim, "num_heads", num_heads)
    kdim = embed_dim if kdim is None else kdim
    vdim = embed_dim if vdim is None else vdim
    check_positive_int("kdim", kdim)
    check_positive_int("vdim", vdim)
    check_bool("bias", bias)
    qkv_bias = bias if qkv_bias is None else qkv_bias
    check_bool("qkv_bias", qkv_bias)
    check_probability("dropout", dropout)
    cell.embed_dim, cell.num_heads, cell.head_dim = embed_dim, num_heads, embed_dim // num_heads
    cell.kdim, cell.vdim, cell.dropout = kdim, vdim, float(dropout)
    cell.has_bias, cell.has_qkv_bias = bool(bias), bool(qkv_bias)


def _has_bias(cell, name):
    return cell.has_bias if name == "o" else cell.has_qkv_bias


def _check_inputs(query, key, value, embed_dim, kdim, vdim):
    check_rank("query", query.shape, 3, "(B, Nq, D)")
    check_rank("key", key.shape, 3, "(B, Nk, kdim)")
    check_rank("value", value.shape, 3, "(B, Nk, vdim)")
    check_last_dim("query", query.shape, embed_dim, "embed_dim")
    check_last_dim("key", key.shape, kdim, "kdim")
    check_last_dim("value", value.shape, vdim, "vdim")
    check_same(("query", "key", "value"), (query.shape[0], key.shape[0], value.shape[0]), "batch size B")
    check_same(("key", "value"), (key.shape[1], value.shape[1]), "number of tokens Nk")
    check_compute_dtype("query", query.dtype)
    check_same(("query", "key", "value"), (query.dtype, key.dtype, value.dtype), "dtype")


def _check_call_flags(need_weights, average_attn_weights):
    check_bool("need_weights", need_weights)
    check_bool("average_attn_weights", average_attn_weights)


def _weights_out(weights, need_weights, average_attn_weights):
    """(B, h, Nq, Nk) per head, (B, Nq, Nk) averaged over the heads, or None."""
    if not need_weights:
        return None
    return weights.mean(1) if average_attn_weights else weights


class MultiHeadAttention(nn.Cell):
    r"""Multi-head attention with fused projections W^Q, W^K, W^V (D x D) and W^O.

    Args:
        embed_dim: model width D, divisible by ``num_heads``.
        num_heads: number of heads h; each has width d_h = D / h.
        kdim, vdim: widths of key and value inputs (default D).
        bias: add biases b_q, b_k, b_v, b_o.
        dropout: dropout probability on the attention weights (training only).
        qkv_bias: add b_q, b_k, b_v (default: ``bias``); timm's ``qkv_bias``,
            with b_o following ``bias``.

    Call ``(query, key=None, value=None, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=False, is_causal=False)``, the order and
    names of ``torch.nn.MultiheadAttention(batch_first=True)``:

    - query (B, Nq, D), key (B, Nk, kdim), value (B, Nk, vdim); key and value
      default to query (self-attention), value to key.
    - ``key_padding_mask`` (B, Nk): boolean True = padding (ignored), or float
      (added to the scores); :func:`mhsa_ms.key_padding_mask` builds it.
    - ``attn_mask`` (Nq, Nk), (B·h, Nq, Nk) or (B, h, Nq, Nk): boolean True =
      not allowed to attend (torch's convention), or float (added to the scores).
    - ``is_causal``: each query attends only to itself and earlier keys.
    - float16 inputs (bfloat16 off CPU) are computed in their dtype, the
      softmax in float32.

    The masks combine; their conventions, and the differences from torch
    (is_causal applies the mask itself, fully masked rows give zeros instead of
    NaN, a 2-D attn_mask is refused when B = Nq > 1), are in :mod:`mhsa_ms.model.masks`.
    Returns (out (B, Nq, D), weights): weights per head (B, h, Nq, Nk), or
    (B, Nq, Nk) averaged over heads with ``average_attn_weights=True``
    (torch's default is True), or None with ``need_weights=False``.

    The lessons' may-attend masks (True = may attend, for
    :func:`mhsa_ms.scaled_dot_product_attention`) translate as
    ``key_padding_mask=mm.key_padding_mask(lengths, Nk)`` for
    :func:`mhsa_ms.padding_mask` and ``is_causal=True`` for :func:`mhsa_ms.causal_mask`.
    """

    def __init__(self, embed_dim, num_heads, *, kdim=None, vdim=None, bias=True, dropout=0.0, qkv_bias=None):
        super().__init__()
        _configure(self, embed_dim, num_heads, kdim, vdim, bias, dropout, qkv_bias)
        self.same_dims = self.kdim == embed_dim and self.vdim == embed_dim
        rows = {"q": embed_dim, "k": self.kdim, "v": self.vdim, "o": embed_dim}
        for name in _PROJECTIONS:
            setattr(self, f"w_{name}", Parameter(Tensor(_xavier(rows[name], embed_dim)), name=f"w_{name}"))
            bias_value = (Parameter(Tensor(np.zeros(embed_dim, np.float32)), name=f"b_{name}")
                          if _has_bias(self, name) else None)
            setattr(self, f"b_{name}", bias_value)

    def _project(self, x, weight, bias, scale=1.0):
        """(x @ weight + bias) * scale for x (B, N, d_in): one 2-D GEMM over the B*N rows -> (B, N, D_out).

        The scale multiplies the (d_in, D_out) weight, not the (B, N, D_out)
        result; the weight and bias are cast to x's dtype (float16 inputs
        multiply in float16).
        """
        batch, tokens = x.shape[0], x.shape[1]
        if scale != 1.0:
            weight = weight * scale
            if bias is not None:
                bias = bias * scale
        if weight.dtype != x.dtype:
            weight = weight.astype(x.dtype)
            if bias is not None:
                bias = bias.astype(x.dtype)
        y = _matmul(x.reshape((batch * tokens, x.shape[2])), weight)  # (B*N, D_out)
        if bias is not None:
            y = y + bias
        return y.reshape((batch, tokens, weight.shape[1]))  # (B, N, D_out)

    def construct(self, query, key=None, value=None, key_padding_mask=None, need_weights=True, attn_mask=None,
                  average_attn_weights=False, is_causal=False):
        fused_qkv = key is None and value is None and self.same_dims
        key = query if key is None else key
        value = key if value is None else value
        _check_inputs(query, key, value, self.embed_dim, self.kdim, self.vdim)
        _check_call_flags(need_weights, average_attn_weights)
        batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
        h, d_h = self.num_heads, self.head_dim
        allowed, bias = merge_masks(batch, h, q_len, k_len, attn_mask, key_padding_mask, is_causal)

        # 1. project: Q = x_q W^Q + b_q, K = x_k W^K + b_k, V = x_v W^V + b_v;
        #    1/sqrt(d_h) is applied to W^Q and b_q (D*D products, not B*N*D)
        scale = 1.0 / math.sqrt(d_h)
        if fused_qkv:
            w_qkv = ops.cat((self.w_q * scale, self.w_k, self.w_v), 1)  # (D, 3D): one GEMM for all three
            b_qkv = ops.cat((self.b_q * scale, self.b_k, self.b_v)) if self.has_qkv_bias else None  # (3D,)
            qkv = self._project(query, w_qkv, b_qkv)  # (B, N, 3D)
            q, k, v = ops.split(qkv, self.embed_dim, -1)  # each (B, N, D)
            q, k, v = split_heads(q, h), split_heads(k, h), split_heads(v, h)  # each (B, h, N, d_h)
        else:
            q = split_heads(self._project(query, self.w_q, self.b_q, scale), h)  # (B, h, Nq, d_h)
            k = split_heads(self._project(key, self.w_k, self.b_k), h)  # (B, h, Nk, d_h)
            v = split_heads(self._project(value, self.w_v, self.b_v), h)  # (B, h, Nk, d_h)
        # 2. head_i = softmax(Q_i K_i^T / sqrt(d_h) + masks) V_i, all heads at once (q is already scaled)
        heads, weights = attend(
            q, k, v, allowed, bias, self.dropout, self.training, need_weights, scale=1.0
        )  # (B, h, Nq, d_h), (B, h, Nq, Nk)
        # 3. out = Concat(head_1, ..., head_h) W^O + b_o
        out = self._project(merge_heads(heads), self.w_o, self.b_o)  # (B, Nq, D)
        return out, _weights_out(weights, need_weights, average_attn_weights)

    def projection_matrices(self):
        """Dict of NumPy arrays W_q, W_k, W_v, W_o (y = x @ W + b) and b_q, b_k, b_v, b_o (None without bias)."""
        result = {}
        for name in _PROJECTIONS:
            result[f"W_{name}"] = getattr(self, f"w_{name}").asnumpy().copy()
            bias = getattr(self, f"b_{name}")
            result[f"b_{name}"] = None if bias is None else bias.asnumpy().copy()
        return result

    def set_projection_matrices(self, matrices):
        """Load W_q, W_k, W_v, W_o (and b_* where the module has biases) from a dict of arrays."""
        check_instance("matrices", matrices, dict, "a dict of arrays")
        rows = {"q": self.embed_dim, "k": self.kdim, "v": self.vdim, "o": self.embed_dim}
        for name in _PROJECTIONS:
            _assign(self, f"w_{name}", matrices, f"W_{name}", (rows[name], self.embed_dim))
            if _has_bias(self, name):
                _assign(self, f"b_{name}", matrices, f"b_{name}", (self.embed_dim,))
            else:
                check_unused_bias("matrices", matrices, f"b_{name}")

    def to_mindspore(self):
        """An equal ``mindspore.nn.MultiheadAttention(batch_first=True)`` with these weights.

        MindSpore's module stores y = x W^T, so its in_proj_weight is the
        transposed stack [W_q^T; W_k^T; W_v^T] of shape (3D, D).
        """
        check_convertible("to_mindspore()", self.same_dims, "kdim == vdim == embed_dim")
        check_convertible("to_mindspore()", self.has_bias == self.has_qkv_bias, "qkv_bias == bias")
        reference = nn.MultiheadAttention(self.embed_dim, self.num_heads, dropout=self.dropout,
                                          has_bias=self.has_bias, batch_first=True)
        m = self.projection_matrices()
        reference.in_proj_weight.set_data(Tensor(np.concatenate([m["W_q"].T, m["W_k"].T, m["W_v"].T])))
        reference.out_proj.weight.set_data(Tensor(m["W_o"].T.copy()))
        if self.has_bias:
            reference.in_proj_bias.set_data(Tensor(np.concatenate([m["b_q"], m["b_k"], m["b_v"]])))
            reference.out_proj.bias.set_data(Tensor(m["b_o"]))
        return reference


def _assign(cell, attribute, matrices, key, shape):
    value = check_dict_entry("matrices", matrices, key, shape)
    getattr(cell, attribute).set_data(Tensor(value.astype(np.float32)))


class _Head(nn.Cell):
    """One attention head with its own W_i^Q (D, d_h), W_i^K (kdim, d_h), W_i^V (vdim, d_h).

    Call ``(query, key, value, allowed=None, bias=None)``: ``allowed`` and
    ``bias`` are this head's slices of the combined masks (see :mod:`.masks`).
    """

    def __init__(self, w_q, w_k, w_v, biases, dropout):
        super().__init__()
        self.w_q = Parameter(Tensor(w_q), name="w_q")
        self.w_k = Parameter(Tensor(w_k), name="w_k")
        self.w_v = Parameter(Tensor(w_v), name="w_v")
        self.has_bias = biases is not None
        zeros = np.zeros(w_q.shape[1], np.float32)
        b_q, b_k, b_v = biases if self.has_bias else (zeros, zeros, zeros)
        self.b_q = Parameter(Tensor(b_q), name="b_q", requires_grad=self.has_bias)
        self.b_k = Parameter(Tensor(b_k), name="b_k", requires_grad=self.has_bias)
        self.b_v = Parameter(Tensor(b_v), name="b_v", requires_grad=self.has_bias)
        self.dropout = dropout

    def construct(self, query, key, value, allowed=None, bias=None):
        dtype = query.dtype
        q = ops.matmul(query, self.w_q.astype(dtype)) + self.b_q.astype(dtype)  # (B, Nq, d_h)
        k = ops.matmul(key, self.w_k.astype(dtype)) + self.b_k.astype(dtype)  # (B, Nk, d_h)
        v = ops.matmul(value, self.w_v.astype(dtype)) + self.b_v.astype(dtype)  # (B, Nk, d_h)
        return attend(q, k, v, allowed, bias, self.dropout, self.training)


def _head_slice(mask, i):
    """Head i of a (B|1, h|1, Nq, Nk) mask -> (B|1, Nq, Nk)."""
    if mask is None:
        return None
    return mask[:, 0] if mask.shape[1] == 1 else mask[:, i]


class PerHeadAttention(nn.Cell):
    r"""The teaching form of multi-head attention: h separate heads, concat, W^O.

    Each head i owns W_i^Q, W_i^K, W_i^V and runs its own attention; the h
    outputs are concatenated side by side per token and mixed by W^O.  Same
    arguments, call (masks included) and results
    as :class:`MultiHeadAttention`, to which it converts losslessly with
    :meth:`from_fused` / :meth:`to_fused`.

    >>> import numpy as np, mindspore as ms, mhsa_ms as mm
    >>> mha = mm.MultiHeadAttention(8, 2)
    >>> per_head = mm.PerHeadAttention.from_fused(mha)
    >>> x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 5, 8)).astype(np.float32))
    >>> bool(np.allclose(per_head(x)[0].asnumpy(), mha(x)[0].asnumpy(), atol=1e-6))
    True
    """

    def __init__(self, embed_dim, num_heads, *, kdim=None, vdim=None, bias=True, dropout=0.0, qkv_bias=None):
        super().__init__()
        _configure(self, embed_dim, num_heads, kdim, vdim, bias, dropout, qkv_bias)
        zeros = np.zeros(embed_dim, np.float32)
        self._build({
            "W_q": _xavier(embed_dim, embed_dim), "W_k": _xavier(self.kdim, embed_dim),
            "W_v": _xavier(self.vdim, embed_dim), "W_o": _xavier(embed_dim, embed_dim),
            "b_q": zeros, "b_k": zeros, "b_v": zeros, "b_o": zeros,
        })

    def _build(self, m):
        h = self.num_heads
        w_q, w_k, w_v = (per_head_weights(m[key], h) for key in ("W_q", "W_k", "W_v"))
        b_q, b_k, b_v = (per_head_weights(m[key][None, :], h) for key in ("b_q", "b_k", "b_v"))
        self.heads = nn.CellList([
            _Head(w_q[i], w_k[i], w_v[i],
                  (b_q[i][0], b_k[i][0], b_v[i][0]) if self.has_qkv_bias else None, self.dropout)
            for i in range(h)
        ])
        self.w_o = Parameter(Tensor(m["W_o"]), name="w_o")
        self.b_o = Parameter(Tensor(m["b_o"]), name="b_o") if self.has_bias else None

    def construct(self, query, key=None, value=None, key_padding_mask=None, need_weights=True, attn_mask=None,
                  average_attn_weights=False, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        _check_inputs(query, key, value, self.embed_dim, self.kdim, self.vdim)
        _check_call_flags(need_weights, average_attn_weights)
        allowed, bias = merge_masks(query.shape[0], self.num_heads, query.shape[1], key.shape[1],
                                    attn_mask, key_padding_mask, is_causal)
        outputs = ()
        weights = ()
        for i, head in enumerate(self.heads):
            out_i, weights_i = head(query, key, value, _head_slice(allowed, i),
                                    _head_slice(bias, i))  # (B, Nq, d_h), (B, Nq, Nk)
            outputs = outputs + (out_i,)
            weights = weights + (weights_i,)
        concat = ops.cat(outputs, -1)  # (B, Nq, h * d_h): heads side by side per token
        out = ops.matmul(concat, self.w_o.astype(concat.dtype))  # (B, Nq, D)
        if self.b_o is not None:
            out = out + self.b_o.astype(concat.dtype)
        return out, _weights_out(ops.stack(weights, 1), need_weights, average_attn_weights)  # (B, h, Nq, Nk)

    @classmethod
    def from_fused(cls, mha):
        """The per-head form of a :class:`MultiHeadAttention`, with W_i^Q = W^Q S_i."""
        check_instance("mha", mha, MultiHeadAttention, "a MultiHeadAttention")
        per_head = cls(mha.embed_dim, mha.num_heads, kdim=mha.kdim, vdim=mha.vdim,
                       bias=mha.has_bias, dropout=mha.dropout, qkv_bias=mha.has_qkv_bias)
        per_head.set_projection_matrices(mha.projection_matrices())
        return per_head

    def projection_matrices(self):
        """The fused matrices: W_q = [W_1^Q | ... | W_h^Q] etc., as in :class:`MultiHeadAttention`."""
        result = {}
        for name in ("q", "k", "v"):
            result[f"W_{name}"] = np.concatenate([getattr(head, f"w_{name}").asnumpy() for head in self.heads], 1)
            result[f"b_{name}"] = (np.concatenate([getattr(head, f"b_{name}").asnumpy() for head in self.heads])
                                   if self.has_qkv_bias else None)
        result["W_o"] = self.w_o.asnumpy().copy()
        result["b_o"] = self.b_o.asnumpy().copy() if self.has_bias else None
        return result

    def set_projection_matrices(self, matrices):
        """Load fused matrices (see :meth:`MultiHeadAttention.set_projection_matrices`)."""
        fused = self._fused_like()
        fused.set_projection_matrices(matrices)  # validates names and shapes
        m = fused.projection_matrices()
        h = self.num_heads
        for name in ("q", "k", "v"):
            for i, block in enumerate(per_head_weights(m[f"W_{name}"], h)):
                getattr(self.heads[i], f"w_{name}").set_data(Tensor(np.ascontiguousarray(block)))
            if self.has_qkv_bias:
                for i, block in enumerate(per_head_weights(m[f"b_{name}"][None, :], h)):
                    getattr(self.heads[i], f"b_{name}").set_data(Tensor(np.ascontiguousarray(block[0])))
        self.w_o.set_data(Tensor(m["W_o"]))
        if self.has_bias:
            self.b_o.set_data(Tensor(m["b_o"]))

    def _fused_like(self):
        """A :class:`MultiHeadAttention` of the same configuration, with its own random weights."""
        return MultiHeadAttention(self.embed_dim, self.num_heads, kdim=self.kdim, vdim=self.vdim,
                                  bias=self.has_bias, dropout=self.dropout, qkv_bias=self.has_qkv_bias)

    def to_fused(self):
        """The equivalent :class:`MultiHeadAttention`."""
        fused = self._fused_like()
        fused.set_projection_matrices(self.projection_matrices())
        return fused
