"""The check-in card (打卡) a learner posts at the end of each day's lesson.

:func:`checkin` renders a PNG card with the lesson title, the day, the
exercise checks passed in this session, the device, the MindSpore version,
the date, the learner's name and a thumbnail of the lesson's key figure,
labelled in the learner's language (:func:`mhsa_ms.set_language`); a name or
labels in Chinese are drawn with a CJK font (:mod:`mhsa_ms.course.fonts`).

>>> import tempfile, mhsa_ms as mm
>>> from mhsa_ms.course.card import LESSON_TITLES
>>> LESSON_TITLES[1]
'Self-attention'
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = mm.checkin(1, name="Ana", directory=tmp)  # doctest: +ELLIPSIS
...     print(path.name.startswith("day01_"), path.suffix, path.stat().st_size > 10_000)
Day 1 check-in · Self-attention · checks ... / 3 · ... · Ana
True .png True
"""
import datetime
import getpass
import io
import os
import pathlib

from .._checks import check_choice, check_instance, check_int, check_text
from ..i18n import N_
from ..i18n import gettext as _
from .exercises import exercise_results
from .fonts import cjk_font, needs_cjk

#: Day -> lesson title, the ``mhsa_ms.title`` of each ``lessons/NN_*.ipynb`` (English; the
#: card and the summary show it in the learner's language).
LESSON_TITLES = {
    0: N_("Setup: device, tensors, cells, jit"),
    1: N_("Self-attention"),
    2: N_("Heads as projection matrices"),
    3: N_("Concat and the output projection"),
    4: N_("The multi-head attention module"),
    5: N_("The Transformer encoder block"),
    6: N_("The Vision Transformer"),
    7: N_("What attention costs"),
    8: N_("Scaling out"),
}

LEARNER_ENV = "MHSA_MS_LEARNER"


def _learner_name(name):
    if name is not None:
        check_text("name", name)
        return name.strip()
    from_env = os.environ.get(LEARNER_ENV, "").strip()
    if from_env:
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or password database
        return "learner"


def _figure_thumbnail(figure):
    """The figure rendered to an RGBA array (H, W, 4), or None."""
    if figure is None:
        return None
    from matplotlib.figure import Figure
    import matplotlib.image

    check_instance("figure", figure, Figure, "a matplotlib Figure or None")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight", facecolor="white")
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


def _font_families(texts):
    """DejaVu Sans, and a CJK font as fallback when a text on the card needs one."""
    family = cjk_font() if any(needs_cjk(text) for text in texts) else None
    return ["DejaVu Sans"] + ([family] if family else [])


def checks_passed(day):
    """'passed / exercises of the day', counting only the package's own checks run in this process.

    The number of exercises comes from the checks of the lesson (:mod:`mhsa_ms.course.checks`),
    so a day never reads "0 / 0"; a day without exercises reads "no exercises" (and a copy of the
    package without its checks, as a graded kernel gets, only "N passed").
    """
    results = exercise_results(day)
    try:
        from .checks import checks_of_day
    except ImportError:
        return _("{passed} passed").format(passed=sum(results.values()))
    ids = [check.id for check in checks_of_day(day)]
    if not ids:
        return _("no exercises")
    return f"{sum(results.get(exercise_id, False) for exercise_id in ids)} / {len(ids)}"


def _render_card(path, fields, thumbnail):
    """Draw the card (800 x 450 px) with the Agg backend, never through pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    card = Figure(figsize=(8, 4.5), dpi=100, facecolor="white")
    FigureCanvasAgg(card)
    heading = "mhsa-ms  ·  " + _("Day {day} check-in").format(day=fields["day"])
    rows = [
        (_("checks passed"), fields["checks"]),
        (_("device"), fields["device"]),
        ("MindSpore", fields["mindspore"]),
        (_("date"), fields["date"]),
        (_("learner"), fields["learner"]),
    ]
    no_figure = _("no figure")
    family = _font_families([heading, fields["title"], no_figure, *(text for row in rows for text in row)])
    header = card.add_axes((0, 0.78, 1, 0.22))
    header.axis("off")
    header.add_patch(Rectangle((0, 0), 1, 1, transform=header.transAxes, color="#1f4e79"))
    header.text(0.03, 0.74, heading, color="#c9dcf0", fontsize=13, va="center", family=family)
    header.text(0.03, 0.32, fields["title"], color="white", fontsize=20, fontweight="bold",
                va="center", family=family)

    text = card.add_axes((0.03, 0.03, 0.30, 0.72))
    text.axis("off")
    for row, (label, value) in enumerate(rows):
        y = 0.97 - row * 0.2
        text.text(0, y, label, fontsize=10, color="#666666", va="top", family=family)
        text.text(0, y - 0.075, value, fontsize=14, va="top", family=family)

    picture = card.add_axes((0.35, 0.04, 0.62, 0.70))
    picture.set_xticks([])
    picture.set_yticks([])
    for spine in picture.spines.values():
        spine.set_color("#bbbbbb")
    if thumbnail is None:
        picture.text(0.5, 0.5, no_figure, ha="center", va="center", color="#999999",
                     fontsize=12, transform=picture.transAxes, family=family)
    else:
        picture.imshow(thumbnail, interpolation="antialiased")
        picture.set_aspect("equal")
    card.savefig(path, format="png", facecolor="white")


def checkin(day, name=None, figure=None, *, directory="checkins"):
    """Render, save, show and summarise the check-in card of lesson ``day``.

    Args:
        day: the lesson's day, a key of :data:`LESSON_TITLES`.
        name: the learner's name; default: the environment variable
            ``MHSA_MS_LEARNER``, else the login name.
        figure: the lesson's key matplotlib Figure, shown as a thumbnail.
        directory: where the card is written (created if missing),
            relative to the current directory unless absolute.

    Returns:
        The path of the card, ``<directory>/day<NN>_<YYYY-MM-DD>.png``.
        In IPython the card is also displayed; a one-line text summary to
        post with it is printed.  "checks passed" counts this day's exercises
        whose ``mm.check_exercise`` self-check said ``correct`` in this process,
        out of all the day's exercises.  The
        card and the summary speak the learner's language (``mm.set_language``).
    """
    check_int("day", day)
    day = int(day)
    check_choice("day", day, tuple(sorted(LESSON_TITLES)))
    check_instance("directory", directory, (str, os.PathLike), "a path (str or os.PathLike)")
    import mindspore
    from ..device import device_info

    today = datetime.date.today().isoformat()
    fields = {
        "day": day,
        "title": _(LESSON_TITLES[day]),
        "checks": checks_passed(day),
        "device": device_info()["device"],
        "mindspore": mindspore.__version__,
        "date": today,
        "learner": _learner_name(name),
    }
    folder = pathlib.Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"day{day:02d}_{today}.png"
    _render_card(path, fields, _figure_thumbnail(figure))
    _show_in_ipython(path)
    print(_("Day {day} check-in · {title} · checks {checks} · {device} · MindSpore {mindspore} · "
            "{date} · {learner}").format(**fields))
    return path


def _show_in_ipython(path):
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from IPython.display import Image, display

    display(Image(filename=str(path)))
