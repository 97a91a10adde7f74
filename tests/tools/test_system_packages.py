"""system-packages.txt: what `make test` installs as root (scripts/install-system-packages.sh),
and how the tests that need a package behave without it (the ``system_commands`` fixture)."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install-system-packages.sh"
LIST = ROOT / "system-packages.txt"


def test_a_missing_package_skips_naming_it_and_its_install_command(system_commands, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception) as skipped:
        system_commands("bubblewrap", "chromium")
    reason = str(skipped.value)
    assert "bubblewrap (no bwrap on PATH)" in reason and "chromium (no chromium/chromium-browser on PATH)" in reason
    assert "`apt-get install bubblewrap chromium`" in reason
    browser = tmp_path / "chromium-browser"  # Ubuntu's name for it will do
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    assert system_commands("chromium") == [str(browser)]


def test_every_listed_package_is_needed_by_a_test(system_packages):
    needed = set()
    for test in (ROOT / "tests").rglob("*.py"):
        for arguments in re.findall(r"\bsystem_commands\(([^)]*)\)", test.read_text(encoding="utf-8")):
            needed.update(re.findall(r'"([\w.+-]+)"', arguments))
    assert needed == set(system_packages)


def fake_machine(tmp_path, uid, present=(), failing=(), packages=()):
    """A PATH holding only a fake id, a logging apt-get and the given commands (plus tr and touch)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "id": f"echo {uid}",
        "apt-get": 'echo "$@" >> "$APT_LOG"\n' + "".join(
            f'case "$*" in *" {package}") exit 100 ;; esac\n' for package in failing),
        **{command: "" for command in present},
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for tool in ("tr", "touch"):
        (bin_dir / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                   text=True, check=True).stdout.strip())
    log, stamp = tmp_path / "apt.log", tmp_path / "stamp"
    done = subprocess.run(["/bin/sh", str(SCRIPT), str(LIST), str(stamp), *packages], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "APT_LOG": str(log)}, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls, stamp.exists()


def installs(table, *packages):
    """The apt-get calls that install ``packages``, plus fonts-noto-cjk where this machine lacks its
    font file (a file entry is looked up on the real file system, not on the fake PATH)."""
    packages += () if Path(table["fonts-noto-cjk"][0]).exists() else ("fonts-noto-cjk",)
    return ["update -qq"] + [f"install -y -qq -o Dpkg::Use-Pty=0 {package}" for package in packages] if packages else []


def test_as_root_the_missing_packages_are_installed_once(tmp_path, system_packages):
    done, calls, stamped = fake_machine(tmp_path, 0, present=("bwrap", "node"), failing=("chromium",))
    assert done.returncode == 0, done.stderr
    assert calls == installs(system_packages, "chromium", "chromium-driver", "npm")
    assert "Could not install chromium" in done.stderr and stamped


def test_as_root_with_everything_present_nothing_is_installed(tmp_path, system_packages):
    done, calls, stamped = fake_machine(tmp_path, 0, present=("bwrap", "chromium", "chromedriver", "node", "npm"))
    assert (done.returncode, calls, stamped) == (0, installs(system_packages), True)


def test_make_lab_installs_only_the_learners_packages(tmp_path, system_packages):
    done, calls, stamped = fake_machine(tmp_path, 0, packages=("fonts-noto-cjk",))
    # only the font (where it is missing): no Chromium, bubblewrap or Node.js for a learner
    assert (done.returncode, calls, stamped) == (0, installs(system_packages), True)


def test_as_another_user_nothing_is_installed(tmp_path):
    done, calls, stamped = fake_machine(tmp_path, 1000)
    assert (done.returncode, calls, stamped) == (0, [], False)
