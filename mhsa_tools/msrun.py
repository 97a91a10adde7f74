"""Data-parallel launches with MindSpore's ``msrun``: detecting one, checking it, starting one.

Nothing here imports MindSpore: the launcher runs in a light process and the
workers (``python -m mhsa_tools.train``) load it.
"""
import os
import shutil
import socket
import subprocess
import sys


class ConfigurationError(ValueError):
    """A training option or launch that cannot work; raised before any training starts."""


MSRUN_LINE = ("msrun --worker_num=N --local_worker_num=N --master_addr=127.0.0.1 --master_port=8118 "
               "--join=True --log_dir=LOGS python -m mhsa_tools.train --distributed ...")


#: How long (s) a process waits before asking the scheduler again while the cluster forms, and while
#: it breaks up at the end; MindSpore waits 3 to 5 s by default.  On one machine the scheduler
#: answers within a second: with 1 s an empty 2-worker job (import, ``init()``, exit) took
#: 9.6-10.5 s instead of 14.5-14.8 s (3 runs each, alternating, 2 CPU cores, MindSpore 2.10.0).
#: ``run_msrun`` sets them unless the environment already does.
CLUSTER_RETRY_INTERVALS = {"MS_RETRY_INTERVAL_LOWER": "1", "MS_RETRY_INTERVAL_UPPER": "1"}


def launch_environment(environ=None):
    """The data-parallel launch ``msrun`` set up for this process, or None for a single process.

    Returns:
        None, or a dict ``{"role": "MS_WORKER" | "MS_SCHED", "world_size": int}``
        read from the ``MS_ROLE`` and ``MS_WORKER_NUM`` variables msrun exports.

    >>> from mhsa_tools.msrun import launch_environment
    >>> launch_environment({}) is None
    True
    >>> launch_environment({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2"})
    {'role': 'MS_WORKER', 'world_size': 2}
    """
    environ = os.environ if environ is None else environ
    role = environ.get("MS_ROLE")
    if role is None:
        return None
    workers = environ.get("MS_WORKER_NUM", "")
    if role not in ("MS_WORKER", "MS_SCHED") or not workers.isdigit() or int(workers) < 1:
        raise RuntimeError(f"MS_ROLE={role!r} and MS_WORKER_NUM={workers!r} do not describe an msrun "
                           f"launch; start data-parallel runs with: {MSRUN_LINE}")
    return {"role": role, "world_size": int(workers)}


def check_launch(distributed, batch_size, environ=None):
    """Check the launch against the options before any MindSpore work; return the world size.

    Args:
        distributed: True if the user asked for data parallelism (``--distributed``).
        batch_size: the global batch size.
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigurationError (a ValueError): ``distributed`` without msrun, or a global ``batch_size``
            that does not split into equal shards over the workers.

    >>> from mhsa_tools.msrun import check_launch
    >>> check_launch(False, 64, {})
    1
    >>> check_launch(True, 64, {"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2"})
    2
    """
    launch = launch_environment(environ)
    if launch is None:
        if distributed:
            raise ConfigurationError("--distributed needs one process per worker started by msrun, but this "
                                     "process was not started by msrun (MS_ROLE is not set); launch it with: "
                                     f"{MSRUN_LINE}")
        return 1
    world_size = launch["world_size"]
    if batch_size % world_size:
        raise ConfigurationError(f"the global batch size {batch_size} does not divide across {world_size} "
                                 f"workers; choose a multiple of {world_size} (each worker reads "
                                 f"batch_size / {world_size})")
    return world_size


def free_loopback_port():
    """A TCP port on 127.0.0.1 that is free right now (for msrun's ``--master_port``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def msrun_command(worker_num, train_args, log_dir, master_port, cluster_timeout=60):
    """The ``msrun`` command line that runs ``python -m mhsa_tools.train`` on ``worker_num`` local workers.

    Loopback only (``--master_addr=127.0.0.1``); msrun waits for the workers
    (``--join=True``) and gives up building the cluster after ``cluster_timeout`` s.

    >>> from mhsa_tools.msrun import msrun_command
    >>> " ".join(msrun_command(2, ["--epochs", "1"], "logs", 8118)[1:])
    '--worker_num=2 --local_worker_num=2 --master_addr=127.0.0.1 --master_port=8118 --join=True \
--cluster_time_out=60 --log_dir=logs python -m mhsa_tools.train --epochs 1'
    """
    if isinstance(worker_num, bool) or not isinstance(worker_num, int) or worker_num < 1:
        raise ConfigurationError(f"worker_num must be a positive int, got {worker_num!r}")
    msrun = shutil.which("msrun", path=os.path.dirname(sys.executable)) or "msrun"
    return [msrun, f"--worker_num={worker_num}", f"--local_worker_num={worker_num}",
            "--master_addr=127.0.0.1", f"--master_port={master_port}", "--join=True",
            f"--cluster_time_out={cluster_timeout}", f"--log_dir={log_dir}",
            "python", "-m", "mhsa_tools.train", *map(str, train_args)]


def run_msrun(worker_num, train_args, log_dir, timeout=300):
    """Run ``python -m mhsa_tools.train`` data-parallel on ``worker_num`` local workers with msrun.

    msrun starts a scheduler and one worker per rank with the ``python`` found
    on PATH, so this interpreter's folder (the venv) goes first on PATH.  The
    job talks over 127.0.0.1 only, on a free port, and asks its scheduler
    again after 1 s rather than 3-5 s (:data:`CLUSTER_RETRY_INTERVALS`, unless
    the environment sets them).  If it is not done within
    ``timeout`` seconds (or the caller is interrupted) msrun, its workers and
    their children are killed.

    Returns:
        ``subprocess.CompletedProcess`` with the return code and msrun's
        output.  The workers' own output is in ``log_dir/worker_<r>.log``;
        msrun echoes it with ``tail -f`` but may stop that before the last lines.

    Raises:
        TimeoutError: the job did not finish within ``timeout`` seconds.
    """
    import psutil  # a dependency of MindSpore (msrun uses it)

    command = msrun_command(worker_num, train_args, log_dir, free_loopback_port())
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("GLOG_v", "4")
    for name, seconds in CLUSTER_RETRY_INTERVALS.items():
        env.setdefault(name, seconds)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except BaseException as error:
        # workers run in sessions of their own: collect msrun's whole process tree, then kill it
        try:
            tree = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for child in tree + [process]:
            try:
                child.kill()
            except (psutil.NoSuchProcess, ProcessLookupError):
                pass
        output, _ = process.communicate()
        if isinstance(error, subprocess.TimeoutExpired):
            raise TimeoutError(f"msrun with {worker_num} workers did not finish within {timeout} s and was "
                               f"killed; its logs are in {log_dir}. Output:\n{output[-2000:]}") from None
        raise
    return subprocess.CompletedProcess(command, process.returncode, output)
