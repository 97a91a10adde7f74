"""Release student editions of the lessons and grade submitted notebooks.

Two commands for instructors (``mhsa-ms release`` and ``mhsa-ms grade``),
built on the exercise convention of the lessons: an answer cell with cell
metadata ``{"mhsa_ms": {"exercise": "1.2", "role": "answer", "points": 2}}``
whose solution lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION``,
followed by a check cell (``"role": "check"``) that prints one verdict line
``Exercise 1.2: correct`` through :func:`mhsa_ms.check_exercise`.

Grading never trusts the learner's notebook beyond its answer cells: the
graded notebook is the instructor's reference lesson with the learner's answer
cells put in (matched by exercise id), run by nbval (``pytest --nbval-lax``,
check cells compared with the reference's stored verdicts) in a separate
process, in a scratch directory, under a time and memory limit and, where
bubblewrap (``bwrap``) is installed, in a sandbox without network that can
write only its scratch directory.

This module imports no MindSpore: grading runs in a light process.

>>> print(strip_solutions('def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION\\n', "1.1"))
def f(x):
    raise NotImplementedError("exercise 1.1")
<BLANKLINE>
"""
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STATUSES = ("pass", "fail", "error", "timeout", "crashed", "missing", "unreadable")
CSV_COLUMNS = ("student", "lesson", "exercise", "points", "max_points", "status", "message")
MESSAGE_CHARS = 200
_VERDICT_PREFIX = re.compile(r"^Exercise \S+: ")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_SANDBOX_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
WARNING: bubblewrap (bwrap) is not usable here ({why}).
Submissions run WITHOUT isolation: student code can read and write your files
and use the network. Install it (Debian/Ubuntu: apt-get install bubblewrap)
before grading notebooks you do not trust.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


# ----------------------------------------------------------------------------
# notebook helpers

def _source(cell):
    """A cell's source as one string ('' when it is malformed)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def exercise_meta(cell):
    """The ``mhsa_ms`` exercise metadata of a cell, or None.

    >>> exercise_meta({"metadata": {"mhsa_ms": {"exercise": "1.2", "role": "check", "points": 2}}})
    {'exercise': '1.2', 'role': 'check', 'points': 2}
    >>> exercise_meta({"metadata": {}}) is None
    True
    """
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("mhsa_ms") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict) or meta.get("role") not in ("answer", "check"):
        return None
    if not isinstance(meta.get("exercise"), str):
        return None
    return meta


def strip_solutions(source, exercise_id):
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by a stub.

    The stub ``raise NotImplementedError("exercise <id>")`` takes the
    indentation of the BEGIN line; the lines before and after are kept.

    Raises:
        ValueError: when the markers are unbalanced.
    """
    lines = source.splitlines(keepends=True)
    result, inside = [], False
    for number, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"exercise {exercise_id}: nested {BEGIN!r} at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            result.append(f'{indent}raise NotImplementedError("exercise {exercise_id}")\n')
        elif marker == END:
            if not inside:
                raise ValueError(f"exercise {exercise_id}: {END!r} without {BEGIN!r} at line {number}")
            inside = False
        elif not inside:
            result.append(line)
    if inside:
        raise ValueError(f"exercise {exercise_id}: {BEGIN!r} without {END!r}")
    return "".join(result)


def _has_markers(source):
    return any(line.strip() in (BEGIN, END) for line in source.splitlines())


def _read_notebook(path):
    """A lesson notebook as nbformat v4 node (for the instructor's own files)."""
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


def student_edition(nb):
    """A copy of a lesson notebook with solutions stubbed and answer/check outputs cleared.

    Raises:
        ValueError: when a cell holds solution markers but is not an answer
            cell, an answer cell has no solution region, or a region is not
            inside a function body (the stub would stop a top-to-bottom run).
    """
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        meta = exercise_meta(cell)
        source = _source(cell)
        if meta is None or meta["role"] != "answer":
            if _has_markers(source):
                raise ValueError(f"cell {index} holds {BEGIN!r} but is not an answer cell "
                                 "(metadata mhsa_ms.role must be 'answer')")
            if meta is None:
                continue
        else:
            if BEGIN not in source:
                raise ValueError(f"answer cell {index} (exercise {meta['exercise']}) has no {BEGIN!r} region")
            cell.source = strip_solutions(source, meta["exercise"])
            if any(line.startswith("raise NotImplementedError") for line in cell.source.splitlines()):
                raise ValueError(f"answer cell {index} (exercise {meta['exercise']}): the solution must lie "
                                 "inside a function body, so that the student edition still runs")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    meta = nb.metadata.get("mhsa_ms")
    if isinstance(meta, dict):
        meta["edition"] = "student"
    return nb


def release(lessons, out):
    """Write the student edition of each lesson into directory ``out``.

    Args:
        lessons: paths of reference lesson notebooks (never modified).
        out: output directory, created if needed; must not hold a source lesson.

    Returns:
        The written paths, in the order of ``lessons``.
    """
    import nbformat

    out = Path(out)
    sources = [Path(path) for path in lessons]
    if not sources:
        raise ValueError("lessons must name at least one notebook")
    for path in sources:
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"lesson {str(path)!r} is not an existing .ipynb file")
        if (out / path.name).resolve() == path.resolve():
            raise ValueError(f"out {str(out)!r} would overwrite the source lesson {str(path)!r}")
    editions = [student_edition(_read_notebook(path)) for path in sources]  # validate all first
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, nb in zip(sources, editions):
        target = out / path.name
        with open(target, "w", encoding="utf-8") as handle:
            nbformat.write(nb, handle)
        written.append(target)
    return written


# ----------------------------------------------------------------------------
# reference lessons

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


def _functions(source):
    return tuple(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", source, re.MULTILINE))


def load_lesson(path):
    """Read a reference lesson and validate its exercise cells and stored verdicts.

    Raises:
        ValueError: when an exercise lacks its answer or check cell, or a check
            cell's stored output is not the verdict ``Exercise <id>: correct``.
    """
    path = Path(path)
    nb = _read_notebook(path)
    meta = nb.metadata.get("mhsa_ms", {})
    lesson = Lesson(name=path.stem, path=path, nb=nb, day=meta.get("day") if isinstance(meta, dict) else None)
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
        if f"Exercise {exercise_id}: correct" not in stored.splitlines() or nb.cells[check].execution_count is None:
            raise ValueError(f"{path.name}: the check cell of exercise {exercise_id} does not show the stored "
                             f"verdict 'Exercise {exercise_id}: correct'; execute the reference lesson first")
        points = check_info.get("points", info.get("points", 1))
        if not isinstance(points, int) or points < 0:
            raise ValueError(f"{path.name}: exercise {exercise_id} has points={points!r}, expected an int >= 0")
        lesson.exercises.append(Exercise(exercise_id, points, answer, check, _functions(_source(nb.cells[answer]))))
    for exercise_id in checks:
        if exercise_id not in answers:
            raise ValueError(f"{path.name}: exercise {exercise_id} has a check cell but no answer cell")
    lesson.exercises.sort(key=lambda exercise: exercise.answer)
    return lesson


def load_lessons(directory):
    """Every ``*.ipynb`` of ``directory`` with at least one exercise, by file stem.

    A lesson that fails :func:`load_lesson` is kept with its ``problem`` set
    (an error only when someone submitted it).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"lessons directory {str(directory)!r} does not exist")
    lessons = {}
    for path in sorted(directory.glob("*.ipynb")):
        try:
            lesson = load_lesson(path)
        except ValueError as exc:
            day = _notebook_day(json.loads(path.read_bytes()))
            lesson = Lesson(name=path.stem, path=path, nb=None, day=day, problem=str(exc))
        if lesson.exercises or lesson.problem:
            lessons[lesson.name] = lesson
    if not lessons:
        raise ValueError(f"no lesson with exercises in {str(directory)!r}")
    return lessons


# ----------------------------------------------------------------------------
# one submission

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


def _short(text):
    text = _ANSI.sub("", str(text))
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def _parse_submission(data):
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


def _notebook_day(nb):
    metadata = nb.get("metadata")
    meta = metadata.get("mhsa_ms") if isinstance(metadata, dict) else None
    return meta.get("day") if isinstance(meta, dict) else None


def _find_answers(lesson, cells):
    """Student source per exercise id (None when missing) and how each was found."""
    code = [cell for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code"]
    by_id = {}
    for cell in code:
        meta = exercise_meta(cell)
        if meta is not None and meta["role"] == "answer":
            by_id[meta["exercise"]] = cell  # the last one wins, as when run top to bottom
    used = {id(cell) for cell in by_id.values()}
    found = {}
    for exercise in lesson.exercises:
        cell = by_id.get(exercise.id)
        how = "metadata"
        if cell is None and exercise.functions:
            for candidate in reversed(code):
                if id(candidate) not in used and exercise_meta(candidate) is None and \
                        set(exercise.functions) <= set(_functions(_source(candidate))):
                    cell, how = candidate, "function name"
                    used.add(id(candidate))
                    break
        found[exercise.id] = (_source(cell), how) if cell is not None else (None, None)
    return found


def build_graded_notebook(lesson, cells):
    """The reference lesson with the student's answer cells put in, code cells only.

    Cells after the last check cell are dropped (they cannot change a verdict);
    a missing answer is replaced by the student-edition stub.

    Returns:
        (notebook, answers) where answers maps exercise id -> (source or None, how found).
    """
    answers = _find_answers(lesson, cells)
    nb = copy.deepcopy(lesson.nb)
    last_check = max(exercise.check for exercise in lesson.exercises)
    for exercise in lesson.exercises:
        cell = nb.cells[exercise.answer]
        source, _ = answers[exercise.id]
        cell.source = source if source is not None else strip_solutions(_source(cell), exercise.id)
    nb.cells = [cell for cell in nb.cells[: last_check + 1] if cell.cell_type == "code"]
    return nb, answers


# ----------------------------------------------------------------------------
# sandbox

_bwrap_state = {}
_bwrap_lock = threading.Lock()


def sandbox_available():
    """(True, "") when bubblewrap can create a sandbox without network here, else (False, why)."""
    with _bwrap_lock:
        if "result" not in _bwrap_state:
            bwrap = shutil.which("bwrap")
            if bwrap is None:
                _bwrap_state["result"] = (False, "bwrap not found on PATH")
            else:
                with tempfile.TemporaryDirectory(prefix="mhsa-ms-probe-") as scratch:
                    probe = subprocess.run(_sandbox_prefix(scratch, []) + ["true"],
                                           capture_output=True, text=True, timeout=60)
                why = _short(probe.stderr) or f"exit code {probe.returncode}"
                _bwrap_state["result"] = (probe.returncode == 0, "" if probe.returncode == 0 else why)
        return _bwrap_state["result"]


_RUNTIME_DIRS = tuple(sorted({sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[1])}))


def _sandbox_prefix(scratch, readonly_dirs):
    """bwrap arguments: the whole file system read-only, private /tmp, /dev and /proc,
    no network, its own process tree; writable only ``scratch``."""
    prefix = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
              "--tmpfs", "/tmp"]
    # The environment and this package stay visible even when they live under /tmp
    # (a CI clone there would otherwise vanish under the private /tmp).
    for directory in _RUNTIME_DIRS + tuple(readonly_dirs):
        prefix += ["--ro-bind", str(directory), str(directory)]
    prefix += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch),
               "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
               "--die-with-parent", "--new-session"]
    return prefix


@dataclass
class GradeOptions:
    timeout: float = 300.0
    memory_mb: int = 4096
    sandbox: bool = True
    python: str = sys.executable
    font_caches: tuple = ()


def run_graded_notebook(nb, workdir, plugin_dir, options):
    """Run one graded notebook with nbval.

    Returns:
        (records by code-cell index, whether the run overran its time limit,
        how the grading process ended).
    """
    import nbformat

    scratch = Path(workdir) / "scratch"
    for sub in ("home", "tmp", "runtime", "ipython", "cache/matplotlib"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    with open(scratch / "graded.ipynb", "w", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    (scratch / "pytest.ini").write_text("[pytest]\n")
    for font_cache in options.font_caches:  # spares matplotlib a font scan per submission
        shutil.copy(font_cache, scratch / "cache" / "matplotlib" / font_cache.name)
    env = dict(os.environ)
    env.update({
        "HOME": str(scratch / "home"), "TMPDIR": str(scratch / "tmp"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "IPYTHONDIR": str(scratch / "ipython"),
        "XDG_CACHE_HOME": str(scratch / "cache"), "MPLCONFIGDIR": str(scratch / "cache" / "matplotlib"),
        "GLOG_v": "4", "IPYKERNEL_CELL_NAME": "<IPY-INPUT>", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join([str(plugin_dir)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
        "MHSA_MS_GRADE_MEMORY": str(options.memory_mb * 2**20),
    })
    env.setdefault("MHSA_MS_FAST", "1")
    read_fd, write_fd = os.pipe()
    env["MHSA_MS_GRADE_FD"] = str(write_fd)
    argv = [options.python, "-m", "pytest", "graded.ipynb", "-p", "nbval.plugin", "-p", "_nbval_guard",
            "--nbval-lax", "--nbval-current-env", "-c", "pytest.ini", "--rootdir", str(scratch),
            "-p", "no:cacheprovider", "-q", "--no-header", "-rN"]
    if options.sandbox:
        argv = _sandbox_prefix(scratch, [plugin_dir]) + argv
    log_path = Path(workdir) / "pytest.log"
    env["MHSA_MS_GRADE_DEADLINE"] = repr(time.time() + options.timeout)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_fd, 65536), b"")))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True)
    os.close(write_fd)
    reader.start()
    overrun = False
    try:
        process.wait(timeout=options.timeout + 60)
    except subprocess.TimeoutExpired:
        overrun = True
    finally:
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
        process.wait()
    reader.join(timeout=10)
    os.close(read_fd)
    records = {}
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("cell"), int):
            records.setdefault(record["cell"], record)
    with open(log_path, "rb") as log:
        log.seek(max(log_path.stat().st_size - 4000, 0))
        lines = [line.strip() for line in log.read().decode("utf-8", "replace").splitlines()]
    # what pytest said last, for setup problems (progress lines of dots carry nothing)
    said = [line for line in lines if line and not re.fullmatch(r"[.sxXFE]+( +\[ *\d+%\])?", line)]
    ended = f"the grading process stopped before this check (exit code {process.returncode})"
    return records, overrun, ended + (f": {said[-1]}" if said else "")


def _describe(nb, index):
    meta = exercise_meta(nb.cells[index]) if index is not None and index < len(nb.cells) else None
    if meta is not None:
        return f"the {meta['role']} cell of exercise {meta['exercise']}"
    return f"code cell {index} of the lesson"


def _first(records, status):
    cells = sorted(index for index, record in records.items() if record.get("status") == status)
    return cells[0] if cells else None


def _exercise_rows(student, lesson, nb, answers, records, overrun, ended, options, other_lesson):
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
            return Row(student, lesson.name, exercise.id, points, exercise.points, status, _short(message))

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
            found += f" (after {_describe(nb, broken[0])} failed: {records[broken[0]].get('message', '')})"
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
            rows.append(row(status, f"{what} in {_describe(nb, first)}"))
        else:
            rows.append(row("error", f"check cell: {status}"))
    return rows


def _other_lesson_name(nb_day, lesson, lessons):
    if nb_day is None or nb_day == lesson.day:
        return None
    for other in lessons.values():
        if other.day == nb_day:
            return other.name
    return f"of day {nb_day}"


def grade_submission(student, path, lesson, lessons, workdir, plugin_dir, options):
    """Grade one submitted notebook against its reference lesson; never writes to ``path``."""
    data = Path(path).read_bytes()
    try:
        submitted = _parse_submission(data)
    except ValueError as exc:
        return Result(student, Path(path).name, [
            Row(student, lesson.name, exercise.id, 0, exercise.points, "unreadable", _short(exc))
            for exercise in lesson.exercises])
    other = _other_lesson_name(_notebook_day(submitted), lesson, lessons)
    nb, answers = build_graded_notebook(lesson, submitted["cells"])
    if all(source is None for source, _ in answers.values()):
        records, overrun, ended = {}, False, ""  # nothing of the student's to run
    else:
        records, overrun, ended = run_graded_notebook(nb, workdir, plugin_dir, options)
    rows = _exercise_rows(student, lesson, nb, answers, records, overrun, ended, options, other)
    notes = [f"{_describe(nb, index)}: {_short(record.get('message', ''))}"
             for index, record in sorted(records.items())
             if record.get("status") == "error" and record.get("role") is None]
    return Result(student, Path(path).name, rows, notes)


# ----------------------------------------------------------------------------
# a folder of submissions

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
                    day = _notebook_day(_parse_submission(path.read_bytes()))
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
        print(_SANDBOX_WARNING.format(why=why), file=sys.stderr, flush=True)
    matplotlib_dir = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    options = GradeOptions(timeout=float(timeout), memory_mb=int(memory_mb), sandbox=usable,
                           font_caches=tuple(sorted(matplotlib_dir.glob("fontlist-*.json"))))
    root = Path(tempfile.mkdtemp(prefix="mhsa-ms-grade-"))
    plugin_dir = root / "plugin"
    plugin_dir.mkdir()
    shutil.copy(Path(__file__).with_name("_nbval_guard.py"), plugin_dir / "_nbval_guard.py")

    def work(number, student, path, lesson, problem):
        if lesson is None:
            return Result(student, path.name, [Row(student, path.stem, "", 0, 0, "unreadable", _short(problem))])
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


def write_csv(results, path):
    """Write grades.csv: one row per (student, lesson, exercise)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for result in results:
            for row in result.rows:
                writer.writerow(row.as_list())


_ADVICE = {
    "fail": "the check ran your code and the answer is not right yet; read the hint.",
    "error": "your code raised an exception; run the cell in Jupyter to see the traceback.",
    "timeout": "your code did not finish in time: look for an endless loop.",
    "crashed": "the Python kernel died while running your code (os._exit, a crash in native code or too much memory).",
    "missing": "the answer cell was not found: answer inside the cell the lesson gave you "
               "(its metadata identifies the exercise) and keep the function name.",
    "unreadable": "the file is not a notebook of this course: save it from Jupyter (File > Save) and submit it again.",
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
        lines = [f"# Feedback for {student}", ""]
        for result in items:
            lesson = result.rows[0].lesson if result.rows else result.file
            got = sum(row.points for row in result.rows)
            total = sum(row.max_points for row in result.rows)
            lines += [f"## {lesson} ({result.file}): {got} / {total} points", "",
                      "| exercise | points | status | message |", "|---|---|---|---|"]
            for row in result.rows:
                message = row.message.replace("|", "\\|")
                lines.append(f"| {row.exercise or '-'} | {row.points} / {row.max_points} | {row.status} | {message} |")
            lines.append("")
            for status in STATUSES:
                if status in {row.status for row in result.rows} and status != "pass":
                    lines.append(f"- **{status}**: {_ADVICE[status]}")
            for note in result.notes:
                lines.append(f"- other cell that failed with your answers: {note}")
            lines.append("")
        path = directory / f"{student}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written


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
