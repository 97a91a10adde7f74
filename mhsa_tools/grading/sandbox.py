"""The bubblewrap sandbox a submission runs in, built from an allow-list.

What the sandboxed processes (pytest with nbval, the student's kernel, its children) see;
nothing else of the host exists for them:

=============================  ==========================================================
read-only                      ``/usr`` (with the ``/bin``, ``/lib``... links), the /etc files
                               of :data:`ETC_FILES` that exist, a generated ``/etc/passwd``,
                               ``group``, ``hosts``, ``nsswitch.conf``; the Python installation
                               and the venv (at their host paths); ``/grading/package`` (a copy of
                               ``mhsa_ms`` and ``mhsa_tools`` without :data:`HIDDEN_FROM_SANDBOX`);
                               ``/grading/plugin`` (the nbval plugin); ``/grading/cases`` (check
                               inputs); the graded notebook and ``pytest.ini``
writable, size-limited tmpfs   ``/grading/scratch`` (:data:`SCRATCH_MB`: HOME, TMPDIR, ``/tmp``
                               links there, the kernel's working folder ``work/``),
                               ``/grading/answers`` (:data:`ANSWERS_MB`), ``/dev/shm``
                               (:data:`SHM_MB`); ``/tmp`` itself (:data:`TMP_MB`) only when
                               the Python installation or the venv lives under the host's /tmp
own                            ``/proc`` of its pid namespace, a minimal ``/dev``
=============================  ==========================================================

Namespaces: all new (user, mount, pid, network with loopback only, IPC, UTS, cgroup); inside
uid and gid 1000, no capabilities, no further user namespaces, a session of its own, killed
when the grader dies; ``/`` itself is read-only.  As root the sandbox is also nobody (uid
65534, no groups) on the host: :mod:`.stage` prepares it, see there.  As another user it is
that user on the host (bubblewrap maps the inside uid to the caller), but sees only the above.

Limits (memory, processes, disk) are applied by :mod:`.limits`; what is not covered is listed
in docs/grading-sandbox.md.
"""
import getpass
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..i18n import N_
from .gradebook import short

SANDBOX_UID = SANDBOX_GID = 1000  # inside the sandbox
NOBODY_UID = NOBODY_GID = 65534  # on the host, when the grader runs as root
SCRATCH_MB = 512  # HOME, TMPDIR, /tmp and the kernel's working folder together
ANSWERS_MB = 33  # the answer files (at most 32 MiB are taken) and their folder entries
SHM_MB = 64
# /tmp is a link into scratch, unless the Python installation or the venv lives under the host's
# /tmp (a CI checkout there, say): they are mounted at their host paths, so /tmp is then a
# directory, made a tmpfs of this size of its own (TMPDIR still points into scratch).
TMP_MB = 64
GRADING = "/grading"
SCRATCH, ANSWERS, CASES = f"{GRADING}/scratch", f"{GRADING}/answers", f"{GRADING}/cases"
PACKAGE, PLUGIN = f"{GRADING}/package", f"{GRADING}/plugin"
WORK = f"{SCRATCH}/work"  # the kernel's working folder: the graded notebook is there, read-only
# As root: where :mod:`.stage` mounts the read-only paths for nobody's bubblewrap (in its own
# mount namespace, over the host's /tmp, which nobody can always reach and bubblewrap never needs).
STAGE = "/tmp"
SCRATCH_DIRS = ("home", "tmp", "work", "runtime", "ipython", "jupyter", "cache/matplotlib")

# The /etc files that the dynamic linker, Python, Jupyter and matplotlib read (those that exist).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives", "mime.types")
# Never in the sandbox's package copy: what decides verdicts, and the tools that grade.
HIDDEN_FROM_SANDBOX = ("mhsa_ms/course/checks", "mhsa_ms/course/referee.py", "mhsa_tools/grading",
                       "mhsa_tools/slides")
_REPOSITORY = Path(__file__).resolve().parents[2]

SANDBOX_WARNING = N_("""
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
WARNING: grading WITHOUT a sandbox (--no-sandbox).
Student code runs as you, with your files, your network and no limits but the
time limit and a per-process memory limit: it can read the lessons' solutions,
other submissions and your home, and change the grades.  Grade only notebooks
you trust this way; otherwise install bubblewrap (apt-get install bubblewrap).
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
""")  # printed in the language of the environment: _(SANDBOX_WARNING)


class SandboxUnavailable(ValueError):
    """No usable sandbox here, and the instructor did not ask to grade without one."""


@dataclass(frozen=True)
class Mount:
    """One entry of the allow-list: ``kind`` is "ro" (a host path, read-only), "tmpfs"
    (``size`` bytes), "dir" or "symlink" (``source`` is then the link's target)."""

    kind: str
    dest: str
    source: str = ""
    size: int = 0


def python_dirs():
    """The Python installation and the venv this process runs in (their real paths), outside /usr."""
    found = set()
    for prefix in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        for path in {prefix, os.path.realpath(prefix)}:
            if not _under(path, "/usr"):
                found.add(path)
    return sorted(path for path in found if not any(other != path and _under(path, other) for other in found))


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def prepare_support(root, repository=_REPOSITORY):
    """Write what every sandbox of one grading run shares under ``root``: the package copy
    (``package/``: ``mhsa_ms`` and ``mhsa_tools`` of ``repository`` without
    :data:`HIDDEN_FROM_SANDBOX`), the nbval plugin (``plugin/``), the generated /etc files (``etc/``)."""
    root, repository = Path(root), Path(repository)
    hidden = {str(repository / path) for path in HIDDEN_FROM_SANDBOX}

    def ignore(folder, names):
        return [name for name in names if name == "__pycache__" or name.endswith(".pyc")
                or os.path.join(folder, name) in hidden]

    for package in ("mhsa_ms", "mhsa_tools"):
        shutil.copytree(repository / package, root / "package" / package, ignore=ignore, symlinks=False)
    (root / "plugin").mkdir()
    shutil.copy(Path(__file__).with_name("nbval_plugin.py"), root / "plugin" / "nbval_plugin.py")
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                                f"student:x:{SANDBOX_UID}:{SANDBOX_GID}:student:{SCRATCH}/home:/bin/sh\n"
                                f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{SANDBOX_GID}:\nnogroup:x:65534:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
    make_readable(root)
    return root


def make_readable(root):
    """Folders 0755 and files 0644 under ``root`` (the sandbox's user may have to read them)."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def allow_list(support, run_dir, cases_dir, font_caches=()):
    """The sandbox's file system, in bubblewrap's order.

    Args:
        support: folder written by :func:`prepare_support`.
        run_dir: host folder holding ``graded.ipynb`` and ``pytest.ini``.
        cases_dir: host folder of the check inputs (read-only inside).
        font_caches: matplotlib font-list files copied in (saves a font scan per kernel).
    """
    mounts = [Mount("ro", "/usr", "/usr")]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            mounts.append(Mount("symlink", path, os.readlink(path)))
        elif os.path.isdir(path):
            mounts.append(Mount("ro", path, path))
    mounts += [Mount("ro", f"/etc/{name}", f"/etc/{name}") for name in ETC_FILES if os.path.exists(f"/etc/{name}")]
    mounts += [Mount("ro", f"/etc/{name}", str(Path(support) / "etc" / name))
               for name in ("passwd", "group", "hosts", "nsswitch.conf")]
    mounts += [Mount("proc", "/proc"), Mount("dev", "/dev"), Mount("tmpfs", "/dev/shm", size=SHM_MB << 20)]
    pythons = python_dirs()
    python_under_tmp = any(_under(path, "/tmp") for path in pythons)
    if python_under_tmp:  # before the Python mounts, which then sit inside it
        mounts.append(Mount("tmpfs", "/tmp", size=TMP_MB << 20))
    mounts += [Mount("ro", path, path) for path in pythons]
    mounts.append(Mount("tmpfs", SCRATCH, size=SCRATCH_MB << 20))
    mounts += [Mount("dir", f"{SCRATCH}/{name}") for name in SCRATCH_DIRS]
    if not python_under_tmp:
        mounts.append(Mount("symlink", "/tmp", f"{SCRATCH}/tmp"))
    mounts += [Mount("ro", f"{WORK}/{name}", str(Path(run_dir) / name)) for name in ("graded.ipynb", "pytest.ini")]
    mounts += [Mount("ro", f"{SCRATCH}/cache/matplotlib/{Path(cache).name}", str(cache)) for cache in font_caches]
    mounts += [Mount("tmpfs", ANSWERS, size=ANSWERS_MB << 20), Mount("ro", CASES, str(cases_dir)),
               Mount("ro", PACKAGE, str(Path(support) / "package")), Mount("ro", PLUGIN, str(Path(support) / "plugin"))]
    return mounts


def bwrap_argv(mounts, command, staged=None):
    """The bubblewrap command line for ``mounts`` running ``command`` in :data:`WORK`.

    ``staged`` maps a host path to where :mod:`.stage` made it reachable (root's run).
    """
    argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--cap-drop", "ALL", "--hostname", "sandbox",
            "--die-with-parent", "--new-session"]
    for mount in mounts:
        if mount.kind == "ro":
            argv += ["--ro-bind", (staged or {}).get(mount.source, mount.source), mount.dest]
        elif mount.kind == "tmpfs":
            argv += ["--size", str(mount.size), "--tmpfs", mount.dest]
        elif mount.kind == "symlink":
            argv += ["--symlink", mount.source, mount.dest]
        else:  # "dir", "proc", "dev"
            argv += [f"--{mount.kind}", mount.dest]
    return argv + ["--remount-ro", "/", "--chdir", WORK, "--", *command]


def sandboxed_command(mounts, command, cgroup_procs=()):
    """The command that runs ``command`` in the sandbox: bubblewrap itself, or as root
    :mod:`.stage` (which stages the read-only paths at :data:`STAGE` in a mount namespace of
    its own, joins the cgroups and becomes nobody before it runs bubblewrap)."""
    if os.geteuid() != 0:
        return bwrap_argv(mounts, command)
    sources = sorted({mount.source for mount in mounts if mount.kind == "ro"})
    staged = {source: f"{STAGE}/{index}" for index, source in enumerate(sources)}
    spec = {"binds": sources, "stage": STAGE, "cgroups": list(cgroup_procs), "uid": NOBODY_UID,
            "gid": NOBODY_GID, "argv": bwrap_argv(mounts, command, staged)}
    return [sys.executable, "-I", "-S", str(Path(__file__).with_name("stage.py")), json.dumps(spec)]


_PROBE = """
import os, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
assert os.getuid() == %d and int(status["CapEff"], 16) == 0, "not an unprivileged uid without capabilities"
open("%s/probe", "w").close()
import nbval
print("ok")
""" % (SANDBOX_UID, SCRATCH)

_probe_state = {}
_probe_lock = threading.Lock()


def sandbox_available():
    """(True, "") when a sandbox as described above runs here, else (False, why).

    Runs one (a Python that imports nbval in it) the first time for each bwrap on PATH.
    """
    bwrap = shutil.which("bwrap")
    with _probe_lock:
        if bwrap not in _probe_state:
            _probe_state[bwrap] = _probe(bwrap)
        return _probe_state[bwrap]


def _probe(bwrap):
    if bwrap is None:
        return False, "bwrap not found on PATH; install bubblewrap (apt-get install bubblewrap)"
    root = Path(tempfile.mkdtemp(prefix="mhsa-ms-probe-"))
    try:
        support = prepare_support(root / "support")
        run_dir, cases = root / "run", root / "cases"
        run_dir.mkdir()
        cases.mkdir()
        for name in ("graded.ipynb", "pytest.ini"):
            (run_dir / name).write_text("")
        make_readable(run_dir)
        make_readable(cases)
        command = sandboxed_command(allow_list(support, run_dir, cases), [sys.executable, "-c", _PROBE])
        try:
            probe = subprocess.run(command, capture_output=True, text=True, timeout=120, env=minimal_env({}),
                                   stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, short(exc)
        if probe.returncode != 0 or probe.stdout.strip() != "ok":
            return False, short(probe.stderr.strip().splitlines()[-1] if probe.stderr.strip()
                                else f"exit code {probe.returncode}")
        return True, ""
    finally:
        shutil.rmtree(root, ignore_errors=True)


def minimal_env(extra):
    """The environment of a sandboxed run: a fixed list, nothing inherited from the grader's."""
    bin_dir = os.path.dirname(sys.executable)
    env = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "USER": "student", "LOGNAME": "student", "SHELL": "/bin/sh", "TERM": "dumb"}
    env.update(extra)
    return env


def describe_user():
    """Who the sandboxed processes are on the host."""
    if os.geteuid() == 0:
        return f"nobody (uid {NOBODY_UID}, no groups)"
    return f"{getpass.getuser()} (uid {os.geteuid()}, the grader's own user)"
