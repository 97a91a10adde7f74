"""Every exercise check, by id: the ``dayNN`` modules of this package, then an instructor's own.

An instructor who writes a lesson of their own puts its checks in a folder of
``dayNN.py`` modules (each defining ``CHECKS``, a tuple of
:class:`~mhsa_ms.course.checks.spec.ExerciseCheck`) and names the folder in
the environment variable ``MHSA_MS_EXTRA_CHECKS`` (several folders: joined
by ``os.pathsep``); the self-check and the referee then know its exercises.
"""
import importlib
import importlib.util
import os
import pkgutil
import re
from pathlib import Path

from ..._checks import check_checked_once, check_instance
from .spec import ExerciseCheck

EXTRA_ENV = "MHSA_MS_EXTRA_CHECKS"
_DAY_MODULE = re.compile(r"^day\d\d$")
_cache = {}


def _modules():
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda info: info.name):
        if _DAY_MODULE.match(info.name):
            yield importlib.import_module(f"{__package__}.{info.name}")
    for folder in filter(None, os.environ.get(EXTRA_ENV, "").split(os.pathsep)):
        for path in sorted(Path(folder).glob("day[0-9][0-9].py")):
            name = f"mhsa_ms_extra_checks_{abs(hash(str(path.resolve())))}_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            yield module


def all_checks():
    """Dict exercise id -> :class:`ExerciseCheck`, in lesson order."""
    key = os.environ.get(EXTRA_ENV, "")
    if key not in _cache:
        checks = {}
        for module in _modules():
            for check in getattr(module, "CHECKS", ()):
                check_instance(f"each of {module.__name__}.CHECKS", check, ExerciseCheck, "an ExerciseCheck")
                check_checked_once(check.id, checks, module.__name__)
                checks[check.id] = check
        _cache[key] = dict(sorted(checks.items(), key=lambda item: tuple(map(int, item[0].split(".")))))
    return dict(_cache[key])


def find_check(exercise_id):
    """The check of ``exercise_id``, or None."""
    return all_checks().get(exercise_id)


def checks_of_day(day):
    """The checks of lesson ``day`` in order (empty when the day has no exercises)."""
    return [check for check in all_checks().values() if check.day == day]
