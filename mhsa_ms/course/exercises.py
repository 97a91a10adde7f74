"""Exercise checks, kernel side: ``mm.check_exercise("1.1", scaled_scores)`` under a check cell.

A lesson's answer cell defines a function whose body holds the solution
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the student edition
has ``raise NotImplementedError("exercise <id>")`` there); the check cell
passes that function, the learner's answer, to :func:`check_exercise`.

**Self-check** (a learner in Jupyter, the default): cases are drawn from a
fresh seed, the answer runs on each, and the checks of
:mod:`mhsa_ms.course.checks` compare its results with an independent NumPy
reference.  One verdict line is printed at once and recorded for the
check-in card::

    Exercise 1.1: correct
    Exercise 1.1: not yet right. Hint: ...
    Exercise 1.1: not yet answered

**Grading** (``mhsa-ms grade`` sets ``MHSA_MS_GRADING_CASES``, a read-only
folder of ``<id>.npz`` cases and ``<id>.json`` plans, and
``MHSA_MS_GRADING_ANSWERS``, an empty folder): the answer runs on the cases
the grader drew from a seed this kernel never sees, its results are written
to ``<answers>/<id>.npz`` and ``Exercise <id>: answer recorded`` is printed.
Nothing is decided here: the grader's referee, a process the student's code
never runs in, judges the file.  This mode needs neither the checks nor the
referee, which a graded kernel does not get.

**Switched-off functions**: while an answer runs, the package functions that
would do its exercise (the check's ``forbidden`` list) raise instead; the
verdict names the one called.  Their code objects are swapped, so saved
references (``from mhsa_ms import split_heads``) and package functions that
call them are covered too.  Limit: code that deliberately rewrites the
package inside its own kernel can get round this, but it must still give
right results on inputs it never saw, which is the verdict.

>>> import numpy as np, mhsa_ms as mm
>>> def scaled_scores(q, k):
...     return q @ k.T / np.sqrt(k.shape[-1])
>>> mm.check_exercise("1.1", scaled_scores)
Exercise 1.1: correct
>>> mm.exercise_results(1)
{'1.1': True}
"""
import contextlib
import importlib
import json
import os
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .._checks import check_callable, check_instance, check_int, check_known, check_pattern
from ..i18n import gettext as _

CASES_ENV = "MHSA_MS_GRADING_CASES"
ANSWERS_ENV = "MHSA_MS_GRADING_ANSWERS"
EXERCISE_ID = re.compile(r"^\d+\.\d+$")
CASE_BYTES = 2**20  # the most one case's results may hold (the right ones hold a few KiB)
ERROR_CHARS = 300
_results = {}


class UnusableResult(ValueError):
    """The answer returned something that is not what the exercise asks for (a tensor, numbers, ...)."""


class ForbiddenCall(RuntimeError):
    """Raised by a package function that is switched off while an exercise is checked."""


# ----------------------------------------------------------------------------
# cases and results

def case_arguments(case):
    """A stored case (name -> array) as arguments: 0-d arrays become Python numbers, arrays fresh copies
    (an answer that changes its inputs in place changes nothing else)."""
    return {name: value.item() if value.ndim == 0 else value.copy() for name, value in case.items()}


def _array(value, what=None):
    """A real-valued NumPy array from a tensor, array or number, else UnusableResult."""
    what = _("the answer") if what is None else what
    if hasattr(value, "asnumpy"):
        value = value.asnumpy()
    try:
        array = np.asarray(value)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise UnusableResult(_("{what} returned {type}, not numbers").format(what=what, type=type(value).__name__))
    return array


def _one_array(result):
    return (_array(result),)


def _one_number(result):
    array = _array(result)
    if array.shape != ():
        raise UnusableResult(_("the answer returned an array of shape {shape}; the exercise asks for one "
                               "number").format(shape=array.shape))
    return (array,)


def _tensor_result(result):
    import mindspore

    if not isinstance(result, mindspore.Tensor):
        raise UnusableResult(_("the answer returned {type}; the exercise asks for a MindSpore Tensor").format(
            type=type(result).__name__))
    return (_array(result),)


def _items(result):
    if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__iter__"):
        raise UnusableResult(_("the answer returned {type}; the exercise asks for a list").format(
            type=type(result).__name__))
    items = []
    for item in result:
        items.append(_array(item, _("an item of the answer")))
        if len(items) > 1000:
            raise UnusableResult(_("the answer returned a list of more than {count} items").format(count=1000))
    return tuple(items)


def _as_given(args):
    return list(args.values())


def _as_tensors(args):
    import mindspore

    return [mindspore.Tensor(value.astype(np.float32) if value.dtype.kind in "iuf" else value)
            if isinstance(value, np.ndarray) else value for value in args.values()]


def _load_parameters(cell, args):
    """Give every parameter of ``cell`` the case's values: parameter ``a.b`` reads input ``a_b``."""
    from mindspore import Tensor

    for name, param in cell.parameters_and_names():
        param.set_data(Tensor(np.asarray(args[name.replace(".", "_")], np.float32)))
    return cell


def _dense_stack(args):
    """A SequentialCell of Dense (kind 0) and LayerNorm (kind 1) layers, some frozen."""
    from mindspore import nn

    layers = []
    for kind, width_in, width_out, bias, frozen in zip(args["kind"], args["width_in"], args["width_out"],
                                                       args["bias"], args["frozen"]):
        layer = nn.Dense(int(width_in), int(width_out), has_bias=bool(bias)) if kind == 0 else \
            nn.LayerNorm((int(width_out),))
        for param in layer.get_parameters():
            param.requires_grad = not frozen
        layers.append(layer)
    return [nn.SequentialCell(layers)]


def _encoder_layer(args):
    """A post-norm ``mm.EncoderLayer`` with the case's weights, and the input x as a tensor."""
    from mindspore import Tensor
    from ..model.transformer import EncoderLayer

    layer = EncoderLayer(args["embed_dim"], args["num_heads"], mlp_ratio=args["hidden_dim"] / args["embed_dim"],
                         norm_first=False)
    return [_load_parameters(layer, args), Tensor(args["x"].astype(np.float32))]


def _attention_module(args):
    """An ``mm.MultiHeadAttention`` with the case's weights, and the input x as a tensor."""
    from mindspore import Tensor
    from ..model.attention import MultiHeadAttention

    module = MultiHeadAttention(args["embed_dim"], args["num_heads"])
    return [_load_parameters(module, args), Tensor(args["x"].astype(np.float32))]


def _per_rank(args):
    """Inputs grad0, grad1, ... (R, ...) as one list per rank of R: [[grad0[r], grad1[r], ...], ...]."""
    arrays = list(args.values())
    return [[[array[rank] for array in arrays] for rank in range(arrays[0].shape[0])]]


@dataclass(frozen=True)
class Caller:
    """How an answer is called on a case: its arguments from the case, arrays from its result."""

    inputs: Callable
    outputs: Callable


#: Caller name (an ExerciseCheck's ``caller``) -> Caller.
CALLERS = {
    "numpy": Caller(_as_given, _one_array),
    "number": Caller(_as_given, _one_number),
    "sequence": Caller(_as_given, _items),
    "tensor": Caller(_as_tensors, _tensor_result),
    "dense_stack": Caller(_dense_stack, _one_number),
    "encoder_layer": Caller(_encoder_layer, _tensor_result),
    "attention_module": Caller(_attention_module, _tensor_result),
    "per_rank": Caller(_per_rank, _items),
}


# ----------------------------------------------------------------------------
# switched-off package functions

_calls = []  # public names of switched-off functions called while the current answer ran


def _switched_off(public_name):
    """Called by a switched-off function: note the call, return the exception it raises."""
    _calls.append(public_name)
    return ForbiddenCall(f"{public_name} is switched off while this exercise is checked: it does the exercise")


def _stub_code(public_name, free_names):
    """Code of ``f(*args, **kwargs)`` that raises ForbiddenCall, with the free variables ``free_names``.

    It runs with the target's globals, so it needs only builtins; its free variables (e.g. the
    ``__class__`` of a method calling ``super()``) match the target's closure, never read.
    """
    cells = "".join(f"    {name} = None\n" for name in free_names)
    source = (f"def factory():\n{cells}"
              f"    def switched_off(*args, **kwargs):\n"
              f"        raise __import__({__name__!r}, fromlist=['_switched_off'])._switched_off({public_name!r})\n"
              f"        ({''.join(name + ', ' for name in free_names)})\n"
              f"    return switched_off\n")
    namespace = {}
    exec(compile(source, f"<switched off: {public_name}>", "exec"), namespace)
    return namespace["factory"]().__code__


def resolve_function(target):
    """The plain Python function named ``"module:qualified.name"``."""
    module, _, qualified = target.partition(":")
    found = importlib.import_module(module)
    for part in qualified.split("."):
        found = getattr(found, part)
    check_instance(target, found, types.FunctionType, "the name of a plain Python function")
    return found


@contextlib.contextmanager
def switched_off(forbidden):
    """Within the block, each ``(target, public name)`` of ``forbidden`` raises ForbiddenCall when called.

    Yields the list of public names called so far; the functions are restored on any exit.
    """
    swapped = []
    del _calls[:]
    try:
        for target, public_name in forbidden:
            function = resolve_function(target)
            swapped.append((function, function.__code__))
            function.__code__ = _stub_code(public_name, function.__code__.co_freevars)
        yield _calls
    finally:
        for function, code in reversed(swapped):
            function.__code__ = code


def _raised(exc):
    builtin = next(cls for cls in type(exc).__mro__ if cls.__module__ == "builtins")
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return {"raised": builtin.__name__, "error": text[:ERROR_CHARS]}


def run_case(caller, answer, case, forbidden):
    """The outcome of ``answer`` on one case (see :mod:`mhsa_ms.course.checks.judge`)."""
    args = caller.inputs(case_arguments(case))
    with switched_off(forbidden) as calls:
        try:
            result = answer(*args)
        except Exception as exc:
            return {"forbidden": calls[0]} if calls else _raised(exc)
        if calls:  # the answer caught the ForbiddenCall
            return {"forbidden": calls[0]}
    try:
        outputs = caller.outputs(result)
    except UnusableResult as exc:
        return {"unusable": str(exc)}
    except Exception as exc:
        return _raised(exc)
    if sum(array.nbytes for array in outputs) > CASE_BYTES:
        return {"unusable": _("the answer returned more than {size} MiB for one small check case").format(
            size=CASE_BYTES // 2**20)}
    return {"outputs": outputs}


def run_cases(caller, answer, cases, forbidden):
    """Outcomes on every case; after a switched-off call or the unanswered stub, the rest are the same."""
    outcomes = []
    for case in cases:
        last = outcomes[-1] if outcomes else {}
        if "forbidden" in last or last.get("raised") == "NotImplementedError":
            outcomes.append(last)
        else:
            outcomes.append(run_case(caller, answer, case, forbidden))
    return outcomes


# ----------------------------------------------------------------------------
# the two modes

def _grading_folders():
    cases, answers = os.environ.get(CASES_ENV), os.environ.get(ANSWERS_ENV)
    return (Path(cases), Path(answers)) if cases and answers else None


def write_outcomes(path, outcomes):
    """Save outcomes as ``.npz`` (strings as unicode arrays: no pickle), atomically."""
    arrays = {"cases": np.array(len(outcomes))}
    for index, outcome in enumerate(outcomes):
        for number, array in enumerate(outcome.get("outputs", ())):
            arrays[f"{index}.out{number}"] = array
        for key in ("raised", "error", "forbidden", "unusable"):
            if key in outcome:
                arrays[f"{index}.{key}"] = np.array(str(outcome[key]))
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(partial, path)


def _record_for_grading(exercise_id, answer, cases_dir, answers_dir):
    try:
        plan = json.loads((cases_dir / f"{exercise_id}.json").read_text(encoding="utf-8"))
        with np.load(cases_dir / f"{exercise_id}.npz", allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        print(_("Exercise {exercise}: no check cases were prepared for this exercise").format(exercise=exercise_id))
        return
    cases = [{name: arrays[f"{index}.{name}"] for name in names} for index, names in enumerate(plan["cases"])]
    outcomes = run_cases(CALLERS[plan["caller"]], answer, cases, [tuple(pair) for pair in plan["forbidden"]])
    write_outcomes(answers_dir / f"{exercise_id}.npz", outcomes)
    print(_("Exercise {exercise}: answer recorded").format(exercise=exercise_id))


def _self_check(exercise_id, answer):
    from . import checks

    check_known("exercise_id", exercise_id, tuple(checks.all_checks()), "check")
    check = checks.find_check(exercise_id)
    cases = checks.draw_cases(check, np.random.default_rng())
    expectations = checks.expectations(check, cases)
    outcomes = run_cases(CALLERS[check.caller], answer, cases, check.forbidden)
    verdict = checks.judge(check, outcomes, expectations)
    _results[exercise_id] = verdict.passed
    print(verdict.line)


def check_exercise(exercise_id, answer):
    """Check the learner's ``answer`` (the function or class the exercise asks for) and print the verdict.

    Args:
        exercise_id: the id of the exercise, "<day>.<n>".
        answer: the learner's function or class itself, e.g. ``scaled_scores``.

    Returns nothing, so that a check cell shows only the verdict line;
    :func:`exercise_results` has the outcome of self-checks.
    """
    check_pattern("exercise_id", exercise_id, EXERCISE_ID, "1.2")
    check_callable("answer", answer, "the function or class the exercise asks for")
    folders = _grading_folders()
    if folders is not None:
        _record_for_grading(exercise_id, answer, *folders)
    else:
        _self_check(exercise_id, answer)


def exercise_results(day=None):
    """Dict exercise id -> passed, for every self-check run in this process (optionally of one day)."""
    if day is None:
        return dict(_results)
    check_int("day", day, minimum=0)
    prefix = f"{day}."
    return {key: value for key, value in _results.items() if key.startswith(prefix)}
