"""Executing one graded notebook with nbval, in the sandbox, under time, memory and process limits.

What comes back from the sandbox, and only through channels the student's code cannot use
against the grader:

- records: one JSON line per code cell, written by the nbval plugin (in pytest, a process the
  kernel cannot trace: it is not dumpable and the kernel has no capabilities) to a pipe whose
  write end only pytest holds; the grader reads at most :data:`RECORD_BYTES`;
- answers: the files the kernel wrote into ``$MHSA_MS_GRADING_ANSWERS`` (a tmpfs in the
  sandbox), sent by the plugin at the end on the same pipe and checked here again: a name
  matching :data:`ANSWER_NAME`, at most :data:`ANSWER_BYTES` each and :data:`ANSWERS_TOTAL`
  together; everything else is dropped;
- the last :data:`LOG_TAIL` bytes of what pytest printed (for setup errors); the rest is read
  and thrown away, so a kernel printing forever fills nothing.
"""
import base64
import binascii
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .limits import TASKS, Cgroup, MemoryWatchdog, descendants

ANSWER_NAME = re.compile(r"^\d+\.\d+\.npz$")
ANSWER_BYTES = 8 << 20
ANSWERS_TOTAL = 32 << 20
RECORD_BYTES = ANSWERS_TOTAL * 4 // 3 + (16 << 20)  # base64 answers and the cell records
LOG_TAIL = 4000
KILL_GRACE_S = 60  # beyond the notebook's time budget, before the sandbox is killed


@dataclass
class GradeOptions:
    """How submissions are run; ``support`` is a folder from :func:`.sandbox.prepare_support`
    (one per grading run), ``cancel`` an Event that stops every run at once (Ctrl-C)."""

    timeout: float = 300.0
    memory_mb: int = 4096
    sandbox: bool = True
    python: str = sys.executable
    font_caches: tuple = ()
    support: object = None
    cancel: object = None


@dataclass
class RunOutcome:
    """What one run of a graded notebook produced.

    records: code-cell index -> the plugin's record; answers: file name -> bytes (see the module
    docstring); overrun: the run passed its time limit; ended: how the grading process ended (for
    checks that never ran); memory_peak_mb / oom_kills: what the limits saw (None / 0 when not
    measured); cancelled: stopped by ``options.cancel``; limits: which limits applied, in words.
    """

    records: dict
    answers: dict
    overrun: bool
    ended: str
    memory_peak_mb: object = None
    oom_kills: int = 0
    cancelled: bool = False
    limits: str = ""


def run_graded_notebook(nb, workdir, cases_dir, options):
    """Run one graded notebook with nbval in a fresh sandbox; returns a :class:`RunOutcome`.

    ``workdir`` (created, emptied by the caller) holds what the run needs on the host;
    ``cases_dir`` the check inputs, read-only inside at ``$MHSA_MS_GRADING_CASES`` (None: none).
    """
    import nbformat

    workdir = Path(workdir)
    run_dir = workdir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "graded.ipynb", "w", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    (run_dir / "pytest.ini").write_text("[pytest]\n")
    if cases_dir is None:
        cases_dir = workdir / "cases"
        cases_dir.mkdir(exist_ok=True)
    support = options.support
    if support is None:
        support = sandbox.prepare_support(workdir / "support")
    sandbox.make_readable(run_dir)
    sandbox.make_readable(cases_dir)
    memory = options.memory_mb * 2**20
    cgroup = Cgroup.create(memory) if options.sandbox else None
    try:
        if options.sandbox:
            command, env, cwd = _sandboxed(run_dir, cases_dir, support, options, cgroup)
        else:
            command, env, cwd = _unsandboxed(run_dir, cases_dir, support, options, workdir)
        env["MHSA_MS_GRADE_MEMORY"] = str(memory)
        # RLIMIT_NPROC counts per user namespace: only in the sandbox is it this submission's count
        env["MHSA_MS_GRADE_TASKS"] = str(TASKS if options.sandbox else 0)
        env["MHSA_MS_GRADE_DEADLINE"] = repr(time.time() + options.timeout)
        outcome = _run(command, env, cwd, memory, cgroup, options)
        outcome.limits = cgroup.describe() if cgroup else ("rlimits and a watchdog" if options.sandbox else "rlimits")
    finally:
        if cgroup is not None:
            cgroup.remove()
    return outcome


def _sandboxed(run_dir, cases_dir, support, options, cgroup):
    s = sandbox
    env = _environment(s.SCRATCH, s.PACKAGE, s.PLUGIN, s.CASES, s.ANSWERS)
    mounts = s.allow_list(support, run_dir, cases_dir, options.font_caches)
    command = s.sandboxed_command(mounts, _pytest_argv(options.python, s.WORK), cgroup.procs_files if cgroup else ())
    return command, env, "/"


def _unsandboxed(run_dir, cases_dir, support, options, workdir):
    scratch = workdir / "scratch"
    for name in sandbox.SCRATCH_DIRS + ("answers",):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    for name in ("graded.ipynb", "pytest.ini"):
        shutil.copy(run_dir / name, scratch / "work" / name)
    for cache in options.font_caches:
        shutil.copy(cache, scratch / "cache" / "matplotlib" / Path(cache).name)
    env = _environment(scratch, Path(support) / "package", Path(support) / "plugin", cases_dir, scratch / "answers")
    return _pytest_argv(options.python, str(scratch / "work")), env, str(scratch / "work")


def _environment(scratch, package, plugin, cases, answers):
    """The environment of a graded run: a fixed list (nothing of the grader's), folders under ``scratch``."""
    return sandbox.minimal_env({
        "HOME": f"{scratch}/home", "TMPDIR": f"{scratch}/tmp", "JUPYTER_RUNTIME_DIR": f"{scratch}/runtime",
        "JUPYTER_CONFIG_DIR": f"{scratch}/jupyter", "JUPYTER_DATA_DIR": f"{scratch}/jupyter",
        "IPYTHONDIR": f"{scratch}/ipython", "XDG_CACHE_HOME": f"{scratch}/cache",
        "MPLCONFIGDIR": f"{scratch}/cache/matplotlib", "PYTHONPATH": f"{package}:{plugin}",
        "MHSA_MS_GRADING_CASES": str(cases), "MHSA_MS_GRADING_ANSWERS": str(answers),
        "GLOG_v": "4", "IPYKERNEL_CELL_NAME": "<IPY-INPUT>", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "JUPYTER_PLATFORM_DIRS": "1",
        "MHSA_MS_FAST": os.environ.get("MHSA_MS_FAST", "1"),
    })


def _pytest_argv(python, work):
    return [python, "-m", "pytest", f"{work}/graded.ipynb", "-p", "nbval.plugin", "-p", "nbval_plugin",
            "--nbval-lax", "--nbval-current-env", "-c", f"{work}/pytest.ini", "--rootdir", work,
            "-p", "no:cacheprovider", "-q", "--no-header", "-rN"]


class _BoundedReader(threading.Thread):
    """Reads a pipe to its end; keeps the first ``keep_head`` bytes or the last ``keep_tail``."""

    def __init__(self, fd, keep_head=0, keep_tail=0):
        super().__init__(daemon=True)
        self.fd, self.keep_head, self.keep_tail = fd, keep_head, keep_tail
        self.head, self.tail = bytearray(), bytearray()

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            if len(self.head) < self.keep_head:
                self.head += chunk[: self.keep_head - len(self.head)]
            if self.keep_tail:
                self.tail += chunk
                del self.tail[: max(len(self.tail) - self.keep_tail, 0)]
        os.close(self.fd)


def _run(command, env, cwd, memory, cgroup, options):
    record_read, record_write = os.pipe()
    log_read, log_write = os.pipe()
    env["MHSA_MS_GRADE_FD"] = str(record_write)
    records_reader = _BoundedReader(record_read, keep_head=RECORD_BYTES)
    log_reader = _BoundedReader(log_read, keep_tail=LOG_TAIL)
    try:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log_write,
                                   stderr=log_write, pass_fds=(record_write,), start_new_session=True, cwd=cwd)
    finally:
        os.close(record_write)
        os.close(log_write)
    records_reader.start()
    log_reader.start()

    def kill():  # in the sandbox, its pid namespace ends with bubblewrap; without, the kernel has its own session
        for pid in [process.pid] + descendants(process.pid)[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if cgroup is not None:
            cgroup.kill_all()

    watchdog = None
    if cgroup is None and memory and options.sandbox:
        watchdog = MemoryWatchdog(process.pid, memory, kill)
        watchdog.start()
    deadline = time.monotonic() + options.timeout + KILL_GRACE_S
    overrun = cancelled = False
    while process.poll() is None:
        if options.cancel is not None and options.cancel.is_set():
            cancelled = True
            break
        if time.monotonic() > deadline:
            overrun = True
            break
        try:
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
    kill()
    process.wait()
    if watchdog is not None:
        watchdog.stop()
    for reader in (records_reader, log_reader):
        reader.join(timeout=10)
    if records_reader.is_alive() or log_reader.is_alive():  # a writer escaped the kill: should not happen
        kill()
    records, answers = parse_records(bytes(records_reader.head))
    said = _last_words(bytes(log_reader.tail))
    ended = f"the grading process stopped before this check (exit code {process.returncode})"
    ended += f": {said}" if said else ""
    outcome = RunOutcome(records, answers, overrun, ended, cancelled=cancelled)
    if cgroup is not None:
        peak = cgroup.peak_bytes()
        outcome.memory_peak_mb = None if peak is None else peak / 2**20
        outcome.oom_kills = cgroup.oom_kills()
    elif watchdog is not None:
        outcome.memory_peak_mb = watchdog.peak / 2**20
        if watchdog.exceeded:
            outcome.ended = (f"the submission's processes together passed the memory limit of "
                             f"{options.memory_mb} MiB and were stopped")
    if outcome.oom_kills:
        note = f" (memory limit of {options.memory_mb} MiB reached)"
        for record in records.values():
            if record.get("status") == "crashed" and "SIGKILL" in record.get("message", ""):
                record["message"] += note
        outcome.ended += note
    return outcome


def parse_records(data):
    """(records by cell index, answers by file name) from the plugin's JSON lines, checked again."""
    records, answers, total = {}, {}, 0
    for line in data.split(b"\n"):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("cell"), int) and not isinstance(record.get("cell"), bool):
            records.setdefault(record["cell"], record)
        name, encoded = record.get("answer"), record.get("base64")
        if isinstance(name, str) and isinstance(encoded, str) and ANSWER_NAME.match(name) and name not in answers:
            try:
                content = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(content) <= ANSWER_BYTES and total + len(content) <= ANSWERS_TOTAL:
                answers[name] = content
                total += len(content)
    return records, answers


def _last_words(tail):
    """What pytest said last (setup problems); progress lines of dots carry nothing."""
    lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines()]
    said = [line for line in lines if line and not re.fullmatch(r"[.sxXFE]+( +\[ *\d+%\])?", line)]
    return said[-1] if said else ""
