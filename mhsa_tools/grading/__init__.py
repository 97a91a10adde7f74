"""``mhsa-ms grade``: grade a folder of submitted notebooks against the reference lessons.

The pipeline, one module per step:

1. :mod:`.reference_lessons` reads the instructor's executed lessons;
2. :mod:`.submissions` finds each student's notebooks;
3. :mod:`.graded_notebook` puts the student's answer cells into the reference lesson;
4. :mod:`.execute` runs it with nbval (:mod:`.nbval_plugin`) in the :mod:`.sandbox`;
5. :mod:`.gradebook` turns what ran into rows of grades.csv; :mod:`.feedback` writes each student's file.

Nothing here imports MindSpore: grading runs in a light process, the lessons in kernels.
"""
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .execute import GradeOptions, run_graded_notebook
from .feedback import write_feedback
from .gradebook import Result, Row, describe_cell, exercise_rows, short, summary_table, write_csv
from .graded_notebook import build_graded_notebook
from .reference_lessons import load_lessons
from .sandbox import SANDBOX_WARNING, sandbox_available
from ..i18n import notebook_language
from ..notebooks import notebook_day
from .submissions import find_submissions, other_lesson_name, parse_submission

__all__ = ["grade", "grade_submission", "sandbox_available", "summary_table", "write_csv", "write_feedback"]


def grade_submission(student, path, lesson, lessons, workdir, plugin_dir, options):
    """Grade one submitted notebook against its reference lesson (the edition the submission was
    made from); never writes to ``path``."""
    data = Path(path).read_bytes()
    try:
        submitted = parse_submission(data)
    except ValueError as exc:
        return Result(student, Path(path).name, [
            Row(student, lesson.name, exercise.id, 0, exercise.points, "unreadable", short(exc))
            for exercise in lesson.exercises])
    lesson = lesson.edition(notebook_language(submitted))
    other = other_lesson_name(notebook_day(submitted), lesson, lessons)
    nb, answers = build_graded_notebook(lesson, submitted["cells"])
    if all(source is None for source, _ in answers.values()):
        records, overrun, ended = {}, False, ""  # nothing of the student's to run
    else:
        records, overrun, ended = run_graded_notebook(nb, workdir, plugin_dir, options)
    rows = exercise_rows(student, lesson, nb, answers, records, overrun, ended, options, other)
    notes = [f"{describe_cell(nb, index)}: {short(record.get('message', ''))}"
             for index, record in sorted(records.items())
             if record.get("status") == "error" and record.get("role") is None]
    return Result(student, Path(path).name, rows, notes, language=lesson.language)


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
    broken = sorted({lesson.problem for _, _, lesson, _ in found if lesson is not None and lesson.problem})
    if broken:
        raise ValueError("cannot grade against these reference lessons: " + "; ".join(broken))
    usable, why = sandbox_available()
    if not usable:
        print(SANDBOX_WARNING.format(why=why), file=sys.stderr, flush=True)
    matplotlib_dir = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    options = GradeOptions(timeout=float(timeout), memory_mb=int(memory_mb), sandbox=usable,
                           font_caches=tuple(sorted(matplotlib_dir.glob("fontlist-*.json"))))
    root = Path(tempfile.mkdtemp(prefix="mhsa-ms-grade-"))
    plugin_dir = root / "plugin"
    plugin_dir.mkdir()
    shutil.copy(Path(__file__).with_name("nbval_plugin.py"), plugin_dir / "nbval_plugin.py")

    def work(number, student, path, lesson, problem):
        if lesson is None:
            return Result(student, path.name, [Row(student, path.stem, "", 0, 0, "unreadable", short(problem))])
        workdir = root / f"job{number}"
        start = time.monotonic()
        try:
            result = grade_submission(student, path, lesson, lessons, workdir, plugin_dir, options)
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
        shutil.rmtree(root, ignore_errors=True)
    return results
