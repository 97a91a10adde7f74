"""What a check of one exercise is made of: cases, an independent reference, the usual mistakes.

A check never calls the package function the learner could call instead of
answering: its ``reference`` is NumPy written beside it, from the formula.
"""
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Raises:
    """The expected outcome of a case on which a right answer raises ``error`` (a builtin exception)."""

    error: type

    @property
    def name(self):
        return self.error.__name__


@dataclass(frozen=True)
class Mistake:
    """A usual wrong answer, as a NumPy function of a case, and the hint it deserves."""

    name: str
    outputs: Callable
    hint: str


@dataclass(frozen=True)
class ExerciseCheck:
    """How the exercise ``id`` is checked.

    Attributes:
        id: "<day>.<n>".
        answer: the name of the function (or class) the lesson asks for.
        caller: how the kernel calls the answer on a case and turns its result
            into arrays (a key of ``mhsa_ms.course.exercises.CALLERS``).
        cases: ``cases(rng)`` -> list of dicts name -> NumPy array or number, the
            answer's inputs in call order (the caller's convention).
        reference: ``reference(**case)`` -> the right result (an array, a number, a
            list of them, or :class:`Raises`), in NumPy, independent of ``mhsa_ms``.
        hint: what to say when a wrong answer matches none of the ``mistakes``.
        mistakes: the usual wrong answers, each with its own hint.
        forbidden: ``(target, public name)`` pairs: package functions that do the
            exercise for the learner, unavailable while the answer runs.  A target
            is ``"module:qualified.name"`` of a plain function without closure.
        rtol, atol: tolerances of float results; ``exact`` for counts and 0/1 matrices.
        dtype: the dtype the statement asks for, or None when any real dtype will do.
    """

    id: str
    answer: str
    caller: str
    cases: Callable
    reference: Callable
    hint: str
    mistakes: tuple = ()
    forbidden: tuple = ()
    rtol: float = 1e-5
    atol: float = 1e-6
    exact: bool = False
    dtype: str = None

    @property
    def day(self):
        return int(self.id.split(".")[0])
