"""Memory and process limits of one sandboxed submission: a cgroup, or rlimits and a watchdog.

- With a writable cgroup (v2 with the memory and pids controllers, else v1; as root, or a v2
  subtree delegated to the user): one cgroup per submission, which every process of the sandbox
  joins before bubblewrap starts (see :mod:`.stage`).  ``memory`` bounds all of them together,
  their tmpfs files (scratch, /dev/shm, answers) and SysV shared memory included; ``tasks``
  bounds processes and threads together.  When the memory is exhausted, the kernel's OOM killer
  ends the largest process (the student's kernel is made the first choice); the run goes on.
- Otherwise: rlimits set inside the sandbox (RLIMIT_NPROC = ``tasks`` counted in the
  sandbox's own user namespace; RLIMIT_DATA = ``memory`` per kernel process) and
  :class:`MemoryWatchdog`, which ends the whole submission when the resident memory of its
  processes together passes ``memory``.  tmpfs sizes bound the files.
"""
import os
import re
import signal
import threading
import time
from pathlib import Path

TASKS = 1024  # processes and threads of one submission (MindSpore starts dozens of threads per process)
PREFIX = "mhsa-ms-grade"


def _mounts():
    """(fstype, mount point, super options) of the cgroup file systems."""
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                dash = fields.index("-")
                if fields[dash + 1] in ("cgroup", "cgroup2"):
                    found.append((fields[dash + 1], fields[4], fields[dash + 3].split(",")))
    except (OSError, ValueError):
        pass
    return found


def _own_paths():
    """Hierarchy id or controller -> this process's cgroup path."""
    paths = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            for line in handle:
                number, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in (controllers.split(",") if controllers else ["unified" if number == "0" else ""]):
                    paths[controller] = path
    except (OSError, ValueError):
        pass
    return paths


def _v2_parents():
    own = _own_paths().get("unified")
    for fstype, mount_point, _ in _mounts():
        if fstype != "cgroup2":
            continue
        candidates = [mount_point]
        if own and own != "/":
            candidates.insert(0, os.path.join(mount_point, own.lstrip("/")))
        for parent in candidates:
            try:
                if not {"memory", "pids"} <= set(Path(parent, "cgroup.controllers").read_text().split()):
                    continue
                enabled = set(Path(parent, "cgroup.subtree_control").read_text().split())
                if not {"memory", "pids"} <= enabled:
                    Path(parent, "cgroup.subtree_control").write_text("+memory +pids")
                return parent
            except OSError:
                continue
    return None


def _v1_parents():
    own = _own_paths()
    parents = {}
    for fstype, mount_point, options in _mounts():
        for controller in ("memory", "pids"):
            if fstype == "cgroup" and controller in options and controller not in parents:
                parents[controller] = os.path.join(mount_point, own.get(controller, "/").lstrip("/"))
    return parents if len(parents) == 2 else None


class Cgroup:
    """The cgroup(s) of one submission; :meth:`create` returns None when none can be made here."""

    _serial = 0
    _lock = threading.Lock()

    def __init__(self, version, dirs):
        self.version = version
        self.dirs = dirs  # v2: [dir]; v1: [memory dir, pids dir]

    @classmethod
    def create(cls, memory_bytes, tasks=TASKS):
        """A new cgroup limited to ``memory_bytes`` (0: no memory limit) and ``tasks``."""
        with cls._lock:
            cls._serial += 1
            name = f"{PREFIX}-{os.getpid()}-{cls._serial}"
        parent = _v2_parents()
        if parent is not None:
            made = cls._make("v2", [os.path.join(parent, name)])
            if made is not None and made._configure(memory_bytes, tasks):
                return made
        parents = _v1_parents()
        if parents is not None:
            made = cls._make("v1", [os.path.join(parents["memory"], name), os.path.join(parents["pids"], name)])
            if made is not None and made._configure(memory_bytes, tasks):
                return made
        return None

    @classmethod
    def _make(cls, version, dirs):
        made = []
        try:
            for folder in dirs:
                os.mkdir(folder)
                made.append(folder)
        except OSError:
            for folder in made:
                _rmdir(folder)
            return None
        return cls(version, dirs)

    def _configure(self, memory_bytes, tasks):
        try:
            if self.version == "v2":
                folder = self.dirs[0]
                if memory_bytes:
                    _write(folder, "memory.max", memory_bytes)
                    if os.path.exists(os.path.join(folder, "memory.swap.max")):
                        _write(folder, "memory.swap.max", 0)
                _write(folder, "pids.max", tasks)
            else:
                memory, pids = self.dirs
                if memory_bytes:
                    _write(memory, "memory.limit_in_bytes", memory_bytes)
                    if os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes")):
                        _write(memory, "memory.memsw.limit_in_bytes", memory_bytes)
                _write(pids, "pids.max", tasks)
            return True
        except OSError:
            self.remove()
            return False

    @property
    def procs_files(self):
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return [os.path.join(folder, "cgroup.procs") for folder in self.dirs]

    def describe(self):
        return f"cgroup {self.version}"

    def peak_bytes(self):
        """The most memory the submission used at once (None when the kernel does not say)."""
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        try:
            return int(Path(self.dirs[0], name).read_text())
        except (OSError, ValueError):
            return None

    def oom_kills(self):
        """How many processes the OOM killer ended for reaching the memory limit."""
        name = "memory.events" if self.version == "v2" else "memory.oom_control"
        try:
            text = Path(self.dirs[0], name).read_text()
        except OSError:
            return 0
        found = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
        return int(found.group(1)) if found else 0

    def kill_all(self):
        """SIGKILL every process still in the cgroup; wait (5 s at most) until it is empty."""
        for _ in range(50):
            pids = set()
            for procs in self.procs_files:
                try:
                    pids.update(int(pid) for pid in Path(procs).read_text().split())
                except OSError:
                    pass
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def remove(self):
        self.kill_all()
        for folder in self.dirs:
            _rmdir(folder)


def _write(folder, name, value):
    with open(os.path.join(folder, name), "w") as handle:
        handle.write(str(value))


def _rmdir(folder):
    for _ in range(20):
        try:
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def describe_limits():
    """How submissions will be limited here, in words (makes and removes one cgroup to know)."""
    cgroup = Cgroup.create(1 << 30)
    if cgroup is None:
        return f"rlimits (at most {TASKS} tasks) and a memory watchdog: no writable cgroup"
    cgroup.remove()
    return f"{cgroup.describe()} (memory and at most {TASKS} tasks per submission)"


def remove_stale_cgroups():
    """Remove the empty cgroups left by graders that were killed (SIGKILL) before cleaning up."""
    parents = [_v2_parents()] + list((_v1_parents() or {}).values())
    for parent in filter(None, parents):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            found = re.fullmatch(rf"{PREFIX}-(\d+)-\d+", name)
            if found and not Path(f"/proc/{found.group(1)}").exists():
                try:
                    os.rmdir(os.path.join(parent, name))
                except OSError:
                    pass


def _resident_bytes(pid):
    """Anonymous and shared-memory resident bytes of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return 0
    return sum(int(value) * 1024 for value in re.findall(r"^Rss(?:Anon|Shmem):\s+(\d+) kB", text, re.MULTILINE))


def descendants(pid):
    """``pid`` and every process below it (from /proc; a process that left the tree is not found)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class MemoryWatchdog(threading.Thread):
    """Without a cgroup: every ``period`` seconds, sum the resident memory (anonymous and shared)
    of ``pid`` and its descendants; past ``limit_bytes``, call ``on_exceed`` once and stop.

    A sampler, not a hard limit: a process may pass the limit between two looks, by what it
    allocates in ``period`` (each process stays under its own RLIMIT_DATA).
    """

    def __init__(self, pid, limit_bytes, on_exceed, period=0.1):
        super().__init__(daemon=True)
        self.pid, self.limit, self.on_exceed, self.period = pid, limit_bytes, on_exceed, period
        self.peak = 0
        self.exceeded = False
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.wait(self.period):
            used = sum(_resident_bytes(pid) for pid in descendants(self.pid))
            self.peak = max(self.peak, used)
            if used > self.limit:
                self.exceeded = True
                self.on_exceed()
                return

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)
