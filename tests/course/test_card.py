"""The check-in card: file name, content, learner name, summary line, lesson table."""
import datetime
import json
import pathlib
import sys
import types

import IPython.display
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

import mhsa_ms as mm
from mhsa_ms.course import exercises

from mhsa_ms.course import card as checkin_module

LESSONS = pathlib.Path(__file__).resolve().parents[2] / "lessons" / "en"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """Empty exercise results, a temporary working directory, no learner variable."""
    monkeypatch.setattr(exercises, "_results", {})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(checkin_module.LEARNER_ENV, raising=False)
    return tmp_path


def _red_figure():
    figure = Figure(figsize=(3, 2))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(np.ones((4, 4, 3)) * np.array([1.0, 0.0, 0.0]))
    axes.axis("off")
    return figure


def _red_pixels(path):
    image = matplotlib.image.imread(path)  # (H, W, 4) floats in [0, 1]
    red = (image[..., 0] > 0.9) & (image[..., 1] < 0.1) & (image[..., 2] < 0.1)
    return int(red.sum())


def selection_matrix(D, h, i):
    d_h = D // h
    return np.eye(D, dtype=np.float32)[:, i * d_h:(i + 1) * d_h]


def test_card_written_where_documented_and_summary_counts_checks(fresh, capsys):
    mm.check_exercise("2.1", selection_matrix)
    mm.check_exercise("2.2", lambda w_fused, h, i: w_fused)  # wrong
    mm.check_exercise("2.3", lambda: None)  # no check runs it: not a pass
    mm.check_exercise("3.1", lambda heads: heads.transpose(1, 0, 2).reshape(heads.shape[1], -1))  # another day
    assert capsys.readouterr().out.splitlines()[0] == "Exercise 2.1: correct"
    assert exercises.exercise_results() == {"2.1": True, "2.2": False, "2.3": False, "3.1": True}

    path = mm.checkin(2, name="Ana")

    today = datetime.date.today().isoformat()
    assert path == pathlib.Path("checkins") / f"day02_{today}.png"
    image = matplotlib.image.imread(fresh / path)
    assert image.shape[:2] == (450, 800)
    line = capsys.readouterr().out.strip()
    assert line == (f"Day 2 check-in · Heads as projection matrices · checks 1 / 3 · "
                    f"{mm.device_info()['device']} · MindSpore {__import__('mindspore').__version__} · "
                    f"{today} · Ana")


def test_card_counts_the_days_exercises_never_0_of_0(fresh, capsys, monkeypatch):
    mm.checkin(5, name="Ana")
    assert "· checks 0 / 3 ·" in capsys.readouterr().out
    exercises._results.update({"5.1": True, "5.9": True})  # an id no check knows is not counted
    assert checkin_module.checks_passed(5) == "1 / 3"
    monkeypatch.setattr("mhsa_ms.course.checks.checks_of_day", lambda day: [])
    assert checkin_module.checks_passed(5) == "no exercises"


def test_thumbnail_of_the_figure_is_on_the_card(fresh):
    without = mm.checkin(0, name="Ana", directory="plain")
    with_figure = mm.checkin(0, name="Ana", figure=_red_figure(), directory="figure")
    assert _red_pixels(without) == 0
    assert _red_pixels(with_figure) > 5_000


def test_learner_name_defaults_to_environment(fresh, monkeypatch, capsys):
    monkeypatch.setenv(checkin_module.LEARNER_ENV, "李雷")
    mm.checkin(1)
    assert capsys.readouterr().out.strip().endswith("· 李雷")
    monkeypatch.delenv(checkin_module.LEARNER_ENV)
    monkeypatch.setattr(checkin_module.getpass, "getuser", lambda: "login-name")
    mm.checkin(1)
    assert capsys.readouterr().out.strip().endswith("· login-name")


def test_card_is_displayed_inside_a_kernel(fresh, monkeypatch):
    shown = []
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setattr(sys.modules["IPython"], "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", shown.append)
    path = mm.checkin(4, name="Ana")
    assert len(shown) == 1
    assert shown[0].data == path.read_bytes()


@pytest.mark.parametrize("kwargs, error, text", [
    ({"day": 42}, ValueError, "day must be one of"),
    ({"day": True}, TypeError, "day must be an int, got bool True"),
    ({"day": "1"}, TypeError, "day must be an int, got str '1'"),
    ({"day": 1, "name": 3}, TypeError, "name must be a non-empty string, got int 3"),
    ({"day": 1, "name": "  "}, ValueError, "name must be a non-empty string"),
    ({"day": 1, "figure": np.zeros((4, 4))}, TypeError, "figure must be a matplotlib Figure"),
])
def test_bad_arguments_are_named(fresh, kwargs, error, text):
    with pytest.raises(error, match=text):
        mm.checkin(**kwargs)


def test_lesson_titles_match_the_lesson_notebooks():
    found = {}
    for notebook in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["mhsa_ms"]
        assert int(notebook.name[:2]) == meta["day"], notebook.name
        found[meta["day"]] = meta["title"]
    assert found == checkin_module.LESSON_TITLES
