"""The architecture: two packages, and which may import what.

- ``mhsa_ms`` (the learner's package) never imports ``mhsa_tools``;
- ``mhsa_tools`` never loads MindSpore or ``mhsa_ms`` in its own process, but in
  the training worker ``mhsa_tools.train``, which the commands start as a process of its own.

The contracts live in pyproject.toml ([tool.importlinter]) and are checked
statically by import-linter; the second one is also checked at run time.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

IMPORT_EVERY_TOOL = """
import importlib, pkgutil, sys
import mhsa_tools
names = ["mhsa_tools"] + [info.name for info in pkgutil.walk_packages(mhsa_tools.__path__, "mhsa_tools.")
                          if info.name not in ("mhsa_tools.train", "mhsa_tools.__main__")]
for name in names:
    importlib.import_module(name)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("mindspore", "mhsa_ms"))
print(len(names), "modules;", "loaded:", heavy)
"""


def _lint_imports(cwd, env=None):
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)


def test_import_contracts_are_kept():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_importing_every_tool_loads_no_mindspore():
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_TOOL], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" modules; loaded: ")
    assert int(count) >= 15  # every module of the tools, not a few
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("module, line", [
    ("mhsa_tools/grading/feedback.py", "import mindspore\n"),
    ("mhsa_tools/slides/deck.py", "from mhsa_ms.course import plotting\n"),
    ("mhsa_tools/cli.py", "from . import train\n"),
    ("mhsa_ms/model/cost.py", "from mhsa_tools import notebooks\n"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line):
    for package in ("mhsa_ms", "mhsa_tools"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + line, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = _lint_imports(tmp_path, env)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
