"""Per-student feedback in Markdown: exercise by exercise, what passed and why not.

The file speaks the language of the edition the student's notebooks were graded against
(``Result.language``: 简体中文 for a submission made from the Chinese edition); the statuses
(pass, fail, ...) stay as the gradebook writes them, with their meaning said in words.
Names and messages come from the student's files and code: they are escaped (:func:`.text.markdown`),
so the file shows them as text, never as HTML, links, images or escape sequences.
"""
from pathlib import Path

from ..i18n import N_, translator
from .gradebook import STATUSES
from .text import markdown


_ADVICE = {
    "fail": N_("the check ran your code and the answer is not right yet; read the hint."),
    "error": N_("your code raised an exception; run the cell in Jupyter to see the traceback."),
    "timeout": N_("your code did not finish in time: look for an endless loop."),
    "crashed": N_("the Python kernel died while running your code (os._exit, a crash in native code or too "
                  "much memory)."),
    "missing": N_("the answer cell was not found: answer inside the cell the lesson gave you "
                  "(its metadata identifies the exercise) and keep the function name."),
    "unreadable": N_("the file is not a notebook of this course: save it from Jupyter (File > Save) and submit "
                     "it again."),
    "interrupted": N_("grading stopped before your notebook ran; it will be graded again."),
}


def feedback_language(items):
    """The language of a student's feedback: the edition of their results when they share one, else English."""
    languages = {result.language for result in items}
    return languages.pop() if len(languages) == 1 else "en"


def write_feedback(results, directory):
    """One Markdown file per student saying, exercise by exercise, what passed and why not."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    by_student = {}
    for result in results:
        by_student.setdefault(result.student, []).append(result)
    written = []
    for student, items in by_student.items():
        _ = translator(feedback_language(items))
        lines = [_("# Feedback for {student}").format(student=markdown(student)), ""]
        for result in items:
            lesson = result.rows[0].lesson if result.rows else result.file
            got = sum(row.points for row in result.rows)
            total = sum(row.max_points for row in result.rows)
            lines += [_("## {lesson} ({file}): {got} / {total} points").format(
                          lesson=markdown(lesson), file=markdown(result.file), got=got, total=total), "",
                      _("| exercise | points | status | message |"), "|---|---|---|---|"]
            for row in result.rows:
                lines.append(f"| {markdown(row.exercise or '-')} | {row.points} / {row.max_points} | {row.status} "
                             f"| {markdown(row.message)} |")
            lines.append("")
            for status in STATUSES:
                if status in {row.status for row in result.rows} and status != "pass":
                    lines.append(_("- **{status}**: {advice}").format(status=status, advice=_(_ADVICE[status])))
            for note in result.notes:
                lines.append(_("- other cell that failed with your answers: {note}").format(note=markdown(note)))
            lines.append("")
        name = student.replace("/", "_").replace("\0", "_")  # a folder name has neither, but stay inside
        path = directory / f"{name if name not in ('', '.', '..') else '_'}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written
