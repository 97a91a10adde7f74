"""Finding and opening the submissions: one folder per student, notebooks read leniently, safely.

Nothing is reached through a symbolic link: the walk opens each folder relative to its parent
with ``O_NOFOLLOW`` and each notebook likewise, so every file read lies inside the submissions
folder (a notebook that is a symlink to the instructor's lesson, or a student folder that is a
symlink to a classmate's, is refused and named).  A notebook with more than one hard link is
refused too (it may be another file, such as a lesson, under a second name).

Every entry that is not graded is named with the reason (:class:`Skipped`): hidden files and
folders, loose files beside the student folders, files that are not notebooks, folders named
like notebooks, links, and the second copy of a lesson a student handed in twice.
"""
import errno
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..notebooks import notebook_day

MAX_NOTEBOOK_BYTES = 64 << 20
MAX_DEPTH = 8  # folders inside a student's folder


@dataclass
class Submission:
    """One notebook to grade: ``parts`` is its path relative to the submissions folder."""

    student: str
    path: Path
    parts: tuple
    lesson: object
    problem: str = ""


@dataclass
class Skipped:
    """A file or folder of the submissions that was not graded, and why."""

    path: str
    why: str


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


def read_submission(root, parts):
    """The bytes of the notebook ``root/parts...``, opened without following any symbolic link.

    Raises:
        ValueError: saying why it cannot be read (a link on the way, not a regular file, more
            than one hard link, larger than MAX_NOTEBOOK_BYTES).
    """
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for part in parts[:-1]:
            fds.append(_open_at(fds[-1], part, os.O_DIRECTORY))
        fd = _open_at(fds[-1], parts[-1], os.O_NONBLOCK)
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{parts[-1]} is not a regular file")
        if info.st_nlink > 1:
            raise ValueError(f"{parts[-1]} has {info.st_nlink} hard links (it may be another file under a "
                             f"second name): submit a copy of the notebook")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"{parts[-1]} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
        chunks, size = [], 0
        while size <= MAX_NOTEBOOK_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"{parts[-1]} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
        return b"".join(chunks)
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _open_at(dir_fd, name, flags):
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(dir_fd, name):
            raise ValueError(f"{name} is a symbolic link (not followed): submit the notebook itself") from None
        raise ValueError(f"{name}: {exc.strerror}") from None


def _is_link(dir_fd, name):
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _link_target(dir_fd, name):
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return "?"


def _entries(dir_fd):
    """(name, lstat mode) of a folder's entries, sorted by name."""
    found = []
    with os.scandir(dir_fd) as scan:
        for entry in scan:
            try:
                found.append((entry.name, entry.stat(follow_symlinks=False).st_mode))
            except OSError:
                found.append((entry.name, 0))
    return sorted(found)


def find_submissions(root, lessons):
    """The notebooks to grade, in a fixed order, and what was skipped.

    Returns:
        (list of :class:`Submission`, list of :class:`Skipped`).  The lesson of a notebook is
        recognised by file name, else by the notebook's metadata ``mhsa_ms.day``, else by a
        leading ``NN_`` of the file name; a lesson handed in twice by one student is graded
        once (the copy named exactly like the lesson, nearest the student's folder, first in
        name order) and the other copies are skipped.  A notebook that cannot be read safely
        gets ``problem`` set (and is graded as unreadable).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"submissions folder {str(root)!r} does not exist")
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    found, skipped = [], []
    try:
        for name, mode in _entries(root_fd):
            if name.startswith("."):
                skipped.append(Skipped(name, "hidden"))
            elif stat.S_ISLNK(mode):
                skipped.append(Skipped(name, f"a symbolic link to {_link_target(root_fd, name)} (not followed)"))
            elif stat.S_ISDIR(mode):
                found += _student_notebooks(root, root_fd, name, lessons, skipped)
            elif stat.S_ISREG(mode):
                skipped.append(Skipped(name, "a loose file: put each student's notebooks in a folder of their own"))
            else:
                skipped.append(Skipped(name, "not a file or folder"))
    finally:
        os.close(root_fd)
    return found, skipped


def _student_notebooks(root, root_fd, student, lessons, skipped):
    candidates = []  # (parts, depth)

    def walk(dir_fd, parts):
        for name, mode in _entries(dir_fd):
            path = "/".join(parts + (name,))
            if name.startswith("."):
                skipped.append(Skipped(path, "hidden"))
            elif stat.S_ISLNK(mode) and name.endswith(".ipynb"):
                candidates.append(parts[1:] + (name,))  # graded as unreadable: the student sees why
            elif stat.S_ISLNK(mode):
                skipped.append(Skipped(path, f"a symbolic link to {_link_target(dir_fd, name)} (not followed)"))
            elif stat.S_ISDIR(mode) and name.endswith(".ipynb"):
                skipped.append(Skipped(path, "a folder named like a notebook"))
            elif stat.S_ISDIR(mode):
                if len(parts) > MAX_DEPTH:
                    skipped.append(Skipped(path, f"deeper than {MAX_DEPTH} folders"))
                    continue
                try:
                    sub_fd = _open_at(dir_fd, name, os.O_DIRECTORY)
                except ValueError as exc:
                    skipped.append(Skipped(path, str(exc)))
                    continue
                try:
                    walk(sub_fd, parts + (name,))
                finally:
                    os.close(sub_fd)
            elif name.endswith(".ipynb") and stat.S_ISREG(mode):
                candidates.append(parts[1:] + (name,))
            elif name.endswith(".ipynb"):
                skipped.append(Skipped(path, "not a regular file"))
            else:
                skipped.append(Skipped(path, "not a notebook"))

    try:
        folder_fd = _open_at(root_fd, student, os.O_DIRECTORY)
    except ValueError as exc:
        skipped.append(Skipped(student, str(exc)))
        return []
    try:
        walk(folder_fd, (student,))
    finally:
        os.close(folder_fd)
    by_day = {lesson.day: lesson for lesson in lessons.values() if lesson.day is not None}
    chosen = {}  # lesson name -> (rank, Submission)
    found = []
    for inner in candidates:
        parts = (student,) + inner
        path = root.joinpath(*parts)
        name = inner[-1]
        stem = name[: -len(".ipynb")]
        lesson, problem = lessons.get(stem), ""
        try:
            data = read_submission(root, parts)
        except ValueError as exc:
            data, problem = None, str(exc)
        if lesson is None:
            day = None
            if data is not None:
                try:
                    day = notebook_day(parse_submission(data))
                except ValueError:
                    pass
            if day is None and re.match(r"^\d\d_", name):
                day = int(name[:2])
            lesson = by_day.get(day)
            if lesson is None:
                problem = problem or f"{name} is not a lesson of this course"
                found.append(Submission(student, path, parts, None, problem))
                continue
        submission = Submission(student, path, parts, lesson, problem)
        rank = (bool(problem), stem != lesson.name, len(inner), inner)
        if lesson.name in chosen:
            kept_rank, kept = chosen[lesson.name]
            if rank < kept_rank:  # this one is graded, the one kept so far is the second copy
                chosen[lesson.name] = (rank, submission)
                submission, kept = kept, submission
            why = f"a second copy of lesson {lesson.name} (graded: {'/'.join(kept.parts)})"
            why += f"; {submission.problem}" if submission.problem else ""
            skipped.append(Skipped("/".join(submission.parts), why))
            continue
        chosen[lesson.name] = (rank, submission)
    found += [submission for _, submission in chosen.values()]
    order = {parts: index for index, parts in enumerate((student,) + inner for inner in candidates)}
    return sorted(found, key=lambda submission: order[submission.parts])
