"""Checks of lesson 2 (heads as projections): 2.1 selection_matrix, 2.2 head_projection, 2.3 mha_parameter_count."""
import numpy as np

from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_SPLIT = ("mhsa_ms.model.heads:split_heads", "mm.split_heads")
_PER_HEAD = ("mhsa_ms.model.heads:per_head_weights", "mm.per_head_weights")
_SELECTION = ("mhsa_ms.model.heads:head_selection_matrix", "mm.head_selection_matrix")
_MODULES = (("mhsa_ms.model.attention:MultiHeadAttention.__init__", "mm.MultiHeadAttention"),
            ("mhsa_ms.model.attention:PerHeadAttention.__init__", "mm.PerHeadAttention"))


def _selection_cases(rng):
    cases = []
    for num_heads, head_dim in ((3, 4), (4, 2), (2, 3), (rng.integers(2, 5), rng.integers(2, 5))):
        head = rng.integers(1, num_heads)  # never head 0, where a block at the top would be right
        cases.append({"D": num_heads * head_dim, "h": num_heads, "i": head})
    cases.append({"D": 6, "h": 2, "i": 0})
    return cases


def _selection(D, h, i, rows_from=None, step=1):
    """Ones at (rows_from + step * j, j) for j < D / h; rows_from defaults to head i's block."""
    d_h = D // h
    matrix = np.zeros((D, d_h), np.float32)
    start = i * d_h if rows_from is None else rows_from
    matrix[start + step * np.arange(d_h), np.arange(d_h)] = 1.0
    return matrix


def _projection_cases(rng):
    cases = []
    for d_in, num_heads, head_dim in ((6, 3, 4), (8, 2, 4), (5, 4, 3), (rng.integers(3, 9), 2, rng.integers(2, 5))):
        cases.append({"w_fused": rng.normal(size=(d_in, num_heads * head_dim)), "h": num_heads,
                      "i": rng.integers(1, num_heads)})
    return cases


def _block(w_fused, h, i):
    d_h = w_fused.shape[1] // h
    return w_fused[:, i * d_h:(i + 1) * d_h]


def _count_cases(rng):
    cases = [{"D": 16, "h": 1, "bias": True}, {"D": 16, "h": 8, "bias": True}, {"D": 12, "h": 3, "bias": False}]
    num_heads = int(rng.integers(2, 6))
    cases.append({"D": num_heads * int(rng.integers(2, 9)), "h": num_heads, "bias": bool(rng.integers(0, 2))})
    return cases


CHECKS = (
    ExerciseCheck(
        id="2.1", answer="selection_matrix", caller="numpy", cases=_selection_cases, reference=_selection,
        hint=N_("column j of S_i is the unit vector that picks coordinate i * d_h + j of q; S_i is (D, D/h) "
                "with zeros elsewhere"),
        mistakes=(
            Mistake("transposed", lambda D, h, i: _selection(D, h, i).T,
                    N_("S_i has one row per coordinate of q and one column per coordinate of the head: (D, D/h)")),
            Mistake("strided", lambda D, h, i: _selection(D, h, i, rows_from=i, step=h),
                    N_("head i reads d_h consecutive coordinates (a block), not every h-th one")),
            Mistake("first block", lambda D, h, i: _selection(D, h, i, rows_from=0),
                    N_("the block of ones starts at row i * d_h, where head i's coordinates are")),
        ),
        forbidden=(_SELECTION, _SPLIT, _PER_HEAD),
        exact=True, dtype="float32",
    ),
    ExerciseCheck(
        id="2.2", answer="head_projection", caller="numpy", cases=_projection_cases, reference=_block,
        hint=N_("W_i^Q keeps every row of the fused matrix (one per input feature) and the d_h = D / h columns "
                "that produce head i"),
        mistakes=(
            Mistake("rows", lambda w_fused, h, i: w_fused[i * (w_fused.shape[1] // h):(i + 1) * (w_fused.shape[1] // h)],
                    N_("take columns, not rows: every input feature (row) feeds head i, through head i's columns")),
            Mistake("strided", lambda w_fused, h, i: w_fused[:, i::h],
                    N_("head i is a block of d_h consecutive columns, not every h-th column")),
            Mistake("d_h from rows", lambda w_fused, h, i: w_fused[:, i * (w_fused.shape[0] // h):
                                                                  (i + 1) * (w_fused.shape[0] // h)],
                    N_("d_h is the fused width D (the number of columns) divided by h, not D_in divided by h")),
            Mistake("whole", lambda w_fused, h, i: w_fused,
                    N_("you returned the whole fused matrix; head i uses only its own d_h columns")),
        ),
        forbidden=(_PER_HEAD, _SPLIT, _SELECTION),
        exact=True,
    ),
    ExerciseCheck(
        id="2.3", answer="mha_parameter_count", caller="number", cases=_count_cases,
        reference=lambda D, h, bias=True: 4 * D * D + (4 * D if bias else 0),
        hint=N_("count the four D x D projection matrices (Q, K, V and the output) and, only with bias, their "
                "four bias vectors of length D"),
        mistakes=(
            Mistake("divided by h", lambda D, h, bias=True: (4 * D * D + (4 * D if bias else 0)) // h,
                    N_("splitting into heads does not change the count: the heads are column blocks of the same "
                       "D x D matrices")),
            Mistake("times h", lambda D, h, bias=True: (4 * D * D + (4 * D if bias else 0)) * h,
                    N_("the heads share the D x D matrices (each head is a block of columns): do not multiply by h")),
            Mistake("no output projection", lambda D, h, bias=True: 3 * D * D + (3 * D if bias else 0),
                    N_("count the output projection W^O and its bias too: four projections in all")),
            Mistake("bias ignored", lambda D, h, bias=True: 4 * D * D + 4 * D,
                    N_("with bias=False the module has no bias vectors: add them only when bias is True")),
            Mistake("no biases", lambda D, h, bias=True: 4 * D * D,
                    N_("with bias=True each of the four projections also has a bias vector of length D")),
        ),
        forbidden=_MODULES,
        exact=True,
    ),
)
