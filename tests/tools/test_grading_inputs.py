"""Inputs and outputs an instructor can trust, and grading that stops cleanly.

Most of these need no kernel, hence no bubblewrap: the walk of the submissions folder (links,
duplicates, odd entries), the checks on what comes back from a sandbox, the refusal to grade
without one.  Ctrl-C and SIGTERM of ``mhsa-ms grade`` run for real in a subprocess, sandboxed
(skipped without bubblewrap) and with ``--no-sandbox`` (our own harmless notebooks).
"""
import base64
import copy
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from mhsa_tools import cli, grading, release
from mhsa_tools.grading import execute, sandbox
from mhsa_tools.grading.gradebook import Result, Results, Row
from mhsa_tools.grading.reference_lessons import load_lessons
from mhsa_tools.grading.submissions import find_submissions, read_submission

pytestmark = pytest.mark.usefixtures("fixture_lesson_checks")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "grading_lessons"


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student editions of the fixture lessons."""
    out = tmp_path_factory.mktemp("student")
    release.release(sorted(FIXTURES.glob("*.ipynb")), out)
    return {path.stem: nbformat.read(path, as_version=4) for path in out.glob("*.ipynb")}


def with_answer(nb, exercise, source):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("mhsa_ms", {})
        if meta.get("exercise") == exercise and meta.get("role") == "answer":
            cell.source = source
    return nb


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def test_the_walk_never_follows_a_link_and_names_what_it_skips(tmp_path, student):
    subs = tmp_path / "subs"
    write(student["10_alpha"], subs / "ann" / "10_alpha.ipynb")
    write(student["10_alpha"], subs / "ann" / "old" / "10_alpha.ipynb")  # the same lesson twice
    write(student["11_beta"], subs / "ann" / "my copy.ipynb")  # recognised by its metadata
    write(student["11_beta"], subs / "ann" / "11_beta.ipynb")
    (subs / "ann" / ".ipynb_checkpoints").mkdir()
    (subs / "ann" / "data.csv").write_text("1,2\n")
    (subs / "bob").mkdir()
    (subs / "bob" / "10_alpha.ipynb").symlink_to(FIXTURES / "10_alpha.ipynb")  # the instructor's lesson
    (subs / "bob" / "lessons").symlink_to(FIXTURES)  # a folder link: not walked
    os.mkfifo(subs / "bob" / "11_beta.ipynb")
    (subs / "cy").symlink_to(subs / "ann")  # a classmate's folder
    (subs / ".trash").mkdir()
    (subs / "dee" / "10_alpha.ipynb").mkdir(parents=True)
    (subs / "readme.txt").write_text("x")
    found, skipped = find_submissions(subs, load_lessons(FIXTURES))
    assert [(item.student, "/".join(item.parts), item.lesson and item.lesson.name, item.problem) for item in found] == [
        ("ann", "ann/10_alpha.ipynb", "10_alpha", ""),
        ("ann", "ann/11_beta.ipynb", "11_beta", ""),
        ("bob", "bob/10_alpha.ipynb", "10_alpha",
         "10_alpha.ipynb is a symbolic link (not followed): submit the notebook itself"),
    ]
    assert [(item.path, item.why) for item in skipped] == [
        (".trash", "hidden"),
        ("ann/.ipynb_checkpoints", "hidden"),
        ("ann/data.csv", "not a notebook"),
        ("ann/my copy.ipynb", "a second copy of lesson 11_beta (graded: ann/11_beta.ipynb)"),
        ("ann/old/10_alpha.ipynb", "a second copy of lesson 10_alpha (graded: ann/10_alpha.ipynb)"),
        ("bob/11_beta.ipynb", "not a regular file"),
        ("bob/lessons", f"a symbolic link to {FIXTURES} (not followed)"),
        ("cy", f"a symbolic link to {subs / 'ann'} (not followed)"),
        ("dee/10_alpha.ipynb", "a folder named like a notebook"),
        ("readme.txt", "a loose file: put each student's notebooks in a folder of their own"),
    ]


def test_reading_refuses_links_on_the_way_and_hard_links(tmp_path, student):
    subs = tmp_path / "subs"
    write(student["10_alpha"], subs / "ann" / "sub" / "10_alpha.ipynb")
    assert read_submission(subs, ("ann", "sub", "10_alpha.ipynb")).startswith(b"{")
    (subs / "ann" / "sub").rename(subs / "ann" / "real")
    (subs / "ann" / "sub").symlink_to(subs / "ann" / "real")  # swapped for a link after the walk
    with pytest.raises(ValueError, match="sub is a symbolic link"):
        read_submission(subs, ("ann", "sub", "10_alpha.ipynb"))
    os.link(subs / "ann" / "real" / "10_alpha.ipynb", subs / "ann" / "twin.ipynb")
    with pytest.raises(ValueError, match="2 hard links"):
        read_submission(subs, ("ann", "twin.ipynb"))


def test_answers_and_records_are_checked_again_and_bounded():
    def line(**record):
        return json.dumps(record).encode() + b"\n"

    big = base64.b64encode(b"x" * (execute.ANSWER_BYTES + 1)).decode()
    seven = base64.b64encode(b"y" * (7 << 20)).decode()
    data = b"".join([
        line(cell=3, status="ok"), line(cell=3, status="error"),  # the first record of a cell counts
        line(cell=True, status="ok"), b"not json\n", b"[1, 2]\n",
        line(answer="1.1.npz", base64=base64.b64encode(b"one").decode()),
        line(answer="1.1.npz", base64=base64.b64encode(b"again").decode()),  # the first one counts
        line(answer="../1.2.npz", base64="AAAA"), line(answer="1.2.npy", base64="AAAA"),
        line(answer="1.3.npz", base64="%%%"), line(answer="1.4.npz", base64=big),
        *[line(answer=f"2.{n}.npz", base64=seven) for n in range(5)],  # 35 MiB: the fifth is dropped
    ])
    records, answers = execute.parse_records(data)
    assert records == {3: {"cell": 3, "status": "ok"}}
    assert sorted(answers) == ["1.1.npz", "2.0.npz", "2.1.npz", "2.2.npz", "2.3.npz"]
    assert answers["1.1.npz"] == b"one"
    assert sum(map(len, answers.values())) <= execute.ANSWERS_TOTAL


def test_the_package_copy_leaves_out_checks_referee_and_grading(tmp_path):
    repository = tmp_path / "repo"
    for path in ("mhsa_ms/__init__.py", "mhsa_ms/course/exercises.py", "mhsa_ms/course/referee.py",
                 "mhsa_ms/course/checks/day01.py", "mhsa_tools/msrun.py", "mhsa_tools/grading/__init__.py",
                 "mhsa_tools/slides/deck.py", "mhsa_ms/__pycache__/x.pyc"):
        (repository / path).parent.mkdir(parents=True, exist_ok=True)
        (repository / path).write_text("# x\n")
    support = sandbox.prepare_support(tmp_path / "support", repository)
    copied = sorted(str(path.relative_to(support / "package")) for path in (support / "package").rglob("*.py"))
    assert copied == ["mhsa_ms/__init__.py", "mhsa_ms/course/exercises.py", "mhsa_tools/msrun.py"]
    assert (support / "plugin" / "nbval_plugin.py").is_file()
    assert "student:x:1000:1000" in (support / "etc" / "passwd").read_text()


def test_the_allow_list_shows_no_home_repository_or_submissions(tmp_path):
    support = sandbox.prepare_support(tmp_path / "support")
    mounts = sandbox.allow_list(support, tmp_path / "run", tmp_path / "cases")
    sources = [mount.source for mount in mounts if mount.kind == "ro"]
    assert str(ROOT) not in sources and "/" not in sources and "/home" not in sources and "/root" not in sources
    assert not [source for source in sources if source.startswith(str(ROOT) + "/") and ".venv" not in source]
    writable = {mount.dest: mount.size for mount in mounts if mount.kind == "tmpfs"}
    own_tmp = {"/tmp": sandbox.TMP_MB << 20} if any(path.startswith("/tmp/") for path in sandbox.python_dirs()) else {}
    assert writable == {"/dev/shm": sandbox.SHM_MB << 20, sandbox.SCRATCH: sandbox.SCRATCH_MB << 20,
                        sandbox.ANSWERS: sandbox.ANSWERS_MB << 20, **own_tmp}
    argv = sandbox.bwrap_argv(mounts, ["true"])
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and argv[argv.index("--uid") + 1] == "1000"
    assert argv[argv.index("--remount-ro") + 1] == "/"


def test_a_venv_under_tmp_gets_a_tmp_of_its_own(tmp_path, monkeypatch, system_commands):
    """A checkout (and its .venv) under the host's /tmp: the venv is mounted at its host path, so
    the sandbox's /tmp cannot be the link into scratch; it is a small tmpfs holding that mount."""
    venv = Path(tempfile.mkdtemp(prefix="mhsa-ms-venv-", dir="/tmp"))
    try:
        real = sandbox.python_dirs()
        monkeypatch.setattr(sandbox, "python_dirs", lambda: sorted({*real, str(venv)}))
        support = sandbox.prepare_support(tmp_path / "support")
        mounts = sandbox.allow_list(support, tmp_path / "run", tmp_path / "cases")
        dests = [(mount.kind, mount.dest) for mount in mounts]
        assert ("tmpfs", "/tmp") in dests and not [dest for kind, dest in dests if kind == "symlink" and dest == "/tmp"]
        assert dests.index(("tmpfs", "/tmp")) < dests.index(("ro", str(venv)))
        system_commands("bubblewrap")  # and a real sandbox starts with it (it did not: "Can't make symlink at /tmp")
        assert sandbox._probe(shutil.which("bwrap")) == (True, "")
    finally:
        shutil.rmtree(venv)


def test_csv_cells_never_start_a_formula(tmp_path):
    rows = [Row("=cmd|' -C calc'!A0", "10_alpha", "10.1", 0, 2, "fail", "=HYPERLINK(\"http://x\",\"y\")"),
            Row("+ann", "-x", "@1", 0, 1, "error", "\tx"), Row("bo", "10_alpha", "10.2", 3, 3, "pass", "\rx")]
    grading.write_csv([Result("s", "f.ipynb", rows)], tmp_path / "g.csv")
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as handle:
        cells = [cell for row in list(csv.reader(handle))[1:] for cell in row]
    assert cells == ["'=cmd|' -C calc'!A0", "10_alpha", "10.1", "0", "2", "fail", "'=HYPERLINK(\"http://x\",\"y\")",
                     "'+ann", "'-x", "'@1", "0", "1", "error", "'\tx", "bo", "10_alpha", "10.2", "3", "3", "pass",
                     "'\rx"]


def test_feedback_and_summary_show_text_not_markup(tmp_path):
    name = "<b>ann</b>\x1b[2J"
    rows = [Row(name, "10_alpha", "10.1", 0, 2, "error", "answer cell: <script>alert(1)</script> ![x](http://t/p.png)")]
    results = Results([Result(name, "10_alpha.ipynb", rows)], skipped=[])
    feedback = grading.write_feedback(results, tmp_path)[0].read_text(encoding="utf-8")
    assert "# Feedback for &lt;b&gt;ann&lt;/b&gt;\\\\x1b\\[2J" in feedback  # renders as \x1b[2J
    assert "&lt;script&gt;alert(1)&lt;/script&gt; !\\[x\\](http://t/p.png)" in feedback
    assert "\x1b" not in grading.summary_table(results)


def test_no_sandbox_no_grading_unless_asked(tmp_path, monkeypatch, capsys, student):
    write(student["11_beta"], tmp_path / "subs" / "ann" / "11_beta.ipynb")  # blank: needs no kernel
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no bwrap on PATH
    with pytest.raises(grading.SandboxUnavailable, match=r"apt-get install bubblewrap.*--no-sandbox"):
        grading.grade(tmp_path / "subs", FIXTURES, progress=False)
    grades = tmp_path / "grades.csv"
    assert cli.main(["grade", str(tmp_path / "subs"), "--out", str(grades), "--lessons", str(FIXTURES)]) == 2
    assert "bwrap not found on PATH" in capsys.readouterr().err and not grades.exists()
    assert cli.main(["grade", str(tmp_path / "subs"), "--out", str(grades), "--lessons", str(FIXTURES),
                     "--no-sandbox"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: grading WITHOUT a sandbox" in captured.err and "NOT sandboxed" in captured.out
    assert grades.exists()


# ----------------------------------------------------------------------------
# Ctrl-C and SIGTERM of `mhsa-ms grade`

LOOP = "import time\nwhile True:\n    time.sleep(0.1)\n"


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("isolation", ["sandbox", "no-sandbox"])
def test_interrupt_stops_at_once_and_writes_what_was_graded(tmp_path, student, how, isolation, system_commands):
    import psutil

    if isolation == "sandbox":  # skipped without bubblewrap, naming it
        system_commands("bubblewrap")
        assert sandbox.sandbox_available() == (True, ""), "bubblewrap is installed but cannot create a sandbox here"
    subs = tmp_path / "subs"
    right = nbformat.read(FIXTURES / "11_beta.ipynb", as_version=4)
    answer = next(cell.source for cell in right.cells if cell.metadata.get("mhsa_ms", {}).get("role") == "answer")
    write(with_answer(student["11_beta"], "11.1", answer), subs / "a_first" / "11_beta.ipynb")
    for name in ("b_loop", "c_queued", "d_queued"):
        write(with_answer(student["11_beta"], "11.1", LOOP), subs / name / "11_beta.ipynb")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    grades = tmp_path / "out" / "grades.csv"
    grades.parent.mkdir()
    command = [sys.executable, "-m", "mhsa_tools", "grade", str(subs), "--out", str(grades), "--lessons",
               str(FIXTURES), "--timeout", "300"] + (["--no-sandbox"] if isolation == "no-sandbox" else [])
    # Started with SIGINT ignored, as a shell without job control starts a background job (`cmd &`,
    # a CI runner): Ctrl-C must stop grading all the same.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    os.set_blocking(process.stderr.fileno(), False)
    err, seen, deadline = b"", set(), time.monotonic() + 240
    while b"1/4" not in err and time.monotonic() < deadline and process.poll() is None:
        err += process.stderr.read() or b""
        seen |= {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
        time.sleep(0.2)
    assert b"1/4" in err, err.decode(errors="replace")
    time.sleep(3)  # the loop is running now
    seen |= {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
    sent = time.monotonic()
    process.send_signal(getattr(signal, how))
    out, rest = process.communicate(timeout=60)
    stopped_in = time.monotonic() - sent
    assert process.returncode == (130 if how == "SIGINT" else 143), (out + err + rest).decode(errors="replace")
    assert stopped_in < 20, stopped_in
    with open(grades, newline="") as handle:
        rows = [tuple(row[:6]) for row in csv.reader(handle)][1:]
    assert rows == [("a_first", "11_beta", "11.1", "1", "1", "pass")] + [
        (name, "11_beta", "11.1", "0", "1", "interrupted") for name in ("b_loop", "c_queued", "d_queued")]
    assert f"INTERRUPTED by {'Ctrl-C' if how == 'SIGINT' else 'SIGTERM'}: 3 notebook(s) not graded" in rest.decode()
    assert list(temp.iterdir()) == []  # temp files removed
    time.sleep(1)
    assert not [pid for pid in seen if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not re.search(r"^\s*c_queued\s+1/1", out.decode(), re.MULTILINE)


def test_what_a_killed_grader_left_is_removed_by_the_next(tmp_path, monkeypatch):
    import tempfile

    from mhsa_tools.grading import limits

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = 2**22 + 17  # above pid_max's default: no such process
    (tmp_path / f"{grading.TEMP_PREFIX}{dead}-abc" / "job0").mkdir(parents=True)
    (tmp_path / f"{grading.TEMP_PREFIX}{os.getpid()}-def").mkdir()  # a live grader's: kept
    (tmp_path / "mhsa-ms-grade-notes").mkdir()  # not one of ours: kept
    grading.remove_stale_temp()
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{grading.TEMP_PREFIX}{os.getpid()}-def",
                                                                 "mhsa-ms-grade-notes"]
    cgroup = limits.Cgroup.create(1 << 30)
    if cgroup is None:
        pytest.skip("no writable cgroup here (not root): nothing of a dead grader to remove")
    stale = [os.path.join(os.path.dirname(folder), f"{limits.PREFIX}-{dead}-1") for folder in cgroup.dirs]
    cgroup.remove()
    for folder in stale:
        os.mkdir(folder)
    limits.remove_stale_cgroups()
    assert not [folder for folder in stale if os.path.exists(folder)]
