"""``mhsa-ms grade``: grade a folder of submitted notebooks against the reference lessons.

The pipeline, one module per step:

1. :mod:`.reference_lessons` reads the instructor's executed lessons;
2. :mod:`.submissions` finds each student's notebooks (never through a link) and what to skip;
3. :mod:`.graded_notebook` puts the student's answer cells into the reference lesson;
4. :mod:`.referee` has the referee draw the lesson's check cases from a secret seed;
5. :mod:`.execute` runs the notebook with nbval (:mod:`.nbval_plugin`) in the :mod:`.sandbox`,
   under the :mod:`.limits`: its check cells record the answers' results on those cases;
6. :mod:`.referee` judges the recorded results against the references;
7. :mod:`.gradebook` turns the verdicts (and, where no result was recorded, what nbval saw)
   into rows of grades.csv; :mod:`.feedback` writes each student's file (:mod:`.text` makes
   what the students wrote safe to show).

The verdict comes from the referee alone: nothing the student's kernel prints, patches or
stores changes it.  Nothing here imports MindSpore: grading runs in a light process, the
referee and the lessons in processes of their own.
"""
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..i18n import gettext as _
from ..i18n import notebook_language, translator
from ..notebooks import notebook_day
from .execute import GradeOptions, RunOutcome, run_graded_notebook
from .feedback import write_feedback
from .gradebook import INTERRUPTED, Result, Results, Row, describe_cell, exercise_rows, short, summary_table, write_csv
from .graded_notebook import build_graded_notebook
from .limits import describe_limits, remove_stale_cgroups
from .reference_lessons import load_lessons
from .referee import Referee
from .sandbox import SANDBOX_WARNING, SandboxUnavailable, describe_user, prepare_support, sandbox_available
from .submissions import find_submissions, other_lesson_name, parse_submission, read_submission

__all__ = ["GradingInterrupted", "SandboxUnavailable", "grade", "grade_submission", "sandbox_available",
           "summary_table", "write_csv", "write_feedback"]

TEMP_PREFIX = "mhsa-ms-grade-"


class GradingInterrupted(Exception):
    """Ctrl-C (or SIGTERM) stopped grading; ``results`` holds what was graded, the rest marked interrupted."""

    def __init__(self, results):
        super().__init__("grading was interrupted")
        self.results = results


def grade_submission(submission, lessons, workdir, options, submissions_root, referee):
    """Grade one submitted notebook against its reference lesson; never writes to the submission.

    Returns a Result, or None when ``options.cancel`` stopped the run before it ended.
    """
    student, path, lesson = submission.student, submission.path, submission.lesson
    try:
        if submission.problem:
            raise ValueError(submission.problem)
        submitted = parse_submission(read_submission(submissions_root, submission.parts))
    except ValueError as exc:
        return Result(student, path.name, [
            Row(student, lesson.name, exercise.id, 0, exercise.points, "unreadable", short(exc))
            for exercise in lesson.exercises])
    lesson = lesson.edition(notebook_language(submitted))
    other = other_lesson_name(notebook_day(submitted), lesson, lessons)
    nb, answers = build_graded_notebook(lesson, submitted["cells"])
    if all(source is None for source, _ in answers.values()):
        outcome, verdicts = RunOutcome({}, {}, False, ""), {}  # nothing of the student's to run
    else:
        cases, judged = Path(workdir) / "cases", Path(workdir) / "judged"
        cases.mkdir(parents=True)
        judged.mkdir()
        token = referee.prepare(lesson.day, cases)
        outcome = run_graded_notebook(nb, workdir, cases, options)
        if outcome.cancelled:
            return None
        for name, content in outcome.answers.items():
            (judged / name).write_bytes(content)
        verdicts = referee.judge(token, judged, lesson.language)
    rows = exercise_rows(student, lesson, nb, answers, outcome, verdicts, options, other)
    _ = translator(lesson.language)  # the feedback's language: the submission's edition
    notes = [_("{cell}: {message}").format(cell=describe_cell(nb, index, lesson.language),
                                           message=short(record.get("message", "")))
             for index, record in sorted(outcome.records.items())
             if record.get("status") == "error" and record.get("role") is None]
    return Result(student, path.name, rows, notes, language=lesson.language)


def _unchecked_exercises(lessons, known):
    """Mark the lessons with an exercise that the referee has no check for."""
    for lesson in lessons.values():
        unchecked = [exercise.id for exercise in lesson.exercises if exercise.id not in known.get(lesson.day, ())]
        if unchecked and not lesson.problem:
            lesson.problem = (f"{lesson.name}: no check for exercise {', '.join(unchecked)} "
                              "(mhsa_ms.course.checks, or a folder named by MHSA_MS_EXTRA_CHECKS)")


def _interrupted(submission):
    if submission.lesson is None:
        rows = [Row(submission.student, submission.path.stem, "", 0, 0, "interrupted", INTERRUPTED)]
    else:
        rows = [Row(submission.student, submission.lesson.name, exercise.id, 0, exercise.points, "interrupted",
                    INTERRUPTED) for exercise in submission.lesson.exercises]
    return Result(submission.student, submission.path.name, rows)


def grade(submissions, lessons_dir="lessons", timeout=300.0, jobs=1, memory_mb=4096, progress=True, sandbox=True):
    """Grade every submission; returns :class:`.gradebook.Results` in a fixed order (serial == parallel).

    Args:
        submissions: folder with one sub-folder per student holding ``.ipynb`` files.
        lessons_dir: folder of the reference lessons (executed, with stored verdicts).
        timeout: seconds one submission may run, kernel start included.
        jobs: submissions graded at the same time.
        memory_mb: memory of one submission in MiB, all its processes together (0: none).
        progress: show a tqdm progress bar on stderr.
        sandbox: run each submission in the bubblewrap sandbox (:mod:`.sandbox`); False runs
            student code without isolation, after a loud warning.

    Raises:
        SandboxUnavailable: ``sandbox`` is True and no sandbox can be made here.
        GradingInterrupted: on KeyboardInterrupt (Ctrl-C; the command line turns SIGTERM into
            one): running submissions are stopped at once, queued ones never start, and the
            exception carries the Results (the rest marked ``interrupted``).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    if not isinstance(memory_mb, int) or memory_mb < 0:
        raise ValueError(f"memory_mb must be an int >= 0, got {memory_mb!r}")
    lessons = load_lessons(lessons_dir)
    found, skipped = find_submissions(submissions, lessons)
    referee = Referee(sys.executable) if any(item.lesson is not None for item in found) else None
    try:
        if referee is not None:
            _unchecked_exercises(lessons, referee.exercises())
        broken = sorted({item.lesson.problem for item in found if item.lesson is not None and item.lesson.problem})
        if broken:
            raise ValueError("cannot grade against these reference lessons: " + "; ".join(broken))
        return _grade_found(found, skipped, lessons, submissions, referee, timeout, jobs, memory_mb, progress, sandbox)
    finally:
        if referee is not None:
            referee.close()


def _grade_found(found, skipped, lessons, submissions, referee, timeout, jobs, memory_mb, progress, sandbox):
    """Run the found submissions (``jobs`` at a time) in the sandbox, with the referee's cases and verdicts."""
    if sandbox:
        usable, why = sandbox_available()
        if not usable:
            raise SandboxUnavailable(
                f"no usable sandbox for student code here ({why}); install bubblewrap (apt-get install "
                f"bubblewrap) and see docs/grading-sandbox.md, or pass --no-sandbox to grade WITHOUT isolation "
                f"(only notebooks you trust)")
        isolation = _("sandboxed (bubblewrap), as {user}, limits: {limits}").format(user=describe_user(),
                                                                                    limits=describe_limits())
    else:
        print(_(SANDBOX_WARNING), file=sys.stderr, flush=True)
        isolation = _("NOT sandboxed (--no-sandbox)")
    remove_stale_temp()
    remove_stale_cgroups()
    matplotlib_dir = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    options = GradeOptions(timeout=float(timeout), memory_mb=memory_mb, sandbox=sandbox,
                           font_caches=tuple(sorted(matplotlib_dir.glob("fontlist-*.json"))),
                           cancel=threading.Event())
    root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
    results = [None] * len(found)
    pool = None
    try:
        options.support = prepare_support(root / "support")
        submissions_root = Path(submissions).resolve()

        def work(number, submission):
            if options.cancel.is_set():
                return None
            if submission.lesson is None:
                return Result(submission.student, submission.path.name,
                              [Row(submission.student, submission.path.stem, "", 0, 0, "unreadable",
                                   short(submission.problem))])
            workdir = root / f"job{number}"
            start = time.monotonic()
            try:
                result = grade_submission(submission, lessons, workdir, options, submissions_root, referee)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            if result is not None:
                result.seconds = time.monotonic() - start
            return result

        from tqdm.auto import tqdm

        bar = tqdm(total=len(found), desc=_("grading"), unit=_("notebook"), file=sys.stderr, disable=not progress)
        pool = ThreadPoolExecutor(max_workers=jobs)
        futures = {pool.submit(work, number, item): number for number, item in enumerate(found)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
        except KeyboardInterrupt:
            with _signals_ignored():
                options.cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                for future, number in futures.items():
                    if future.done() and not future.cancelled() and future.exception() is None:
                        results[number] = future.result()
                graded = [result if result is not None else _interrupted(item) for result, item in zip(results, found)]
                raise GradingInterrupted(Results(graded, skipped, interrupted=True, sandbox=isolation)) from None
        finally:
            bar.close()
    finally:
        with _signals_ignored():
            if pool is not None:
                options.cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(root, ignore_errors=True)
    return Results(results, skipped, sandbox=isolation)


class _signals_ignored:
    """Ctrl-C and SIGTERM ignored while cleaning up (in the main thread; elsewhere nothing to do)."""

    def __enter__(self):
        self.saved = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.saved[number] = signal.signal(number, signal.SIG_IGN)
        return self

    def __exit__(self, *exc):
        for number, handler in self.saved.items():
            signal.signal(number, handler)
        return False


def remove_stale_temp():
    """Remove the temp folders of graders that were killed (SIGKILL) before they could clean up."""
    folder = Path(tempfile.gettempdir())
    for path in folder.glob(f"{TEMP_PREFIX}*"):
        found = re.fullmatch(rf"{re.escape(TEMP_PREFIX)}(\d+)-\w+", path.name)
        try:
            owned = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.geteuid()
        except OSError:
            continue
        if found and owned and not Path(f"/proc/{found.group(1)}").exists():
            shutil.rmtree(path, ignore_errors=True)
