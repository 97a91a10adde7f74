"""Argument checks shared by the package: each raises ValueError/TypeError
naming the argument, the value received and what was expected.

They only read Python ints, shape tuples and dtypes, so they also run inside
``mindspore.jit`` (where they are evaluated at compile time).
"""
import mindspore
import numpy as np


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")


def check_seed(seed):
    """A seed is a non-negative int (Python or NumPy), never a bool."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def check_boolean_mask(mask):
    if mask.dtype != mindspore.bool_:
        raise TypeError(f"mask must be a boolean tensor (True = may attend), got dtype {mask.dtype}")


def check_probability(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_divisible(name, value, divisor_name, divisor):
    if value % divisor != 0:
        raise ValueError(
            f"{name}={value} must be divisible by {divisor_name}={divisor}"
        )


def check_rank(name, shape, rank, layout):
    if len(shape) != rank:
        raise ValueError(
            f"{name} must be {rank}-D {layout}, got shape {tuple(shape)} ({len(shape)}-D)"
        )


def check_last_dim(name, shape, expected, expected_name):
    if shape[-1] != expected:
        raise ValueError(
            f"{name} last dimension must equal {expected_name}={expected}, "
            f"got shape {tuple(shape)}"
        )


def broadcastable(shape, target):
    """True if an array of ``shape`` broadcasts to ``target`` (NumPy rules)."""
    if len(shape) > len(target):
        return False
    offset = len(target) - len(shape)
    for i in range(len(shape)):
        if shape[i] != 1 and shape[i] != target[offset + i]:
            return False
    return True


def check_broadcastable(name, shape, target, layout):
    if not broadcastable(shape, target):
        raise ValueError(
            f"{name} of shape {tuple(shape)} is not broadcastable to {layout} = {tuple(target)}"
        )
