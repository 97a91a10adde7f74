"""Exercise checks for lessons: one deterministic verdict line per exercise.

A lesson's answer cell defines a function whose body holds the solution
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student edition
replaces that region by ``raise NotImplementedError("exercise <id>")``.  The
check cell calls :func:`check_exercise`, which runs the test and prints

    Exercise 1.1: correct
    Exercise 1.1: not yet right. Hint: ...
    Exercise 1.1: not yet answered

Results are kept per process for :func:`mhsa_ms.checkin`.

>>> import mhsa_ms as mm
>>> def test():
...     assert 1 + 1 == 2
>>> mm.check_exercise("0.1", test, hint="add the numbers")
Exercise 0.1: correct
>>> mm.exercise_results(0)
{'0.1': True}
"""
from .._checks import check_callable, check_instance, check_int, check_text

_results = {}


def check_exercise(exercise_id, test, hint):
    """Run ``test()`` (assertions on the learner's answer), print and record the verdict.

    Args:
        exercise_id: the id of the exercise, "<day>.<n>".
        test: a callable with no arguments that raises AssertionError when
            the answer is wrong; NotImplementedError means "not yet answered".
        hint: shown when the answer is wrong.

    Returns nothing, so that a check cell shows only the verdict line;
    :func:`exercise_results` has the outcome.
    """
    check_text("exercise_id", exercise_id)
    check_callable("test", test)
    check_instance("hint", hint, str, "a string")
    try:
        test()
    except NotImplementedError:
        verdict, passed = "not yet answered", False
    except AssertionError:
        verdict, passed = f"not yet right. Hint: {hint}", False
    else:
        verdict, passed = "correct", True
    _results[exercise_id] = passed
    print(f"Exercise {exercise_id}: {verdict}")


def exercise_results(day=None):
    """Dict exercise id -> passed, for every check run in this process (optionally of one day)."""
    if day is None:
        return dict(_results)
    check_int("day", day, minimum=0)
    prefix = f"{day}."
    return {key: value for key, value in _results.items() if key.startswith(prefix)}
