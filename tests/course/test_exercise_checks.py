"""The learner's self-check: every reference solution passes, every catalogued wrong answer is
refused with its hint, and the package functions that do an exercise are switched off while it runs."""
import collections
import json
import re

import mindspore
import numpy as np
import pytest
from mindspore import Tensor, nn, ops

import mhsa_ms as mm
from catalogue import CATALOGUE, EXTRA, LESSONS, right_answers
from mhsa_ms.course import checks, exercises
from mhsa_tools.notebooks import cell_source, defined_functions, exercise_meta

COURSE_IDS = [check.id for check in checks.all_checks().values() if check.day <= 8]
SEEDS = range(12)  # cases drawn per check when checking the checks themselves


@pytest.fixture(autouse=True)
def fresh_results(monkeypatch):
    monkeypatch.setattr(exercises, "_results", {})


def answer_of(exercise, source):
    """The answer a lesson's cell would define: the source run in a lesson-like namespace."""
    namespace = {"np": np, "mindspore": mindspore, "ms": mindspore, "nn": nn, "ops": ops, "Tensor": Tensor, "mm": mm}
    exec(source, namespace)
    return namespace[checks.find_check(exercise).answer]


def verdict(exercise, answer, capsys):
    mm.check_exercise(exercise, answer)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines  # one verdict line, nothing else
    return lines[0]


# ----------------------------------------------------------------------------
# the catalogue, through the self-check

def test_the_catalogue_has_three_wrong_answers_for_every_exercise():
    counts = collections.Counter(wrong.exercise for wrong in CATALOGUE)
    assert sorted(counts, key=lambda i: tuple(map(int, i.split(".")))) == COURSE_IDS
    assert set(counts.values()) == {3}, counts
    assert len({(wrong.exercise, wrong.label) for wrong in CATALOGUE + EXTRA}) == len(CATALOGUE + EXTRA)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the unstable softmax, on purpose
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("wrong", CATALOGUE + EXTRA, ids=lambda wrong: f"{wrong.exercise} {wrong.label}")
def test_wrong_answer_refused_with_its_hint(wrong, capsys):
    line = verdict(wrong.exercise, answer_of(wrong.exercise, wrong.source), capsys)
    assert line.startswith(f"Exercise {wrong.exercise}: not yet right"), line
    assert wrong.expect in line, line
    assert exercises.exercise_results() == {wrong.exercise: False}


@pytest.mark.parametrize("exercise", COURSE_IDS)
def test_reference_solution_accepted(exercise, capsys):
    answer = answer_of(exercise, right_answers()[exercise])
    for _ in range(3):  # fresh cases each time
        assert verdict(exercise, answer, capsys) == f"Exercise {exercise}: correct"
    assert exercises.exercise_results() == {exercise: True}


def test_student_edition_stub_is_not_yet_answered(capsys):
    def scaled_scores(q, k):
        raise NotImplementedError("exercise 1.1")

    assert verdict("1.1", scaled_scores, capsys) == "Exercise 1.1: not yet answered"


def test_an_answer_that_raises_is_refused_with_the_exception(capsys):
    line = verdict("1.1", lambda q, k: q @ k, capsys)  # (Nq, d) @ (Nk, d): shapes do not fit
    assert line.startswith("Exercise 1.1: your answer raised ValueError: matmul"), line


@pytest.mark.parametrize("forged", [lambda: None, "not a function", None])
def test_a_forged_check_call_never_passes(forged, capsys):
    """The issue's `check_exercise("1.1", lambda: None)`: the answer is called on the cases, so it fails."""
    if callable(forged):
        assert verdict("1.1", forged, capsys).startswith("Exercise 1.1: your answer raised TypeError")
    else:
        with pytest.raises(TypeError, match="answer must be the function or class"):
            mm.check_exercise("1.1", forged)
    assert exercises.exercise_results().get("1.1") is not True


def test_bad_exercise_ids_are_named():
    with pytest.raises(TypeError, match="exercise_id must be a string like '1.2', got float 1.1"):
        mm.check_exercise(1.1, print)
    with pytest.raises(ValueError, match="exercise_id must be a string like '1.2', got 'one'"):
        mm.check_exercise("one", print)
    with pytest.raises(ValueError, match="'9.9' has no check; known: 0.1, 0.2, 1.1"):
        mm.check_exercise("9.9", print)


# ----------------------------------------------------------------------------
# the checks themselves

def test_every_lesson_exercise_has_a_check_called_by_its_check_cell():
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = exercise_meta(cell)
            if meta is None:
                continue
            check = checks.find_check(meta["exercise"])
            assert check is not None and check.day == int(path.name[:2]), (path.name, meta)
            if meta["role"] == "answer":
                assert check.answer in defined_functions(cell_source(cell)), (path.name, check.id)
            else:
                assert cell_source(cell) == f'mm.check_exercise("{check.id}", {check.answer})', (path.name, check.id)


@pytest.mark.parametrize("exercise", COURSE_IDS)
def test_every_usual_mistake_is_refused_with_its_own_hint(exercise):
    """On cases from many seeds, a mistake never passes and is told apart from every other mistake."""
    check = checks.find_check(exercise)
    assert len(check.mistakes) >= 3
    for seed in SEEDS:
        cases = checks.draw_cases(check, np.random.default_rng(seed))
        expectations = checks.expectations(check, cases)
        for mistake, results in expectations.mistakes:
            outcomes = [{"raised": result.name, "error": result.name} if isinstance(result, checks.Raises)
                        else {"outputs": result} for result in results]
            got = checks.judge(check, outcomes, expectations)
            assert got == checks.Verdict("fail", f"not yet right. Hint: {mistake.hint}"), (seed, mistake.name, got)


@pytest.mark.parametrize("exercise", COURSE_IDS)
def test_hints_are_sentences_not_code(exercise):
    check = checks.find_check(exercise)
    code = re.compile(r"\bnp\.|\bmm\.|\bops\.|@|\*\*|\[:|==|\w\(|\.(T|shape|reshape|swapaxes|transpose)\b")
    for hint in [check.hint] + [mistake.hint for mistake in check.mistakes]:
        assert not code.search(hint), (exercise, hint)
        assert not hint.endswith("."), (exercise, hint)  # the verdict line adds nothing after it


def test_switched_off_functions_exist_and_are_restored():
    for check in checks.all_checks().values():
        for target, public_name in check.forbidden:
            function = exercises.resolve_function(target)
            code = function.__code__
            with exercises.switched_off([(target, public_name)]):
                assert function.__code__ is not code
            assert function.__code__ is code


# ----------------------------------------------------------------------------
# switched-off package functions

def test_a_saved_reference_is_switched_off_too(capsys):
    from mhsa_ms import split_heads

    def split(x, h):
        return split_heads(x, h)

    assert verdict("4.1", split, capsys) == (
        "Exercise 4.1: not yet right: your answer calls mm.split_heads, which does this exercise for you, "
        "so the check switches it off; write the steps yourself")
    assert split_heads(np.zeros((1, 2, 4)), 2).shape == (1, 2, 2, 2)  # back on after the check


def test_a_package_function_calling_a_switched_off_one_is_refused(capsys):
    def sinusoidal_numpy(num_tokens, dim):
        return mm.SinusoidalPositionalEncoding(num_tokens, dim).encoding.asnumpy()  # built by the function

    assert "calls mm.sinusoidal_positional_encoding" in verdict("5.3", sinusoidal_numpy, capsys)


def test_catching_the_refusal_does_not_help(capsys):
    def selection_matrix(D, h, i):
        try:
            return mm.head_selection_matrix(D, h, i)
        except Exception:
            return np.eye(D, dtype=np.float32)[:, i * (D // h):(i + 1) * (D // h)]

    assert "calls mm.head_selection_matrix" in verdict("2.1", selection_matrix, capsys)


def test_functions_are_restored_when_the_answer_is_interrupted():
    def split(x, h):
        raise KeyboardInterrupt

    code = mm.split_heads.__code__
    with pytest.raises(KeyboardInterrupt):
        mm.check_exercise("4.1", split)
    assert mm.split_heads.__code__ is code


def test_an_answer_that_changes_its_inputs_in_place_is_judged_on_the_real_inputs(capsys):
    def layer_norm_numpy(x, gamma, beta, eps=1e-5):
        x -= x.mean(axis=-1, keepdims=True)  # in place: the check's own copy of the case is untouched
        x /= np.sqrt((x ** 2).mean(axis=-1, keepdims=True) + eps)
        return gamma * x + beta

    assert verdict("5.1", layer_norm_numpy, capsys) == "Exercise 5.1: correct"
