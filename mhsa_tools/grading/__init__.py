"""``mhsa-ms grade``: grade a folder of submitted notebooks against the reference lessons.

The pipeline, one module per step:

1. :mod:`.reference_lessons` reads the instructor's executed lessons;
2. :mod:`.submissions` finds each student's notebooks;
3. :mod:`.graded_notebook` puts the student's answer cells into the reference lesson;
4. :mod:`.referee` has the referee draw the lesson's check cases from a secret seed;
5. :mod:`.execute` runs the notebook with nbval (:mod:`.nbval_plugin`) in the :mod:`.sandbox`:
   its check cells record the answers' results on those cases;
6. :mod:`.referee` judges the recorded results against the references;
7. :mod:`.gradebook` turns the verdicts (and, where no result was recorded, what nbval saw)
   into rows of grades.csv; :mod:`.feedback` writes each student's file.

The verdict comes from the referee alone: nothing the student's kernel prints, patches or
stores changes it.  Nothing here imports MindSpore: grading runs in a light process, the
referee and the lessons in processes of their own.
"""
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .execute import GradeOptions, RunOutcome, run_graded_notebook
from .feedback import write_feedback
from .gradebook import Result, Row, describe_cell, exercise_rows, short, summary_table, write_csv
from .graded_notebook import build_graded_notebook
from .reference_lessons import load_lessons
from .referee import Referee
from .sandbox import SANDBOX_WARNING, sandbox_available
from ..notebooks import notebook_day
from .submissions import find_submissions, other_lesson_name, parse_submission

__all__ = ["grade", "grade_submission", "sandbox_available", "summary_table", "write_csv", "write_feedback"]


def grade_submission(student, path, lesson, lessons, workdir, referee, options):
    """Grade one submitted notebook against its reference lesson; never writes to ``path``."""
    data = Path(path).read_bytes()
    try:
        submitted = parse_submission(data)
    except ValueError as exc:
        return Result(student, Path(path).name, [
            Row(student, lesson.name, exercise.id, 0, exercise.points, "unreadable", short(exc))
            for exercise in lesson.exercises])
    other = other_lesson_name(notebook_day(submitted), lesson, lessons)
    nb, answers = build_graded_notebook(lesson, submitted["cells"])
    if all(source is None for source, _ in answers.values()):
        outcome, verdicts = RunOutcome(), {}  # nothing of the student's to run
    else:
        cases, judged = Path(workdir) / "cases", Path(workdir) / "judged"
        cases.mkdir(parents=True)
        judged.mkdir()
        token = referee.prepare(lesson.day, cases)
        outcome = run_graded_notebook(nb, workdir, cases, options)
        for name, content in outcome.answers.items():
            (judged / name).write_bytes(content)
        verdicts = referee.judge(token, judged)
    rows = exercise_rows(student, lesson, nb, answers, outcome, verdicts, options, other)
    notes = [f"{describe_cell(nb, index)}: {short(record.get('message', ''))}"
             for index, record in sorted(outcome.records.items())
             if record.get("status") == "error" and record.get("role") is None]
    return Result(student, Path(path).name, rows, notes)


def _unchecked_exercises(lessons, known):
    """Mark the lessons with an exercise that the referee has no check for."""
    for lesson in lessons.values():
        unchecked = [exercise.id for exercise in lesson.exercises if exercise.id not in known.get(lesson.day, ())]
        if unchecked and not lesson.problem:
            lesson.problem = (f"{lesson.name}: no check for exercise {', '.join(unchecked)} "
                              "(mhsa_ms.course.checks, or a folder named by MHSA_MS_EXTRA_CHECKS)")


def grade(submissions, lessons_dir="lessons", timeout=300.0, jobs=1, memory_mb=4096, progress=True):
    """Grade every submission; returns the Results in a fixed order (serial == parallel).

    Args:
        submissions: folder with one sub-folder per student holding ``.ipynb`` files.
        lessons_dir: folder of the reference lessons (executed, with stored verdicts).
        timeout: seconds one submission may run, kernel start included.
        jobs: submissions graded at the same time.
        memory_mb: data-segment limit of the student's kernel in MiB (0: none).
        progress: show a tqdm progress bar on stderr.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    lessons = load_lessons(lessons_dir)
    found = find_submissions(submissions, lessons)
    referee = Referee(sys.executable) if any(lesson is not None for _, _, lesson, _ in found) else None
    try:
        if referee is not None:
            _unchecked_exercises(lessons, referee.exercises())
        broken = sorted({lesson.problem for _, _, lesson, _ in found if lesson is not None and lesson.problem})
        if broken:
            raise ValueError("cannot grade against these reference lessons: " + "; ".join(broken))
    except BaseException:
        if referee is not None:
            referee.close()
        raise
    usable, why = sandbox_available()
    if not usable:
        print(SANDBOX_WARNING.format(why=why), file=sys.stderr, flush=True)
    matplotlib_dir = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    root = Path(tempfile.mkdtemp(prefix="mhsa-ms-grade-"))
    plugin_dir = root / "plugin"
    plugin_dir.mkdir()
    shutil.copy(Path(__file__).with_name("nbval_plugin.py"), plugin_dir / "nbval_plugin.py")
    options = GradeOptions(timeout=float(timeout), memory_mb=int(memory_mb), sandbox=usable,
                           font_caches=tuple(sorted(matplotlib_dir.glob("fontlist-*.json"))), plugin_dir=plugin_dir)

    def work(number, student, path, lesson, problem):
        if lesson is None:
            return Result(student, path.name, [Row(student, path.stem, "", 0, 0, "unreadable", short(problem))])
        workdir = root / f"job{number}"
        start = time.monotonic()
        try:
            result = grade_submission(student, path, lesson, lessons, workdir, referee, options)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        result.seconds = time.monotonic() - start
        return result

    results = [None] * len(found)
    try:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(found), desc="grading", unit="notebook", file=sys.stderr, disable=not progress)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(work, number, *item): number for number, item in enumerate(found)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
        bar.close()
    finally:
        if referee is not None:
            referee.close()
        shutil.rmtree(root, ignore_errors=True)
    return results
