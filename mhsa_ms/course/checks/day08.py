"""Checks of lesson 8 (scaling out): 8.1 shard_bounds, 8.2 all_reduce_mean, 8.3 scaled_lr."""
import numpy as np

from ...i18n import N_
from .spec import ExerciseCheck, Mistake, Raises

_BATCHES = (("mhsa_ms.data:iterate_batches", "mm.iterate_batches"),)


def _shard_cases(rng):
    world = int(rng.integers(2, 9))
    return [{"batch_size": 8, "world_size": 2, "rank": 1}, {"batch_size": 64, "world_size": 8, "rank": 5},
            {"batch_size": 12, "world_size": 3, "rank": 0}, {"batch_size": 12, "world_size": 3, "rank": 2},
            {"batch_size": world * int(rng.integers(1, 17)), "world_size": world, "rank": int(rng.integers(0, world))},
            {"batch_size": 63, "world_size": 2, "rank": 0}, {"batch_size": 10, "world_size": 4, "rank": 3}]


def _bounds(batch_size, world_size, rank, even_only=True, stop_offset=0, shard=None):
    if even_only and batch_size % world_size:
        return Raises(ValueError)
    size = batch_size // world_size if shard is None else shard
    return rank * size, (rank + 1) * size + stop_offset


def _gradient_cases(rng):
    return [{"grad0": rng.normal(size=(ranks, 3)), "grad1": rng.normal(size=(ranks,)),
             "grad2": rng.normal(size=(ranks, 2, 2))} for ranks in (2, 4, 3, 1)]


CHECKS = (
    ExerciseCheck(
        id="8.1", answer="shard_bounds", caller="sequence", cases=_shard_cases, reference=_bounds,
        hint=N_("every rank gets the same number of samples, batch_size / world_size, one block after the other; "
                "raise ValueError when the batch does not split evenly"),
        mistakes=(
            Mistake("no error", lambda batch_size, world_size, rank: _bounds(batch_size, world_size, rank,
                                                                               even_only=False),
                    N_("when the batch does not split evenly, raise ValueError instead of dropping samples")),
            Mistake("inclusive stop", lambda batch_size, world_size, rank: _bounds(batch_size, world_size, rank,
                                                                                     stop_offset=-1),
                    N_("stop is exclusive, like a Python slice: rank r's samples are start, ..., stop - 1")),
            Mistake("shard of world size", lambda batch_size, world_size, rank: _bounds(
                batch_size, world_size, rank, shard=world_size),
                    N_("each rank gets batch_size / world_size samples, so rank r starts at r times that shard")),
            Mistake("size as stop", lambda batch_size, world_size, rank: (
                _bounds(batch_size, world_size, rank) if batch_size % world_size else
                (rank * (batch_size // world_size), batch_size // world_size)),
                    N_("return (start, stop): stop is where the shard ends, start plus the shard size")),
        ),
        forbidden=_BATCHES,
        exact=True,
    ),
    ExerciseCheck(
        id="8.2", answer="all_reduce_mean", caller="per_rank", cases=_gradient_cases,
        reference=lambda **grads: [grad.mean(axis=0) for grad in grads.values()],
        hint=N_("group the same gradient of every rank and average each group element by element over the ranks; "
                "return one array per gradient, in order"),
        mistakes=(
            Mistake("sum", lambda **grads: [grad.sum(axis=0) for grad in grads.values()],
                    N_("this all-reduce averages: divide the sum over the ranks by the number of ranks")),
            Mistake("first rank", lambda **grads: [grad[0] for grad in grads.values()],
                    N_("average over every rank's copy, not just the first rank's")),
            Mistake("scalar means", lambda **grads: [grad.mean() for grad in grads.values()],
                    N_("average element by element over the ranks: each result keeps its gradient's shape")),
            Mistake("by tensor count", lambda **grads: [grad.sum(axis=0) / len(grads) for grad in grads.values()],
                    N_("divide by the number of ranks, not by the number of gradients")),
        ),
    ),
    ExerciseCheck(
        id="8.3", answer="scaled_lr", caller="number",
        cases=lambda rng: [{"base_lr": 2e-3, "base_batch": 64, "global_batch": 512},
                           {"base_lr": 2e-3, "base_batch": 64, "global_batch": 64},
                           {"base_lr": 1e-3, "base_batch": 256, "global_batch": 128},
                           {"base_lr": float(rng.uniform(1e-4, 1e-2)), "base_batch": int(rng.integers(8, 129)),
                            "global_batch": int(rng.integers(8, 4097))}],
        reference=lambda base_lr, base_batch, global_batch: base_lr * global_batch / base_batch,
        hint=N_("scale the learning rate by the same factor as the batch: k times the batch, k times the rate"),
        mistakes=(
            Mistake("inverted", lambda base_lr, base_batch, global_batch: base_lr * base_batch / global_batch,
                    N_("a larger batch takes a larger learning rate: multiply by how many times larger it is")),
            Mistake("square root", lambda base_lr, base_batch, global_batch:
                    base_lr * np.sqrt(global_batch / base_batch),
                    N_("the linear rule scales by the batch ratio itself, not by its square root")),
            Mistake("unchanged", lambda base_lr, base_batch, global_batch: base_lr,
                    N_("scale base_lr by how many times larger the global batch is than the base batch")),
            Mistake("ratio only", lambda base_lr, base_batch, global_batch: global_batch / base_batch,
                    N_("the ratio of the batches is the factor: multiply the base learning rate by it")),
        ),
        rtol=1e-9, atol=0.0,
    ),
)
