"""Checks of lesson 4 (the module): 4.1 split, 4.2 merge, 4.3 cross_attention_parameters."""
import numpy as np

from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_SPLIT = ("mhsa_ms.model.heads:split_heads", "mm.split_heads")
_MERGE = ("mhsa_ms.model.heads:merge_heads", "mm.merge_heads")
_MODULES = (("mhsa_ms.model.attention:MultiHeadAttention.__init__", "mm.MultiHeadAttention"),
            ("mhsa_ms.model.attention:PerHeadAttention.__init__", "mm.PerHeadAttention"))


def _float32(rng, shape):
    return rng.normal(size=shape).astype(np.float32)  # exactly what the tensor holds


def _split_cases(rng):
    # (1, 3, 6) with h = 3 and (2, 2, 4) with h = 2: wrong axis orders that still give the right shape
    return [{"x": _float32(rng, shape), "h": heads}
            for shape, heads in (((3, 4, 16), 8), ((2, 5, 12), 3), ((2, 2, 4), 2), ((1, 3, 6), 3))]


def _split(x, h, swap=(1, 2)):
    batch, tokens, width = x.shape
    parts = x.reshape(batch, tokens, h, width // h)  # (B, N, h, d_h)
    return parts if swap is None else parts.swapaxes(*swap)


def _merge_cases(rng):
    return [{"heads": _float32(rng, shape)} for shape in ((3, 8, 4, 2), (2, 3, 5, 4), (2, 2, 2, 2), (1, 3, 3, 2))]


def _merge(heads, order=(0, 2, 1, 3)):
    batch, num_heads, tokens, head_dim = heads.shape
    return heads.transpose(order).reshape(batch, tokens, num_heads * head_dim)


def _parameter_cases(rng):
    cases = [{"D": 16, "kdim": 12, "vdim": 12}, {"D": 16, "kdim": 16, "vdim": 16}, {"D": 12, "kdim": 7, "vdim": 5}]
    cases.append({"D": int(rng.integers(2, 33)), "kdim": int(rng.integers(1, 33)), "vdim": int(rng.integers(1, 33))})
    return cases


CHECKS = (
    ExerciseCheck(
        id="4.1", answer="split", caller="tensor", cases=_split_cases, reference=_split,
        hint=N_("cut the last axis into h heads of width D / h, giving (B, N, h, d_h), then swap the token and "
                "head axes to get (B, h, N, d_h)"),
        mistakes=(
            Mistake("direct reshape", lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h),
                    N_("a direct reshape to (B, h, N, d_h) cuts the token axis into heads: reshape to "
                       "(B, N, h, d_h) first, then swap the token and head axes")),
            Mistake("last two swapped", lambda x, h: _split(x, h, swap=(-1, -2)),
                    N_("swap the token and head axes (1 and 2), not the last two")),
            Mistake("not swapped", lambda x, h: _split(x, h, swap=None),
                    N_("after the reshape the axes are (B, N, h, d_h): swap axes 1 and 2 to put heads before tokens")),
            Mistake("input", lambda x, h: x,
                    N_("your function returns its input: split the last axis into h heads of width D / h")),
        ),
        forbidden=(_SPLIT,),
        exact=True,
    ),
    ExerciseCheck(
        id="4.2", answer="merge", caller="tensor", cases=_merge_cases, reference=_merge,
        hint=N_("swap the head and token axes back, giving (B, N, h, d_h), then join the last two axes into "
                "one of width h * d_h"),
        mistakes=(
            Mistake("direct reshape", lambda heads: _merge(heads, order=(0, 1, 2, 3)),
                    N_("a direct reshape keeps the order head, token, so rows mix tokens: swap the head and token "
                       "axes back before joining the heads")),
            Mistake("last two swapped", lambda heads: _merge(heads, order=(0, 1, 3, 2)),
                    N_("swap axes 1 and 2 (heads and tokens), not the last two")),
            Mistake("features first", lambda heads: _merge(heads, order=(0, 2, 3, 1)),
                    N_("keep each head's d_h features together: after the swap the axes are (B, N, h, d_h)")),
        ),
        forbidden=(_MERGE,),
        exact=True,
    ),
    ExerciseCheck(
        id="4.3", answer="cross_attention_parameters", caller="number", cases=_parameter_cases,
        reference=lambda D, kdim, vdim: 2 * D * D + kdim * D + vdim * D + 4 * D,
        hint=N_("W^Q and W^O are D x D, W^K is kdim x D, W^V is vdim x D, and each of the four has a bias of length D"),
        mistakes=(
            Mistake("all D", lambda D, kdim, vdim: 4 * D * D + 4 * D,
                    N_("W^K maps kdim input features to D and W^V maps vdim to D: they are kdim x D and vdim x D")),
            Mistake("no biases", lambda D, kdim, vdim: 2 * D * D + kdim * D + vdim * D,
                    N_("each of the four projections also has a bias vector of length D")),
            Mistake("bias widths", lambda D, kdim, vdim: 2 * D * D + kdim * D + vdim * D + 2 * D + kdim + vdim,
                    N_("a bias has the projection's output width D, whatever the input width")),
            Mistake("W^O from vdim", lambda D, kdim, vdim: D * D + kdim * D + 2 * vdim * D + 4 * D,
                    N_("W^O maps the D-wide concat of the heads back to D: it is D x D")),
        ),
        forbidden=_MODULES,
        exact=True,
    ),
)
