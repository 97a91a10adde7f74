"""A catalogue of wrong answers: for every exercise, three a learner plausibly writes.

Each is the source of an answer cell (the learner's usual mistake, the no-op,
or the package function that does the exercise) and a fragment of the verdict
it must get.  ``tests/course/test_exercise_checks.py`` runs them through the
self-check, ``tests/tools/test_grading_catalogue.py`` through ``mhsa-ms grade``
(one notebook per lesson carries one wrong answer of every exercise).
``EXTRA`` holds more wrong answers, run through the self-check only.

``right_answers()`` reads the reference solutions from the lessons' answer cells.
"""
import json
from pathlib import Path
from typing import NamedTuple

from mhsa_tools.notebooks import BEGIN, END, cell_source, exercise_meta

LESSONS = Path(__file__).resolve().parents[1] / "lessons" / "en"
NOT_ANSWERED = "not yet answered"


class WrongAnswer(NamedTuple):
    exercise: str
    label: str
    source: str
    expect: str  # a fragment of the verdict message


def _answers(exercise, *entries):
    return [WrongAnswer(exercise, label, source.strip() + "\n", expect) for label, source, expect in entries]


CATALOGUE = [
    *_answers("0.1", (
        "Gram matrix of the features", """
def batched_gram(x):
    return ops.matmul(x.swapaxes(-1, -2), x)
""", "compares the D features"), (
        "no-op", """
def batched_gram(x):
    return x
""", "returns its input unchanged"), (
        "scaled like attention scores", """
def batched_gram(x):
    return ops.matmul(x, x.swapaxes(-1, -2)) / x.shape[-1] ** 0.5
""", "no scaling here")),
    *_answers("0.2", (
        "frozen parameters counted", """
def count_parameters(cell):
    return sum(p.size for p in cell.get_parameters())
""", "frozen parameters (requires_grad=False) are not trained"), (
        "Parameter objects counted", """
def count_parameters(cell):
    return len(cell.trainable_params())
""", "count numbers, not Parameter objects"), (
        "no-op", """
def count_parameters(cell):
    return 0
""", "add up the number of entries of every trainable parameter")),
    *_answers("1.1", (
        "unscaled", """
def scaled_scores(q, k):
    return q @ k.T
""", "divide the dot products by the square root"), (
        "divided by the number of keys", """
def scaled_scores(q, k):
    return q @ k.T / np.sqrt(len(k))
""", "not the number of keys"), (
        "no-op", """
def scaled_scores(q, k):
    return q
""", "score (i, j) is the dot product")),
    *_answers("1.2", (
        "mask ignored", """
def attention_weights(q, k, mask=None):
    s = q @ k.T / np.sqrt(k.shape[-1])
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
""", "where the mask is False the weight must be exactly 0"), (
        "no max subtracted", """
def attention_weights(q, k, mask=None):
    s = q @ k.T / np.sqrt(k.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)
""", "overflow"), (
        "the package's attention", """
def attention_weights(q, k, mask=None):
    t = lambda a: mindspore.Tensor(np.asarray(a, np.float32))
    _, weights = mm.scaled_dot_product_attention(t(q), t(k), t(k), mask=None if mask is None else mindspore.Tensor(mask))
    return weights.asnumpy()
""", "calls mm.scaled_dot_product_attention")),
    *_answers("1.3", (
        "no mask", """
def causal_self_attention(x):
    out, _ = mm.scaled_dot_product_attention(x, x, x)
    return out
""", "without a mask every token also sees the later ones"), (
        "no-op", """
def causal_self_attention(x):
    return x
""", "your output equals the input"), (
        "mask above the diagonal", """
def causal_self_attention(x):
    n = x.shape[1]
    mask = mindspore.Tensor(np.triu(np.ones((n, n), bool)))
    out, _ = mm.scaled_dot_product_attention(x, x, x, mask=mask)
    return out
""", "lets tokens see the future")),
    *_answers("2.1", (
        "transposed", """
def selection_matrix(D, h, i):
    d_h = D // h
    return np.eye(D, dtype=np.float32)[:, i * d_h:(i + 1) * d_h].T
""", "(D, D/h)"), (
        "every h-th coordinate", """
def selection_matrix(D, h, i):
    return np.eye(D, dtype=np.float32)[:, i::h]
""", "not every h-th one"), (
        "the package's selection matrix", """
def selection_matrix(D, h, i):
    return mm.head_selection_matrix(D, h, i)
""", "calls mm.head_selection_matrix")),
    *_answers("2.2", (
        "rows instead of columns", """
def head_projection(w_fused, h, i):
    d_h = w_fused.shape[1] // h
    return w_fused[i * d_h:(i + 1) * d_h]
""", "take columns, not rows"), (
        "no-op", """
def head_projection(w_fused, h, i):
    return w_fused
""", "you returned the whole fused matrix"), (
        "the package's per-head weights", """
def head_projection(w_fused, h, i):
    return mm.per_head_weights(w_fused, h)[i]
""", "calls mm.per_head_weights")),
    *_answers("2.3", (
        "divided by the heads", """
def mha_parameter_count(D, h, bias=True):
    return (4 * D * D + (4 * D if bias else 0)) // h
""", "splitting into heads does not change the count"), (
        "bias flag ignored", """
def mha_parameter_count(D, h, bias=True):
    return 4 * D * D + 4 * D
""", "with bias=False the module has no bias vectors"), (
        "builds the module", """
def mha_parameter_count(D, h, bias=True):
    return sum(p.size for p in mm.MultiHeadAttention(D, h, bias=bias).trainable_params())
""", "calls mm.MultiHeadAttention")),
    *_answers("3.1", (
        "plain reshape", """
def concat_heads(heads):
    return heads.reshape(heads.shape[1], -1)
""", "a plain reshape keeps the memory order"), (
        "stacked under each other", """
def concat_heads(heads):
    return np.concatenate(list(heads), axis=0)
""", "not one under the other"), (
        "the package's merge", """
def concat_heads(heads):
    return mm.merge_heads(heads[None])[0]
""", "calls mm.merge_heads")),
    *_answers("3.2", (
        "column blocks", """
def output_blocks(w_o, h):
    width = w_o.shape[1] // h
    return [w_o[:, i * width:(i + 1) * width] for i in range(h)]
""", "take blocks of rows, not of columns"), (
        "every h-th row", """
def output_blocks(w_o, h):
    return [w_o[i::h] for i in range(h)]
""", "not every h-th row"), (
        "no-op", """
def output_blocks(w_o, h):
    return [w_o]
""", "return a list of h blocks")),
    *_answers("3.3", (
        "counted from 1", """
def affected_columns(j, h, d_v):
    return list(range(j * d_v + 1, (j + 1) * d_v + 1))
""", "columns are counted from 0"), (
        "every column", """
def affected_columns(j, h, d_v):
    return list(range(h * d_v))
""", "nothing mixes the heads"), (
        "measured with the package's merge", """
def affected_columns(j, h, d_v):
    heads = np.zeros((1, h, 1, d_v))
    heads[0, j] = 1.0
    return np.nonzero(mm.merge_heads(heads)[0, 0])[0].tolist()
""", "calls mm.merge_heads")),
    *_answers("4.1", (
        "direct reshape", """
def split(x, h):
    batch, tokens, width = x.shape
    return x.reshape((batch, h, tokens, width // h))
""", "a direct reshape to (B, h, N, d_h)"), (
        "last two axes swapped", """
def split(x, h):
    batch, tokens, width = x.shape
    return x.reshape((batch, tokens, h, width // h)).swapaxes(-1, -2)
""", "not the last two"), (
        "the package's split", """
def split(x, h):
    return mm.split_heads(x, h)
""", "calls mm.split_heads")),
    *_answers("4.2", (
        "direct reshape", """
def merge(heads):
    batch, num_heads, tokens, head_dim = heads.shape
    return heads.reshape((batch, tokens, num_heads * head_dim))
""", "a direct reshape keeps the order head, token"), (
        "features before heads", """
def merge(heads):
    batch, num_heads, tokens, head_dim = heads.shape
    return ops.transpose(heads, (0, 2, 3, 1)).reshape((batch, tokens, num_heads * head_dim))
""", "keep each head's d_h features together"), (
        "the package's merge", """
def merge(heads):
    return mm.merge_heads(heads)
""", "calls mm.merge_heads")),
    *_answers("4.3", (
        "every projection D x D", """
def cross_attention_parameters(D, kdim, vdim):
    return 4 * D * D + 4 * D
""", "W^K maps kdim input features to D"), (
        "no biases", """
def cross_attention_parameters(D, kdim, vdim):
    return D * D + kdim * D + vdim * D + D * D
""", "also has a bias vector of length D"), (
        "builds the module", """
def cross_attention_parameters(D, kdim, vdim):
    module = mm.MultiHeadAttention(D, 1, kdim=kdim, vdim=vdim)
    return sum(p.size for p in module.trainable_params())
""", "calls mm.MultiHeadAttention")),
    *_answers("5.1", (
        "epsilon outside the square root", """
def layer_norm_numpy(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return gamma * (x - mean) / (std + eps) + beta
""", "epsilon goes inside the square root"), (
        "no epsilon", """
def layer_norm_numpy(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return gamma * (x - mean) / x.std(axis=-1, keepdims=True) + beta
""", "add epsilon to the variance"), (
        "MindSpore's LayerNorm", """
from mindspore import Tensor, nn


def layer_norm_numpy(x, gamma, beta, eps=1e-5):
    norm = nn.LayerNorm((x.shape[-1],), epsilon=eps)
    norm.gamma.set_data(Tensor(gamma.astype(np.float32)))
    norm.beta.set_data(Tensor(beta.astype(np.float32)))
    return norm(Tensor(x.astype(np.float32))).asnumpy()
""", "calls mindspore.nn.LayerNorm")),
    *_answers("5.2", (
        "pre-norm", """
def post_norm_forward(layer, x):
    attended, _ = layer.attn(layer.norm1(x))
    x = x + attended
    return x + layer.ffn(layer.norm2(x))
""", "that is pre-norm"), (
        "no residuals", """
def post_norm_forward(layer, x):
    attended, _ = layer.attn(x)
    return layer.norm2(layer.ffn(layer.norm1(attended)))
""", "keep the residual connections"), (
        "the layer's own forward", """
def post_norm_forward(layer, x):
    return layer(x)[0]
""", "calls the layer's own forward")),
    *_answers("5.3", (
        "sin and cos swapped", """
def sinusoidal_numpy(num_tokens, dim):
    angle = np.arange(num_tokens)[:, None] / 10000.0 ** (np.arange(0, dim, 2) / dim)
    encoding = np.zeros((num_tokens, dim), np.float32)
    encoding[:, 0::2] = np.cos(angle)
    encoding[:, 1::2] = np.sin(angle)
    return encoding
""", "even columns (0, 2, 4, ...) hold the sine"), (
        "two halves", """
def sinusoidal_numpy(num_tokens, dim):
    angle = np.arange(num_tokens)[:, None] / 10000.0 ** (np.arange(0, dim, 2) / dim)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1).astype(np.float32)
""", "not two halves"), (
        "the package's encoding", """
def sinusoidal_numpy(num_tokens, dim):
    return mm.sinusoidal_positional_encoding(num_tokens, dim)
""", "calls mm.sinusoidal_positional_encoding")),
    *_answers("6.1", (
        "no class token", """
def num_tokens(image_size, patch_size):
    return (image_size // patch_size) ** 2
""", "add one"), (
        "one direction only", """
def num_tokens(image_size, patch_size):
    return image_size // patch_size + 1
""", "the image is cut both ways"), (
        "the package's patch embedding", """
def num_tokens(image_size, patch_size):
    return mm.PatchEmbedding(image_size, patch_size, 1, 4).num_patches + 1
""", "calls mm.PatchEmbedding")),
    *_answers("6.2", (
        "channels last", """
def patchify(images, patch_size):
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p).transpose(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // p) * (w // p), c * p * p)
""", "the channel axis comes first"), (
        "direct reshape", """
def patchify(images, patch_size):
    b, c, h, w = images.shape
    return images.reshape(b, (h // patch_size) * (w // patch_size), c * patch_size ** 2)
""", "a direct reshape cuts the image row by row"), (
        "patches column by column", """
def patchify(images, patch_size):
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p).transpose(0, 4, 2, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c * p * p)
""", "tokens go along each row of patches first")),
    *_answers("6.3", (
        "reshape instead of transpose", """
def attend_sequence_first(mha, x):
    n, b, d = x.shape
    out, _ = mha(x.reshape(b, n, d))
    return out.reshape(n, b, d)
""", "a reshape does not move the axes"), (
        "sequence-first passed as batch-first", """
def attend_sequence_first(mha, x):
    out, _ = mha(x)
    return out
""", "a batch-first module reads axis 0 as the batch"), (
        "no-op", """
def attend_sequence_first(mha, x):
    return x
""", "your function returns its input")),
    *_answers("7.1", (
        "no output projection", """
def macs(N, D):
    return 3 * N * D * D + 2 * N * N * D
""", "count the output projection W^O too"), (
        "FLOPs", """
def macs(N, D):
    return 2 * (4 * N * D * D + 2 * N * N * D)
""", "count multiply-accumulates, not FLOPs"), (
        "the package's count", """
def macs(N, D):
    return mm.attention_flops(N, D)["total"]
""", "calls mm.attention_flops")),
    *_answers("7.2", (
        "the boundary itself", """
def crossover(D):
    return 2 * D
""", "strictly larger"), (
        "divided by N D", """
def crossover(D):
    return 4 * D + 1
""", "(not by N D)"), (
        "searched with the package's count", """
def crossover(D):
    N = 1
    while True:
        cost = mm.attention_flops(N, D)
        if cost["scores"] + cost["weighted_values"] > cost["projections"] + cost["output_projection"]:
            return N
        N += 1
""", "calls mm.attention_flops")),
    *_answers("7.3", (
        "numbers, not bytes", """
def weights_bytes(B, h, N):
    return B * h * N * N
""", "each float32 takes 4 bytes"), (
        "heads forgotten", """
def weights_bytes(B, h, N):
    return 4 * B * N * N
""", "multiply by h"), (
        "measured on the module", """
def weights_bytes(B, h, N):
    x = mindspore.Tensor(np.zeros((B, N, 2 * h), np.float32))
    return mm.MultiHeadAttention(2 * h, h)(x)[1].nbytes
""", "calls mm.MultiHeadAttention")),
    *_answers("8.1", (
        "no ValueError", """
def shard_bounds(batch_size, world_size, rank):
    shard = batch_size // world_size
    return rank * shard, (rank + 1) * shard
""", "raise ValueError instead of dropping samples"), (
        "inclusive stop", """
def shard_bounds(batch_size, world_size, rank):
    if batch_size % world_size:
        raise ValueError("uneven")
    shard = batch_size // world_size
    return rank * shard, (rank + 1) * shard - 1
""", "stop is exclusive"), (
        "the package's batches", """
def shard_bounds(batch_size, world_size, rank):
    positions = np.arange(batch_size)
    shard = next(mm.iterate_batches((positions,), batch_size, shuffle=False, rank=rank, world_size=world_size))[0]
    return int(shard[0]), int(shard[-1]) + 1
""", "calls mm.iterate_batches")),
    *_answers("8.2", (
        "summed", """
def all_reduce_mean(gradients_per_rank):
    return [np.sum(np.stack(tensors), axis=0) for tensors in zip(*gradients_per_rank)]
""", "this all-reduce averages"), (
        "first rank only", """
def all_reduce_mean(gradients_per_rank):
    return list(gradients_per_rank[0])
""", "not just the first rank's"), (
        "divided by the number of gradients", """
def all_reduce_mean(gradients_per_rank):
    count = len(gradients_per_rank[0])
    return [np.sum(np.stack(tensors), axis=0) / count for tensors in zip(*gradients_per_rank)]
""", "not by the number of gradients")),
    *_answers("8.3", (
        "inverted", """
def scaled_lr(base_lr, base_batch, global_batch):
    return base_lr * base_batch / global_batch
""", "a larger batch takes a larger learning rate"), (
        "square root", """
def scaled_lr(base_lr, base_batch, global_batch):
    return base_lr * (global_batch / base_batch) ** 0.5
""", "not by its square root"), (
        "no-op", """
def scaled_lr(base_lr, base_batch, global_batch):
    return base_lr
""", "scale base_lr by how many times larger")),
]

EXTRA = [
    *_answers("0.1", ("NumPy result", """
def batched_gram(x):
    return x.asnumpy() @ x.asnumpy().swapaxes(-1, -2)
""", "the exercise asks for a MindSpore Tensor")),
    *_answers("1.2", ("softmax over the queries", """
def attention_weights(q, k, mask=None):
    s = q @ k.T / np.sqrt(k.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)
""", "the softmax runs over the keys"), ("masked after the softmax", """
def attention_weights(q, k, mask=None):
    s = q @ k.T / np.sqrt(k.shape[-1])
    e = np.exp(s - s.max(-1, keepdims=True))
    w = e / e.sum(-1, keepdims=True)
    return w if mask is None else w * mask
""", "masking after the softmax")),
    *_answers("1.3", ("identity mask", """
def causal_self_attention(x):
    mask = mindspore.Tensor(np.eye(x.shape[1], dtype=bool))
    return mm.scaled_dot_product_attention(x, x, x, mask=mask)[0]
""", "your output equals the input"), ("weights returned", """
def causal_self_attention(x):
    return mm.scaled_dot_product_attention(x, x, x, mask=mm.causal_mask(x.shape[1]))[1]
""", "return the output")),
    *_answers("2.1", ("float64", """
def selection_matrix(D, h, i):
    d_h = D // h
    return np.eye(D)[:, i * d_h:(i + 1) * d_h]
""", "the result is float64 where the exercise asks for float32"), ("selection by split_heads", """
def selection_matrix(D, h, i):
    return mm.split_heads(np.eye(D, dtype=np.float32)[None], h)[0, i]
""", "calls mm.split_heads")),
    *_answers("4.1", ("not swapped", """
def split(x, h):
    batch, tokens, width = x.shape
    return x.reshape((batch, tokens, h, width // h))
""", "swap axes 1 and 2 to put heads before tokens")),
    *_answers("5.1", ("unbiased variance", """
def layer_norm_numpy(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True, ddof=1)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
""", "biased variance"), ("fixed epsilon", """
def layer_norm_numpy(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + 1e-5) + beta
""", "use the eps argument"), ("the package's layer norm", """
from mhsa_ms.model.transformer import layer_norm

def layer_norm_numpy(x, gamma, beta, eps=1e-5):
    norm = layer_norm(x.shape[-1])
    norm.gamma.set_data(Tensor(gamma.astype(np.float32)))
    norm.beta.set_data(Tensor(beta.astype(np.float32)))
    return norm(Tensor(x.astype(np.float32))).asnumpy()
""", "calls mhsa_ms.model.transformer.layer_norm")),
    *_answers("5.2", ("norms swapped", """
def post_norm_forward(layer, x):
    attended, _ = layer.attn(x)
    x = layer.norm2(x + attended)
    return layer.norm1(x + layer.ffn(x))
""", "norm1 follows the attention")),
    *_answers("5.3", ("positions from 1", """
def sinusoidal_numpy(num_tokens, dim):
    angle = np.arange(1, num_tokens + 1)[:, None] / 10000.0 ** (np.arange(0, dim, 2) / dim)
    encoding = np.zeros((num_tokens, dim), np.float32)
    encoding[:, 0::2], encoding[:, 1::2] = np.sin(angle), np.cos(angle)
    return encoding
""", "positions start at 0")),
    *_answers("6.3", ("output left batch-first", """
def attend_sequence_first(mha, x):
    return mha(x.transpose(1, 0, 2))[0]
""", "back to the caller's sequence-first layout")),
    *_answers("7.2", ("float", """
def crossover(D):
    return 2 * D + 0.5
""", "smallest whole number")),
]


def right_answers():
    """Exercise id -> the reference solution's answer cell source (markers removed), from the lessons."""
    found = {}
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = exercise_meta(cell)
            if meta is not None and meta["role"] == "answer":
                lines = cell_source(cell).splitlines()
                found[meta["exercise"]] = "\n".join(line for line in lines if line.strip() not in (BEGIN, END)) + "\n"
    return found
