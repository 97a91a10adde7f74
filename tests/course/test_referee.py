"""Grading mode: the kernel records an answer's results, the referee (a trusted process) judges them.

The kernel side must work without the checks and the referee (a graded kernel does not get
them); the referee must judge hostile answer files without crashing.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import mhsa_ms as mm
from mhsa_ms.course import exercises
from mhsa_ms.course.referee import ANSWER_BYTES, Referee
from mhsa_tools.grading import referee as referee_client


def scaled_scores(q, k):
    return q @ k.T / np.sqrt(k.shape[-1])


@pytest.fixture
def prepared(tmp_path, monkeypatch):
    """Lesson 1's cases prepared by an in-process referee, and the kernel in grading mode."""
    cases, answers = tmp_path / "cases", tmp_path / "answers"
    cases.mkdir()
    answers.mkdir()
    referee = Referee()
    token = referee.prepare(1, 1234, str(cases))["token"]
    monkeypatch.setenv(exercises.CASES_ENV, str(cases))
    monkeypatch.setenv(exercises.ANSWERS_ENV, str(answers))
    monkeypatch.setattr(exercises, "_results", {})
    return referee, token, cases, answers


def test_grading_mode_records_and_decides_nothing(prepared, capsys):
    referee, token, cases, answers = prepared
    assert sorted(path.name for path in cases.iterdir()) == [
        "1.1.json", "1.1.npz", "1.2.json", "1.2.npz", "1.3.json", "1.3.npz"]
    mm.check_exercise("1.1", scaled_scores)
    mm.check_exercise("1.2", lambda q, k, mask=None: np.zeros((len(q), len(k))))
    assert capsys.readouterr().out == "Exercise 1.1: answer recorded\nExercise 1.2: answer recorded\n"
    assert exercises.exercise_results() == {}  # nothing decided in the kernel
    assert referee.judge(token, str(answers))["verdicts"] == {
        "1.1": {"status": "pass", "message": "correct"},
        "1.2": {"status": "fail", "message": "not yet right. Hint: take the softmax of each row of the scaled "
                                             "scores; where the mask is False the score becomes minus infinity "
                                             "first, so that its weight is exactly 0"},
        "1.3": {"status": "missing", "message": ""}}
    with pytest.raises(ValueError, match="unknown token"):
        referee.judge(token, str(answers))  # one judgement per preparation


def test_the_referee_judges_in_the_language_of_the_request(prepared):
    """A submission of the Chinese edition gets its verdicts in Chinese; a bad language spends no token."""
    referee, token, cases, answers = prepared
    mm.check_exercise("1.1", scaled_scores)
    mm.check_exercise("1.2", lambda q, k, mask=None: np.zeros((len(q), len(k))))
    with pytest.raises(ValueError, match="language must be 'zh' or 'en'.*got 'fr'"):
        referee.judge(token, str(answers), language="fr")
    assert referee.judge(token, str(answers), language="zh")["verdicts"] == {
        "1.1": {"status": "pass", "message": "正确"},
        "1.2": {"status": "fail", "message": "还不对。提示：对缩放后的分数逐行做 softmax；掩码为 False 的位置要先把"
                                             "分数设为负无穷，这样它的权重恰好为 0"},
        "1.3": {"status": "missing", "message": ""}}
    assert os.environ["MHSA_MS_LANG"] == "en"  # the referee's own language is back


def test_the_same_seed_draws_the_same_cases_another_seed_others(tmp_path):
    drawn = []
    for seed in (7, 7, 8):
        folder = tmp_path / f"cases{len(drawn)}"
        folder.mkdir()
        Referee().prepare(2, seed, str(folder))
        with np.load(folder / "2.2.npz") as stored:
            drawn.append(stored["0.w_fused"])
    assert np.array_equal(drawn[0], drawn[1]) and not np.array_equal(drawn[0], drawn[2])


def test_the_kernel_side_needs_neither_the_checks_nor_the_referee(prepared):
    referee, token, cases, answers = prepared
    script = textwrap.dedent("""
        import sys
        sys.modules["mhsa_ms.course.checks"] = None   # a graded kernel's copy has no checks...
        sys.modules["mhsa_ms.course.referee"] = None  # ...and no referee
        import numpy as np, mhsa_ms as mm
        mm.check_exercise("1.1", lambda q, k: q @ k.T / np.sqrt(k.shape[-1]))
        mm.check_exercise("1.3", lambda x: mm.scaled_dot_product_attention(x, x, x, mask=mm.causal_mask(x.shape[1]))[0])
        print(sorted(name for name, module in sys.modules.items() if name.startswith("mhsa_ms.course") and module))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GLOG_v": "4"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Exercise 1.1: answer recorded", "Exercise 1.3: answer recorded",
        "['mhsa_ms.course', 'mhsa_ms.course.card', 'mhsa_ms.course.exercises', 'mhsa_ms.course.fonts', "
        "'mhsa_ms.course.plotting']"]
    verdicts = referee.judge(token, str(answers))["verdicts"]
    assert [verdicts[key]["status"] for key in ("1.1", "1.2", "1.3")] == ["pass", "missing", "pass"]


def test_switched_off_functions_are_recorded_in_grading_mode(prepared, capsys):
    referee, token, cases, answers = prepared
    from mindspore import Tensor as t

    mm.check_exercise("1.2", lambda q, k, mask=None: mm.scaled_dot_product_attention(
        t(q.astype(np.float32)), t(k.astype(np.float32)), t(k.astype(np.float32)))[1].asnumpy())
    verdict = referee.judge(token, str(answers))["verdicts"]["1.2"]
    assert verdict["status"] == "fail" and "calls mm.scaled_dot_product_attention" in verdict["message"]


def outputs_file(path, outputs, **extra):
    """An answer file as the kernel writes it, with the given results per case."""
    arrays = {"cases": np.array(len(outputs))}
    for index, result in enumerate(outputs):
        arrays[f"{index}.out0"] = result
    arrays.update(extra)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def right_outputs(cases):
    plan = json.loads((cases / "1.1.json").read_text())
    with np.load(cases / "1.1.npz") as stored:
        return [scaled_scores(stored[f"{i}.q"], stored[f"{i}.k"]) for i in range(len(plan["cases"]))]


def hostile(path, cases):
    """Answer files a student's code could write in place of the kernel's; name -> writer."""
    right = right_outputs(cases)

    def pickled():
        with open(path, "wb") as handle:
            np.savez(handle, cases=np.array(len(right)), **{f"{i}.out0": np.array([object()]) for i in range(len(right))})

    def bomb():
        with open(path, "wb") as handle:
            np.savez_compressed(handle, cases=np.array(len(right)), **{"0.out0": np.zeros(ANSWER_BYTES, np.uint8)})

    def zip_with_a_stranger():
        outputs_file(path, right)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("../../escape.npy", b"x")

    return {
        "not a zip": (lambda: path.write_bytes(b"Exercise 1.1: correct\n"), "error", "unreadable"),
        "pickled objects": (pickled, "error", "Object arrays cannot be loaded when allow_pickle=False"),
        "zip bomb": (bomb, "error", "unpacks to more than 8 MiB"),
        "too large": (lambda: path.write_bytes(b"\0" * (ANSWER_BYTES + 1)), "error", "larger than 8 MiB"),
        "symlink": (lambda: path.symlink_to("/etc/passwd"), "error", "not a regular file"),
        "a stranger entry": (zip_with_a_stranger, "error", "unexpected entry"),
        "fewer cases": (lambda: outputs_file(path, right[:-1]), "error", "results of the 4 check cases"),
        "text outputs": (lambda: outputs_file(path, [np.array("correct")] * len(right)), "error", "must hold numbers"),
        "results and a reason": (lambda: outputs_file(path, right, **{"0.forbidden": np.array("x")}), "error",
                                 "either results or one reason"),
        "NaN": (lambda: outputs_file(path, [np.full_like(r, np.nan) for r in right]), "fail", "not yet right"),
        "zeros": (lambda: outputs_file(path, [np.zeros_like(r) for r in right]), "fail", "not yet right"),
        "transposed shapes": (lambda: outputs_file(path, [r.T for r in right]), "fail", "rows are queries"),
        "huge shape claim": (lambda: outputs_file(path, [np.zeros((10**3, 10**2))] * len(right)), "fail",
                             "(expected shape"),
        "computed from the case files": (lambda: outputs_file(path, right), "pass", "correct"),
    }


@pytest.mark.parametrize("case", ["not a zip", "pickled objects", "zip bomb", "too large", "symlink",
                                  "a stranger entry", "fewer cases", "text outputs", "results and a reason", "NaN",
                                  "zeros", "transposed shapes", "huge shape claim", "computed from the case files"])
def test_hostile_answer_files_get_a_verdict_never_a_crash(prepared, case):
    referee, token, cases, answers = prepared
    write, status, fragment = hostile(answers / "1.1.npz", cases)[case]
    write()
    verdict = referee.judge(token, str(answers))["verdicts"]["1.1"]
    assert verdict["status"] == status and fragment in verdict["message"], verdict


def test_the_referee_process_speaks_json_lines(tmp_path):
    """Through the grader's client: the referee runs as a process of its own, and refuses what it must."""
    with referee_client.Referee(sys.executable) as referee:
        assert referee.exercises()[2] == ["2.1", "2.2", "2.3"]
        cases, answers = tmp_path / "cases", tmp_path / "answers"
        cases.mkdir()
        answers.mkdir()
        token = referee.prepare(2, cases)
        with np.load(cases / "2.1.npz") as stored:
            plan = json.loads((cases / "2.1.json").read_text())
            assert plan["forbidden"][0] == ["mhsa_ms.model.heads:head_selection_matrix", "mm.head_selection_matrix"]
            exercises.write_outcomes(answers / "2.1.npz", [
                {"outputs": (np.eye(int(stored[f"{i}.D"]), dtype=np.float32)[
                    :, int(stored[f"{i}.i"]) * (int(stored[f"{i}.D"]) // int(stored[f"{i}.h"])):
                    (int(stored[f"{i}.i"]) + 1) * (int(stored[f"{i}.D"]) // int(stored[f"{i}.h"]))],)}
                for i in range(len(plan["cases"]))])
        exercises.write_outcomes(answers / "2.2.npz", [{"raised": "NotImplementedError", "error": "exercise 2.2"}]
                                 * len(json.loads((cases / "2.2.json").read_text())["cases"]))
        assert referee.judge(token, answers, "zh") == {
            "2.1": {"status": "pass", "message": "正确"},
            "2.2": {"status": "fail", "message": "尚未作答"},
            "2.3": {"status": "missing", "message": ""}}
        with pytest.raises(referee_client.RefereeError, match="must be an existing empty folder"):
            referee.prepare(2, cases)
        with pytest.raises(referee_client.RefereeError, match="unknown token"):
            referee.judge(token, answers)
        assert referee.exercises()[8] == ["8.1", "8.2", "8.3"]  # still serving
