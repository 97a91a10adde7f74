"""End to end: release the lessons, build a folder of real-life and hostile submissions, grade it.

The hostile cases run against two tiny fixture lessons (tests/fixtures/grading_lessons, days 10
and 11, same exercise convention as the course lessons) so that grading a dozen notebooks stays
fast; the release is also checked on every course lesson.
"""
import copy
import csv
import hashlib
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from mhsa_tools import cli, grading, notebooks, release
from mhsa_tools.grading import gradebook

pytestmark = pytest.mark.usefixtures("fixture_lesson_checks")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "grading_lessons"
# Seconds per submission in the graded run: long enough that an honest notebook (or the memory
# hog's MemoryError) finishes on a machine whose cores are busy with other work (seen at load 16:
# 60 s turned the memory hog's verdict into a timeout), so only the endless loops reach it.
TIMEOUT = 120
MEMORY_MB = 3072


def digest_tree(root):
    """Path -> sha256 of every file under root (to prove nothing changed)."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(Path(root).rglob("*")) if path.is_file()}


def cell_of(nb, exercise, role):
    for cell in nb.cells:
        if cell.metadata.get("mhsa_ms", {}).get("exercise") == exercise and \
                cell.metadata["mhsa_ms"]["role"] == role:
            return cell
    raise KeyError((exercise, role))


def with_answers(student_nb, answers):
    """A copy of a student edition with the given answer-cell sources."""
    nb = copy.deepcopy(student_nb)
    for exercise, source in answers.items():
        cell_of(nb, exercise, "answer").source = source
    return nb


def solution(exercise):
    """The reference answer cell of a fixture exercise."""
    day = exercise.split(".")[0]
    lesson = next(FIXTURES.glob(f"{day}_*.ipynb"))
    return cell_of(nbformat.read(lesson, as_version=4), exercise, "answer").source


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


# ----------------------------------------------------------------------------
# release

def test_student_edition_stubs_solutions_and_keeps_everything_else(tmp_path):
    before = digest_tree(FIXTURES)
    written = release.release(sorted(FIXTURES.glob("*.ipynb")), tmp_path / "student")
    assert [path.name for path in written] == ["10_alpha.ipynb", "11_beta.ipynb"]
    assert digest_tree(FIXTURES) == before
    reference = nbformat.read(FIXTURES / "10_alpha.ipynb", as_version=4)
    student = nbformat.read(written[0], as_version=4)
    assert len(student.cells) == len(reference.cells)
    assert cell_of(student, "10.3", "answer").source == (
        'def count_heads(d_model, d_head):\n'
        '    """h = D / d_h; ValueError when d_head does not divide d_model."""\n'
        '    raise NotImplementedError("exercise 10.3")\n')
    for ref, new in zip(reference.cells, student.cells):
        role = ref.metadata.get("mhsa_ms", {}).get("role")
        if role == "answer":
            assert "BEGIN SOLUTION" not in new.source and new.outputs == []
        else:
            assert new.source == ref.source  # check cells and the rest kept as they are
            if role is None and ref.cell_type == "code":
                assert new.outputs == ref.outputs
    assert student.metadata["mhsa_ms"] == {"day": 10, "title": "Grading fixture alpha", "edition": "student"}


def test_release_refuses_to_overwrite_a_lesson_and_bad_markers(tmp_path):
    with pytest.raises(ValueError, match="would overwrite"):
        release.release([FIXTURES / "10_alpha.ipynb"], FIXTURES)
    with pytest.raises(ValueError, match="without"):
        notebooks.strip_solutions("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "1.1")
    nb = nbformat.read(FIXTURES / "11_beta.ipynb", as_version=4)
    top_level = copy.deepcopy(nb)
    top_level.cells[2].source = "### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION\n"
    with pytest.raises(ValueError, match="inside a function body"):
        release.student_edition(top_level)
    del nb.cells[2].metadata["mhsa_ms"]
    with pytest.raises(ValueError, match="not an answer cell"):
        release.student_edition(nb)


@pytest.mark.parametrize("edition", ["en", "zh"])
def test_release_every_course_lesson(tmp_path, edition):
    lessons = sorted((ROOT / "lessons" / edition).glob("[0-9][0-9]_*.ipynb"))
    assert lessons, f"no course lessons found in lessons/{edition}"
    before = digest_tree(ROOT / "lessons")
    written = release.release(lessons, tmp_path / edition)
    assert digest_tree(ROOT / "lessons") == before
    for source, path in zip(lessons, written):
        assert nbformat.read(path, as_version=4).metadata["mhsa_ms"]["language"] == edition
        text = path.read_text()
        assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text, path.name
        exercises = [cell.metadata["mhsa_ms"]["exercise"] for cell in nbformat.read(source, as_version=4).cells
                     if cell.metadata.get("mhsa_ms", {}).get("role") == "answer"]
        for exercise in exercises:
            assert f'raise NotImplementedError(\\"exercise {exercise}\\")' in text, (path.name, exercise)


# ----------------------------------------------------------------------------
# grading

HOSTILE = '''import os, pathlib, shutil, socket
for attempt in (lambda: pathlib.Path({victim!r}).write_text("owned"),
                lambda: os.remove({victim!r}),
                lambda: os.remove({other!r}),
                lambda: shutil.rmtree({lessons!r}),
                lambda: pathlib.Path({grades!r}).write_text("student,lesson\\n"),
                lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2),
                lambda: socket.create_connection(("1.1.1.1", 80), timeout=2)):
    try:
        attempt()
        print("attack worked")
    except OSError as exc:
        print("blocked:", type(exc).__name__)
'''


def build_submissions(root, student_dir, victim, grades, lessons, port):
    alpha = nbformat.read(student_dir / "10_alpha.ipynb", as_version=4)
    beta = nbformat.read(student_dir / "11_beta.ipynb", as_version=4)
    right = {exercise: solution(exercise) for exercise in ("10.1", "10.2", "10.3")}
    write(with_answers(alpha, right), root / "s01_correct" / "10_alpha.ipynb")
    write(with_answers(beta, {"11.1": solution("11.1")}), root / "s01_correct" / "11_beta.ipynb")
    write(alpha, root / "s02_blank" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": right["10.1"],
        "10.2": "def row_softmax(x):\n    return np.exp(x)\n",
        "10.3": "def count_heads(d_model, d_head):\n    return d_model / d_head + None\n",
    }), root / "s03_partial" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": right["10.1"],
        "10.2": "def row_softmax(x):\n    while True:\n        pass\n",
        "10.3": right["10.3"],
    }), root / "s04_loop" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": right["10.1"], "10.2": right["10.2"],
        "10.3": "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n"
                "        pass\n" + right["10.3"],
    }), root / "s05_stubborn_loop" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": right["10.1"], "10.2": "import os\nos._exit(3)\n" + right["10.2"], "10.3": right["10.3"],
    }), root / "s06_exit" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": "import ctypes\n\ndef add(a, b):\n    return ctypes.string_at(0)\n",
        "10.2": right["10.2"], "10.3": right["10.3"],
    }), root / "s07_segfault" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": "print('x' * 20_000_000)\nfor i in range(200_000):\n    print(i)\n" + right["10.1"],
        "10.2": right["10.2"].replace('    """', '    print("y" * 5_000_000)\n    """', 1),
        "10.3": right["10.3"],
    }), root / "s08_huge_output" / "10_alpha.ipynb")
    write(with_answers(alpha, {
        "10.1": "hog = bytearray(6 * 2**30)\n" + right["10.1"],
        "10.2": "def row_softmax(x):\n    hog = [bytearray(2**28) for _ in range(40)]\n    return hog\n",
        "10.3": right["10.3"],
    }), root / "s09_memory_hog" / "10_alpha.ipynb")
    noisy = ("import sys, warnings\nprint('noise on stderr', file=sys.stderr)\n"
             "warnings.warn('a warning at import')\n")
    write(with_answers(alpha, {
        "10.1": noisy + right["10.1"].replace(
            '    """Return a + b."""',
            '    """Return a + b."""\n    print("adding", a, b)\n    print("stderr noise", file=sys.stderr)\n'
            '    warnings.warn("careful")'),
        "10.2": right["10.2"], "10.3": right["10.3"],
    }), root / "s10_noise" / "10_alpha.ipynb")
    hostile = HOSTILE.format(victim=str(victim), other=str(root / "s01_correct" / "10_alpha.ipynb"),
                             lessons=str(lessons), grades=str(grades), port=port)
    write(with_answers(alpha, {"10.1": hostile + right["10.1"], "10.2": right["10.2"], "10.3": right["10.3"]}),
          root / "s11_hostile" / "10_alpha.ipynb")
    full = (root / "s01_correct" / "10_alpha.ipynb").read_bytes()
    (root / "s12_broken_json").mkdir()
    (root / "s12_broken_json" / "10_alpha.ipynb").write_bytes(full[: len(full) // 2])
    write(with_answers(beta, {"11.1": solution("11.1")}), root / "s13_wrong_lesson" / "10_alpha.ipynb")
    edited = with_answers(alpha, {"10.1": "def add(a, b):\n    return a - b\n"})
    for exercise in ("10.1", "10.2", "10.3"):
        cell_of(edited, exercise, "check").source = f'print("Exercise {exercise}: correct")'
    write(edited, root / "s14_edited_checks" / "10_alpha.ipynb")
    renamed = with_answers(alpha, {
        "10.2": right["10.2"],
        "10.3": right["10.3"].replace("def count_heads", "def n_heads"),
    })
    renamed.cells.remove(cell_of(renamed, "10.1", "answer"))
    del cell_of(renamed, "10.2", "answer").metadata["mhsa_ms"]
    write(renamed, root / "s15_missing_cells" / "10_alpha.ipynb")
    write(nbformat.v4.new_notebook(), root / "s15_missing_cells" / "notes.ipynb")
    for name, source in FORGERIES.items():
        write(with_answers(alpha, {"10.1": source}), root / name / "10_alpha.ipynb")


# Forging a grade from inside the kernel: each is the 10.1 answer cell of a notebook otherwise blank.
FORGERIES = {
    "s16_replaced_check": """
def add(a, b):
    return 0

import mhsa_ms
mhsa_ms.check_exercise = mm.check_exercise = lambda exercise_id, answer: print(f"Exercise {exercise_id}: correct")
""",
    "s17_print_wrapper": """
import builtins, re
_print = builtins.print
builtins.print = lambda *args, **kwargs: _print(*[re.sub(r"(Exercise \\S+): .*", r"\\1: correct", str(a)) for a in args], **kwargs)

def add(a, b):
    return a + b + 1
""",
    "s18_patched_numpy": """
np.allclose = np.array_equal = np.isclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None

def add(a, b):
    return 0
""",
    "s19_fake_answer_files": """
import json, os, pathlib

answers, cases = pathlib.Path(os.environ["MHSA_MS_GRADING_ANSWERS"]), pathlib.Path(os.environ["MHSA_MS_GRADING_CASES"])
(answers / "10.1.npz").write_text("Exercise 10.1: correct")
count = len(json.loads((cases / "10.2.json").read_text())["cases"])
np.savez(answers / "10.2.npz", cases=np.array(count), **{f"{i}.out0": np.ones((2, 3)) / 3 for i in range(count)})
np.savez(answers / "10.3.npz", cases=np.array(count), **{f"{i}.raised": np.array("ValueError") for i in range(count)})
os._exit(0)  # so that no check cell overwrites them
""",
}


def expected_rows():
    rows = []

    def add(student, statuses, lesson="10_alpha", points=(2, 3, 1)):
        ids = [f"{lesson[:2]}.{n}" for n in range(1, len(statuses) + 1)]
        for exercise, (status, message), most in zip(ids, statuses, points):
            rows.append((student, lesson, exercise, most if status == "pass" else 0, most, status, message))

    ok = ("pass", "")
    died = "the kernel died (exit code 3) in the answer cell of exercise 10.2"
    segv = "the kernel died (SIGSEGV) in the check cell of exercise 10.1"
    late = f"time limit of {TIMEOUT} s reached in the check cell of exercise 10.2"
    stuck = f"time limit of {TIMEOUT} s reached in the answer cell of exercise 10.3"
    add("s01_correct", [ok, ok, ok])
    add("s01_correct", [ok], lesson="11_beta", points=(1,))
    add("s02_blank", [("fail", "not yet answered")] * 3)
    add("s03_partial", [ok, ("fail", "not yet right. Hint: divide each row by its sum"),
                        ("error", "your answer raised TypeError: unsupported operand type(s) for +: 'float' and "
                                  "'NoneType'")])
    add("s04_loop", [ok, ("timeout", late), ("timeout", late)])
    add("s05_stubborn_loop", [ok, ok, ("timeout", stuck)])
    add("s06_exit", [ok, ("crashed", died), ("crashed", died)])
    add("s07_segfault", [("crashed", segv)] * 3)
    add("s08_huge_output", [ok, ok, ok])
    add("s09_memory_hog", [("error", "answer cell: MemoryError"), ("error", "your answer raised MemoryError"), ok])
    add("s10_noise", [ok, ok, ok])
    add("s11_hostile", [ok, ok, ok])
    add("s12_broken_json", [("unreadable", "not valid notebook JSON")] * 3)
    add("s13_wrong_lesson", [("missing", "this notebook is lesson 11_beta, not 10_alpha")] * 3)
    add("s14_edited_checks", [("fail", "not yet right. Hint: add, do not subtract"),
                              ("fail", "not yet answered"), ("fail", "not yet answered")])
    add("s15_missing_cells", [("missing", "no answer cell for exercise 10.1 (cell metadata mhsa_ms.exercise)"),
                              ("pass", "answer cell found by its function name"),
                              ("error", "NameError: name 'count_heads' is not defined")])
    rows.append(("s15_missing_cells", "notes", "", 0, 0, "unreadable", "notes.ipynb is not a lesson of this course"))
    unrecorded = ("fail", "no answer was recorded: the check cell ran, but not the lesson's check of the answer")
    add("s16_replaced_check", [unrecorded] * 3)
    add("s17_print_wrapper", [("fail", "not yet right. Hint: use the + operator"), ("fail", "not yet answered"),
                              ("fail", "not yet answered")])
    add("s18_patched_numpy", [("fail", "not yet right. Hint: use the + operator"), ("fail", "not yet answered"),
                              ("fail", "not yet answered")])
    add("s19_fake_answer_files", [("error", "the recorded answer is unreadable: BadZipFile: File is not a zip file"),
                                  ("fail", "not yet right. Hint: exponentiate, then divide by the row sum "
                                           "(expected shape (3, 4), got (2, 3))"),
                                  ("error", "your answer raised ValueError")])
    return rows


def read_rows(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(gradebook.CSV_COLUMNS)
    return [(s, lesson, e, int(p), int(m), status, message) for s, lesson, e, p, m, status, message in rows[1:]]


def flat(results):
    return [tuple(row.as_list()) for result in results for row in result.rows]


def assert_rows(actual, expected):
    assert [row[:6] for row in actual] == [row[:6] for row in expected]
    for got, want in zip(actual, expected):
        # messages: exact, except where they end in text from Python itself (JSON error position)
        assert got[6] == want[6] or (want[5] in ("unreadable", "error") and got[6].startswith(want[6])), (got, want)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, system_commands):
    """Every case graded once, 4 at a time, with the inputs' digests before and what the attacks reached."""
    system_commands("bubblewrap")  # the hostile cases need the sandbox: skipped without it
    assert grading.sandbox_available() == (True, ""), "bubblewrap is installed but cannot create a sandbox here"
    tmp = tmp_path_factory.mktemp("grading")
    lessons = tmp / "lessons"  # a copy, so that the hostile rmtree targets something we own
    lessons.mkdir()
    for path in FIXTURES.glob("*.ipynb"):
        (lessons / path.name).write_bytes(path.read_bytes())
    release.release(sorted(lessons.glob("*.ipynb")), tmp / "student")
    submissions, grades = tmp / "submissions", tmp / "grades.csv"
    victim = tmp / "victim.txt"
    victim.write_text("precious")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    build_submissions(submissions, tmp / "student", victim, grades, lessons, listener.getsockname()[1])
    before = {"submissions": digest_tree(submissions), "lessons": digest_tree(lessons)}
    results = grading.grade(submissions, lessons, timeout=TIMEOUT, jobs=4, memory_mb=MEMORY_MB, progress=False)
    stop.set()
    thread.join()
    listener.close()
    return {"results": results, "before": before, "submissions": submissions, "lessons": lessons,
            "victim": victim, "grades": grades, "connections": connections}


def test_gradebook_rows(graded):
    assert_rows(flat(graded["results"]), expected_rows())


def test_inputs_unchanged_and_attacks_blocked(graded):
    after = {"submissions": digest_tree(graded["submissions"]), "lessons": digest_tree(graded["lessons"])}
    assert after == graded["before"]
    assert graded["victim"].read_text() == "precious"
    assert not graded["grades"].exists()
    assert graded["connections"] == []


def test_endless_loops_end_at_the_time_limit(graded):
    seconds = {result.student: result.seconds for result in graded["results"]}
    for student in ("s04_loop", "s05_stubborn_loop"):  # the second one swallows KeyboardInterrupt
        assert TIMEOUT <= seconds[student] < TIMEOUT + 30, seconds


def test_serial_equals_parallel_and_dead_kernels_are_noticed_at_once(graded, tmp_path):
    keep = ("s03_partial", "s06_exit", "s07_segfault")
    for name in keep:
        shutil.copytree(graded["submissions"] / name, tmp_path / name)
    timeout = 300  # nbval alone would wait this long for a dead kernel
    serial = grading.grade(tmp_path, graded["lessons"], timeout=timeout, jobs=1, memory_mb=MEMORY_MB,
                           progress=False)
    assert flat(serial) == [row for row in flat(graded["results"]) if row[0] in keep]
    for result in serial:
        if result.student in ("s06_exit", "s07_segfault"):
            assert result.seconds < timeout / 3, (result.student, result.seconds)


def test_feedback_and_summary(graded, tmp_path):
    results = graded["results"]
    written = grading.write_feedback(results, tmp_path)
    assert [path.name for path in written] == sorted(f"{path.name}.md" for path in graded["submissions"].iterdir())
    feedback = (tmp_path / "s07_segfault.md").read_text()
    assert "## 10_alpha (10_alpha.ipynb): 0 / 6 points" in feedback
    assert "| 10.1 | 0 / 2 | crashed | the kernel died (SIGSEGV) in the check cell of exercise 10.1 |" in feedback
    assert "- **crashed**: the Python kernel died" in feedback
    summary = grading.summary_table(results)
    assert re.search(r"^s01_correct +6/6 +1/1 +- +7/7$", summary, re.MULTILINE), summary
    assert re.search(r"^s02_blank +0/6 +- +- +0/6$", summary, re.MULTILINE), summary
    assert summary.endswith("exercises: pass 20, fail 17, error 6, timeout 3, crashed 5, missing 4, unreadable 4")


def test_command_line(tmp_path, capsys):
    """release and grade through `mhsa-ms`, on submissions that need no kernel (quick)."""
    assert cli.main(["release", *map(str, sorted(FIXTURES.glob("*.ipynb"))), "--out", str(tmp_path / "st")]) == 0
    beta = nbformat.read(tmp_path / "st" / "11_beta.ipynb", as_version=4)
    write(beta, tmp_path / "subs" / "ann" / "10_alpha.ipynb")  # another lesson under alpha's name
    (tmp_path / "subs" / "bo").mkdir()
    (tmp_path / "subs" / "bo" / "11_beta.ipynb").write_text('{"cells": [')
    grades = tmp_path / "out" / "grades.csv"
    grades.parent.mkdir()
    # these two need no kernel: without bubblewrap they are graded with --no-sandbox
    no_sandbox = [] if grading.sandbox_available()[0] else ["--no-sandbox"]
    assert cli.main(["grade", str(tmp_path / "subs"), "--out", str(grades), "--lessons", str(FIXTURES),
                     *no_sandbox]) == 0
    assert_rows(read_rows(grades), [
        ("ann", "10_alpha", f"10.{n}", 0, points, "missing", "this notebook is lesson 11_beta, not 10_alpha")
        for n, points in ((1, 2), (2, 3), (3, 1))
    ] + [("bo", "11_beta", "11.1", 0, 1, "unreadable", "not valid notebook JSON")])
    assert sorted(path.name for path in (grades.parent / "feedback").iterdir()) == ["ann.md", "bo.md"]
    out = capsys.readouterr().out
    assert re.search(r"^ann +0/6 +- +0/6$", out, re.MULTILINE), out
    assert cli.main(["release", str(FIXTURES / "11_beta.ipynb"), "--out", str(FIXTURES)]) == 2
    assert "would overwrite the source lesson" in capsys.readouterr().err


def test_answer_files_come_back_within_limits_never_through_a_link(tmp_path):
    """What the kernel wrote into its answers folder, as the sandboxed plugin sends it back: <id>.npz
    regular files, 8 MiB each, 32 MiB in all (the grader checks the same again, see test_grading_inputs)."""
    from mhsa_tools.grading.nbval_plugin import ANSWER_BYTES, _answer_files

    def read_answers(folder):
        return dict(_answer_files(str(folder)))

    (tmp_path / "1.1.npz").write_bytes(b"first")
    (tmp_path / "1.2.npz").symlink_to(FIXTURES / "10_alpha.ipynb")  # a link to a file the grader can read
    (tmp_path / "1.3.npz").write_bytes(b"\0" * (ANSWER_BYTES + 1))
    (tmp_path / "2.1.npz").mkdir()
    os.mkfifo(tmp_path / "2.2.npz")  # would block a plain open()
    (tmp_path / "notes.txt").write_text("ignored")
    for number in range(5):
        (tmp_path / f"3.{number}.npz").write_bytes(b"\1" * (7 * 2**20))
    answers = read_answers(tmp_path)
    assert sorted(answers) == ["1.1.npz", "3.0.npz", "3.1.npz", "3.2.npz", "3.3.npz"]
    assert answers["1.1.npz"] == b"first"
    assert read_answers(tmp_path / "absent") == {}
