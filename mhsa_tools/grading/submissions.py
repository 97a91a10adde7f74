"""Finding and opening the submissions: one folder per student, notebooks read leniently."""
import json
import re
import sys
from pathlib import Path

from ..notebooks import notebook_day


def parse_submission(data):
    """The cells of a submitted notebook (lenient), or raise ValueError saying why not."""
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid notebook JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")
    return nb


def other_lesson_name(nb_day, lesson, lessons):
    if nb_day is None or nb_day == lesson.day:
        return None
    for other in lessons.values():
        if other.day == nb_day:
            return other.name
    return f"of day {nb_day}"


def find_submissions(root, lessons):
    """(student, path, lesson or None, problem) for every ``.ipynb`` under each student folder.

    The lesson is recognised by file name, else by the notebook's metadata
    ``mhsa_ms.day``, else by a leading ``NN_`` of the file name.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"submissions folder {str(root)!r} does not exist")
    by_day = {lesson.day: lesson for lesson in lessons.values() if lesson.day is not None}
    found = []
    for path in sorted(root.glob("*.ipynb")):
        print(f"ignored {path}: put each student's notebooks in a folder of their own", file=sys.stderr)
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
        paths = sorted(path for path in folder.rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in path.parts and path.is_file())
        taken = {lessons[path.stem].name for path in paths if path.stem in lessons}
        for path in paths:
            lesson, problem = lessons.get(path.stem), ""
            if lesson is None:
                day = None
                try:
                    day = notebook_day(parse_submission(path.read_bytes()))
                except ValueError:
                    pass
                if day is None and re.match(r"^\d\d_", path.name):
                    day = int(path.name[:2])
                lesson = by_day.get(day)
                if lesson is None:
                    problem = f"{path.name} is not a lesson of this course"
                elif lesson.name in taken:
                    lesson, problem = None, f"{path.name} duplicates {by_day[day].name}.ipynb; not graded"
                else:
                    taken.add(lesson.name)
            found.append((folder.name, path, lesson, problem))
    return found
