"""The supported MindSpore range: one clear ImportError outside it, the same range everywhere."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mhsa_ms import _mindspore_version as versions

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("version, ok", [
    ("2.7.0", True), ("2.7.2", True), ("2.8.0", True), ("2.9.0", True), ("2.10.0", True),
    ("2.10.1rc1", True), ("2.6.0", False), ("2.0.0", False), ("1.10.1", False), ("2.11.0", False),
    ("3.0.0", False),
])
def test_supported_range(version, ok):
    assert versions.supported(version) is ok


@pytest.mark.parametrize("version", ["2.0.0", "2.6.0", "2.11.0", "not-a-version"])
def test_outside_the_range_one_clear_import_error(version):
    with pytest.raises(ImportError) as error:
        versions.check_mindspore_version(version)
    message = str(error.value)
    assert f"MindSpore {version} is installed" in message
    assert ">=2.7,<2.11" in message


def test_inside_the_range_returns_the_version():
    assert versions.check_mindspore_version("2.7.0") == "2.7.0"
    import mindspore

    assert versions.installed_version() == mindspore.__version__
    assert versions.check_mindspore_version() == mindspore.__version__


def test_not_installed(monkeypatch):
    monkeypatch.setattr(versions, "installed_version", lambda: None)
    with pytest.raises(ImportError, match=r"MindSpore is not installed.*mindspore>=2\.7,<2\.11"):
        versions.check_mindspore_version()


@pytest.mark.parametrize("fake", ["2.0.0", "2.11.0"])
def test_import_mhsa_ms_on_an_unsupported_mindspore(fake):
    """`import mhsa_ms` itself stops, before importing MindSpore, on a version outside the range."""
    code = (
        "import importlib.metadata as m, sys\n"
        f"m.version = lambda name: {fake!r}\n"
        "try:\n"
        "    import mhsa_ms\n"
        "except ImportError as error:\n"
        "    print(error)\n"
        "    print('mindspore' in sys.modules)\n"
        "else:\n"
        "    print('imported')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"mhsa_ms supports MindSpore >=2.7,<2.11"), result.stdout + result.stderr
    assert f"but MindSpore {fake} is installed" in lines[0]
    assert lines[1] == "False"  # stopped before any module imported MindSpore


def test_the_declared_range_is_the_checked_one():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert f'"mindspore{versions.SUPPORTED_RANGE}"' in pyproject
    assert re.search(rf"^mindspore{re.escape(versions.SUPPORTED_RANGE)}\s", requirements, re.MULTILINE)
    assert "numpy<2" in pyproject and re.search(r"^numpy<2\s", requirements, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    oldest = re.search(r"^OLDEST_MINDSPORE := (\S+)$", makefile, re.MULTILINE).group(1)
    assert versions.version_tuple(oldest)[:2] == versions.MINIMUM


def test_lesson_00_checks_the_same_range():
    import mhsa_ms as mm

    assert mm.device_info()["mindspore_range"] == versions.SUPPORTED_RANGE
    cells = json.loads((ROOT / "lessons" / "en" / "00_setup.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    assert 'info["mindspore_range"]' in code
    assert 'startswith("2.")' not in code
