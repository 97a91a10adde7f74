"""Checks of lesson 5 (the encoder block): 5.1 layer_norm_numpy, 5.2 post_norm_forward, 5.3 sinusoidal_numpy."""
import numpy as np

from .numpy_maths import gelu, layer_norm, multi_head_attention
from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_LAYER_NORMS = (("mhsa_ms.model.transformer:layer_norm", "mhsa_ms.model.transformer.layer_norm"),
                ("mindspore.nn.layer.normalization:LayerNorm.construct", "mindspore.nn.LayerNorm"),
                ("mindspore.ops.function.nn_func:layer_norm", "mindspore.ops.layer_norm"))
_ENCODER_FORWARD = (("mhsa_ms.model.transformer:EncoderLayer.construct", "the layer's own forward, layer(x)"),)
_SINUSOIDAL = (("mhsa_ms.model.positional:sinusoidal_positional_encoding", "mm.sinusoidal_positional_encoding"),)


def _affine(rng, width):
    return 1.0 + 0.3 * rng.normal(size=width), 0.3 * rng.normal(size=width)  # gamma, beta


def _norm_cases(rng):
    cases = []
    for shape, centre, spread, eps in (((3, 4, 8), 2.0, 3.0, None),
                                       ((2, 6), 5.0, 1e-3, None),  # variance ~1e-6: epsilon matters
                                       ((4, 5), -1.0, 0.01, 1e-2),  # an eps given by the caller
                                       ((2, 3, 4), 0.0, 1.0, None)):
        gamma, beta = _affine(rng, shape[-1])
        case = {"x": centre + spread * rng.normal(size=shape), "gamma": gamma, "beta": beta}
        if eps is not None:
            case["eps"] = eps
        cases.append(case)
    return cases


def _norm(x, gamma, beta, eps=1e-5, ddof=0, outside=False, axis=-1):
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True, ddof=ddof)
    scale = np.sqrt(var) + eps if outside else np.sqrt(var + eps)
    return gamma * (x - mean) / scale + beta


_PARAMETER_SHAPES = {  # name -> shape from (D, hidden): the EncoderLayer's parameters, "." written "_"
    "attn_w_q": lambda d, f: (d, d), "attn_b_q": lambda d, f: (d,), "attn_w_k": lambda d, f: (d, d),
    "attn_b_k": lambda d, f: (d,), "attn_w_v": lambda d, f: (d, d), "attn_b_v": lambda d, f: (d,),
    "attn_w_o": lambda d, f: (d, d), "attn_b_o": lambda d, f: (d,),
    "ffn_fc1_weight": lambda d, f: (f, d), "ffn_fc1_bias": lambda d, f: (f,),
    "ffn_fc2_weight": lambda d, f: (d, f), "ffn_fc2_bias": lambda d, f: (d,),
}


def _layer_cases(rng):
    cases = []
    for batch, tokens, width, heads in ((2, 5, 16, 4), (1, 4, 8, 2), (3, 3, 12, 3)):
        hidden = 2 * width
        case = {"embed_dim": width, "num_heads": heads, "hidden_dim": hidden,
                "x": rng.normal(size=(batch, tokens, width)).astype(np.float32)}
        for name, shape in _PARAMETER_SHAPES.items():
            rows = shape(width, hidden)
            scale = 0.2 if len(rows) == 1 else 1.0 / np.sqrt(rows[-1] if name.startswith("ffn") else rows[0])
            case[name] = (scale * rng.normal(size=rows)).astype(np.float32)
        for norm in ("norm1", "norm2"):
            gamma, beta = _affine(rng, width)
            case[f"{norm}_gamma"], case[f"{norm}_beta"] = gamma.astype(np.float32), beta.astype(np.float32)
        cases.append(case)
    return cases


def _sublayers(p):
    """attention(x), ffn(x), norm1(x), norm2(x) of a case's parameters p."""
    def attention(x):
        return multi_head_attention(x, p["num_heads"], *(p[f"attn_{kind}_{name}"] for name in "qkvo"
                                                          for kind in ("w", "b")))

    def ffn(x):
        hidden = gelu(x @ p["ffn_fc1_weight"].T + p["ffn_fc1_bias"])
        return hidden @ p["ffn_fc2_weight"].T + p["ffn_fc2_bias"]

    def norm(index):
        return lambda x: layer_norm(x, p[f"norm{index}_gamma"], p[f"norm{index}_beta"], 1e-5)

    return attention, ffn, norm(1), norm(2)


def _post_norm(**p):
    attention, ffn, norm1, norm2 = _sublayers(p)
    x = norm1(p["x"] + attention(p["x"]))
    return norm2(x + ffn(x))


def _pre_norm(**p):
    attention, ffn, norm1, norm2 = _sublayers(p)
    x = p["x"] + attention(norm1(p["x"]))
    return x + ffn(norm2(x))


def _no_residual(**p):
    attention, ffn, norm1, norm2 = _sublayers(p)
    return norm2(ffn(norm1(attention(p["x"]))))


def _norms_swapped(**p):
    attention, ffn, norm1, norm2 = _sublayers(p)
    x = norm2(p["x"] + attention(p["x"]))
    return norm1(x + ffn(x))


def _first_input_twice(**p):
    attention, ffn, norm1, norm2 = _sublayers(p)
    x = norm1(p["x"] + attention(p["x"]))
    return norm2(p["x"] + ffn(x))


def _sinusoidal_cases(rng):
    return [{"num_tokens": 10, "dim": 8}, {"num_tokens": 50, "dim": 32}, {"num_tokens": 7, "dim": 6},
            {"num_tokens": int(rng.integers(3, 21)), "dim": 2 * int(rng.integers(2, 9))}]


def _angles(num_tokens, dim, first=0, exponent=lambda pair, dim: 2 * pair / dim):
    position = np.arange(first, first + num_tokens)[:, None]  # (N, 1)
    return position / 10000.0 ** exponent(np.arange(dim // 2), dim)  # (N, D/2)


def _interleave(even, odd):
    table = np.zeros((even.shape[0], 2 * even.shape[1]))
    table[:, 0::2], table[:, 1::2] = even, odd
    return table


def _sinusoidal(num_tokens, dim, **options):
    angle = _angles(num_tokens, dim, **options)
    return _interleave(np.sin(angle), np.cos(angle))


def _sin_cos_swapped(num_tokens, dim):
    angle = _angles(num_tokens, dim)
    return _interleave(np.cos(angle), np.sin(angle))


def _halves(num_tokens, dim):
    angle = _angles(num_tokens, dim)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def _column_exponents(num_tokens, dim):
    position = np.arange(num_tokens)[:, None]
    angle = position / 10000.0 ** (np.arange(dim) / dim)  # (N, D): every column its own frequency
    return _interleave(np.sin(angle[:, 0::2]), np.cos(angle[:, 1::2]))


CHECKS = (
    ExerciseCheck(
        id="5.1", answer="layer_norm_numpy", caller="numpy", cases=_norm_cases, reference=_norm,
        hint=N_("over the last axis: subtract the mean, divide by the square root of (biased variance + eps), "
                "then scale by gamma and shift by beta"),
        mistakes=(
            Mistake("eps outside", lambda x, gamma, beta, eps=1e-5: _norm(x, gamma, beta, eps, outside=True),
                    N_("epsilon goes inside the square root: divide by the square root of (variance + epsilon)")),
            Mistake("no eps", lambda x, gamma, beta, eps=1e-5: _norm(x, gamma, beta, 0.0),
                    N_("add epsilon to the variance before the square root: it matters when a row is almost constant")),
            Mistake("fixed eps", lambda x, gamma, beta, eps=1e-5: _norm(x, gamma, beta),
                    N_("use the eps argument the caller passes, not a fixed number")),
            Mistake("unbiased", lambda x, gamma, beta, eps=1e-5: _norm(x, gamma, beta, eps, ddof=1),
                    N_("LayerNorm uses the biased variance, the mean of the squared deviations (divide by D, "
                       "not D - 1)")),
            Mistake("all axes", lambda x, gamma, beta, eps=1e-5: _norm(x, gamma, beta, eps, axis=None),
                    N_("normalize each vector over its own last axis (its D features), not over the whole array")),
            Mistake("first axis", lambda x, gamma, beta, eps=1e-5: _norm(x, gamma, beta, eps, axis=0),
                    N_("normalize over the last axis (the features), keeping it for broadcasting, not over the first")),
            Mistake("gamma and beta swapped", lambda x, gamma, beta, eps=1e-5: _norm(x, beta, gamma, eps),
                    N_("gamma scales and beta shifts: gamma times the normalized x, plus beta")),
            Mistake("no gamma and beta", lambda x, gamma, beta, eps=1e-5: _norm(x, 1.0, 0.0, eps),
                    N_("after normalizing, scale by gamma and shift by beta")),
        ),
        forbidden=_LAYER_NORMS,
        rtol=1e-4, atol=1e-5,
    ),
    ExerciseCheck(
        id="5.2", answer="post_norm_forward", caller="encoder_layer", cases=_layer_cases, reference=_post_norm,
        hint=N_("post-norm adds each sublayer's input to its output and normalizes the sum: norm1 after the "
                "attention, then norm2 after the feed-forward network"),
        mistakes=(
            Mistake("pre-norm", _pre_norm,
                    N_("that is pre-norm: a post-norm block adds the residual first and normalizes the sum, "
                       "norm1 of (x plus attention), then norm2 of (x plus FFN)")),
            Mistake("no residual", _no_residual,
                    N_("keep the residual connections: add each sublayer's input to its output before the norm")),
            Mistake("norms swapped", _norms_swapped,
                    N_("norm1 follows the attention and norm2 follows the feed-forward network")),
            Mistake("first input twice", _first_input_twice,
                    N_("the second residual adds the output of the first step, not the block's original input")),
        ),
        forbidden=_ENCODER_FORWARD,
        rtol=1e-4, atol=1e-4,
    ),
    ExerciseCheck(
        id="5.3", answer="sinusoidal_numpy", caller="numpy", cases=_sinusoidal_cases, reference=_sinusoidal,
        hint=N_("even columns hold the sine and odd columns the cosine of one angle per column pair: the position "
                "(counted from 0) divided by 10000 to the power 2i / D"),
        mistakes=(
            Mistake("sin and cos swapped", _sin_cos_swapped,
                    N_("even columns (0, 2, 4, ...) hold the sine and odd columns the cosine")),
            Mistake("halves", _halves,
                    N_("sine and cosine alternate column by column; they are not two halves side by side")),
            Mistake("column exponents", _column_exponents,
                    N_("a sine column and the cosine column right after it share one frequency: use the even "
                       "column index 2i in the exponent of both")),
            Mistake("pair index", lambda num_tokens, dim: _sinusoidal(num_tokens, dim,
                                                                      exponent=lambda pair, dim: pair / dim),
                    N_("the exponent is 2i / D, where 2i is the even column index (not the pair number i)")),
            Mistake("from 1", lambda num_tokens, dim: _sinusoidal(num_tokens, dim, first=1),
                    N_("positions start at 0: the first row is sin 0 = 0 and cos 0 = 1")),
        ),
        forbidden=_SINUSOIDAL,
        rtol=1e-5, atol=1e-5, dtype="float32",
    ),
)
