"""Hostile students, graded for real: every attack runs inside a graded notebook, in the sandbox.

One folder of submissions holds an honest student and one student per attack (see
hostile_cells.py), plus the path tricks (links, duplicates, hidden and odd entries) and names and
messages made to run in a spreadsheet, render as HTML or drive a terminal.  They are graded once,
two at a time, with a 4 GiB memory limit per submission; the tests then check that no attack
earned a point, that nothing changed (every input byte-identical, the venv untouched, nothing
left running, no cgroup or temp folder left), and what the limits let each hog reach.

Run as root (as CI does) the sandbox is nobody on the host with a cgroup; run as another user it
is that user with rlimits and a watchdog: the same assertions hold (docs/grading-sandbox.md).
"""
import copy
import csv
import glob
import hashlib
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from mhsa_tools import grading, release
from mhsa_tools.grading import execute, limits, sandbox

pytestmark = pytest.mark.usefixtures("fixture_lesson_checks")  # tests/conftest.py

sys.path.insert(0, str(Path(__file__).parent))
import hostile_cells  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "grading_lessons"
TIMEOUT = 120
MEMORY_MB = 4096
FORMULA_NAME = "=cmd|' -C calc'!A0"
ANSI_NAME = "h_\x1b[31mred\x1b]0;pwned\x07"



@pytest.fixture(scope="module", autouse=True)
def usable_sandbox(system_commands):
    """Every test here needs the sandbox: skipped without bubblewrap, naming it and its install command."""
    system_commands("bubblewrap")
    assert sandbox.sandbox_available() == (True, ""), "bubblewrap is installed but cannot create a sandbox here"


def digest_tree(root):
    """Relative path -> sha256 of each file, or -> 'link:<target>' / 'dir', never following a link."""
    found = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, root)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[key] = "link:" + os.readlink(path)
            elif stat.S_ISDIR(mode):
                found[key] = "dir"
            else:
                with open(path, "rb") as handle:
                    found[key] = hashlib.sha256(handle.read()).hexdigest()
    return found


def cell_of(nb, exercise, role):
    return next(cell for cell in nb.cells if cell.metadata.get("mhsa_ms", {}).get("exercise") == exercise
                and cell.metadata["mhsa_ms"]["role"] == role)


def with_answers(student_nb, answers):
    nb = copy.deepcopy(student_nb)
    for exercise, source in answers.items():
        cell_of(nb, exercise, "answer").source = source
    return nb


def solution(exercise):
    lesson = nbformat.read(FIXTURES / "10_alpha.ipynb", as_version=4)
    return cell_of(lesson, exercise, "answer").source


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def descendants():
    """Pids of every process below this one (to prove none outlives grading)."""
    import psutil

    return {child.pid for child in psutil.Process().children(recursive=True)}


class Listeners:
    """A TCP listener on the host's loopback and an abstract unix socket, counting connections."""

    def __init__(self):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.unix = socket.socket(socket.AF_UNIX)
        self.abstract = f"\0mhsa-ms-test-{os.getpid()}"
        self.unix.bind(self.abstract)
        self.unix.listen()
        self.connections = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, args=(sock,), daemon=True)
                        for sock in (self.tcp, self.unix)]
        for sock in (self.tcp, self.unix):
            sock.settimeout(0.2)
        for thread in self.threads:
            thread.start()

    def _accept(self, sock):
        while not self.stop.is_set():
            try:
                self.connections.append(sock.accept())
            except OSError:
                pass

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.tcp.close()
        self.unix.close()


def skeleton():
    """Folder -> names the sandbox creates in it on the way to what it shows (e.g. /root/.pyenv
    when Python lives in /root/.pyenv): seeing these is not seeing the host's folder."""
    support = Path(tempfile.mkdtemp())
    found = {}
    for mount in sandbox.allow_list(support, support, support):
        parts = Path(mount.dest).parts
        for depth in range(1, len(parts)):
            found.setdefault(str(Path(*parts[:depth])), set()).add(parts[depth])
    os.rmdir(support)
    return {folder: sorted(names) for folder, names in found.items()}


def venv_state():
    """Names and sizes in the venv's site-packages (a .pth dropped there would run everywhere later)."""
    site = glob.glob(f"{sys.prefix}/lib/python3*/site-packages")[0]
    return {entry.name: entry.stat(follow_symlinks=False).st_size for entry in os.scandir(site)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, usable_sandbox):
    tmp = tmp_path_factory.mktemp("hostile")
    lessons = tmp / "lessons"
    lessons.mkdir()
    for path in FIXTURES.glob("*.ipynb"):
        (lessons / path.name).write_bytes(path.read_bytes())
    release.release(sorted(lessons.glob("*.ipynb")), tmp / "student")
    alpha = nbformat.read(tmp / "student" / "10_alpha.ipynb", as_version=4)
    subs = tmp / "submissions"
    victim, grades = tmp / "victim.txt", tmp / "grades.csv"
    victim.write_text("precious")
    listeners = Listeners()
    right = {exercise: solution(exercise) for exercise in ("10.1", "10.2", "10.3")}
    write(with_answers(alpha, right), subs / "s01_correct" / "10_alpha.ipynb")
    classmate = subs / "s01_correct" / "10_alpha.ipynb"
    targets = {
        "lesson": str(lessons / "10_alpha.ipynb"), "lessons dir": str(lessons), "classmate": str(classmate),
        "submissions": str(subs), "repository": str(ROOT / "tests" / "fixtures" / "grading_lessons" / "10_alpha.ipynb"),
        "repo lessons": str(ROOT / "lessons"), "home": str(Path.home()), "homes": "/home", "root": "/root",
        "victim": str(victim),
    }
    values = {"targets": targets, "port": listeners.tcp.getsockname()[1], "abstract": listeners.abstract,
              "skeleton": skeleton()}
    attacks = ("remount", "read", "forge", "shm", "disk", "memory", "forkbomb", "network")
    for attack in attacks:
        write(with_answers(alpha, {"10.1": hostile_cells.cell(attack, **values)}),
              subs / f"h_{attack}" / "10_alpha.ipynb")
    write_targets = {"classmate": str(classmate), "lesson": str(lessons / "10_alpha.ipynb"), "victim": str(victim),
                     "grades": str(grades)}
    write(with_answers(alpha, {"10.1": hostile_cells.cell("write", targets=write_targets)}),
          subs / "h_write" / "10_alpha.ipynb")
    # names and messages for a spreadsheet, a browser, a terminal
    text = hostile_cells.ATTACKS["text"].strip().splitlines()
    write(with_answers(alpha, {
        "10.1": 'def add(a, b):\n    print(\'Exercise 10.1: =HYPERLINK("http://evil.example","x")\')\n    return 0\n',
        "10.2": "\n".join(text) + "\nraise RuntimeError(measured)\n",
    }), subs / FORMULA_NAME / "10_alpha.ipynb")
    write(with_answers(alpha, {"10.1": right["10.1"]}), subs / ANSI_NAME / "10_alpha.ipynb")
    # path tricks
    (subs / "h_link_lesson").mkdir()
    (subs / "h_link_lesson" / "10_alpha.ipynb").symlink_to(lessons / "10_alpha.ipynb")
    (subs / "h_link_folder").symlink_to(subs / "s01_correct")
    (subs / "h_hardlink").mkdir()
    os.link(lessons / "11_beta.ipynb", subs / "h_hardlink" / "11_beta.ipynb")
    write(with_answers(alpha, {"10.1": "def add(a, b):\n    return a - b\n"}), subs / "h_dup" / "10_alpha.ipynb")
    write(with_answers(alpha, right), subs / "h_dup" / "old" / "10_alpha.ipynb")
    write(with_answers(alpha, right), subs / ".hidden_student" / "10_alpha.ipynb")
    (subs / "h_dir" / "10_alpha.ipynb").mkdir(parents=True)
    (subs / "notes.txt").write_text("a loose file")
    before = {"submissions": digest_tree(subs), "lessons": digest_tree(lessons), "fixtures": digest_tree(FIXTURES),
              "venv": venv_state()}
    started = time.monotonic()
    running = set()
    watcher_stop = threading.Event()

    def watch():  # every process grading starts, to check that none is left
        while not watcher_stop.wait(0.5):
            running.update(descendants())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    results = grading.grade(subs, lessons, timeout=TIMEOUT, jobs=2, memory_mb=MEMORY_MB, progress=False)
    seconds = time.monotonic() - started
    watcher_stop.set()
    watcher.join()
    listeners.close()
    out = tmp / "out"
    out.mkdir()
    grading.write_csv(results, out / "grades.csv")
    grading.write_feedback(results, out / "feedback")
    rows = {(row.student, row.exercise): row for result in results for row in result.rows}
    return {"results": results, "rows": rows, "before": before, "subs": subs, "lessons": lessons, "victim": victim,
            "grades": grades, "connections": listeners.connections, "out": out, "seconds": seconds,
            "running": running}


def measured(row):
    found = re.search(r"blocked: (.*)$", row.message)
    return found.group(1) if found else row.message


def report(hostile, attack):
    row = hostile["rows"][(f"h_{attack}", "10.1")]
    print(f"{attack}: {row.status}: {measured(row)}")
    return row


@pytest.mark.parametrize("attack", ["remount", "read", "write", "forge", "network", "shm", "disk", "forkbomb",
                                    "memory"])
def test_no_attack_earns_a_point(hostile, attack):
    rows = [row for (student, _), row in hostile["rows"].items() if student == f"h_{attack}"]
    assert [row.exercise for row in rows] == ["10.1", "10.2", "10.3"]
    assert not [row for row in rows if row.points], rows
    row = report(hostile, attack)
    if attack in ("memory", "forkbomb"):  # the OOM killer or the watchdog may end the kernel itself
        assert row.status in ("error", "crashed"), row
    else:
        assert row.status == "error" and row.message.startswith("answer cell: RuntimeError: blocked: "), row
    # forged records would make these pass; a hog the watchdog stops ends the whole notebook
    assert all(row.status == "fail" or (attack in ("memory", "forkbomb") and row.status == "crashed")
               for row in rows[1:]), rows


def test_what_each_attack_reached(hostile):
    got = {attack: measured(hostile["rows"][(f"h_{attack}", "10.1")])
           for attack in ("remount", "read", "write", "network", "shm", "disk", "forkbomb", "forge")}
    assert "OK" not in got["remount"] and "OK" not in got["read"] and "OK" not in got["write"], got
    assert "OK" not in got["network"], got
    assert "solutions_visible=0" in got["read"], got
    assert "ptrace=" in got["forge"] and "ptrace=OK" not in got["forge"] and "mem=OK" not in got["forge"], got
    assert "environ fd=" in got["forge"] and "environ fd=OK" not in got["forge"], got
    shm = int(re.search(r"reached=(\d+)MiB", got["shm"]).group(1))
    assert shm <= sandbox.SHM_MB, got["shm"]
    disk = int(re.search(r"reached=(\d+)MiB", got["disk"]).group(1))
    assert disk <= sandbox.SCRATCH_MB, got["disk"]
    forkbomb = hostile["rows"][("h_forkbomb", "10.1")]
    if forkbomb.status == "error":
        most = int(re.search(r"processes_at_once=(\d+)", got["forkbomb"]).group(1))
        assert most <= limits.TASKS, got["forkbomb"]


def test_memory_limit_covers_children(hostile):
    row = hostile["rows"][("h_memory", "10.1")]
    if row.status == "error":  # some children were killed: together they never held 7.5 GiB
        reached = re.search(r"children_MiB=\[([\d, ]+)\] exit=\[([-\d, ]+)\]", row.message)
        assert reached, row
        codes = [int(code) for code in reached.group(2).split(",")]
        assert any(code != 0 for code in codes), row
    else:
        assert row.status == "crashed", row


def test_an_honest_student_beside_the_attacks_is_not_harmed(hostile):
    rows = [row for (student, _), row in hostile["rows"].items() if student == "s01_correct"]
    assert [(row.exercise, row.status, row.points) for row in rows] == [("10.1", "pass", 2), ("10.2", "pass", 3),
                                                                        ("10.3", "pass", 1)]


def test_every_input_is_unchanged_and_nothing_is_left(hostile):
    after = {"submissions": digest_tree(hostile["subs"]), "lessons": digest_tree(hostile["lessons"]),
             "fixtures": digest_tree(FIXTURES), "venv": venv_state()}
    assert after == hostile["before"]
    assert hostile["victim"].read_text() == "precious"
    assert not hostile["grades"].exists()
    assert hostile["connections"] == []
    assert not [pid for pid in hostile["running"] if Path(f"/proc/{pid}").exists() and _alive(pid)]
    assert not glob.glob(os.path.join(tempfile.gettempdir(), f"{grading.TEMP_PREFIX}{os.getpid()}-*"))
    for parent in [limits._v2_parents()] + list((limits._v1_parents() or {}).values()):
        if parent:
            assert not glob.glob(os.path.join(parent, f"{limits.PREFIX}-{os.getpid()}-*"))


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_links_duplicates_and_odd_entries(hostile):
    rows = hostile["rows"]
    link = [row for (student, _), row in rows.items() if student == "h_link_lesson"]
    assert [(row.status, row.points) for row in link] == [("unreadable", 0)] * 3
    assert "symbolic link" in link[0].message
    hard = [row for (student, _), row in rows.items() if student == "h_hardlink"]
    assert [(row.status, row.points) for row in hard] == [("unreadable", 0)] and "hard links" in hard[0].message
    assert not [key for key in rows if key[0] in ("h_link_folder", ".hidden_student", "h_dir")]
    dup = [row for (student, _), row in rows.items() if student == "h_dup"]
    assert [row.exercise for row in dup] == ["10.1", "10.2", "10.3"]  # one row per student x lesson x exercise
    assert dup[0].status == "fail"  # the copy in the student's folder, not old/
    skipped = {item.path: item.why for item in hostile["results"].skipped}
    assert skipped["h_link_folder"].startswith("a symbolic link to ")
    assert skipped[".hidden_student"] == "hidden"
    assert skipped["h_dir/10_alpha.ipynb"] == "a folder named like a notebook"
    assert skipped["notes.txt"].startswith("a loose file")
    assert skipped["h_dup/old/10_alpha.ipynb"] == "a second copy of lesson 10_alpha (graded: h_dup/10_alpha.ipynb)"
    summary = grading.summary_table(hostile["results"])
    for path in skipped:
        assert path in summary


def test_outputs_are_safe_for_spreadsheets_browsers_and_terminals(hostile):
    with open(hostile["out"] / "grades.csv", newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'" + FORMULA_NAME in cells
    # the verdict it printed is never read: the referee's message stands, not the student's text
    formula_rows = [row for result in hostile["results"] for row in result.rows if row.student == FORMULA_NAME]
    assert [row.status for row in formula_rows if row.exercise == "10.1"] == ["fail"]
    assert not any(cell.lstrip("'").startswith("=HYPERLINK") for cell in cells)  # its printed "verdict"
    files = {path.name: path.read_text(encoding="utf-8") for path in (hostile["out"] / "feedback").iterdir()}
    assert not [name for name, text in files.items() if "\x1b" in text or "\x07" in text or "<img" in text]
    feedback = "".join(files.values())
    assert "&lt;img src=x onerror=alert(1)&gt;" in feedback and "\\\\x1b\\]0;pwned\\\\x07" in feedback
    assert "\\[click\\](http://evil.example)" in feedback and "a\\|b" in feedback and "\u202e" not in feedback
    summary = grading.summary_table(hostile["results"])
    assert "\x1b" not in summary and "\x07" not in summary and "h_\\x1b[31mred" in summary


def test_grading_time(hostile):
    """Not a speed test (shared machine): prints what grading these notebooks took."""
    seconds = {result.student: round(result.seconds, 1) for result in hostile["results"]}
    print(f"graded {len(hostile['results'])} notebooks in {hostile['seconds']:.0f} s (2 jobs): {seconds}")
    assert hostile["seconds"] > 0


# ----------------------------------------------------------------------------
# One sandbox run, looked at from inside: the view of the package, cases and answers.

VIEW = '''
import importlib.util, os, stat, sys
import mhsa_ms
assert mhsa_ms.__file__ == "/grading/package/mhsa_ms/__init__.py", mhsa_ms.__file__
assert importlib.util.find_spec("mhsa_tools.grading") is None  # the grader's code is not there
assert importlib.util.find_spec("mhsa_ms.course.checks") is None  # nor the references of the checks
assert importlib.util.find_spec("mhsa_ms.course.referee") is None  # nor the referee
assert importlib.util.find_spec("mhsa_tools.msrun") is not None  # what lesson 8 runs is
for name in ("mhsa_ms", "mhsa_tools", "lessons", "tests", ".git", "README.md"):  # the venv may live there: only it
    assert not os.path.exists(os.path.join(@REPOSITORY@, name)), name
for finder in sys.meta_path:  # the venv's editable install points at the repository: not visible
    for path in getattr(sys.modules.get(finder.__module__), "MAPPING", {}).values():
        assert not os.path.exists(path), path
assert os.getuid() == 1000 and set(os.getgroups()) <= {1000, 65534}  # no group of the host's but its own
'''

CASES = '''
import os

cases, answers = os.environ["MHSA_MS_GRADING_CASES"], os.environ["MHSA_MS_GRADING_ANSWERS"]
assert open(os.path.join(cases, "input.txt")).read() == "21"
try:
    open(os.path.join(cases, "input.txt"), "w")
except OSError:
    pass
else:
    raise AssertionError("the cases are writable")
assert os.listdir(answers) == []
open(os.path.join(answers, "10.1.npz"), "wb").write(b"answer:" + open(os.path.join(cases, "input.txt"), "rb").read())
with open(os.path.join(answers, "10.2.npz"), "wb") as handle:        # 9 MiB (sparse): too large, dropped
    handle.truncate(9 << 20)
os.symlink("/etc/passwd", os.path.join(answers, "10.3.npz"))            # a link: dropped
os.mkfifo(os.path.join(answers, "10.4.npz"))                            # not a file: dropped
os.mkdir(os.path.join(answers, "10.5.npz"))                             # a folder: dropped
open(os.path.join(answers, "notes.npz"), "wb").write(b"x")              # not an answer name: dropped
for n in range(6, 10):  # 4 x 8 MiB (sparse files): with 10.1, the last one passes 32 MiB in all
    with open(os.path.join(answers, f"10.{n}.npz"), "wb") as handle:
        handle.truncate(8 << 20)
'''


def test_package_view_cases_and_answers(tmp_path):
    cells = [VIEW.replace("@REPOSITORY@", repr(str(ROOT))), CASES]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "input.txt").write_text("21")
    options = execute.GradeOptions(timeout=120, memory_mb=2048)
    outcome = execute.run_graded_notebook(nb, tmp_path / "job", cases, options)
    assert [outcome.records[index]["status"] for index in (0, 1)] == ["ok", "ok"], \
        [outcome.records[index].get("message") for index in (0, 1)]
    assert sorted(outcome.answers) == ["10.1.npz", "10.6.npz", "10.7.npz", "10.8.npz"]  # 9 MiB 10.2 dropped
    assert outcome.answers["10.1.npz"] == b"answer:21"
    assert sum(map(len, outcome.answers.values())) <= execute.ANSWERS_TOTAL
    assert (cases / "input.txt").read_text() == "21"


def test_sandboxed_processes_are_nobody_on_the_host_as_root(tmp_path):
    """As root, what runs in the sandbox is uid/gid 65534 on the host, with no groups."""
    if os.geteuid() != 0:
        pytest.skip("the grader is not root here: the sandbox is the grader's own user")
    command = sandbox.sandboxed_command(sandbox.allow_list(*_bare(tmp_path / "a")),
                                        ["/bin/sh", "-c", "cat /proc/self/status"])
    status = subprocess.run(command, capture_output=True, text=True, env=sandbox.minimal_env({}), timeout=60).stdout
    assert re.search(r"^Uid:\s+1000\s", status, re.MULTILINE) and re.search(r"^CapEff:\s+0+$", status, re.MULTILINE)
    probe = subprocess.Popen(sandbox.sandboxed_command(sandbox.allow_list(*_bare(tmp_path / "b")), ["sleep", "30"]),
                             env=sandbox.minimal_env({}))
    try:
        import psutil

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sleepers = [process for process in psutil.Process(probe.pid).children(recursive=True)
                        if process.name() == "sleep"]
            if sleepers:
                break
            time.sleep(0.1)
        uids, gids = sleepers[0].uids(), sleepers[0].gids()
        assert set(uids) == {sandbox.NOBODY_UID} and set(gids) == {sandbox.NOBODY_GID}
        assert Path(f"/proc/{sleepers[0].pid}/status").read_text().split("Groups:")[1].split("\n")[0].strip() == ""
    finally:
        probe.kill()
        probe.wait()


def _bare(tmp_path):
    tmp_path.mkdir()
    support = sandbox.prepare_support(tmp_path / "support")
    run_dir, cases = tmp_path / "run", tmp_path / "cases"
    run_dir.mkdir()
    cases.mkdir()
    for name in ("graded.ipynb", "pytest.ini"):
        (run_dir / name).write_text("")
    sandbox.make_readable(run_dir)
    sandbox.make_readable(cases)
    return support, run_dir, cases
