"""pytest plugin loaded into the nbval run of one graded submission.

``mhsa-ms grade`` copies this file next to the sandbox and runs
``pytest -p nbval_plugin --nbval-lax graded.ipynb``.  It imports nothing from
``mhsa_ms`` (no MindSpore in the grading process) and adds to nbval:

- one time budget for the whole notebook (``MHSA_MS_GRADE_DEADLINE``, a
  ``time.time()`` value): each cell may use what is left, later cells are
  reported ``timeout`` without running;
- quick detection of a dead kernel (``os._exit``, segfault): nbval would wait
  for the whole cell timeout, here the kernel is polled every 0.2 s;
- no cell's outputs are compared: a verdict is never read from what the
  student's kernel prints (the check cells write the answers' results to
  files that the grader's referee judges); each cell only runs, and its
  record says whether it ran, raised, timed out or killed the kernel;
- stream outputs are capped so that a cell printing megabytes stays cheap;
- the memory limit ``MHSA_MS_GRADE_MEMORY`` (bytes, RLIMIT_DATA) is applied
  to the kernel process only;
- one JSON line per code cell is written to the file descriptor named by
  ``MHSA_MS_GRADE_FD`` (inherited from the grader, closed in the kernel).
"""
import ctypes
import json
import os
import sys
import time
from queue import Empty

import pytest
from nbval import kernel as _nbval_kernel
from nbval import plugin as _nbval_plugin

STREAM_CAP = 20_000  # characters kept of one stream message (head and tail)
POLL_S = 0.2

_deadline = float(os.environ.get("MHSA_MS_GRADE_DEADLINE", "inf"))
_memory = int(os.environ.get("MHSA_MS_GRADE_MEMORY", "0"))
_fd = int(os.environ.get("MHSA_MS_GRADE_FD", "-1"))


class KernelDied(RuntimeError):
    """The kernel process exited while (or before) a cell ran."""


def _emit(record):
    if _fd >= 0:
        os.write(_fd, (json.dumps(record) + "\n").encode())


def _kernel_exit(kernel):
    km = getattr(kernel, "km", None)
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "the kernel died"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the kernel died ({name})"
    return f"the kernel died (exit code {code})"


def _await_reply(self, msg_id, timeout=None):
    """nbval's await_reply, polling so that a dead kernel is noticed at once."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = POLL_S if end is None else min(POLL_S, end - time.monotonic())
        if wait <= 0:
            raise Empty
        try:
            msg = self.get_message(stream="shell", timeout=wait)
        except Empty:
            if not self.is_alive():
                raise KernelDied(_kernel_exit(self)) from None
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            if msg["content"]["status"] == "aborted":
                raise RuntimeError("Kernel aborted execution request")
            return


def _cap(text):
    if len(text) <= STREAM_CAP:
        return text
    half = STREAM_CAP // 2
    return text[:half] + "\n[... output cut by the grader ...]\n" + text[-half:]


_original_get_message = _nbval_kernel.RunningKernel.get_message


def _get_message(self, stream, timeout=None):
    msg = _original_get_message(self, stream, timeout=timeout)
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream" and isinstance(content.get("text"), str):
        content["text"] = _cap(content["text"])
    elif msg.get("msg_type") in ("display_data", "execute_result"):
        data = content.get("data", {})
        for key, value in data.items():
            if isinstance(value, str):
                data[key] = _cap(value)
    return msg


def _role(cell):
    meta = cell.metadata.get("mhsa_ms", {})
    return meta.get("role") if isinstance(meta, dict) else None


def _error_line(outputs):
    for out in reversed(outputs or []):
        if out.get("output_type") == "error":
            return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip().rstrip(":")
    return ""


_original_runtest = _nbval_plugin.IPyNbCell.runtest


def _runtest(self):
    meta = self.cell.metadata.get("mhsa_ms", {})
    record = {"cell": self.cell_num, "role": _role(self.cell), "exercise": meta.get("exercise")}
    if time.time() >= _deadline:
        record.update(status="timeout", message="")
        _emit(record)
        pytest.skip("time limit reached")
    kernel = self.parent.kernel
    if kernel is None or not kernel.is_alive():
        record.update(status="crashed", message="the kernel had died in an earlier cell")
        _emit(record)
        raise KernelDied(record["message"])
    self.config.option.nbval_cell_timeout = max(_deadline - time.time(), 0.1)
    self.options["check"] = False
    try:
        _original_runtest(self)
    except KernelDied as exc:
        record.update(status="crashed", message=str(exc))
        raise
    except _nbval_plugin.NbCellError as exc:
        text = str(exc)
        if text.startswith("Timeout") and "waiting for output" in text:
            record.update(status="crashed", message="the kernel stopped responding")
        elif text.startswith("Timeout"):
            record.update(status="timeout", message="")
        else:
            record.update(status="error", message=_error_line(self.test_outputs) or text)
        raise
    except Exception as exc:  # nbval internals: report, never hide
        status = "crashed" if not kernel.is_alive() else "error"
        message = _kernel_exit(kernel) if status == "crashed" else f"{type(exc).__name__}: {exc}"
        record.update(status=status, message=message)
        raise
    else:
        record.update(status="ok", message="")
    finally:
        if "status" in record:
            _emit(record)


def _kernel_spec(self, kernel_name):
    spec = _original_get_kernel_spec(self, kernel_name)
    if _memory > 0:
        limit = (
            "import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_DATA, ({_memory}, {_memory})); "
            "os.execv(sys.argv[1], sys.argv[1:])"
        )
        spec.argv = [sys.executable, "-c", limit] + list(spec.argv)
    return spec


_original_get_kernel_spec = _nbval_kernel.NbvalKernelspecManager.get_kernel_spec


def pytest_configure(config):
    # Keep the learner's kernel (same user) from reading this process's
    # file descriptors and memory through /proc.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except (OSError, AttributeError):
        pass
    _nbval_kernel.RunningKernel.await_reply = _await_reply
    _nbval_kernel.RunningKernel.get_message = _get_message
    _nbval_kernel.NbvalKernelspecManager.get_kernel_spec = _kernel_spec
    _nbval_plugin.IPyNbCell.runtest = _runtest
