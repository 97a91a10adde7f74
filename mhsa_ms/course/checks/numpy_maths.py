r"""The formulas the checks' references share, in float64 NumPy (nothing from ``mhsa_ms.model``).

    softmax(s)_j = exp(s_j - max s) / sum_k exp(s_k - max s)
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V,   masked scores -> -inf
    head_i = Attention(x W^Q_i + b^Q_i, ...),  W^Q_i = columns i d_h ... (i+1) d_h - 1 of W^Q
    MultiHead(x) = Concat(head_1, ..., head_h) W^O + b^O          (y = x W + b)
    LayerNorm(x) = gamma (x - mean) / sqrt(var + eps) + beta      (biased variance, last axis)
    GELU(x) = x (1 + erf(x / sqrt 2)) / 2
"""
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def softmax(scores, axis=-1):
    shifted = scores - scores.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def attention(q, k, v, mask=None):
    """(out (..., Nq, d_v), weights (..., Nq, Nk)); mask True = may attend (every row keeps a key)."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores)
    return weights @ v, weights


def multi_head_attention(x, num_heads, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o):
    """Self-attention of x (B, N, D) head by head, then the concat times W^O: (B, N, D)."""
    width = w_q.shape[1]
    d_h = width // num_heads
    q, k, v = x @ w_q + b_q, x @ w_k + b_k, x @ w_v + b_v  # (B, N, D) each
    heads = [attention(q[..., i * d_h:(i + 1) * d_h], k[..., i * d_h:(i + 1) * d_h],
                       v[..., i * d_h:(i + 1) * d_h])[0] for i in range(num_heads)]  # h x (B, N, d_h)
    return np.concatenate(heads, axis=-1) @ w_o + b_o


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
