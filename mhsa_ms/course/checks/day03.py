"""Checks of lesson 3 (concat and W^O): 3.1 concat_heads, 3.2 output_blocks, 3.3 affected_columns."""
import numpy as np

from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_MERGE = ("mhsa_ms.model.heads:merge_heads", "mm.merge_heads")
_SPLIT = ("mhsa_ms.model.heads:split_heads", "mm.split_heads")
_PER_HEAD = ("mhsa_ms.model.heads:per_head_weights", "mm.per_head_weights")


def _concat_cases(rng):
    return [{"heads": rng.normal(size=shape)} for shape in ((2, 3, 2), (3, 3, 2), (4, 2, 3), (2, 5, 1))]


def _concat(heads):
    h, n, d_v = heads.shape
    return heads.transpose(1, 0, 2).reshape(n, h * d_v)  # (N, h*d_v)


def _blocks_cases(rng):
    return [{"w_o": rng.normal(size=(h * d_v, width)), "h": h} for h, d_v, width in ((2, 3, 5), (4, 2, 8), (3, 2, 3))]


def _row_blocks(w_o, h, step=False):
    d_v = w_o.shape[0] // h
    return [w_o[i::h] if step else w_o[i * d_v:(i + 1) * d_v] for i in range(h)]


def _column_blocks(w_o, h):
    width = w_o.shape[1] // h
    return [w_o[:, i * width:(i + 1) * width] for i in range(h)]


def _columns_cases(rng):
    cases = [{"j": 1, "h": 3, "d_v": 2}, {"j": 2, "h": 4, "d_v": 3}, {"j": 0, "h": 2, "d_v": 4}]
    h = int(rng.integers(2, 6))
    cases.append({"j": int(rng.integers(1, h)), "h": h, "d_v": int(rng.integers(2, 5))})
    return cases


CHECKS = (
    ExerciseCheck(
        id="3.1", answer="concat_heads", caller="numpy", cases=_concat_cases, reference=_concat,
        hint=N_("row t is the h head vectors of token t side by side (head 1's d_v features, then head 2's, ...): "
                "the result is (N, h * d_v)"),
        mistakes=(
            Mistake("plain reshape", lambda heads: heads.reshape(heads.shape[1], -1),
                    N_("a plain reshape keeps the memory order head, token, feature, so a row mixes tokens: bring "
                       "the token axis to the front first")),
            Mistake("features first", lambda heads: heads.transpose(1, 2, 0).reshape(heads.shape[1], -1),
                    N_("keep each head's d_v features together: row t is head 1's whole vector, then head 2's, "
                       "and so on")),
            Mistake("stacked", lambda heads: np.concatenate(list(heads), axis=0),
                    N_("join the heads side by side (along the features), not one under the other: N rows")),
            Mistake("first head", lambda heads: heads[0],
                    N_("every head contributes d_v columns: the result is (N, h * d_v)")),
        ),
        forbidden=(_MERGE, _SPLIT),
        exact=True,
    ),
    ExerciseCheck(
        id="3.2", answer="output_blocks", caller="sequence", cases=_blocks_cases, reference=_row_blocks,
        hint=N_("W^O_i multiplies head i's d_v features: it is the block of d_v consecutive rows of W^O that "
                "meets head i's columns of the concat; return the h blocks in a list"),
        mistakes=(
            Mistake("columns", _column_blocks,
                    N_("take blocks of rows, not of columns: W^O_i has d_v rows (head i's features) and all "
                       "D columns")),
            Mistake("strided", lambda w_o, h: _row_blocks(w_o, h, step=True),
                    N_("head i's features meet d_v consecutive rows of W^O, not every h-th row")),
            Mistake("whole", lambda w_o, h: [w_o],
                    N_("return a list of h blocks, one per head")),
        ),
        forbidden=(_PER_HEAD, _SPLIT),
        exact=True,
    ),
    ExerciseCheck(
        id="3.3", answer="affected_columns", caller="sequence", cases=_columns_cases,
        reference=lambda j, h, d_v: list(range(j * d_v, (j + 1) * d_v)),
        hint=N_("without W^O the heads are only placed side by side: head j fills d_v consecutive columns, the "
                "j-th group of d_v (counted from 0)"),
        mistakes=(
            Mistake("counted from 1", lambda j, h, d_v: list(range(j * d_v + 1, (j + 1) * d_v + 1)),
                    N_("columns are counted from 0: head 0 fills columns 0 to d_v - 1")),
            Mistake("strided", lambda j, h, d_v: list(range(j, h * d_v, h)),
                    N_("head j fills d_v consecutive columns, not every h-th column")),
            Mistake("all", lambda j, h, d_v: list(range(h * d_v)),
                    N_("without W^O nothing mixes the heads: a change in head j moves only head j's own columns")),
            Mistake("first only", lambda j, h, d_v: [j * d_v],
                    N_("head j fills d_v columns, and each of them can change")),
        ),
        forbidden=(_MERGE, _SPLIT),
        exact=True,
    ),
)
