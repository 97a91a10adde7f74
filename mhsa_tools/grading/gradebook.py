"""Gradebook rows: one per student x lesson x exercise, from the referee's verdicts; grades.csv and the summary.

Where the kernel recorded no answer for an exercise (its answer cell raised, it timed out, the
kernel died, the check cell was replaced), the nbval records say what happened instead.
Student-controlled text is made safe where it is shown (:mod:`.text`): CSV cells cannot start a
formula, the printed summary carries no terminal escape.

The columns and the ``status`` values are data and stay English; a row's ``message`` is prose,
written in the language of the edition the submission was graded against (the referee's
verdicts come back in it too), and the summary in the language of the environment.
"""
import csv
import re
import unicodedata
from dataclasses import dataclass, field

from ..i18n import gettext, translator
from ..notebooks import exercise_meta
from .text import csv_cell, visible

STATUSES = ("pass", "fail", "error", "timeout", "crashed", "missing", "unreadable", "interrupted")
INTERRUPTED = "grading was interrupted before this notebook was graded; grade it again"
CSV_COLUMNS = ("student", "lesson", "exercise", "points", "max_points", "status", "message")
MESSAGE_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Row:
    """One line of grades.csv."""

    student: str
    lesson: str
    exercise: str
    points: int
    max_points: int
    status: str
    message: str

    def as_list(self):
        return [self.student, self.lesson, self.exercise, self.points, self.max_points, self.status, self.message]


@dataclass
class Result:
    """The graded rows of one submission, plus details for the feedback file."""

    student: str
    file: str
    rows: list
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    language: str = "en"  # the edition graded against: the language of the student's feedback


def short(text):
    """One line of at most MESSAGE_CHARS characters, escape sequences removed, control characters shown."""
    text = visible(" ".join(_ANSI.sub("", str(text)).split()))
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def describe_cell(nb, index, language="en"):
    """'the answer cell of exercise 1.2', 'code cell 7 of the lesson', in ``language``."""
    _ = translator(language)
    meta = exercise_meta(nb.cells[index]) if index is not None and index < len(nb.cells) else None
    if meta is not None and meta["role"] == "answer":
        return _("the answer cell of exercise {exercise}").format(exercise=meta["exercise"])
    if meta is not None:
        return _("the check cell of exercise {exercise}").format(exercise=meta["exercise"])
    return _("code cell {index} of the lesson").format(index=index)


def _first(records, status):
    cells = sorted(index for index, record in records.items() if record.get("status") == status)
    return cells[0] if cells else None


def exercise_rows(student, lesson, nb, answers, outcome, verdicts, options, other_lesson):
    """One Row per exercise: the referee's verdict, else what the nbval records of the run say
    (in the language of the lesson's edition)."""
    language = lesson.language
    _ = translator(language)
    code_index = {}
    position = 0
    for index, cell in enumerate(lesson.nb.cells):
        if cell.cell_type == "code":
            code_index[index] = position
            position += 1
    records = outcome.records
    rows = []
    for exercise in lesson.exercises:
        answer, check = code_index[exercise.answer], code_index[exercise.check]
        source, how = answers[exercise.id]

        def row(status, message, points=0):
            return Row(student, lesson.name, exercise.id, points, exercise.points, status, short(message))

        if source is None:
            where = _("this notebook is lesson {other}, not {lesson}").format(other=other_lesson, lesson=lesson.name) \
                if other_lesson else _("no answer cell for exercise {exercise} (cell metadata mhsa_ms.exercise)").format(
                    exercise=exercise.id)
            rows.append(row("missing", where))
            continue
        by_name = _("answer cell found by its function name")
        found = "" if how == "metadata" else _(" ({note})").format(note=by_name)
        verdict = verdicts.get(exercise.id, {})
        if verdict.get("status") == "pass":
            rows.append(row("pass", "" if how == "metadata" else by_name, exercise.points))
            continue
        if verdict.get("status") in ("fail", "error"):
            rows.append(row(verdict["status"], verdict.get("message", "") + found))
            continue
        check_record = records.get(check)
        answer_record = records.get(answer, {})
        if check_record is None:
            if outcome.overrun:
                rows.append(row("timeout", _("time limit of {seconds:g} s reached").format(seconds=options.timeout)))
            else:
                rows.append(row("crashed", outcome.ended))
            continue
        status = check_record.get("status")
        broken = [index for index, record in sorted(records.items())
                  if index < check and record.get("role") is None and record.get("status") == "error"]
        if broken and status == "error":  # a lesson cell failed first: say so
            found += _(" (after {cell} failed: {message})").format(cell=describe_cell(nb, broken[0], language),
                                                                   message=records[broken[0]].get("message", ""))
        if answer_record.get("status") == "error":
            rows.append(row("error", _("answer cell: {message}").format(message=answer_record.get("message", ""))))
        elif status == "ok":
            rows.append(row("fail", _("no answer was recorded: the check cell ran, but not the lesson's check "
                                      "of the answer") + found))
        elif status == "error":
            rows.append(row("error", check_record.get("message", "") + found))
        elif status in ("timeout", "crashed"):
            first = _first(records, status)
            first_record = records.get(first, {})
            what = _("time limit of {seconds:g} s reached").format(seconds=options.timeout) if status == "timeout" \
                else (first_record.get("message") or _("the kernel died"))
            rows.append(row(status, _("{what} in {cell}").format(what=what, cell=describe_cell(nb, first, language))))
        else:
            rows.append(row("error", _("check cell: {status}").format(status=status)))
    return rows


def write_csv(results, path):
    """Write grades.csv: one row per (student, lesson, exercise)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        # As OWASP advises: every text cell quoted (a carriage return in a name cannot break a row)
        # and none starting a formula.
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(CSV_COLUMNS)
        for result in results:
            for row in result.rows:
                writer.writerow([csv_cell(value) for value in row.as_list()])


class Results(list):
    """The Results of a grading run, in a fixed order, with what was not graded:
    ``skipped`` (:class:`.submissions.Skipped`), ``interrupted`` (Ctrl-C or SIGTERM),
    ``sandbox`` (how submissions were isolated, in words)."""

    def __init__(self, items=(), skipped=(), interrupted=False, sandbox=""):
        super().__init__(items)
        self.skipped, self.interrupted, self.sandbox = list(skipped), interrupted, sandbox


def _width(text):
    """Columns ``text`` takes in a terminal: a wide (CJK) character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def summary_table(results):
    """A plain-text table: one line per student, points per lesson and in total; then what was skipped."""
    lessons = sorted({row.lesson for result in results for row in result.rows})
    students = sorted({result.student for result in results})
    cells = {}
    for result in results:
        for row in result.rows:
            got, total = cells.get((result.student, row.lesson), (0, 0))
            cells[(result.student, row.lesson)] = (got + row.points, total + row.max_points)
    _ = gettext
    header = [_("student")] + [visible(lesson) for lesson in lessons] + [_("total")]
    table = [header]
    for student in students:
        line = [visible(student)]
        got_all = total_all = 0
        for lesson in lessons:
            if (student, lesson) in cells:
                got, total = cells[(student, lesson)]
                got_all, total_all = got_all + got, total_all + total
                line.append(f"{got}/{total}")
            else:
                line.append("-")
        table.append(line + [f"{got_all}/{total_all}"])
    widths = [max(_width(line[column]) for line in table) for column in range(len(header))]
    text = ["  ".join(value + " " * (width - _width(value)) for value, width in zip(line, widths)).rstrip()
            for line in table]
    counts = {}
    for result in results:
        for row in result.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
    text.append("")
    text.append(_("exercises: {counts}").format(
        counts=", ".join(f"{status} {counts[status]}" for status in STATUSES if status in counts)))
    skipped = getattr(results, "skipped", ())
    if skipped:
        text += ["", _("not graded ({count}):").format(count=len(skipped))]
        text += [f"  {visible(item.path)}: {visible(item.why)}" for item in skipped]
    return "\n".join(text)
