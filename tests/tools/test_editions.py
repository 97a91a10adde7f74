"""The two editions of a lesson (简体中文, English) for release and grading: the edition is the
notebook's metadata ``mhsa_ms.language``, never its folder; a submission is graded against the
reference lesson of its own edition, and its feedback is written in that language.

The Chinese editions here are made from the English fixture lessons of test_grading.py as a
translator would make them: same cells, metadata ``language: zh``, and the stored verdicts in
Chinese (the line mhsa_ms prints in a Chinese lesson).
"""
import copy
from pathlib import Path

import nbformat
import pytest

from mhsa_tools import grading, release
from mhsa_tools.grading import grade_submission, reference_lessons
from mhsa_tools.grading.execute import GradeOptions
from mhsa_tools.grading.submissions import Submission
from mhsa_tools.i18n import translator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "grading_lessons"


def read(name):
    return nbformat.read(FIXTURES / name, as_version=4)


def chinese_edition(nb, verdict_language="zh"):
    """The zh edition of an English lesson: metadata language zh, verdicts in ``verdict_language``."""
    nb = copy.deepcopy(nb)
    nb.metadata["mhsa_ms"]["language"] = "zh"
    _ = translator(verdict_language)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("name") == "stdout":
                lines = out["text"].splitlines(keepends=True)
                out["text"] = "".join(_("Exercise {exercise}: correct").format(exercise=line.split()[1].rstrip(":"))
                                      + "\n" if line.startswith("Exercise ") else line for line in lines)
    return nb


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def two_editions(tmp_path):
    """lessons/zh and lessons/en as phase 2 lays them out, in folders named otherwise on purpose."""
    lessons = tmp_path / "lessons"
    for name in ("10_alpha.ipynb", "11_beta.ipynb"):
        write(read(name), lessons / "english" / name)
        write(chinese_edition(read(name)), lessons / "zh" / name)
    return lessons


def test_both_editions_are_found_and_told_apart_by_metadata(two_editions):
    lessons = reference_lessons.load_lessons(two_editions)
    assert sorted(lessons) == ["10_alpha", "11_beta"]
    alpha = lessons["10_alpha"]
    assert (alpha.language, alpha.path.parent.name) == ("en", "english")
    chinese = alpha.edition("zh")
    assert (chinese.language, chinese.path.parent.name, chinese.problem) == ("zh", "zh", "")
    assert [e.id for e in chinese.exercises] == [e.id for e in alpha.exercises] == ["10.1", "10.2", "10.3"]
    assert alpha.edition("en") is alpha and alpha.edition(None) is alpha and chinese.edition("en") is alpha


def test_the_folder_name_does_not_make_the_edition(tmp_path):
    write(read("10_alpha.ipynb"), tmp_path / "zh" / "10_alpha.ipynb")  # an English lesson in a folder named zh
    lesson = reference_lessons.load_lessons(tmp_path)["10_alpha"]
    assert (lesson.language, lesson.problem) == ("en", "")


def test_a_chinese_lesson_must_show_its_verdicts_in_chinese(tmp_path):
    write(chinese_edition(read("10_alpha.ipynb"), verdict_language="en"), tmp_path / "10_alpha.ipynb")
    with pytest.raises(ValueError, match="does not show the stored verdict '练习 10.1：正确'"):
        reference_lessons.load_lesson(tmp_path / "10_alpha.ipynb")


def test_unknown_and_doubled_editions_are_refused(tmp_path):
    french = read("10_alpha.ipynb")
    french.metadata["mhsa_ms"]["language"] = "fr"
    write(french, tmp_path / "fr" / "10_alpha.ipynb")
    assert "metadata mhsa_ms.language must be 'zh' or 'en', got 'fr'" in \
        reference_lessons.load_lessons(tmp_path)["10_alpha"].problem
    twice = tmp_path / "twice"
    write(chinese_edition(read("10_alpha.ipynb")), twice / "a" / "10_alpha.ipynb")
    write(chinese_edition(read("10_alpha.ipynb")), twice / "b" / "10_alpha.ipynb")
    with pytest.raises(ValueError, match="two 'zh' editions of lesson 10_alpha"):
        reference_lessons.load_lessons(twice)


def test_release_either_edition_each_into_its_own_folder(two_editions, tmp_path):
    english, chinese = two_editions / "english" / "10_alpha.ipynb", two_editions / "zh" / "10_alpha.ipynb"
    with pytest.raises(ValueError, match="would both be written to .*release each edition into a folder of its own"):
        release.release([english, chinese], tmp_path / "student")
    written = release.release([chinese], tmp_path / "student" / "zh")
    student = nbformat.read(written[0], as_version=4)
    assert student.metadata["mhsa_ms"] == {"day": 10, "title": "Grading fixture alpha", "language": "zh",
                                           "edition": "student"}
    assert release.release([english], tmp_path / "student" / "en")[0].name == "10_alpha.ipynb"


@pytest.mark.parametrize("language", ["zh", "en", None])
def test_a_submission_is_graded_against_its_own_edition(two_editions, tmp_path, language):
    """A notebook of lesson 11 handed in as 10_alpha: nothing of the student's runs, the rows say why,
    and the result carries the edition its feedback is written in."""
    lessons = reference_lessons.load_lessons(two_editions)
    submitted = chinese_edition(read("11_beta.ipynb")) if language == "zh" else read("11_beta.ipynb")
    if language is None:
        submitted.metadata["mhsa_ms"].pop("language", None)
    path = write(submitted, tmp_path / "ana" / "10_alpha.ipynb")
    submission = Submission("ana", path, ("ana", "10_alpha.ipynb"), lessons["10_alpha"])
    result = grade_submission(submission, lessons, tmp_path / "work", GradeOptions(timeout=5), tmp_path,
                              referee=None)  # nothing of the student's runs: no cases to draw
    assert result.language == (language or "en")
    assert {row.status for row in result.rows} == {"missing"} and len(result.rows) == 3
    assert result.rows[0].message == ("这个笔记本是课程 11_beta，不是 10_alpha" if language == "zh" else
                                      "this notebook is lesson 11_beta, not 10_alpha")


def answer_cell(nb, exercise):
    return next(cell for cell in nb.cells if cell.metadata.get("mhsa_ms", {}).get("exercise") == exercise
                and cell.metadata["mhsa_ms"]["role"] == "answer")


@pytest.mark.usefixtures("fixture_lesson_checks")  # the referee's checks of the fixture lessons
def test_a_chinese_submission_gets_its_verdicts_and_feedback_in_chinese(two_editions, tmp_path):
    """Two students, one per edition, hand in the same answers to lesson 10: right, wrong (a catalogued
    mistake), not answered.  The referee judges each in its edition's language, the feedback files
    follow, and the gradebook's columns and statuses are the same for both."""
    student = tmp_path / "student"
    release.release([two_editions / "zh" / "10_alpha.ipynb"], student / "zh")
    release.release([two_editions / "english" / "10_alpha.ipynb"], student / "en")
    answers = {"10.1": "def add(a, b):\n    return a + b\n", "10.2": "def row_softmax(x):\n    return np.exp(x)\n"}
    for name, edition in (("li", "zh"), ("ann", "en")):
        nb = nbformat.read(student / edition / "10_alpha.ipynb", as_version=4)
        for exercise, source in answers.items():
            answer_cell(nb, exercise).source = source
        write(nb, tmp_path / "submissions" / name / "10_alpha.ipynb")
    results = grading.grade(tmp_path / "submissions", two_editions, timeout=240, progress=False, sandbox=False)
    assert [(result.student, result.language) for result in results] == [("ann", "en"), ("li", "zh")]
    rows = {result.student: [row.as_list()[2:6] for row in result.rows] for result in results}
    assert rows["li"] == rows["ann"] == [["10.1", 2, 2, "pass"], ["10.2", 0, 3, "fail"], ["10.3", 0, 1, "fail"]]
    assert [row.message for row in results[1].rows] == ["", "还不对。提示：divide each row by its sum", "尚未作答"]
    assert [row.message for row in results[0].rows] == ["", "not yet right. Hint: divide each row by its sum",
                                                        "not yet answered"]
    grading.write_csv(results, tmp_path / "grades.csv")
    assert (tmp_path / "grades.csv").read_text(encoding="utf-8").splitlines()[0] == \
        '"student","lesson","exercise","points","max_points","status","message"'
    grading.write_feedback(results, tmp_path / "feedback")
    chinese = (tmp_path / "feedback" / "li.md").read_text(encoding="utf-8")
    assert chinese.splitlines()[:4] == ["# li 的反馈", "", "## 10_alpha（10_alpha.ipynb）：2 / 6 分", ""]
    for line in ("| 练习 | 得分 | 状态 | 说明 |", "| 10.1 | 2 / 2 | pass |  |",
                 "| 10.2 | 0 / 3 | fail | 还不对。提示：divide each row by its sum |", "| 10.3 | 0 / 1 | fail | 尚未作答 |",
                 "- **fail**：检查运行了你的代码，但答案还不对；请阅读提示。"):
        assert line in chinese.splitlines(), chinese
    english = (tmp_path / "feedback" / "ann.md").read_text(encoding="utf-8")
    assert "## 10_alpha (10_alpha.ipynb): 2 / 6 points" in english and "| exercise | points | status | message |" \
        in english and "- **fail**: the check ran your code and the answer is not right yet; read the hint." in english


def test_summary_and_grade_help_speak_the_environment_language(monkeypatch, capsys):
    """The instructor's side: `mhsa-ms grade` help and summary in the language of the environment;
    the statuses stay the gradebook's, and columns line up with Chinese names (two columns a character)."""
    from mhsa_tools import cli
    from mhsa_tools.grading.gradebook import Result, Results, Row

    monkeypatch.setenv("MHSA_MS_LANG", "zh")
    results = Results([Result("李雷", "10_alpha.ipynb", [Row("李雷", "10_alpha", "10.1", 2, 2, "pass", ""),
                                                         Row("李雷", "10_alpha", "10.2", 0, 3, "fail", "")]),
                       Result("ann", "10_alpha.ipynb", [Row("ann", "10_alpha", "10.1", 0, 2, "missing", "")])])
    assert grading.summary_table(results).splitlines() == [
        "学员  10_alpha  总分",
        "ann   0/2       0/2",
        "李雷  2/5       2/5",
        "",
        "练习：pass 1, fail 1, missing 1"]
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps at spaces
    assert "存放提交的文件夹" in help_text and "不使用bubblewrap沙箱运行学员代码" in help_text


# ---------------------------------------------------------------- the two editions kept in step

from mhsa_tools import editions  # noqa: E402  (the parity of lessons/en and lessons/zh)

COURSE_PAIRS = editions.edition_pairs(ROOT / "lessons")


@pytest.mark.parametrize("pair", COURSE_PAIRS, ids=[next(p for p in pair if p).stem for pair in COURSE_PAIRS])
def test_every_lesson_has_two_editions_in_step(pair):
    english, chinese = pair
    assert english is not None and chinese is not None, f"{pair}: every lesson has an en and a zh edition"
    problems = editions.parity_problems(read_json(english), read_json(chinese))
    assert problems == [], "\n".join(problems)


def test_the_course_has_both_editions_of_every_day():
    assert [pair[0].name for pair in COURSE_PAIRS] == sorted(
        path.name for path in (ROOT / "lessons" / "en").glob("[0-9][0-9]_*.ipynb"))
    assert len(COURSE_PAIRS) >= 9


def read_json(path):
    import json
    return json.loads(Path(path).read_text(encoding="utf-8"))


def english_lesson():
    """A small lesson with what the course's lessons hold: slides, a formula, an exercise,
    an f-string with a format spec, a magic, a docstring, nbval markers and printed numbers."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Day 10: heads\nEach head has width $d_h = D / h$; the **attention** "
                             "weights are $\\mathrm{softmax}(QK^\\top/\\sqrt{d_h})$.",
                             metadata={"slideshow": {"slide_type": "slide"}}),
        v4.new_code_cell('# NBVAL_IGNORE_OUTPUT\nimport mhsa_ms as mm\n\nmm.set_language("en")  # the edition\'s language'),
        v4.new_code_cell('D, h = 16, 4\nd_h = D // h  # width of a head\nprint(f"d_h = {d_h} ({D} / {h})")\n'
                         'print(f"share: {1 / h:.3f} of the width")',
                         outputs=[v4.new_output("stream", name="stdout", text="d_h = 4 (16 / 4)\nshare: 0.250 of the width\n")]),
        v4.new_code_cell('def width(D, h):\n    """The width of one head."""\n    ### BEGIN SOLUTION\n    return D // h\n'
                         '    ### END SOLUTION', metadata={"mhsa_ms": {"exercise": "10.1", "role": "answer", "points": 2}}),
        v4.new_code_cell('mm.check_exercise("10.1", width)', metadata={"mhsa_ms": {"exercise": "10.1", "role": "check", "points": 2}},
                         outputs=[v4.new_output("stream", name="stdout", text="Exercise 10.1: correct\n")]),
        v4.new_code_cell("%%time\nassert width(D, h) == 4, 'four heads of width 4'"),
    ]
    return v4.new_notebook(cells=cells, metadata={"mhsa_ms": {"day": 10, "title": "Heads", "language": "en"}})


def chinese_lesson():
    """The Chinese edition of :func:`english_lesson`, as a translator writes it."""
    nb = copy.deepcopy(english_lesson())
    nb.metadata["mhsa_ms"]["language"] = "zh"
    sources = [
        "# 第 10 天：注意力头\n每个头的宽度为 $d_h = D / h$；**注意力（attention）**权重是 "
        "$\\mathrm{softmax}(QK^\\top/\\sqrt{d_h})$。",
        '# NBVAL_IGNORE_OUTPUT\nimport mhsa_ms as mm\n\nmm.set_language("zh")  # 本版本的语言',
        'D, h = 16, 4\nd_h = D // h  # 一个头的宽度\nprint(f"d_h = {d_h}（{D} / {h}）")\n'
        'print(f"占宽度的 {1 / h:.3f}")',
        None, None, "%%time\nassert width(D, h) == 4, '四个宽度为 4 的头'",
    ]
    for cell, source in zip(nb.cells, sources):
        if source is not None:
            cell.source = source
    nb.cells[2].outputs[0].text = "d_h = 4（16 / 4）\n占宽度的 0.250\n"
    nb.cells[4].outputs[0].text = "练习 10.1：正确\n"
    return nb


def test_a_translation_is_in_step():
    assert editions.parity_problems(english_lesson(), chinese_lesson()) == []


def _drift(change):
    nb = chinese_lesson()
    change(nb)
    return editions.parity_problems(english_lesson(), nb)


def _set(cell, source):
    def change(nb):
        nb.cells[cell].source = source
    return change


@pytest.mark.parametrize("change, problem", [
    (lambda nb: nb.metadata["mhsa_ms"].update(language="en"), "the zh edition's metadata mhsa_ms.language is 'en'"),
    (lambda nb: nb.metadata["mhsa_ms"].update(title="注意力头"), "the notebook metadata differs"),
    (lambda nb: nb.cells.pop(3), "6 cells in the English edition, 5 in the Chinese one"),
    (lambda nb: nb.cells.insert(1, nbformat.v4.new_markdown_cell("多出来的一格")), "cell 1: a code cell in English, markdown"),
    (lambda nb: nb.cells[3].metadata["mhsa_ms"].update(points=3), "cell 3: the cell metadata differs"),
    (lambda nb: nb.cells[4].metadata["mhsa_ms"].update(exercise="10.2"), "cell 4: the cell metadata differs"),
    (lambda nb: nb.cells[0].metadata.clear(), "cell 0: the cell metadata differs"),
    (_set(2, 'D, h = 16, 8\nd_h = D // h\nprint(f"d_h = {d_h}（{D} / {h}）")\nprint(f"占宽度的 {1 / h:.3f}")'),
     "cell 2: the code differs (only comments and translated strings may): line 1"),
    (_set(2, 'D, h = 16, 4\nd_h = D // h\nprint(f"d_h = {d_h}（{h} / {D}）")\nprint(f"占宽度的 {1 / h:.3f}")'),
     "cell 2: the code differs"),
    (_set(2, 'D, h = 16, 4\nd_h = D // h\nprint(f"d_h = {d_h}（{D} / {h}）")\nprint(f"占宽度的 {1 / h:.2f}")'),
     "cell 2: the code differs"),  # a format spec is code
    (_set(2, 'D, h = 16, 4\nd_h = D // h\nprint(f"d_h = {d_h}（{D} / {h}）")\nprint(f"share: {1 / h:.3f} of D")'),
     "cell 2: line 4: the string 'share:  of the width' became 'share:  of D', which is not Chinese"),
    (_set(5, "%%time\nassert width(D, h) == 4, 'four heads'"), "which is not Chinese"),
    (_set(5, "%%timeit\nassert width(D, h) == 4, '四个宽度为 4 的头'"), "cell 5: the cell magic differs"),
    (_set(5, "%%time\nassert width(D, h) == 5, '四个宽度为 4 的头'"), "cell 5: the code differs"),
    (_set(1, 'import mhsa_ms as mm\n\nmm.set_language("zh")'), "cell 1: the markers differ"),
    (_set(1, '# NBVAL_IGNORE_OUTPUT\nimport mhsa_ms as mm\n\nmm.set_language("en")'),
     "cell 1: the zh edition calls set_language('en'), not 'zh'"),
    (_set(3, 'def width(D, h):\n    """一个头的宽度。"""\n    return D // h\n    ### BEGIN SOLUTION\n    ### END SOLUTION'),
     "cell 3: the markers differ"),
    (_set(3, 'def width(D, h):\n    """一个头的宽度。"""\n    return D // h'), "cell 3: the markers differ"),
    (_set(0, "# 第 10 天：注意力头\n每个头的宽度为 $d_h = D/h$；**注意力（attention）**权重是 "
             "$\\mathrm{softmax}(QK^\\top/\\sqrt{d_h})$。"), "cell 0: the formulas differ"),
    (_set(0, "# Day 10: heads\nEach head has width $d_h = D / h$; the **attention** weights are "
             "$\\mathrm{softmax}(QK^\\top/\\sqrt{d_h})$."), "cell 0: the Markdown is not translated"),
    (lambda nb: setattr(nb.cells[2].outputs[0], "text", "d_h = 8（16 / 2）\n占宽度的 0.250\n"),
     "cell 2: the numbers printed differ: ['4', '16', '4', '0.250'] / ['8', '16', '2', '0.250']"),
])
def test_every_drift_that_is_not_translation_is_named(change, problem):
    problems = _drift(change)
    assert any(problem in line for line in problems), problems


def test_the_command_checks_a_pair_or_a_folder(tmp_path, capsys):
    for edition, nb in (("en", english_lesson()), ("zh", chinese_lesson())):
        write(nb, tmp_path / "lessons" / edition / "10_heads.ipynb")
    assert editions.main([str(tmp_path / "lessons")]) == 0
    assert "in step with" in capsys.readouterr().out
    write(english_lesson(), tmp_path / "lessons" / "en" / "11_more.ipynb")
    assert editions.main([str(tmp_path / "lessons")]) == 1
    assert "11_more.ipynb: no zh edition" in capsys.readouterr().out
    broken = chinese_lesson()
    broken.cells[2].source = broken.cells[2].source.replace("16, 4", "16, 2")
    write(broken, tmp_path / "zh.ipynb")
    assert editions.main([str(tmp_path / "lessons" / "en" / "10_heads.ipynb"), str(tmp_path / "zh.ipynb")]) == 1
    assert "the code differs" in capsys.readouterr().out
