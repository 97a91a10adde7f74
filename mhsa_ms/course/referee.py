"""The referee: the process that decides exercise verdicts for ``mhsa-ms grade``.

The grader starts it once per run (``python -m mhsa_ms.course.referee``), as a
trusted process of its own: never in the sandbox, never in a student's kernel,
and never in the grader's own process (which does not load MindSpore).  It
speaks JSON lines, one request on stdin, one reply on stdout::

    {"op": "exercises"}
        -> {"ok": true, "days": {"1": ["1.1", "1.2", "1.3"], ...}}
    {"op": "prepare", "day": 1, "seed": 8513..., "folder": "/tmp/.../cases"}
        -> {"ok": true, "token": "3f9c...", "exercises": ["1.1", "1.2", "1.3"]}
    {"op": "judge", "token": "3f9c...", "folder": "/tmp/.../answers", "language": "zh"}
        -> {"ok": true, "verdicts": {"1.1": {"status": "pass", "message": "正确"}, ...}}

``prepare`` draws the day's check cases from the seed (drawn by the grader at
grading time, never seen by the notebook) and writes, per exercise, the cases
``<id>.npz`` and the plan ``<id>.json`` (answer name, caller, switched-off
functions, each case's argument names) that a graded kernel reads; the
reference's results and the usual mistakes' stay in this process.  ``judge``
reads the ``<id>.npz`` files the kernel wrote as hostile input (no pickle;
names, dtypes, shapes and sizes checked; anything odd is an ``error``
verdict, never a crash) and judges them with :func:`mhsa_ms.course.checks.judge`,
the self-check's own function.  Status per exercise: ``pass``, ``fail``,
``error``, or ``missing`` (no answer file: the grader then reads nbval's
records).  Messages come from the checks' hint texts only, in the ``language`` of the
request (the edition the submission was made from; English when absent).
"""
import json
import os
import re
import secrets
import sys
import zipfile
from pathlib import Path

import numpy as np

from .._checks import check_choice, check_empty_folder, check_int, check_prepared
from ..i18n import gettext as _
from ..i18n import speaking
from . import checks

ANSWER_BYTES = 8 * 2**20  # the most one answer file may hold, packed and unpacked
MESSAGE_CHARS = 300
_KEY = re.compile(r"^(\d+)\.(out\d+|raised|error|forbidden|unusable)$")
_TEXT_KEYS = ("raised", "error", "forbidden", "unusable")


class UnreadableAnswer(ValueError):
    """An answer file that is not what a graded kernel writes."""


def _text(value, key):
    if value.dtype.kind != "U" or value.shape != ():
        raise UnreadableAnswer(f"{key} must be a text, got dtype {value.dtype} shape {value.shape}")
    return str(value)[:MESSAGE_CHARS]


def read_outcomes(path, cases):
    """The outcomes in answer file ``path`` for ``cases`` cases, or raise UnreadableAnswer."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise UnreadableAnswer("not a regular file")
    if path.stat().st_size > ANSWER_BYTES:
        raise UnreadableAnswer(f"larger than {ANSWER_BYTES // 2**20} MiB")
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > ANSWER_BYTES:
                raise UnreadableAnswer(f"unpacks to more than {ANSWER_BYTES // 2**20} MiB")
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except UnreadableAnswer:
        raise
    except Exception as exc:  # not a zip, not .npy members, object arrays (pickle), bad headers, ...
        raise UnreadableAnswer(f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS]) from None
    count = arrays.pop("cases", None)
    if count is None or count.shape != () or count.dtype.kind not in "iu" or int(count) != cases:
        raise UnreadableAnswer(f"it must hold the results of the {cases} check cases")
    outcomes = [{} for _ in range(cases)]
    outputs = [{} for _ in range(cases)]
    for name, value in arrays.items():
        match = _KEY.match(name)
        if match is None or int(match.group(1)) >= cases:
            raise UnreadableAnswer(f"unexpected entry {name[:40]!r}")
        index, key = int(match.group(1)), match.group(2)
        if key in _TEXT_KEYS:
            outcomes[index][key] = _text(value, name)
        elif value.dtype.kind not in "biuf":
            raise UnreadableAnswer(f"{name} must hold numbers, got dtype {value.dtype}")
        else:
            outputs[index][int(key[3:])] = value
    for outcome, found in zip(outcomes, outputs):
        kinds = [key for key in ("raised", "forbidden", "unusable") if key in outcome] + (["outputs"] if found else [])
        if len(kinds) != 1 or sorted(found) != list(range(len(found))):
            raise UnreadableAnswer("each case must hold either results or one reason why not")
        if found:
            outcome["outputs"] = tuple(found[number] for number in range(len(found)))
    return outcomes


def write_cases(folder, check, cases):
    """``<id>.npz`` (case ``i``'s input ``name`` under ``"i.name"``) and the plan ``<id>.json``."""
    arrays = {f"{index}.{name}": value for index, case in enumerate(cases) for name, value in case.items()}
    with open(folder / f"{check.id}.npz", "wb") as handle:
        np.savez(handle, **arrays)
    plan = {"exercise": check.id, "answer": check.answer, "caller": check.caller,
            "forbidden": [list(pair) for pair in check.forbidden], "cases": [list(case) for case in cases]}
    (folder / f"{check.id}.json").write_text(json.dumps(plan), encoding="utf-8")


class Referee:
    """What the referee keeps between ``prepare`` and ``judge``: expectations per token."""

    def __init__(self):
        self._prepared = {}

    def exercises(self):
        days = {}
        for check in checks.all_checks().values():
            days.setdefault(str(check.day), []).append(check.id)
        return {"days": days}

    def prepare(self, day, seed, folder):
        folder = Path(folder)
        check_int("day", day, minimum=0)
        check_int("seed", seed, minimum=0)
        check_empty_folder("folder", folder)
        rng = np.random.default_rng(seed)
        prepared = []
        for check in checks.checks_of_day(day):
            cases = checks.draw_cases(check, rng)
            write_cases(folder, check, cases)
            prepared.append((check, len(cases), checks.expectations(check, cases)))
        token = secrets.token_hex(16)
        self._prepared[token] = prepared
        return {"token": token, "exercises": [check.id for check, _, _ in prepared]}

    def judge(self, token, folder, language="en"):
        with speaking(language):  # checks the language before the token is spent
            prepared = self._prepared.pop(token, None)
            check_prepared(prepared)
            return self._judge(prepared, folder)

    def _judge(self, prepared, folder):
        verdicts = {}
        for check, cases, expectations in prepared:
            path = Path(folder) / f"{check.id}.npz"
            if not path.exists() and not path.is_symlink():
                verdicts[check.id] = {"status": "missing", "message": ""}
                continue
            try:
                outcomes = read_outcomes(path, cases)
            except UnreadableAnswer as exc:
                verdicts[check.id] = {"status": "error",
                                      "message": _("the recorded answer is unreadable: {why}").format(why=exc)}
                continue
            verdict = checks.judge(check, outcomes, expectations)
            verdicts[check.id] = {"status": verdict.status, "message": verdict.message}
        return {"verdicts": verdicts}

    def reply(self, line):
        """The JSON reply to one request line."""
        try:
            request = json.loads(line)
            operation = request.pop("op")
            check_choice("op", operation, ("exercises", "prepare", "judge"))
            reply = getattr(self, operation)(**request)
            reply["ok"] = True
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return json.dumps(reply)


def main():
    """Serve requests until stdin closes; anything else printed goes to stderr, not the replies."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    referee = Referee()
    for line in sys.stdin:
        if line.strip():
            replies.write(referee.reply(line) + "\n")
            replies.flush()


if __name__ == "__main__":
    main()
