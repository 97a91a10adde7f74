"""Argument checks, the package's one place for them and its one rule:

- a value of the wrong type raises ``TypeError``;
- a value of the right type but a wrong value raises ``ValueError``;
- the message names the argument, the value received and what was expected,
  e.g. ``num_heads must be an int, got float 2.0`` and ``num_heads must be a positive int, got 0``.

Every check the package makes on its arguments goes through a function here
(tests/model/test_errors.py walks the public API and proves the rule; a test
also proves no other module raises TypeError or ValueError itself).  The
checks read only Python values, shapes and dtypes, so those called inside a
``construct`` also run under ``mindspore.jit``, at compile time.
"""
import re

import mindspore
import numpy as np

_PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FLOAT_DTYPES = (mindspore.float16, mindspore.float32, mindspore.float64, mindspore.bfloat16)


def _got(value):
    """'float 2.0', 'str '8'': the type and the value, for a TypeError's message."""
    return f"{type(value).__name__} {value!r}"


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# --- Python values ----------------------------------------------------------------------------

def check_int(name, value, minimum=None, below=None, below_name=None):
    """An int (Python or NumPy, never a bool) with ``minimum <= value`` and ``value < below``.

    >>> check_int("rank", 2, 0, below=2, below_name="world_size")
    Traceback (most recent call last):
    ValueError: rank must be an int in [0, world_size=2), got 2
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {_got(value)}")
    if below is not None:
        bound = f"{below_name}={below}" if below_name else f"{below}"
        if not minimum <= value < below:
            raise ValueError(f"{name} must be an int in [{minimum}, {bound}), got {value}")
    elif minimum is not None and value < minimum:
        expected = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{name} must be {expected}, got {value}")


def check_positive_int(name, value):
    """An int >= 1.  Under ``mindspore.jit`` too: a Python int passes the first test alone."""
    if isinstance(value, bool) or not isinstance(value, int):
        if not _is_int(value):  # NumPy ints, outside jit
            raise TypeError(f"{name} must be an int, got {_got(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")


def check_seed(seed, name="seed"):
    """A seed is a non-negative int (Python or NumPy), never a bool."""
    check_int(name, seed, minimum=0)


def check_int_pair(name, value):
    """A positive int or a pair (height, width) of positive ints; returns the pair.

    >>> check_int_pair("patch_size", 16), check_int_pair("patch_size", (16, 8))
    ((16, 16), (16, 8))
    """
    if _is_int(value):
        check_positive_int(name, int(value))
        return int(value), int(value)
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{name} must be an int or a pair (height, width) of ints, got {_got(value)}")
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair (height, width) of ints, got {tuple(value)}")
    if min(value) <= 0:
        raise ValueError(f"{name} must hold positive ints, got {tuple(value)}")
    return int(value[0]), int(value[1])


def check_number(name, value, minimum=None, maximum=None, *, exclusive_minimum=False, exclusive_maximum=False):
    """A real number (int or float, never a bool) in the given interval (NaN never is).

    >>> check_number("lr", 0.0, 0.0, exclusive_minimum=True)
    Traceback (most recent call last):
    ValueError: lr must be a number > 0.0, got 0.0
    """
    if not _is_number(value):
        raise TypeError(f"{name} must be a number, got {_got(value)}")
    low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
    high_ok = maximum is None or (value < maximum if exclusive_maximum else value <= maximum)
    if low_ok and high_ok and value == value:
        return
    if minimum is not None and maximum is not None:
        left, right = "(" if exclusive_minimum else "[", ")" if exclusive_maximum else "]"
        expected = f"a number in {left}{minimum}, {maximum}{right}"
    elif minimum is not None:
        expected = f"a number {'>' if exclusive_minimum else '>='} {minimum}"
    else:
        expected = f"a number {'<' if exclusive_maximum else '<='} {maximum}"
    raise ValueError(f"{name} must be {expected}, got {value}")


def check_probability(name, value):
    """A dropout probability: a number in [0, 1).  Under ``mindspore.jit`` too, as :func:`check_positive_int`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if not _is_number(value):  # NumPy numbers, outside jit
            raise TypeError(f"{name} must be a float in [0, 1), got {_got(value)}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_bool(name, value):
    """True or False (a Python or NumPy bool), not a truthy value of another type."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_got(value)}")


def check_choice(name, value, choices):
    """One of ``choices`` (all of one type): another type is a TypeError, another value a ValueError."""
    kind = type(choices[0])
    if not isinstance(value, kind) or isinstance(value, bool) != isinstance(choices[0], bool):
        raise TypeError(f"{name} must be one of {tuple(choices)}, got {_got(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_choice_any_case(name, value, choices):
    """A string equal to one of ``choices`` up to case ("cpu" for "CPU")."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(choices)} (any case), got {_got(value)}")
    if value.lower() not in [choice.lower() for choice in choices]:
        raise ValueError(f"{name} must be one of {tuple(choices)} (any case), got {value!r}")


def check_int_or_choice(name, value, choices):
    """A positive int, or one of the strings ``choices`` ("auto", ...).

    >>> check_int_or_choice("cpu_threads", "all", ("auto", "mindspore"))
    Traceback (most recent call last):
    ValueError: cpu_threads must be a positive int or one of ('auto', 'mindspore'), got 'all'
    """
    if isinstance(value, str):
        if value not in choices:
            raise ValueError(f"{name} must be a positive int or one of {tuple(choices)}, got {value!r}")
        return
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive int or one of {tuple(choices)}, got {_got(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int or one of {tuple(choices)}, got {value}")


def check_value(name, value, acceptable, expected):
    """A value of the right type that must also be ``acceptable`` (a bool the caller computed)."""
    if not acceptable:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def check_text(name, value):
    """A non-empty string (not only spaces)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a non-empty string, got {_got(value)}")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def check_instance(name, value, types, expected):
    """An instance of ``types``; ``expected`` says it in words ("a mindspore.nn.Optimizer")."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def check_callable(name, value, expected="callable"):
    if not callable(value):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def check_pattern(name, value, pattern, example):
    """A string matching the compiled regular expression ``pattern``, like ``example``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string like {example!r}, got {_got(value)}")
    if not pattern.match(value):
        raise ValueError(f"{name} must be a string like {example!r}, got {value!r}")


def check_known(name, value, known, what):
    """``value`` is one of ``known`` (names listed in the message): e.g. an exercise that has a check."""
    if value not in known:
        raise ValueError(f"{name} {value!r} has no {what}; known: {', '.join(known)}")


def check_length(name, values, expected, expected_name):
    """``len(values) == expected``; ``expected_name`` says what fixes the length."""
    if len(values) != expected:
        raise ValueError(f"{name} must have {expected} entries ({expected_name}), got {len(values)}")


# --- arrays and tensors -------------------------------------------------------------------------

def check_array_dims(name, array, ndim, layout):
    """A NumPy array (or array-like) of ``ndim`` dimensions; returns it as an array."""
    array = np.asarray(array)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {array.shape}")
    return array


def check_int_array(name, values, low, high, high_name):
    """A 1-D sequence of ints in [low, high]; returns it as an array."""
    array = np.asarray(values)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be a 1-D sequence of ints, got {_got(values)}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ints, got shape {array.shape}: {values!r}")
    if array.size and (array.min() < low or array.max() > high):
        raise ValueError(f"{name} must lie in [{low}, {high_name}={high}], got {array.tolist()}")
    return array.astype(np.int64)


def check_boolean_mask(mask, name="mask", meaning="True = may attend"):
    if mask.dtype != mindspore.bool_:
        raise TypeError(f"{name} must be a boolean tensor ({meaning}), got dtype {mask.dtype}")


def check_mask_dtype(name, mask, meaning):
    """A boolean mask (``meaning`` says what True means) or a floating-point one (added to the scores)."""
    if mask.dtype != mindspore.bool_ and mask.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be a boolean tensor ({meaning}) or a floating-point tensor "
                        f"(added to the attention scores), got dtype {mask.dtype}")



def check_float_dtype(name, dtype, allowed, where):
    """A floating-point dtype among ``allowed``, those ``where`` (e.g. "MindSpore's CPU kernels") compute."""
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {dtype}")
    if dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise TypeError(f"{name} has dtype {dtype}, which {where} do not compute attention in; "
                        f"use one of {names}")


# --- shapes -------------------------------------------------------------------------------------

def check_divisible(name, value, divisor_name, divisor, reason=""):
    """``value % divisor == 0``; ``reason`` (optional) says why, after the expectation."""
    if value % divisor != 0:
        raise ValueError(f"{name}={value} must be divisible by {divisor_name}={divisor}" + (f" {reason}" if reason else ""))


def check_rank(name, shape, rank, layout):
    if len(shape) != rank:
        raise ValueError(
            f"{name} must be {rank}-D {layout}, got shape {tuple(shape)} ({len(shape)}-D)"
        )


def check_at_most(name, value, maximum, maximum_name):
    """``value <= maximum``, e.g. no more tokens than a table has rows."""
    if value > maximum:
        raise ValueError(f"{name}={value} must be at most {maximum_name}={maximum}")


def check_ndim_in(name, shape, allowed, layout, hint=""):
    """len(shape) in ``allowed``; ``layout`` names the accepted forms, ``hint`` says how to get one."""
    if len(shape) not in allowed:
        raise ValueError(f"{name} must be {layout}, got shape {tuple(shape)}{hint}")


def check_one_panel(shape, panels):
    """``ax`` draws one map: weights (Nq, Nk) or (1, Nq, Nk)."""
    if panels != 1:
        raise ValueError(f"ax draws one (Nq, Nk) map; weights of shape {tuple(shape)} have {panels} panels")


def check_rank_at_least(name, shape, rank, layout):
    if len(shape) < rank:
        raise ValueError(f"{name} must be at least {rank}-D {layout}, got shape {tuple(shape)} ({len(shape)}-D)")


def check_last_dim(name, shape, expected, expected_name):
    if shape[-1] != expected:
        raise ValueError(
            f"{name} last dimension must equal {expected_name}={expected}, "
            f"got shape {tuple(shape)}"
        )


def check_shape(name, shape, expected, layout):
    """``shape == expected`` exactly; ``layout`` names its axes, e.g. "(B, Nk)"."""
    if tuple(shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {layout} = {tuple(expected)}, got {tuple(shape)}")


def check_dim(name, shape, axis, expected, expected_name):
    """``shape[axis] == expected``: e.g. v must have as many tokens as k."""
    if shape[axis] != expected:
        raise ValueError(f"{name} dimension {axis} must equal {expected_name}={expected}, got shape {tuple(shape)}")


def check_same(names, values, what):
    """All ``values`` equal: e.g. the batch sizes of query, key and value (loops only: it runs under jit)."""
    for value in values:
        if value != values[0]:
            listed = ""
            for value_i in values:
                listed = listed + (", " if listed else "") + str(value_i)
            raise ValueError(f"{', '.join(names[:-1])} and {names[-1]} must have the same {what}, got {listed}")


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


def check_dict_entry(name, mapping, key, shape):
    """``mapping[key]`` is an array of ``shape``; returns it as a NumPy array."""
    if key not in mapping or mapping[key] is None:
        raise ValueError(f"{name} is missing {key!r} of shape {shape}")
    value = np.asarray(mapping[key])
    if value.shape != tuple(shape):
        raise ValueError(f"{name}[{key!r}] must have shape {tuple(shape)}, got {value.shape}")
    return value


def check_unused_bias(name, mapping, key):
    """A bias the module does not have must not be given (it would be dropped silently)."""
    if mapping.get(key) is not None:
        raise ValueError(f"{name}[{key!r}] given but the module was built without that bias")


def check_convertible(what, condition, requirement):
    if not condition:
        raise ValueError(f"{what} needs {requirement}")


def check_timm_keys(given, expected):
    """A timm state dict holds exactly the keys this model maps (sets of names)."""
    missing, unknown = sorted(expected - given), sorted(given - expected)
    if missing:
        raise ValueError(f"state_dict is missing the timm keys {missing}: build the VisionTransformer with the timm "
                         f"model's configuration (depth, qkv_bias, global_pool)")
    if unknown:
        raise ValueError(f"state_dict has keys this VisionTransformer has no place for: {unknown} (layer scale, "
                         f"q/k norm, register tokens and pre-norm are not part of it)")


def check_empty_folder(name, folder):
    """An existing, empty folder (a pathlib.Path)."""
    if not folder.is_dir() or any(folder.iterdir()):
        raise ValueError(f"{name} {str(folder)!r} must be an existing empty folder")


# --- the course's exercise checks and referee --------------------------------------------------

def check_case_input(exercise_id, name, array):
    """A case input of an exercise check: named like a Python variable, holding numbers."""
    if not _PYTHON_NAME.match(name):
        raise ValueError(f"exercise {exercise_id}: case input {name!r} must be named like a Python variable")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"exercise {exercise_id}: case input {name!r} must hold numbers, got dtype {array.dtype}")


def check_checked_once(exercise_id, checked, module):
    if exercise_id in checked:
        raise ValueError(f"exercise {exercise_id} is checked twice ({module})")


def check_prepared(prepared):
    """The referee judges only what it prepared, once."""
    if prepared is None:
        raise ValueError("unknown token: prepare first (each preparation is judged once)")


# --- attention masks (the conventions: mhsa_ms/model/masks.py) -----------------------------------

def check_attn_mask_shape(shape, batch, heads, q_len, k_len):
    """(Nq, Nk), (B·h, Nq, Nk) or (B|1, h|1, Nq, Nk); a 2-D mask is refused when B = Nq > 1 (ambiguous)."""
    shape = tuple(shape)
    expected = (f"attn_mask must be (Nq, Nk) = {(q_len, k_len)}, (B·h, Nq, Nk) = {(batch * heads, q_len, k_len)} "
                f"or (B, h, Nq, Nk) = {(batch, heads, q_len, k_len)} with axes of size 1 broadcasting")
    if len(shape) == 2:
        if shape != (q_len, k_len):
            hint = "; a (B, Nk) padding mask goes to key_padding_mask" if shape == (batch, k_len) else ""
            raise ValueError(f"{expected}; got shape {shape}{hint}")
        if batch == q_len and batch > 1:
            raise ValueError(
                f"attn_mask of shape {shape} is ambiguous because B = Nq = {batch}: it would be read as (Nq, Nk), "
                f"but a (B, Nk) key padding mask has the same shape; pass padding as key_padding_mask (B, Nk), "
                f"a query-key mask as attn_mask[None, None] (1, 1, Nq, Nk), or is_causal=True")
    elif len(shape) == 3:
        if shape != (batch * heads, q_len, k_len):
            hint = ("; one mask per sample (B, Nq, Nk) is attn_mask[:, None] (B, 1, Nq, Nk)"
                    if shape == (batch, q_len, k_len) else "")
            raise ValueError(f"{expected}; got shape {shape}{hint}")
    elif len(shape) != 4 or not broadcastable(shape, (batch, heads, q_len, k_len)):
        raise ValueError(f"{expected}; got shape {shape} ({len(shape)}-D)")


def check_key_padding_mask_shape(shape, batch, k_len):
    """Exactly (B, Nk); the lessons' (B, 1, Nk) may-attend mask is named in the message."""
    shape = tuple(shape)
    if shape != (batch, k_len):
        hint = (": mm.padding_mask gives the lessons' (B, 1, Nk) may-attend mask; use mm.key_padding_mask(lengths, Nk)"
                if shape == (batch, 1, k_len) else "")
        raise ValueError(f"key_padding_mask must have shape (B, Nk) = {(batch, k_len)} "
                         f"(True = padding, as in torch), got {shape}{hint}")
