"""End to end through `mhsa-ms grade`: every lesson's reference solutions pass, and every wrong
answer of the catalogue (tests/catalogue.py) is refused with its hint.

For each lesson, student ``wrong1`` carries the first catalogued wrong answer of each of its
exercises, ``wrong2`` the second, ``wrong3`` the third, and ``right`` the lesson's own solutions:
36 notebooks (student editions of the lessons), graded with ``--jobs 2`` as an instructor would.

They are graded against the lessons cut down to their setup cell, their imports and their
exercise cells (``exercise_lesson``): the same answer and check cells, without the minutes of
training and measuring around them, which nbval runs on the full lessons anyway.  That the
``right`` student passes shows the exercise cells need nothing else.
"""
import ast
import copy
import csv
import time
from pathlib import Path

import nbformat
import pytest

from catalogue import CATALOGUE, LESSONS, right_answers
from mhsa_tools import cli, grading, release
from mhsa_tools.notebooks import cell_source, exercise_meta, read_notebook


def notebook_with(student_nb, answers):
    nb = copy.deepcopy(student_nb)
    for cell in nb.cells:
        meta = exercise_meta(cell)
        if meta is not None and meta["role"] == "answer" and meta["exercise"] in answers:
            cell.source = answers[meta["exercise"]]
    return nb


def exercise_lesson(path):
    """The lesson's first code cell, one cell of every import it makes, and its exercise cells."""
    nb = read_notebook(path)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    imports = []
    for cell in code[1:]:
        source = cell_source(cell)
        for node in ast.parse(source).body:
            line = ast.get_source_segment(source, node)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and line not in imports:
                imports.append(line)
    setup = [code[0]] + ([nbformat.v4.new_code_cell("\n".join(imports))] if imports else [])
    nb.cells = setup + [cell for cell in code if exercise_meta(cell) is not None]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory, system_commands):
    system_commands("bubblewrap")  # student code runs in the sandbox: skipped without it
    assert grading.sandbox_available() == (True, ""), "bubblewrap is installed but cannot create a sandbox here"
    tmp = tmp_path_factory.mktemp("catalogue")
    lessons = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
    (tmp / "lessons").mkdir()
    for path in lessons:
        nbformat.write(exercise_lesson(path), str(tmp / "lessons" / path.name))
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
                     "--lessons", str(tmp / "lessons")])
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
