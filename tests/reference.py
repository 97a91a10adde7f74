r"""An independent float64 NumPy reference for the package's forward passes.

Written from the formulas, not from the package code: it shares no function
with ``mhsa_ms`` and reads the modules' weights only as plain arrays.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + bias over the allowed keys) V
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),  W_i^Q = W^Q[:, i d_h:(i+1) d_h]
    MultiHead = Concat(head_1..head_h) W^O + b_o          (paper convention y = x W + b)
    nn.Dense stores weight (out, in):  y = x weight^T + bias
    LayerNorm: (x - mean) / sqrt(var + eps) * gamma + beta  (eps 1e-5; the ViT's 1e-6)
    GELU (exact): x * (1 + erf(x / sqrt 2)) / 2

Masks follow torch.nn.MultiheadAttention's documentation (:func:`torch_masks`):
boolean attn_mask / key_padding_mask True = not allowed, float ones added to the
scores (-inf = not allowed), is_causal masks key j > query i.  A query with no
allowed key has zero weights and output.

Every matrix product goes through :func:`matmul`, which can count its
multiply-accumulates (MACs) under a label: that is the explicit op count the
FLOP formula is checked against.
"""
import math

import numpy as np

LAYER_NORM_EPS = 1e-5
VIT_LAYER_NORM_EPS = 1e-6
_erf = np.vectorize(math.erf, otypes=[np.float64])


def f64(array):
    """A float64 copy of a NumPy array or MindSpore tensor."""
    if hasattr(array, "asnumpy"):
        array = array.asnumpy()
    return np.array(array, dtype=np.float64)


def matmul(a, b, macs=None, label=None):
    """a @ b for (..., m, k) @ (..., k, n); adds the MACs (batch * m * k * n) to ``macs[label]``."""
    out = np.matmul(a, b)
    if macs is not None:
        m, k = a.shape[-2], a.shape[-1]
        n = b.shape[-1]
        batch = int(np.prod(out.shape[:-2], dtype=np.int64))
        macs[label] = macs.get(label, 0) + batch * m * k * n
    return out


def softmax(scores):
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sdpa(q, k, v, mask=None, macs=None, bias=None):
    """Attention of q (..., Nq, d) over k (..., Nk, d), v (..., Nk, d_v).

    ``mask`` is boolean, True = may attend; ``bias`` is added to the scores;
    both broadcast to (..., Nq, Nk).  A fully masked row has weights 0 and
    output 0.  Returns (out (..., Nq, d_v), weights (..., Nq, Nk)).
    """
    q, k, v = f64(q), f64(k), f64(v)
    scores = matmul(q, np.swapaxes(k, -1, -2), macs, "scores") / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    if mask is None:
        weights = softmax(scores)
    else:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), scores.shape)
        weights = np.zeros_like(scores)
        rows = mask.any(axis=-1)  # (..., Nq): rows with at least one key
        masked = np.where(mask, scores, -np.inf)
        weights[rows] = softmax(masked[rows])
    return matmul(weights, v, macs, "weighted_values"), weights


def torch_masks(batch, heads, q_len, k_len, attn_mask=None, key_padding_mask=None, is_causal=False):
    """torch's masks as (allowed, bias), each (B, h, Nq, Nk): allowed True = may attend, bias float64.

    attn_mask (Nq, Nk), (B*h, Nq, Nk) with row b*h + i for head i of sample b, or
    (B, h, Nq, Nk); key_padding_mask (B, Nk).  Boolean: True = not allowed;
    float: added, -inf = not allowed.  is_causal: key j > query i not allowed.
    """
    allowed = np.ones((batch, heads, q_len, k_len), dtype=bool)
    bias = np.zeros((batch, heads, q_len, k_len))

    def apply(mask):
        nonlocal allowed, bias
        mask = np.asarray(mask)
        if mask.dtype == bool:
            allowed = allowed & ~mask
        else:
            infinite = np.isneginf(mask)
            allowed = allowed & ~infinite
            bias = bias + np.where(infinite, 0.0, mask)

    if attn_mask is not None:
        attn_mask = np.asarray(attn_mask)
        if attn_mask.ndim == 3:
            attn_mask = attn_mask.reshape(batch, heads, q_len, k_len)
        apply(attn_mask)
    if key_padding_mask is not None:
        apply(np.asarray(key_padding_mask)[:, None, None, :])
    if is_causal:
        apply(np.triu(np.ones((q_len, k_len), dtype=bool), 1))
    return allowed, bias


def _head_mask(mask):
    """The lessons' may-attend mask (Nq, Nk), (B, Nq, Nk) or (B|1, h|1, Nq, Nk) as a 4-D boolean array."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 3:
        return mask[:, None]
    while mask.ndim < 4:
        mask = mask[None]
    return mask


def mha(params, num_heads, query, key=None, value=None, mask=None, macs=None, *, attn_mask=None,
        key_padding_mask=None, is_causal=False):
    """Multi-head attention from the paper-convention matrices of ``projection_matrices()``.

    query (B, Nq, D), key (B, Nk, kdim), value (B, Nk, vdim).  Each head is
    computed on its own column block of W^Q, W^K, W^V, then the heads are
    concatenated and multiplied by W^O.  ``mask`` is the lessons' may-attend
    mask; ``attn_mask``, ``key_padding_mask``, ``is_causal`` torch's
    (:func:`torch_masks`).  Returns (out (B, Nq, D), weights (B, h, Nq, Nk)).
    """
    query = f64(query)
    key = query if key is None else f64(key)
    value = key if value is None else f64(value)
    p = {name: (None if array is None else f64(array)) for name, array in params.items()}
    width = p["W_q"].shape[1]
    head_dim = width // num_heads
    batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
    bias = None
    if mask is not None:
        mask = _head_mask(mask)
    elif attn_mask is not None or key_padding_mask is not None or is_causal:
        mask, bias = torch_masks(batch, num_heads, q_len, k_len, attn_mask, key_padding_mask, is_causal)

    def project(x, name):
        y = matmul(x, p[f"W_{name}"], macs, "projections")
        return y if p.get(f"b_{name}") is None else y + p[f"b_{name}"]

    q, k, v = project(query, "q"), project(key, "k"), project(value, "v")
    heads, weights = [], []
    for i in range(num_heads):
        block = slice(i * head_dim, (i + 1) * head_dim)
        head_mask = None if mask is None else mask[:, min(i, mask.shape[1] - 1)]
        head_bias = None if bias is None else bias[:, i]
        out_i, weights_i = sdpa(q[..., block], k[..., block], v[..., block], head_mask, macs, head_bias)
        heads.append(out_i)
        weights.append(weights_i)
    concat = np.concatenate(heads, axis=-1)
    out = matmul(concat, p["W_o"], macs, "output_projection")
    if p.get("b_o") is not None:
        out = out + p["b_o"]
    return out, np.stack(weights, axis=1)


def cell_params(cell):
    """{parameter name: float64 array} of a MindSpore cell."""
    return {param.name: f64(param) for param in cell.get_parameters()}


def sub(params, prefix):
    """The entries of ``params`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {name[len(start):]: value for name, value in params.items() if name.startswith(start)}


def attention_params(params):
    """MultiHeadAttention parameters (w_q, b_q, ...) as the paper-convention dict."""
    result = {}
    for name in ("q", "k", "v", "o"):
        result[f"W_{name}"] = params[f"w_{name}"]
        result[f"b_{name}"] = params.get(f"b_{name}")
    return result


def dense(params, x):
    """nn.Dense: weight (out, in), y = x weight^T + bias."""
    return f64(x) @ params["weight"].T + params["bias"]


def layer_norm(params, x, eps=LAYER_NORM_EPS):
    x = f64(x)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * params["gamma"] + params["beta"]


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def feed_forward(params, x, activation="gelu"):
    hidden = dense(sub(params, "fc1"), x)
    hidden = gelu(hidden) if activation == "gelu" else np.maximum(hidden, 0.0)
    return dense(sub(params, "fc2"), hidden)


def encoder_layer(params, num_heads, x, norm_first=True, activation="gelu", eps=LAYER_NORM_EPS, **masks):
    """Pre-norm: x + MHA(LN x), then x + FFN(LN x).  Post-norm: LN(x + MHA x), LN(x + FFN x).

    ``masks``: attn_mask, key_padding_mask, is_causal (torch's conventions).
    """
    x = f64(x)
    attn = attention_params(sub(params, "attn"))
    ffn = sub(params, "ffn")
    norm1, norm2 = sub(params, "norm1"), sub(params, "norm2")
    if norm_first:
        attended, weights = mha(attn, num_heads, layer_norm(norm1, x, eps), **masks)
        x = x + attended
        x = x + feed_forward(ffn, layer_norm(norm2, x, eps), activation)
    else:
        attended, weights = mha(attn, num_heads, x, **masks)
        x = layer_norm(norm1, x + attended, eps)
        x = layer_norm(norm2, x + feed_forward(ffn, x, activation), eps)
    return x, weights


def decoder_layer(params, num_heads, x, memory, norm_first=True, tgt_masks=None, memory_masks=None):
    """Self-attention (``tgt_masks``, torch's conventions), cross-attention over ``memory``
    (``memory_masks``), FFN; each with residual + LN."""
    x, memory = f64(x), f64(memory)
    tgt_masks, memory_masks = tgt_masks or {}, memory_masks or {}
    self_attn = attention_params(sub(params, "self_attn"))
    cross_attn = attention_params(sub(params, "cross_attn"))
    ffn = sub(params, "ffn")
    norm = [sub(params, f"norm{i}") for i in (1, 2, 3)]
    if norm_first:
        attended, self_weights = mha(self_attn, num_heads, layer_norm(norm[0], x), **tgt_masks)
        x = x + attended
        attended, cross_weights = mha(cross_attn, num_heads, layer_norm(norm[1], x), memory, memory, **memory_masks)
        x = x + attended
        x = x + feed_forward(ffn, layer_norm(norm[2], x))
    else:
        attended, self_weights = mha(self_attn, num_heads, x, **tgt_masks)
        x = layer_norm(norm[0], x + attended)
        attended, cross_weights = mha(cross_attn, num_heads, x, memory, memory, **memory_masks)
        x = layer_norm(norm[1], x + attended)
        x = layer_norm(norm[2], x + feed_forward(ffn, x))
    return x, self_weights, cross_weights


def sinusoidal(num_tokens, dim):
    """PE[pos, 2i] = sin(pos / 10000^(2i/D)), PE[pos, 2i+1] = cos(pos / 10000^(2i/D)), element by element."""
    table = np.zeros((num_tokens, dim))
    for pos in range(num_tokens):
        for i in range(dim // 2):
            angle = pos / 10000.0 ** (2 * i / dim)
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def patch_embedding(params, images, patch_size):
    """Cut (B, C, H, W) into P_h x P_w patches explicitly and apply one linear map per patch."""
    images = f64(images)
    batch, channels, height, width = images.shape
    patch_h, patch_w = _pair(patch_size)
    weight = params["weight"]  # Conv2d (D, C, P_h, P_w)
    patches = []
    for row in range(0, height, patch_h):
        for col in range(0, width, patch_w):
            patch = images[:, :, row:row + patch_h, col:col + patch_w]  # (B, C, P_h, P_w)
            patches.append(patch.reshape(batch, -1))  # (B, C*P_h*P_w), channel-major like the kernel
    patches = np.stack(patches, axis=1)  # (B, N, C*P_h*P_w)
    return patches @ weight.reshape(weight.shape[0], -1).T + params["bias"]  # (B, N, D)


def vision_transformer(params, num_heads, depth, patch_size, images, eps=VIT_LAYER_NORM_EPS, global_pool="token"):
    """ViT forward: patches, class token, position embedding, pre-norm layers, then the class token
    after the final LN ("token") or the mean of the patch tokens before it ("avg"), and the head.

    Returns (logits (B, classes), list of ``depth`` weights (B, h, N+1, N+1)).
    """
    x = patch_embedding(sub(params, "patch_embed.proj"), images, patch_size)
    cls = np.broadcast_to(params["cls_token"], (x.shape[0], 1, x.shape[2]))
    x = np.concatenate([cls, x], axis=1) + params["pos_embed"]
    attention = []
    for i in range(depth):
        x, weights = encoder_layer(sub(params, f"layers.{i}"), num_heads, x, norm_first=True, eps=eps)
        attention.append(weights)
    if global_pool == "avg":
        pooled = layer_norm(sub(params, "norm"), x[:, 1:].mean(axis=1), eps)
    else:
        pooled = layer_norm(sub(params, "norm"), x, eps)[:, 0]
    return dense(sub(params, "head"), pooled), attention
