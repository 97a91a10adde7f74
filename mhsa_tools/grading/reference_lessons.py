"""Reading the instructor's reference lessons: their exercises, points and stored verdicts."""
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..notebooks import cell_source, defined_functions, exercise_meta, notebook_day, read_notebook


@dataclass
class Exercise:
    """One exercise of a reference lesson (cell indices into the lesson's cells)."""

    id: str
    points: int
    answer: int
    check: int
    functions: tuple


@dataclass
class Lesson:
    """A reference lesson: its notebook and its exercises in order."""

    name: str
    path: Path
    nb: object
    day: object
    exercises: list = field(default_factory=list)
    problem: str = ""


def load_lesson(path):
    """Read a reference lesson and validate its exercise cells and stored verdicts.

    Raises:
        ValueError: when an exercise lacks its answer or check cell, or a check
            cell's stored output is not the verdict ``Exercise <id>: correct``.
    """
    path = Path(path)
    nb = read_notebook(path)
    meta = nb.metadata.get("mhsa_ms", {})
    lesson = Lesson(name=path.stem, path=path, nb=nb, day=meta.get("day") if isinstance(meta, dict) else None)
    answers, checks = {}, {}
    for index, cell in enumerate(nb.cells):
        info = exercise_meta(cell)
        if info is None:
            continue
        if cell.cell_type != "code":
            raise ValueError(f"{path.name}: cell {index} (exercise {info['exercise']}) is not a code cell")
        (answers if info["role"] == "answer" else checks).setdefault(info["exercise"], (index, info))
    for exercise_id, (answer, info) in answers.items():
        if exercise_id not in checks:
            raise ValueError(f"{path.name}: exercise {exercise_id} has an answer cell but no check cell")
        check, check_info = checks[exercise_id]
        if check < answer:
            raise ValueError(f"{path.name}: the check cell of exercise {exercise_id} comes before its answer cell")
        stored = "".join(out.get("text", "") for out in nb.cells[check].get("outputs", [])
                         if out.get("output_type") == "stream" and out.get("name") == "stdout")
        if f"Exercise {exercise_id}: correct" not in stored.splitlines() or nb.cells[check].execution_count is None:
            raise ValueError(f"{path.name}: the check cell of exercise {exercise_id} does not show the stored "
                             f"verdict 'Exercise {exercise_id}: correct'; execute the reference lesson first")
        points = check_info.get("points", info.get("points", 1))
        if not isinstance(points, int) or points < 0:
            raise ValueError(f"{path.name}: exercise {exercise_id} has points={points!r}, expected an int >= 0")
        lesson.exercises.append(Exercise(exercise_id, points, answer, check, defined_functions(cell_source(nb.cells[answer]))))
    for exercise_id in checks:
        if exercise_id not in answers:
            raise ValueError(f"{path.name}: exercise {exercise_id} has a check cell but no answer cell")
    lesson.exercises.sort(key=lambda exercise: exercise.answer)
    return lesson


def load_lessons(directory):
    """Every ``*.ipynb`` of ``directory`` with at least one exercise, by file stem.

    A lesson that fails :func:`load_lesson` is kept with its ``problem`` set
    (an error only when someone submitted it).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"lessons directory {str(directory)!r} does not exist")
    lessons = {}
    for path in sorted(directory.glob("*.ipynb")):
        try:
            lesson = load_lesson(path)
        except ValueError as exc:
            day = notebook_day(json.loads(path.read_bytes()))
            lesson = Lesson(name=path.stem, path=path, nb=None, day=day, problem=str(exc))
        if lesson.exercises or lesson.problem:
            lessons[lesson.name] = lesson
    if not lessons:
        raise ValueError(f"no lesson with exercises in {str(directory)!r}")
    return lessons
