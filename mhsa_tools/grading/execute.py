"""Executing one graded notebook with nbval, in the sandbox, under a time and memory limit.

The kernel reads the check cases from ``cases_dir`` (``MHSA_MS_GRADING_CASES``, read-only in
the sandbox) and writes the answers' results into ``MHSA_MS_GRADING_ANSWERS``, a folder of its
scratch; what it wrote there comes back in :attr:`RunOutcome.answers`, for the referee to judge.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import sandbox_prefix


ANSWER_NAME = re.compile(r"^\d+\.\d+\.npz$")
ANSWER_BYTES = 8 * 2**20  # one answer file
ANSWERS_BYTES = 32 * 2**20  # all of one submission's


@dataclass
class GradeOptions:
    timeout: float = 300.0
    memory_mb: int = 4096
    sandbox: bool = True
    python: str = sys.executable
    font_caches: tuple = ()
    plugin_dir: Path = None  # the folder holding nbval_plugin.py, put on the kernel's PYTHONPATH


@dataclass
class RunOutcome:
    """What running one graded notebook gave.

    Attributes:
        records: code-cell index -> the nbval plugin's record of that cell.
        answers: answer file name (``<id>.npz``) -> its bytes, as the kernel wrote them
            (names that do not match, files over 8 MiB and anything past 32 MiB in all are dropped).
        overrun: whether the run overran its time limit.
        ended: how the grading process ended, for cells it never reached.
    """

    records: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)
    overrun: bool = False
    ended: str = ""


def read_answers(folder):
    """The answer files of ``folder`` within the limits, never following a link."""
    answers, total = {}, 0
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
        if not ANSWER_NAME.match(name):
            continue
        try:
            descriptor = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                continue
            with os.fdopen(descriptor, "rb", closefd=False) as handle:
                data = handle.read(ANSWER_BYTES + 1)
        finally:
            os.close(descriptor)
        if len(data) <= ANSWER_BYTES and total + len(data) <= ANSWERS_BYTES:
            answers[name] = data
            total += len(data)
    return answers


def run_graded_notebook(nb, workdir, cases_dir, options):
    """Run one graded notebook with nbval; the kernel reads its check cases from ``cases_dir``."""
    import nbformat

    scratch = Path(workdir) / "scratch"
    for sub in ("home", "tmp", "runtime", "ipython", "cache/matplotlib", "answers"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    with open(scratch / "graded.ipynb", "w", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    (scratch / "pytest.ini").write_text("[pytest]\n")
    for font_cache in options.font_caches:  # spares matplotlib a font scan per submission
        shutil.copy(font_cache, scratch / "cache" / "matplotlib" / font_cache.name)
    plugin_dir = options.plugin_dir
    env = {name: value for name, value in os.environ.items() if name != "MHSA_MS_EXTRA_CHECKS"}  # no checks there
    env.update({
        "HOME": str(scratch / "home"), "TMPDIR": str(scratch / "tmp"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "IPYTHONDIR": str(scratch / "ipython"),
        "XDG_CACHE_HOME": str(scratch / "cache"), "MPLCONFIGDIR": str(scratch / "cache" / "matplotlib"),
        "GLOG_v": "4", "IPYKERNEL_CELL_NAME": "<IPY-INPUT>", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join([str(plugin_dir)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
        "MHSA_MS_GRADE_MEMORY": str(options.memory_mb * 2**20),
        "MHSA_MS_GRADING_CASES": str(cases_dir), "MHSA_MS_GRADING_ANSWERS": str(scratch / "answers"),
    })
    env.setdefault("MHSA_MS_FAST", "1")
    read_fd, write_fd = os.pipe()
    env["MHSA_MS_GRADE_FD"] = str(write_fd)
    argv = [options.python, "-m", "pytest", "graded.ipynb", "-p", "nbval.plugin", "-p", "nbval_plugin",
            "--nbval-lax", "--nbval-current-env", "-c", "pytest.ini", "--rootdir", str(scratch),
            "-p", "no:cacheprovider", "-q", "--no-header", "-rN"]
    if options.sandbox:
        argv = sandbox_prefix(scratch, [plugin_dir, cases_dir]) + argv
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
    return RunOutcome(records, read_answers(scratch / "answers"), overrun, ended + (f": {said[-1]}" if said else ""))
