"""mm.set_language and the learner's language: the card, the summary line, plot labels and
`python -m mhsa_ms` in 简体中文; the same rules as the tools (which never import this package)."""
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mhsa_ms as mm  # noqa: E402
from mhsa_ms import i18n  # noqa: E402
from mhsa_ms.course import card, exercises  # noqa: E402
from mhsa_tools import i18n as tools_i18n  # noqa: E402


@pytest.fixture
def chinese():
    """mm.set_language("zh") for one test, then back to the environment (English under pytest)."""
    assert mm.set_language("zh") == "zh"
    yield
    assert mm.set_language(None) == "en"
    plt.close("all")


def test_set_language_stores_the_choice_in_the_environment_and_forgets_it():
    assert os.environ["MHSA_MS_LANG"] == "en"  # the tests' environment (conftest.py)
    assert mm.set_language("zh_CN") == "zh" and os.environ["MHSA_MS_LANG"] == "zh"
    assert i18n.gettext("learner") == "学员"
    assert mm.set_language("EN-us") == "en" and i18n.gettext("learner") == "learner"
    assert mm.set_language(None) == "en" and os.environ["MHSA_MS_LANG"] == "en"


@pytest.mark.parametrize("language, error, text", [
    ("fr", ValueError, "language must be 'zh' or 'en' (or a regional form such as 'zh-CN'), got 'fr'"),
    ("", ValueError, "got ''"),
    (1, TypeError, "language must be a str such as 'zh' or 'en', or None, got int"),
])
def test_bad_languages_are_refused_in_english(language, error, text):
    with pytest.raises(error) as raised:
        mm.set_language(language)
    assert text in str(raised.value)
    assert os.environ["MHSA_MS_LANG"] == "en"


ENVIRONMENTS = [{}, {"MHSA_MS_LANG": "zh"}, {"MHSA_MS_LANG": "EN"}, {"MHSA_MS_LANG": "de", "LANG": "zh_CN.UTF-8"},
                {"LANG": "zh_CN.UTF-8"}, {"LANG": "C.UTF-8"}, {"LC_ALL": "POSIX", "LANG": "zh_CN.UTF-8"},
                {"LC_MESSAGES": "zh_SG.UTF-8"}, {"LANGUAGE": "en_GB:zh_CN", "LANG": "zh_CN.UTF-8"},
                {"LANGUAGE": "zh_CN:en"}, {"LANG": "Chinese (Simplified)_China.936"}]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_the_package_and_the_tools_read_the_environment_alike(environ):
    assert i18n.language_from_environment(environ) == tools_i18n.language_from_environment(environ)
    for name in ("zh", "zh-Hant", "en_US.UTF-8", "C", "ja_JP", environ.get("LANG", "")):
        assert i18n.language_code(name) == tools_i18n.language_code(name)


def test_card_and_summary_in_chinese(chinese, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(exercises, "_results", {})
    mm.check_exercise("1.1", lambda q, k: q @ k.T / np.sqrt(k.shape[-1]))  # right: 1 of the day's 3
    capsys.readouterr()
    mm.checkin(1, name="李雷", directory=tmp_path)
    line = capsys.readouterr().out.strip()
    assert line.startswith("第 1 天打卡 · 自注意力 · 练习 1 / 3 · ") and line.endswith(" · 李雷")


def test_every_lesson_title_has_a_chinese_title(chinese):
    titles = [i18n.gettext(title) for title in card.LESSON_TITLES.values()]
    assert all(title != english and any("\u4e00" <= char <= "\u9fff" for char in title)
               for title, english in zip(titles, card.LESSON_TITLES.values())), titles


def test_plot_labels_in_chinese(chinese):
    figure = mm.plot_attention(np.full((2, 3, 3), 1 / 3), ["我", "爱", "你"], ["我", "爱", "你"])
    panels = figure.axes[:2]
    assert [ax.get_title() for ax in panels] == ["头 1", "头 2"]
    assert panels[0].get_xlabel() == "键" and panels[0].get_ylabel() == "查询"
    assert figure.axes[2].get_ylabel() == "注意力权重"


def test_device_report_in_chinese():
    done = subprocess.run([sys.executable, "-m", "mhsa_ms", "--device", "CPU"], capture_output=True, text=True,
                          env={**os.environ, "MHSA_MS_LANG": "zh"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line.split("：")[0] for line in done.stdout.splitlines()] == ["MindSpore 版本", "所选设备", "可用后端",
                                                                          "运行模式"]


# ----------------------------------------------------------------------------
# exercise verdicts and hints

def test_a_wrong_answer_gets_its_verdict_and_hint_in_chinese(chinese, monkeypatch, capsys):
    """The unscaled scores of exercise 1.1: the catalogued mistake's hint, whole line in Chinese."""
    monkeypatch.setattr(exercises, "_results", {})
    mm.check_exercise("1.1", lambda q, k: q @ k.T)
    assert capsys.readouterr().out == ("练习 1.1：还不对。提示：把点积除以键的宽度 d_k 的平方根，"
                                       "这样点积的离散程度不会随 d_k 增大\n")
    assert exercises.exercise_results() == {"1.1": False}


def test_every_verdict_kind_in_chinese(chinese, monkeypatch, capsys):
    monkeypatch.setattr(exercises, "_results", {})

    def scaled_scores(q, k):
        raise NotImplementedError("exercise 1.1")

    answers = [
        lambda q, k: q @ k.T / np.sqrt(k.shape[-1]),
        scaled_scores,
        lambda q, k: (q @ k.T / np.sqrt(k.shape[-1]))[:, :2],  # no catalogued mistake: the check's hint, shapes
        lambda q, k: "scores",
        lambda q, k: q @ k,  # raises ValueError: the exception's text stays as Python wrote it
    ]
    for answer in answers:
        mm.check_exercise("1.1", answer)
    mm.check_exercise("4.1", lambda x, num_heads: mm.split_heads(x, num_heads))  # switched off
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["练习 1.1：正确", "练习 1.1：尚未作答"]
    assert lines[2].startswith("练习 1.1：还不对。提示：分数 (i, j) 是查询 i 与键 j 的点积") and \
        lines[2].endswith("（形状应为 (3, 4)，实际为 (3, 2)）"), lines[2]
    assert lines[3] == "练习 1.1：还不对：你的答案返回的是 str，不是数值"
    assert lines[4].startswith("练习 1.1：你的答案抛出了异常 ValueError: matmul"), lines[4]
    assert lines[5] == ("练习 4.1：还不对：你的答案调用了 mm.split_heads，它会替你完成这道练习，"
                        "所以检查时它被禁用了；请自己写出各个步骤")


def test_every_hint_of_the_course_has_a_chinese_translation(chinese):
    """The catalog holds each check's hint and each usual mistake's (an English one would slip through)."""
    from mhsa_ms.course import checks

    hints = [text for check in checks.all_checks().values() if check.day <= 8
             for text in (check.hint, *(mistake.hint for mistake in check.mistakes))]
    assert len(hints) == 135
    untranslated = [hint for hint in hints if i18n.gettext(hint) == hint
                    or not any("\u4e00" <= char <= "\u9fff" for char in i18n.gettext(hint))]
    assert untranslated == []


def test_speaking_changes_the_language_for_a_block_only():
    with i18n.speaking("zh-CN") as language:
        assert language == "zh" and i18n.gettext("not yet answered") == "尚未作答"
    assert os.environ["MHSA_MS_LANG"] == "en" and i18n.gettext("not yet answered") == "not yet answered"
    with pytest.raises(ValueError, match="language must be 'zh' or 'en'.*got 'fr'"):
        with i18n.speaking("fr"):
            pass
