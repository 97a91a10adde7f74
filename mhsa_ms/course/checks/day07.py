"""Checks of lesson 7 (what attention costs): 7.1 macs, 7.2 crossover, 7.3 weights_bytes."""
from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_FLOPS = (("mhsa_ms.model.cost:attention_flops", "mm.attention_flops"),)
_RUN = (("mhsa_ms.model.attention:MultiHeadAttention.construct", "mm.MultiHeadAttention"),
        ("mhsa_ms.model.functional:scaled_dot_product_attention", "mm.scaled_dot_product_attention"))


def _macs_cases(rng):
    return [{"N": 1, "D": 1}, {"N": 4, "D": 16}, {"N": 197, "D": 192}, {"N": 1000, "D": 7},
            {"N": int(rng.integers(2, 500)), "D": int(rng.integers(2, 500))}]


def _crossover_cases(rng):
    return [{"D": width} for width in (1, 16, 64, 192, int(rng.integers(2, 1000)))]


def _bytes_cases(rng):
    return [{"B": 2, "h": 4, "N": 10}, {"B": 1, "h": 3, "N": 33}, {"B": 8, "h": 1, "N": 5},
            {"B": int(rng.integers(2, 9)), "h": int(rng.integers(2, 13)), "N": int(rng.integers(2, 300))}]


CHECKS = (
    ExerciseCheck(
        id="7.1", answer="macs", caller="number", cases=_macs_cases,
        reference=lambda N, D: 4 * N * D * D + 2 * N * N * D,
        hint=N_("add the table's rows: the Q, K, V projections, the scores, the weights times V and the output "
                "projection, in multiply-accumulates"),
        mistakes=(
            Mistake("no output projection", lambda N, D: 3 * N * D * D + 2 * N * N * D,
                    N_("count the output projection W^O too: another N D^2")),
            Mistake("one N^2 D", lambda N, D: 4 * N * D * D + N * N * D,
                    N_("attention has two N x N products: the scores Q K^T and the weights times V")),
            Mistake("FLOPs", lambda N, D: 2 * (4 * N * D * D + 2 * N * N * D),
                    N_("count multiply-accumulates, not FLOPs: one MAC is a multiplication and an addition")),
            Mistake("swapped", lambda N, D: 4 * N * N * D + 2 * N * D * D,
                    N_("a projection costs N D^2 (N tokens times a D x D matrix); each attention product costs N^2 D")),
        ),
        forbidden=_FLOPS,
        exact=True,
    ),
    ExerciseCheck(
        id="7.2", answer="crossover", caller="number", cases=_crossover_cases, reference=lambda D: 2 * D + 1,
        hint=N_("solve 2 N^2 D > 4 N D^2 for N and return the smallest whole N strictly above the boundary"),
        mistakes=(
            Mistake("boundary", lambda D: 2 * D,
                    N_("at the boundary both parts are equal; the crossover is the first N where attention is "
                       "strictly larger")),
            Mistake("D + 1", lambda D: D + 1,
                    N_("divide both sides of 2 N^2 D > 4 N D^2 by 2 N D: the boundary is N = 2D")),
            Mistake("4D + 1", lambda D: 4 * D + 1,
                    N_("divide both sides of 2 N^2 D > 4 N D^2 by 2 N D (not by N D): the boundary is N = 2D")),
            Mistake("half", lambda D: 2 * D + 0.5,
                    N_("N counts tokens: return the smallest whole number above the boundary")),
        ),
        forbidden=_FLOPS,
        exact=True,
    ),
    ExerciseCheck(
        id="7.3", answer="weights_bytes", caller="number", cases=_bytes_cases,
        reference=lambda B, h, N: 4 * B * h * N * N,
        hint=N_("count the numbers in the weights (one per sample, head, query and key) and multiply by the size "
                "of one float32 in bytes"),
        mistakes=(
            Mistake("numbers", lambda B, h, N: B * h * N * N,
                    N_("that is the number of weights; each float32 takes 4 bytes")),
            Mistake("float64", lambda B, h, N: 8 * B * h * N * N, N_("a float32 takes 4 bytes (8 is float64)")),
            Mistake("no heads", lambda B, h, N: 4 * B * N * N,
                    N_("each head has its own N x N weights: multiply by h")),
            Mistake("one row", lambda B, h, N: 4 * B * h * N,
                    N_("each head of each sample has N x N weights, one per (query, key) pair")),
        ),
        forbidden=_RUN,
        exact=True,
    ),
)
