"""Gradebook rows: one per student x lesson x exercise, from the nbval records; grades.csv and the summary."""
import csv
import re
from dataclasses import dataclass, field

from ..notebooks import exercise_meta

STATUSES = ("pass", "fail", "error", "timeout", "crashed", "missing", "unreadable")
CSV_COLUMNS = ("student", "lesson", "exercise", "points", "max_points", "status", "message")
MESSAGE_CHARS = 200
_VERDICT_PREFIX = re.compile(r"^Exercise \S+: ")
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
    text = _ANSI.sub("", str(text))
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def describe_cell(nb, index):
    meta = exercise_meta(nb.cells[index]) if index is not None and index < len(nb.cells) else None
    if meta is not None:
        return f"the {meta['role']} cell of exercise {meta['exercise']}"
    return f"code cell {index} of the lesson"


def _first(records, status):
    cells = sorted(index for index, record in records.items() if record.get("status") == status)
    return cells[0] if cells else None


def exercise_rows(student, lesson, nb, answers, records, overrun, ended, options, other_lesson):
    """One Row per exercise from the nbval records of the graded notebook."""
    code_index = {}
    position = 0
    for index, cell in enumerate(lesson.nb.cells):
        if cell.cell_type == "code":
            code_index[index] = position
            position += 1
    rows = []
    for exercise in lesson.exercises:
        answer, check = code_index[exercise.answer], code_index[exercise.check]
        source, how = answers[exercise.id]

        def row(status, message, points=0):
            return Row(student, lesson.name, exercise.id, points, exercise.points, status, short(message))

        if source is None:
            where = f"this notebook is lesson {other_lesson}, not {lesson.name}" if other_lesson else \
                f"no answer cell for exercise {exercise.id} (cell metadata mhsa_ms.exercise)"
            rows.append(row("missing", where))
            continue
        found = "" if how == "metadata" else " (answer cell found by its function name)"
        check_record = records.get(check)
        answer_record = records.get(answer, {})
        if check_record is not None and check_record.get("status") == "ok":
            rows.append(row("pass", found.strip(" ()"), exercise.points))
            continue
        if check_record is None:
            if overrun:
                rows.append(row("timeout", f"time limit of {options.timeout:g} s reached"))
            else:
                rows.append(row("crashed", ended))
            continue
        status = check_record.get("status")
        broken = [index for index, record in sorted(records.items())
                  if index < check and record.get("role") is None and record.get("status") == "error"]
        if broken and status in ("mismatch", "error"):  # a lesson cell failed first: say so
            found += f" (after {describe_cell(nb, broken[0])} failed: {records[broken[0]].get('message', '')})"
        if answer_record.get("status") == "error":
            rows.append(row("error", f"answer cell: {answer_record.get('message', '')}"))
        elif status == "mismatch":
            verdicts = check_record.get("verdicts") or []
            verdict = " ".join(_VERDICT_PREFIX.sub("", line) for line in "".join(verdicts).splitlines())
            rows.append(row("fail", (verdict or "the check printed no verdict") + found))
        elif status == "error":
            rows.append(row("error", check_record.get("message", "") + found))
        elif status in ("timeout", "crashed"):
            first = _first(records, status)
            first_record = records.get(first, {})
            what = f"time limit of {options.timeout:g} s reached" if status == "timeout" else \
                (first_record.get("message") or "the kernel died")
            rows.append(row(status, f"{what} in {describe_cell(nb, first)}"))
        else:
            rows.append(row("error", f"check cell: {status}"))
    return rows


def write_csv(results, path):
    """Write grades.csv: one row per (student, lesson, exercise)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for result in results:
            for row in result.rows:
                writer.writerow(row.as_list())


def summary_table(results):
    """A plain-text table: one line per student, points per lesson and in total."""
    lessons = sorted({row.lesson for result in results for row in result.rows})
    students = sorted({result.student for result in results})
    cells = {}
    for result in results:
        for row in result.rows:
            got, total = cells.get((result.student, row.lesson), (0, 0))
            cells[(result.student, row.lesson)] = (got + row.points, total + row.max_points)
    header = ["student"] + lessons + ["total"]
    table = [header]
    for student in students:
        line = [student]
        got_all = total_all = 0
        for lesson in lessons:
            if (student, lesson) in cells:
                got, total = cells[(student, lesson)]
                got_all, total_all = got_all + got, total_all + total
                line.append(f"{got}/{total}")
            else:
                line.append("-")
        table.append(line + [f"{got_all}/{total_all}"])
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    text = ["  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip() for line in table]
    counts = {}
    for result in results:
        for row in result.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
    text.append("")
    text.append("exercises: " + ", ".join(f"{status} {counts[status]}" for status in STATUSES if status in counts))
    return "\n".join(text)
