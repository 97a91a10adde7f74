"""Root's launcher of one sandbox: stage the allow-list, join the cgroups, become nobody, exec bubblewrap.

Run as root by :mod:`.execute` with ``python -I -S stage.py SPEC_JSON`` (standard library only,
nothing imported from the project, no site-packages).  Bubblewrap run by root would give the
sandbox root's host uid (0, even with a user namespace and no capabilities); run by nobody,
the sandboxed processes are nobody on the host too.  But nobody may not reach the Python
installation or the venv when they live under a private folder such as /root (pyenv, a CI
checkout), nor the grader's private temp folder.  So this launcher, still root:

1. enters a mount namespace of its own (private: nothing propagates to the host in or out);
2. opens every allow-listed host path (``binds``) as a path-only descriptor, then mounts a
   small tmpfs (mode 0755) over ``stage`` (the host's /tmp, which it hides from here on);
3. bind-mounts each opened path read-only at ``stage/<index>``, where nobody can reach it
   (bubblewrap then binds ``stage/<index>`` to where the sandbox sees it);
4. writes its own pid into each cgroup's ``cgroup.procs`` (the limits then cover bubblewrap
   and everything it starts);
5. drops every supplementary group and becomes ``uid``/``gid`` (nobody) for good, then
   replaces itself by bubblewrap (``argv``), which creates the unprivileged sandbox.

SPEC_JSON: {"binds": [host paths], "stage": folder, "cgroups": [cgroup.procs files],
"uid": int, "gid": int, "argv": [bwrap, ...]}.
"""
import ctypes
import json
import os
import stat
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                       data and data.encode()), f"mount {source} on {target}")


def main(spec):
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    fds = [os.open(path, os.O_PATH | os.O_CLOEXEC) for path in spec["binds"]]  # before the stage hides them
    stage = spec["stage"]
    _mount("mhsa-ms-stage", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for index, fd in enumerate(fds):
        target = os.path.join(stage, str(index))
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC, None)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        os.close(fd)
    _mount(None, stage, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for procs in spec["cgroups"]:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    os.chdir("/")
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    if os.getuid() == 0 or os.geteuid() == 0 or os.getgroups():
        raise SystemExit("mhsa-ms stage: could not drop root")
    os.execv(spec["argv"][0], spec["argv"])


if __name__ == "__main__":
    try:
        main(json.loads(sys.argv[1]))
    except OSError as exc:
        sys.stderr.write(f"mhsa-ms stage: {exc}\n")
        sys.exit(125)
