"""The bubblewrap sandbox a submission's kernel runs in."""
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .gradebook import short

SANDBOX_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
WARNING: bubblewrap (bwrap) is not usable here ({why}).
Submissions run WITHOUT isolation: student code can read and write your files
and use the network. Install it (Debian/Ubuntu: apt-get install bubblewrap)
before grading notebooks you do not trust.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


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
                    probe = subprocess.run(sandbox_prefix(scratch, []) + ["true"],
                                           capture_output=True, text=True, timeout=60)
                why = short(probe.stderr) or f"exit code {probe.returncode}"
                _bwrap_state["result"] = (probe.returncode == 0, "" if probe.returncode == 0 else why)
        return _bwrap_state["result"]


_RUNTIME_DIRS = tuple(sorted({sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2])}))


def sandbox_prefix(scratch, readonly_dirs):
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
