"""End to end through `mhsa-ms grade`: every lesson's reference solutions pass, and every wrong
answer of the catalogue (tests/catalogue.py) is refused with its hint.

For each lesson, student ``wrong1`` carries the first catalogued wrong answer of each of its
exercises, ``wrong2`` the second, ``wrong3`` the third, and ``right`` the lesson's own solutions:
36 notebooks, graded with ``--jobs 2`` as an instructor would.
"""
import copy
import csv
import time
from pathlib import Path

import nbformat
import pytest

from catalogue import CATALOGUE, LESSONS, right_answers
from mhsa_tools import cli, grading, release
from mhsa_tools.notebooks import exercise_meta


def notebook_with(student_nb, answers):
    nb = copy.deepcopy(student_nb)
    for cell in nb.cells:
        meta = exercise_meta(cell)
        if meta is not None and meta["role"] == "answer" and meta["exercise"] in answers:
            cell.source = answers[meta["exercise"]]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    assert grading.sandbox_available() == (True, ""), "bubblewrap must be installed (apt-get install bubblewrap)"
    tmp = tmp_path_factory.mktemp("catalogue")
    lessons = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
    students = {"right": right_answers()}
    for number in range(3):
        students[f"wrong{number + 1}"] = {exercise: [wrong for wrong in CATALOGUE if wrong.exercise == exercise][number]
                                          for exercise in students["right"]}
    for path in release.release(lessons, tmp / "student"):
        edition = nbformat.read(path, as_version=4)
        for student, answers in students.items():
            sources = {exercise: getattr(answer, "source", answer) for exercise, answer in answers.items()}
            (tmp / "submissions" / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook_with(edition, sources), str(tmp / "submissions" / student / path.name))
    start = time.monotonic()
    code = cli.main(["grade", str(tmp / "submissions"), "--out", str(tmp / "grades.csv"), "--jobs", "2",
                     "--lessons", str(LESSONS)])
    seconds = time.monotonic() - start
    print(f"graded {len(lessons) * len(students)} notebooks in {seconds:.0f} s")
    assert code == 0
    with open(tmp / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"rows": rows, "students": students, "feedback": tmp / "feedback"}


def test_reference_solutions_pass(graded):
    rows = [row for row in graded["rows"] if row["student"] == "right"]
    assert len(rows) == len(graded["students"]["right"]) == 26
    for row in rows:
        assert (row["status"], row["points"], row["message"]) == ("pass", row["max_points"], ""), row


def test_every_wrong_answer_is_refused_with_its_hint(graded):
    rows = [row for row in graded["rows"] if row["student"] != "right"]
    assert len(rows) == len(CATALOGUE) == 78
    for row in rows:
        wrong = graded["students"][row["student"]][row["exercise"]]
        assert (row["status"], row["points"]) == ("fail", "0"), (wrong.label, row)
        assert wrong.expect in row["message"], (wrong.label, row)


def test_feedback_holds_hints_never_solution_code(graded):
    solution_lines = {line.strip() for source in graded["students"]["right"].values()
                      for line in source.splitlines() if len(line.strip()) >= 12 and not line.startswith("def ")}
    for path in sorted(Path(graded["feedback"]).iterdir()):
        text = path.read_text(encoding="utf-8")
        leaked = [line for line in solution_lines if line in text]
        assert not leaked, (path.name, leaked)
