"""Fixtures and paths shared by every test folder (tests/model, tests/training, tests/course, tests/tools).

The helpers beside this file (``support``: MindSpore tensors and parameters,
``reference``: the float64 NumPy reference of the model) are importable from
any test folder because pytest puts this folder on ``sys.path``.
"""
import shutil
from pathlib import Path

import pytest

SYSTEM_PACKAGES = Path(__file__).resolve().parents[1] / "system-packages.txt"


def read_system_packages(path=SYSTEM_PACKAGES):
    """Debian package -> the commands (or, with a slash, files) that show it is installed
    (any one will do), from system-packages.txt."""
    packages = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            package, commands = line.split()[:2]
            packages[package] = commands.split(",")
    return packages


@pytest.fixture(scope="session")
def system_packages():
    """system-packages.txt as a dict: Debian package -> the commands that provide it."""
    return read_system_packages()


def _installed(entry):
    """The path of a command on PATH, or of a file (an entry with a slash) that exists; else None."""
    if "/" in entry:
        return entry if Path(entry).exists() else None
    return shutil.which(entry)


@pytest.fixture(scope="session")
def system_commands(system_packages):
    """``system_commands("chromium", "chromium-driver")``: the paths of the commands (or files) those
    Debian packages provide, or skip the test, naming each missing package and the command that installs it."""
    table = system_packages

    def require(*packages):
        paths = [next(filter(None, map(_installed, table[package])), None) for package in packages]
        missing = [package for package, path in zip(packages, paths) if path is None]
        if missing:
            absent = ", ".join(f"{package} (no {'/'.join(table[package])}"
                               f"{'' if '/' in table[package][0] else ' on PATH'})" for package in missing)
            pytest.skip(f"not installed: {absent}; install with `apt-get install {' '.join(missing)}` "
                        f"as root, or run `make test` as root, which does it")
        return paths

    return require


GRADING_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "grading_lessons"


@pytest.fixture(scope="module")
def fixture_lesson_checks():
    """The checks of the grading fixture lessons (days 10 and 11) live beside them; the referee
    finds them through MHSA_MS_EXTRA_CHECKS (never passed on to a student's kernel)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MHSA_MS_EXTRA_CHECKS", str(GRADING_FIXTURES))
        yield
