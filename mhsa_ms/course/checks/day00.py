"""Checks of lesson 0 (setup): 0.1 batched_gram, 0.2 count_parameters."""
import numpy as np

from ...i18n import N_
from .spec import ExerciseCheck, Mistake


def _gram_cases(rng):
    return [
        {"x": rng.normal(size=(2, 5, 3))},  # (B, N, D)
        {"x": rng.normal(size=(3, 4, 4))},  # N = D: the features' Gram matrix has the same shape
        {"x": rng.normal(size=(1, 6, 2))},
    ]


def _layer_counts(kind, width_in, width_out, bias):
    """Numbers per layer: Dense (kind 0) weight and optional bias; LayerNorm (kind 1) gamma and beta."""
    return np.where(kind == 0, width_in * width_out + bias * width_out, 2 * width_out)


def _stack_cases(rng):
    cases = []
    for layers in (3, 4, 2):
        kind = (rng.random(layers) < 0.3).astype(np.int64)
        kind[0] = 0
        width_out = rng.integers(2, 9, size=layers)
        width_in = np.concatenate([[rng.integers(2, 9)], width_out[:-1]])
        bias = rng.random(layers) < 0.7
        bias[0] = True  # every case has a trainable bias
        frozen = rng.random(layers) < 0.5
        frozen[0], frozen[-1] = False, True  # some layers trained, some frozen
        cases.append({"kind": kind, "width_in": width_in, "width_out": width_out, "bias": bias, "frozen": frozen})
    return cases


def _trainable(kind, width_in, width_out, bias, frozen):
    return int((_layer_counts(kind, width_in, width_out, bias) * ~frozen).sum())


CHECKS = (
    ExerciseCheck(
        id="0.1", answer="batched_gram", caller="tensor", cases=_gram_cases,
        reference=lambda x: np.einsum("bnd,bmd->bnm", x, x),
        hint=N_("each batch element is an (N, D) matrix of tokens: multiply it by its own transpose, "
                "swapping only the last two axes, so that the result is (B, N, N)"),
        mistakes=(
            Mistake("features", lambda x: np.einsum("bnd,bne->bde", x, x),
                    N_("the Gram matrix compares tokens with tokens, so it is (B, N, N); yours compares the "
                       "D features with each other: put the transpose on the right of the product")),
            Mistake("input", lambda x: x,
                    N_("your function returns its input unchanged: multiply the tokens by their transpose")),
            Mistake("scaled", lambda x: np.einsum("bnd,bmd->bnm", x, x) / np.sqrt(x.shape[-1]),
                    N_("no scaling here: the Gram matrix holds the plain dot products (dividing by the square "
                       "root of D belongs to attention scores)")),
            Mistake("elementwise", lambda x: x * x,
                    N_("that multiplies entry by entry; the Gram matrix needs a matrix product of the tokens "
                       "with the transposed tokens")),
        ),
        rtol=1e-4, atol=1e-4,
    ),
    ExerciseCheck(
        id="0.2", answer="count_parameters", caller="dense_stack", cases=_stack_cases,
        reference=_trainable,
        hint=N_("add up the number of entries of every trainable parameter of the cell"),
        mistakes=(
            Mistake("frozen too", lambda kind, width_in, width_out, bias, frozen:
                    int(_layer_counts(kind, width_in, width_out, bias).sum()),
                    N_("frozen parameters (requires_grad=False) are not trained: count only the trainable ones")),
            Mistake("tensors", lambda kind, width_in, width_out, bias, frozen:
                    int(((kind == 1) * 2 + (kind == 0) * (1 + bias))[~frozen].sum()),
                    N_("count numbers, not Parameter objects: each parameter holds as many numbers as its size")),
            Mistake("weights only", lambda kind, width_in, width_out, bias, frozen:
                    int(((kind == 0) * width_in * width_out)[~frozen].sum()),
                    N_("biases and LayerNorm's gamma and beta are trainable parameters too: count every "
                       "trainable parameter, whatever its shape")),
            Mistake("frozen only", lambda kind, width_in, width_out, bias, frozen:
                    int((_layer_counts(kind, width_in, width_out, bias) * frozen).sum()),
                    N_("you counted the frozen parameters: count the ones that training updates")),
        ),
        exact=True,
    ),
)
