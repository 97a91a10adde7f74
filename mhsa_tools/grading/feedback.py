"""Per-student feedback in Markdown: exercise by exercise, what passed and why not.

Names and messages come from the student's files and code: they are escaped (:func:`.text.markdown`),
so the file shows them as text, never as HTML, links, images or escape sequences.
"""
from pathlib import Path

from .gradebook import STATUSES
from .text import markdown


_ADVICE = {
    "fail": "the check ran your code and the answer is not right yet; read the hint.",
    "error": "your code raised an exception; run the cell in Jupyter to see the traceback.",
    "timeout": "your code did not finish in time: look for an endless loop.",
    "crashed": "the Python kernel died while running your code (os._exit, a crash in native code or too much memory).",
    "missing": "the answer cell was not found: answer inside the cell the lesson gave you "
               "(its metadata identifies the exercise) and keep the function name.",
    "unreadable": "the file is not a notebook of this course: save it from Jupyter (File > Save) and submit it again.",
    "interrupted": "grading stopped before your notebook ran; it will be graded again.",
}


def write_feedback(results, directory):
    """One Markdown file per student saying, exercise by exercise, what passed and why not."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    by_student = {}
    for result in results:
        by_student.setdefault(result.student, []).append(result)
    written = []
    for student, items in by_student.items():
        lines = [f"# Feedback for {markdown(student)}", ""]
        for result in items:
            lesson = result.rows[0].lesson if result.rows else result.file
            got = sum(row.points for row in result.rows)
            total = sum(row.max_points for row in result.rows)
            lines += [f"## {markdown(lesson)} ({markdown(result.file)}): {got} / {total} points", "",
                      "| exercise | points | status | message |", "|---|---|---|---|"]
            for row in result.rows:
                lines.append(f"| {markdown(row.exercise or '-')} | {row.points} / {row.max_points} | {row.status} "
                             f"| {markdown(row.message)} |")
            lines.append("")
            for status in STATUSES:
                if status in {row.status for row in result.rows} and status != "pass":
                    lines.append(f"- **{status}**: {_ADVICE[status]}")
            for note in result.notes:
                lines.append(f"- other cell that failed with your answers: {markdown(note)}")
            lines.append("")
        name = student.replace("/", "_").replace("\0", "_")  # a folder name has neither, but stay inside
        path = directory / f"{name if name not in ('', '.', '..') else '_'}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written
