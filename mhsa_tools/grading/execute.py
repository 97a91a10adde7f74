"""Executing one graded notebook with nbval, in the sandbox, under a time and memory limit."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .sandbox import sandbox_prefix


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
    argv = [options.python, "-m", "pytest", "graded.ipynb", "-p", "nbval.plugin", "-p", "nbval_plugin",
            "--nbval-lax", "--nbval-current-env", "-c", "pytest.ini", "--rootdir", str(scratch),
            "-p", "no:cacheprovider", "-q", "--no-header", "-rN"]
    if options.sandbox:
        argv = sandbox_prefix(scratch, [plugin_dir]) + argv
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
