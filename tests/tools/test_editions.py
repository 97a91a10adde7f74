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

from mhsa_tools import release
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
    assert result.rows[0].message == "this notebook is lesson 11_beta, not 10_alpha"
