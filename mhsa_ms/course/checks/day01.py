"""Checks of lesson 1 (self-attention): 1.1 scaled_scores, 1.2 attention_weights, 1.3 causal_self_attention."""
import numpy as np

from .numpy_maths import attention, softmax
from ...i18n import N_
from .spec import ExerciseCheck, Mistake

_SDPA = ("mhsa_ms.model.functional:scaled_dot_product_attention", "mm.scaled_dot_product_attention")


def _scores_cases(rng):
    thinking_q = np.ones((1, 64))
    thinking_k = np.array([[2.0] * 48 + [1.0] * 16, [2.0] * 32 + [1.0] * 32])  # the lesson's example: 14, 12
    return [
        {"q": rng.normal(size=(3, 5)), "k": rng.normal(size=(4, 5))},  # (Nq, d_k), (Nk, d_k)
        {"q": rng.normal(size=(4, 4)), "k": rng.normal(size=(4, 4))},  # square: a transposed result fits too
        {"q": rng.normal(size=(2, 16)), "k": rng.normal(size=(6, 16))},
        {"q": thinking_q, "k": thinking_k},
    ]


def _scores(q, k):
    return q @ k.T / np.sqrt(q.shape[-1])


def _random_mask(rng, rows, cols):
    """A mask with at least one True and one False per row (cols >= 2)."""
    mask = rng.random((rows, cols)) < 0.5
    mask[np.arange(rows), rng.integers(0, cols, rows)] = True
    mask[mask.all(axis=1), 0] = False
    mask[~mask.any(axis=1), -1] = True
    return mask


def _weights_cases(rng):
    return [
        {"q": rng.normal(size=(5, 8)), "k": rng.normal(size=(5, 8))},
        {"q": rng.normal(size=(3, 4)), "k": rng.normal(size=(6, 4)), "mask": _random_mask(rng, 3, 6)},
        {"q": rng.normal(size=(5, 6)), "k": rng.normal(size=(5, 6)), "mask": np.tril(np.ones((5, 5), bool))},
        _overflow_case(rng),
    ]


def _overflow_case(rng):
    """Keys along their queries, scores in the thousands: exp overflows unless the row maximum is subtracted."""
    q = 30 * rng.normal(size=(4, 4))
    mask = _random_mask(rng, 4, 4)
    mask[np.arange(4), np.arange(4)] = True  # each query may attend to its own, huge, score
    return {"q": q, "k": 3 * q + rng.normal(size=(4, 4)), "mask": mask}


def _weights(q, k, mask=None):
    return attention(q, k, k, mask)[1]


def _unstable_weights(q, k, mask=None):
    scores = _scores(q, k)
    exp = np.exp(scores) if mask is None else np.where(mask, np.exp(scores), 0.0)
    return exp / exp.sum(axis=-1, keepdims=True)


def _masked_attention(x, mask):
    """Attention of x (B, N, D) over itself; a query with no allowed key gets a zero output."""
    scores = x @ np.swapaxes(x, -1, -2) / np.sqrt(x.shape[-1])  # (B, N, N)
    exp = np.where(mask, np.exp(scores - scores.max(axis=-1, keepdims=True)), 0.0)
    total = exp.sum(axis=-1, keepdims=True)
    weights = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    return weights @ x, weights


def _causal_cases(rng):
    return [{"x": rng.normal(size=(2, 6, 4))}, {"x": rng.normal(size=(1, 5, 5))}, {"x": rng.normal(size=(3, 4, 8))}]


def _causal(x, offset=0, upper=False):
    n = x.shape[1]
    mask = np.triu(np.ones((n, n), bool), offset) if upper else np.tril(np.ones((n, n), bool), offset)
    return _masked_attention(x, mask)


CHECKS = (
    ExerciseCheck(
        id="1.1", answer="scaled_scores", caller="numpy", cases=_scores_cases, reference=_scores,
        hint=N_("score (i, j) is the dot product of query i with key j, divided by the square root of the key "
                "width d_k"),
        mistakes=(
            Mistake("unscaled", lambda q, k: q @ k.T,
                    N_("divide the dot products by the square root of the key width d_k, so that their spread "
                       "does not grow with d_k")),
            Mistake("divided by d_k", lambda q, k: q @ k.T / q.shape[-1],
                    N_("divide by the square root of d_k, not by d_k itself")),
            Mistake("number of keys", lambda q, k: q @ k.T / np.sqrt(k.shape[0]),
                    N_("d_k is the width of a key (its last axis), not the number of keys")),
            Mistake("transposed", lambda q, k: k @ q.T / np.sqrt(q.shape[-1]),
                    N_("rows are queries and columns are keys: the result is (Nq, Nk)")),
        ),
        rtol=1e-5, atol=1e-6,
    ),
    ExerciseCheck(
        id="1.2", answer="attention_weights", caller="numpy", cases=_weights_cases, reference=_weights,
        hint=N_("take the softmax of each row of the scaled scores; where the mask is False the score becomes "
                "minus infinity first, so that its weight is exactly 0"),
        mistakes=(
            Mistake("unscaled", lambda q, k, mask=None: softmax(np.where(mask, q @ k.T, -np.inf)
                                                                 if mask is not None else q @ k.T),
                    N_("scale the scores by one over the square root of d_k before the softmax")),
            Mistake("mask ignored", lambda q, k, mask=None: softmax(_scores(q, k)),
                    N_("where the mask is False the weight must be exactly 0: give those scores minus infinity "
                       "before the softmax")),
            Mistake("masked after", lambda q, k, mask=None: softmax(_scores(q, k)) * (1 if mask is None else mask),
                    N_("masking after the softmax leaves rows that no longer sum to 1: mask the scores before "
                       "the softmax")),
            Mistake("inverted mask", lambda q, k, mask=None: _weights(q, k, None if mask is None else ~mask),
                    N_("True in the mask means 'may attend': keep the scores where the mask is True")),
            Mistake("over queries", lambda q, k, mask=None: softmax(np.where(mask, _scores(q, k), -np.inf)
                                                                    if mask is not None else _scores(q, k), 0),
                    N_("the softmax runs over the keys, along each row, so that every query's weights sum to 1")),
            Mistake("unstable", _unstable_weights,
                    N_("large scores overflow the exponential: subtract each row's maximum score before "
                       "exponentiating (the softmax does not change)")),
        ),
        forbidden=(_SDPA,),
        rtol=1e-4, atol=1e-6,
    ),
    ExerciseCheck(
        id="1.3", answer="causal_self_attention", caller="tensor", cases=_causal_cases,
        reference=lambda x: _causal(x)[0],
        hint=N_("attend with x as queries, keys and values under the causal mask (True where key j <= query i), "
                "and return the attention output (B, N, D)"),
        mistakes=(
            Mistake("no mask", lambda x: _masked_attention(x, True)[0],
                    N_("without a mask every token also sees the later ones: pass the causal mask")),
            Mistake("input", lambda x: x,
                    N_("your output equals the input x: each token must attend to itself and to every earlier "
                       "token, with x as queries, keys and values")),
            Mistake("future", lambda x: _causal(x, 0, upper=True)[0],
                    N_("the causal mask is True on and below the diagonal (key j <= query i); yours lets tokens "
                       "see the future")),
            Mistake("no diagonal", lambda x: _causal(x, -1)[0],
                    N_("each token may attend to itself: the diagonal of the causal mask is True")),
            Mistake("weights", lambda x: _causal(x)[1],
                    N_("attention returns (output, weights): return the output")),
        ),
        rtol=1e-4, atol=1e-5,
    ),
)
