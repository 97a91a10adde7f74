"""Reading the instructor's reference lessons: their exercises, points and stored verdicts.

A lesson may come in two editions, 简体中文 and English (``lessons/zh/`` and ``lessons/en/``,
the same file names): the edition is read from the notebook's metadata ``mhsa_ms.language``,
never from its folder, and a submission is graded against the edition it was made from.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..i18n import notebook_language, translator
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
    language: str = "en"
    editions: dict = field(default_factory=dict, repr=False)  # language -> Lesson, shared by the editions

    def edition(self, language):
        """The edition of this lesson in ``language`` ('zh', 'en'), or this one when there is none."""
        return self.editions.get(language, self)


def load_lesson(path):
    """Read a reference lesson and validate its exercise cells and stored verdicts.

    Raises:
        ValueError: when an exercise lacks its answer or check cell, a check cell's
            stored output is not the verdict ``Exercise <id>: correct`` in the
            lesson's language, or the metadata names a language the course lacks.
    """
    path = Path(path)
    nb = read_notebook(path)
    meta = nb.metadata.get("mhsa_ms", {})
    language = notebook_language(nb)
    if language is None:
        raise ValueError(f"{path.name}: metadata mhsa_ms.language must be 'zh' or 'en', got {meta.get('language')!r}")
    lesson = Lesson(name=path.stem, path=path, nb=nb, day=meta.get("day") if isinstance(meta, dict) else None,
                    language=language)
    _ = translator(language)
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
        # the verdict line mhsa_ms.check_exercise prints: its catalog translates it the same way
        correct = _("Exercise {exercise}: correct").format(exercise=exercise_id)
        if correct not in stored.splitlines() or nb.cells[check].execution_count is None:
            raise ValueError(f"{path.name}: the check cell of exercise {exercise_id} does not show the stored "
                             f"verdict {correct!r}; execute the reference lesson first")
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
    """Every ``*.ipynb`` in ``directory`` or its subfolders with at least one exercise, by file stem.

    The editions of a lesson (the same file name in ``lessons/zh/`` and ``lessons/en/``) make
    one entry: the English edition, the others reached by :meth:`Lesson.edition`.  A lesson
    that fails :func:`load_lesson` is kept with its ``problem`` set (an error only when
    someone submitted it).

    Raises:
        ValueError: when the folder does not exist or holds no lesson with exercises, or two
            notebooks are the same edition of one lesson.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"lessons directory {str(directory)!r} does not exist")
    editions = {}  # file stem -> {language: Lesson}
    paths = sorted(path for path in directory.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts)
    for path in paths:
        try:
            lesson = load_lesson(path)
        except ValueError as exc:
            nb = json.loads(path.read_bytes())
            lesson = Lesson(name=path.stem, path=path, nb=None, day=notebook_day(nb), problem=str(exc),
                            language=notebook_language(nb) or "en")
        if lesson.exercises or lesson.problem:
            same = editions.setdefault(lesson.name, {})
            if lesson.language in same:
                raise ValueError(f"two {lesson.language!r} editions of lesson {lesson.name}: "
                                 f"{same[lesson.language].path} and {path}")
            same[lesson.language] = lesson
            lesson.editions = same
    if not editions:
        raise ValueError(f"no lesson with exercises in {str(directory)!r}")
    return {name: same.get("en") or next(iter(same.values())) for name, same in editions.items()}
