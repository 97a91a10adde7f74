"""The exercise checks of the course: one module per lesson, ``day00`` ... ``day08``.

Each exercise has an :class:`ExerciseCheck`: cases drawn from a seed, an
independent NumPy reference, the usual mistakes with their hints, and the
package functions that would do the exercise for the learner (switched off
while the answer runs).  :func:`judge` decides a verdict from what the
answer gave on the cases; the learner's self-check
(:func:`mhsa_ms.check_exercise`) and the grader's referee
(``python -m mhsa_ms.course.referee``) both use it.

This package holds the references, so a graded (sandboxed) kernel never
gets it: there, ``check_exercise`` only records the answer's outputs.
"""

import numpy as np

from ..._checks import check_case_input
from .judge import Expectations, Verdict, expectations, judge
from .registry import EXTRA_ENV, all_checks, checks_of_day, find_check
from .spec import ExerciseCheck, Mistake, Raises

__all__ = ["EXTRA_ENV", "ExerciseCheck", "Expectations", "Mistake", "Raises", "Verdict", "all_checks",
           "checks_of_day", "draw_cases", "expectations", "find_check", "judge"]



def draw_cases(check, rng):
    """The check's cases for one run, as dicts name -> NumPy array (numbers as 0-d arrays)."""
    cases = []
    for case in check.cases(rng):
        stored = {}
        for name, value in case.items():
            array = np.array(value)
            check_case_input(check.id, name, array)
            stored[name] = array
        cases.append(stored)
    return cases
