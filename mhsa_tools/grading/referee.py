"""The grader's side of the referee, the trusted process that draws check cases and judges answers.

``python -m mhsa_ms.course.referee`` runs beside the grader, once per grading
run: it loads the learner's package and the checks (with their references),
which this process never imports, and no student code ever runs in it.  Each
submission gets cases drawn from a fresh secret seed (:func:`secrets.randbits`),
written into a folder the sandboxed kernel can only read; its answer files
are then judged there.  Requests are serialised: one at a time, any thread.
"""
import json
import os
import secrets
import subprocess
import tempfile
import threading

from .gradebook import short


class RefereeError(RuntimeError):
    """The referee refused a request or stopped."""


class Referee:
    """A running referee process; use as a context manager, or call :meth:`close`."""

    def __init__(self, python):
        self._log = tempfile.TemporaryFile()
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [python, "-m", "mhsa_ms.course.referee"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, env={**os.environ, "GLOG_v": "4"}, start_new_session=True)  # Ctrl-C is the grader's to handle

    def _ask(self, **request):
        with self._lock:
            try:
                self._process.stdin.write(json.dumps(request).encode() + b"\n")
                self._process.stdin.flush()
                line = self._process.stdout.readline()
            except (BrokenPipeError, ValueError):
                line = b""
        if not line:
            self._log.seek(0)
            said = self._log.read()[-2000:].decode("utf-8", "replace")
            raise RefereeError(f"the referee stopped (exit code {self._process.poll()}): {short(said)}")
        reply = json.loads(line)
        if not reply.pop("ok", False):
            raise RefereeError(f"the referee refused {request['op']}: {reply.get('error')}")
        return reply

    def exercises(self):
        """Day -> the ids of its exercises that have a check."""
        return {int(day): ids for day, ids in self._ask(op="exercises")["days"].items()}

    def prepare(self, day, folder):
        """Write the check cases of lesson ``day`` into the empty ``folder``; returns the token to judge with."""
        return self._ask(op="prepare", day=day, seed=secrets.randbits(63), folder=str(folder))["token"]

    def judge(self, token, folder, language="en"):
        """Exercise id -> {"status": pass/fail/error/missing, "message": ...} for the answer files in ``folder``,
        the messages in ``language`` ('zh' or 'en': the edition the submission was made from)."""
        return self._ask(op="judge", token=token, folder=str(folder), language=language)["verdicts"]

    def close(self):
        with self._lock:
            if self._process.stdin and not self._process.stdin.closed:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
