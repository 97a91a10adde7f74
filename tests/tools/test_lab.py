"""`make lab` opens the edition of the learner's language, JupyterLab's own menus included.

The Makefile's choice is read from `make -n lab` (nothing is started or installed); the menus
from JupyterLab's own settings code given the overrides file `make lab` writes.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRANSLATION = "@jupyterlab/translation-extension:plugin"


def dry_run(folder, environ, *variables):
    """The commands `make lab` would run in ``folder`` (a copy of what it reads), one per line."""
    environ = {key: value for key, value in os.environ.items()
               if key not in ("MHSA_MS_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")} | environ
    done = subprocess.run(["make", "-n", "-f", str(ROOT / "Makefile"), "lab", *variables], cwd=folder, env=environ,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def checkout(tmp_path):
    """The files `make lab` depends on, and the two editions' lesson folders."""
    for name in ("requirements.txt", "pyproject.toml", "system-packages.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    for edition in ("zh", "en"):
        (tmp_path / "lessons" / edition).mkdir(parents=True)
    return tmp_path


def lab_line(lines):
    return next(line for line in lines if " lab " in line and "jupyter" in line)


@pytest.mark.parametrize("environ, variables, language", [
    ({}, (), "en"),
    ({"LANG": "zh_CN.UTF-8"}, (), "zh"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C.UTF-8"}, (), "en"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, (), "zh"),
    ({"LANG": "zh_CN.UTF-8"}, ("MHSA_MS_LANG=en",), "en"),
    ({"MHSA_MS_LANG": "en", "LANG": "zh_CN.UTF-8"}, (), "en"),
    ({}, ("MHSA_MS_LANG=zh",), "zh"),
    ({}, ("LANG=zh_SG.UTF-8",), "zh"),
])
def test_the_language_is_the_learners(checkout, environ, variables, language):
    from mhsa_tools.i18n import language_from_environment

    lines = dry_run(checkout, environ, *variables)
    assert lab_line(lines).startswith(f"MHSA_MS_LANG={language} ")
    assert f'{{"locale": "%s"}}}}\\n\' {"zh_CN" if language == "zh" else "en"} > ' in " ".join(lines)
    # the same choice as the package's (the `make lab VAR=...` forms are environment variables there)
    given = environ | dict(variable.split("=", 1) for variable in variables)
    assert language_from_environment(given) == language


def test_the_edition_of_the_learners_language_is_opened(checkout):
    assert "lessons/zh/" in lab_line(dry_run(checkout, {"LANG": "zh_CN.UTF-8"})).split()
    assert "lessons/en/" in lab_line(dry_run(checkout, {}, "MHSA_MS_LANG=en")).split()
    assert "lessons/en/" in lab_line(dry_run(checkout, {"LC_ALL": "C"})).split()


def test_make_lab_installs_the_cjk_font_not_the_test_packages(checkout):
    install = [line for line in dry_run(checkout, {}) if "install-system-packages.sh" in line]
    assert len(install) == 1 and install[0].endswith(" fonts-noto-cjk")


def test_jupyterlab_reads_the_overrides_make_lab_writes(checkout, tmp_path):
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.settings_utils import get_settings
    from jupyterlab_server.translation_utils import get_language_pack

    lines = dry_run(checkout, {"LANG": "zh_CN.UTF-8"})
    written = next(line for line in lines if line.startswith("printf") and "overrides.json" in line)
    # where make lab writes it (in .venv) is where a venv's JupyterLab reads its overrides
    assert written.endswith("> .venv/share/jupyter/lab/settings/overrides.json")
    assert Path(get_app_dir()) == Path(sys.prefix) / "share" / "jupyter" / "lab"
    settings = tmp_path / "app-settings"
    settings.mkdir()
    subprocess.run(["sh", "-c", written.replace("> .venv/share/jupyter/lab/settings/", f"> {settings}/")],
                   check=True, cwd=checkout)
    assert json.loads((settings / "overrides.json").read_text()) == {TRANSLATION: {"locale": "zh_CN"}}
    found, _ = get_settings(str(settings), str(Path(get_app_dir()) / "schemas"), str(tmp_path / "user"),
                            TRANSLATION)
    assert found["schema"]["properties"]["locale"]["default"] == "zh_CN"
    pack, message = get_language_pack("zh_CN")  # jupyterlab-language-pack-zh-cn, from requirements.txt
    assert message == "" and pack["jupyterlab"]["Edit"] == ["编辑"] and pack["jupyterlab"]["Help"] == ["帮助"]
