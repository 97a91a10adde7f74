"""Deciding a verdict: what the answer gave on each case, against the reference and the usual mistakes.

One function, :func:`judge`, serves both modes: the learner's self-check (in
the learner's process) and the referee (``python -m mhsa_ms.course.referee``,
the grader's trusted process).  An outcome is what the kernel recorded for one
case, a dict with exactly one of these keys:

- ``outputs``: a tuple of real-valued NumPy arrays (the answer's result);
- ``raised``: the builtin exception class the answer raised (``error``: its text);
- ``forbidden``: the public name of a package function the answer called;
- ``unusable``: why the result could not be turned into arrays.
"""
from dataclasses import dataclass, field

import numpy as np

from ...i18n import gettext as _
from ..exercises import case_arguments
from .spec import Raises

NOT_ANSWERED = "NotImplementedError"  # what a student edition's stub raises


@dataclass(frozen=True)
class Verdict:
    """``status``: pass, fail or error; ``message``: the text after "Exercise <id>: ";
    ``line``: the whole verdict line the self-check prints, "Exercise <id>: ...".

    Both texts are in the language in effect when the verdict was judged (:mod:`mhsa_ms.i18n`):
    the learner's, or in the referee the language of the submission's edition.
    """

    status: str
    message: str
    line: str = field(default="", compare=False)

    @property
    def passed(self):
        return self.status == "pass"


@dataclass(frozen=True)
class Expectations:
    """What the reference gives on each case, and what each usual mistake gives (None: it cannot run)."""

    expected: list
    mistakes: list  # [(Mistake, [result per case or None])]


def as_result(value):
    """A reference's or mistake's return value as a :class:`Raises` or a tuple of arrays."""
    if isinstance(value, Raises):
        return value
    items = value if isinstance(value, (list, tuple)) else (value,)
    return tuple(np.asarray(item) for item in items)


def expectations(check, cases):
    """Run the reference and every mistake on the cases (NumPy only, in the trusted process)."""
    expected = [as_result(check.reference(**case_arguments(case))) for case in cases]
    mistakes = []
    for mistake in check.mistakes:
        results = []
        for case in cases:
            try:
                with np.errstate(all="ignore"):
                    results.append(as_result(mistake.outputs(**case_arguments(case))))
            except Exception:  # a mistake that cannot run on this case matches no answer there
                results.append(None)
        mistakes.append((mistake, results))
    return Expectations(expected, mistakes)


def _same(got, want, check, reference=True):
    """Do the answer's arrays equal the wanted ones (count, shapes, values within the tolerances)?

    Against the reference every value must be finite; a mistake's NaN or inf matches the same NaN or inf.
    """
    if len(got) != len(want):
        return False
    for answer, right in zip(got, want):
        if answer.shape != right.shape:
            return False
        answer, right = answer.astype(np.float64), right.astype(np.float64)
        if reference and not np.isfinite(answer).all():
            return False
        if check.exact:
            if not np.array_equal(answer, right, equal_nan=True):
                return False
        elif not np.allclose(answer, right, rtol=check.rtol, atol=check.atol, equal_nan=True):
            return False
    return True


def _matches(outcome, result, check, reference=True):
    if result is None:
        return False
    if isinstance(result, Raises):
        return outcome.get("raised") == result.name
    return "outputs" in outcome and _same(outcome["outputs"], result, check, reference)


def _shape_note(outcomes, expected):
    """'expected shape (3, 4), got (4, 3)' for the first case whose shapes differ, else ''."""
    for outcome, want in zip(outcomes, expected):
        got = outcome.get("outputs")
        if got is None or isinstance(want, Raises):
            continue
        if len(got) != len(want):
            return _("expected {expected} results, got {got}").format(expected=len(want), got=len(got))
        for answer, right in zip(got, want):
            if answer.shape != right.shape:
                return _("expected shape {expected}, got {got}").format(expected=tuple(right.shape),
                                                                      got=tuple(answer.shape))
    return ""


def _translated(text):
    """A hint (an ``N_`` constant of the checks) in the language in effect; an empty one stays empty."""
    return _(text) if text else text


# Each verdict line is one whole message, so that a translation can order it freely; the line of
# a right answer is the one the reference lessons store (mhsa_tools' catalog holds it too).

def _correct(exercise):
    return Verdict("pass", _("correct"), _("Exercise {exercise}: correct").format(exercise=exercise))


def _not_answered(exercise):
    return Verdict("fail", _("not yet answered"), _("Exercise {exercise}: not yet answered").format(exercise=exercise))


def _hint(exercise, hint):
    return Verdict("fail", _("not yet right. Hint: {hint}").format(hint=hint),
                   _("Exercise {exercise}: not yet right. Hint: {hint}").format(exercise=exercise, hint=hint))


def _not_right(exercise, reason):
    return Verdict("fail", _("not yet right: {reason}").format(reason=reason),
                   _("Exercise {exercise}: not yet right: {reason}").format(exercise=exercise, reason=reason))


def _error(exercise, message):
    return Verdict("error", message, _("Exercise {exercise}: {verdict}").format(exercise=exercise, verdict=message))


def judge(check, outcomes, expectations):
    """The verdict on an answer from its outcomes on the cases of ``expectations``, in the language in effect."""
    expected = expectations.expected
    exercise = check.id
    if len(outcomes) != len(expected):
        return _error(exercise, _("the answer holds {results} results for {cases} check cases").format(
            results=len(outcomes), cases=len(expected)))
    for outcome in outcomes:
        if "forbidden" in outcome:
            return _not_right(exercise, _("your answer calls {function}, which does this exercise for you, so the "
                                          "check switches it off; write the steps yourself").format(
                                              function=outcome["forbidden"]))
    if any(outcome.get("raised") == NOT_ANSWERED for outcome in outcomes):
        return _not_answered(exercise)
    for outcome in outcomes:
        if "unusable" in outcome:
            return _not_right(exercise, outcome["unusable"])
    wrong = False
    for outcome, want in zip(outcomes, expected):
        if "raised" in outcome and not isinstance(want, Raises):
            return _error(exercise, _("your answer raised {error}").format(
                error=outcome.get("error") or outcome["raised"]))
        wrong = wrong or not _matches(outcome, want, check)
    if not wrong:
        dtypes = sorted({str(array.dtype) for outcome in outcomes for array in outcome.get("outputs", ())})
        if check.dtype is not None and dtypes and dtypes != [check.dtype]:
            return _not_right(exercise, _("the values are right, but the result is {dtypes} where the exercise "
                                          "asks for {dtype}").format(dtypes=", ".join(dtypes), dtype=check.dtype))
        return _correct(exercise)
    for mistake, results in expectations.mistakes:
        if all(_matches(outcome, result, check, reference=False) for outcome, result in zip(outcomes, results)):
            return _hint(exercise, _translated(mistake.hint))
    note = _shape_note(outcomes, expected)
    hint = _translated(check.hint)
    hint = _("{hint} ({note})").format(hint=hint, note=note) if note else hint
    return _hint(exercise, hint)
