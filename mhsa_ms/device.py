"""Device selection and seeding.

>>> import mhsa_ms as mm
>>> "CPU" in mm.available_backends()
True
"""
import contextlib
import os
import random
import sys

import numpy as np

from ._checks import check_choice_any_case, check_int_or_choice, check_seed

_PREFERENCE = ("Ascend", "GPU", "CPU")
_TARGET_NAMES = {name.lower(): name for name in _PREFERENCE}
_chosen_device = None
#: The CPU kernel-thread policy applied in this process (None until use_device ran on CPU).
_cpu_threads_applied = None
#: ``cpu_threads`` values other than a number of threads.
CPU_THREAD_POLICIES = ("auto", "mindspore")
#: MindSpore's switch for a host pipeline without its spinning frontend thread, set on CPU by use_device.
HOST_BLOCKING_ENV = "MS_DEV_HOST_BLOCKING_RUN"


def default_cpu_threads(cores=None):
    """The number of MindSpore CPU kernel threads ``use_device()`` sets by default: half the cores, at least 1.

    MindSpore's own pool (up to 25 threads) splits every kernel across its threads and waits for
    all of them; when the cores are busy (other programs, a shared notebook) a descheduled pool
    thread stalls each kernel for a scheduler time slice, which added a fixed 20-30 ms to every
    jitted forward+backward on 2 cores.  Measured on 2 cores, quiet and under one busy process per
    core (``benchmarks/threads.py``, docs/performance.md), one kernel thread was the fastest for
    the course's work: the digits ViT training step 3-4.5x faster, the lesson-shape forward+backward
    without the fixed cost.  Half the cores leaves the other half to the rest of the machine on
    larger ones (not measured here: only 2-core machines were available).

    >>> [default_cpu_threads(cores) for cores in (1, 2, 4, 16)]
    [1, 1, 2, 8]
    """
    if cores is None:  # the cores this process may run on (a container's cpuset), else all
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // 2)


def _apply_cpu_threads(cpu_threads):
    """Set MindSpore's CPU kernel threads once per process; return the number set, or "mindspore"."""
    global _cpu_threads_applied
    if _cpu_threads_applied is not None:
        return _cpu_threads_applied
    if cpu_threads == "mindspore":
        _cpu_threads_applied = "mindspore"
        return _cpu_threads_applied
    threads = default_cpu_threads() if cpu_threads == "auto" else int(cpu_threads)
    from mindspore.device_context.cpu import op_tuning

    try:
        op_tuning.threads_num(threads)
    except RuntimeError:  # set already in this process (by the learner): theirs stays
        _cpu_threads_applied = "set before mm.use_device()"
        return _cpu_threads_applied
    _cpu_threads_applied = threads
    return threads


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (C++ logs) while probing backends."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def available_backends():
    """Return the backends this MindSpore install can use, best first.

    Probing a backend whose driver is absent logs errors in C++; they are
    silenced here.  "CPU" is always available.
    """
    import mindspore

    found = []
    with _quiet_stderr():
        for name in ("Ascend", "GPU"):
            try:
                if mindspore.hal.is_available(name):
                    found.append(name)
            except RuntimeError:
                pass
    found.append("CPU")
    return found


def use_device(target="auto", cpu_threads="auto"):
    """Choose the device every later MindSpore op runs on and return its name.

    Args:
        target: "auto" (Ascend, then GPU, then CPU), or one of "Ascend",
            "GPU", "CPU" (any case).
        cpu_threads: MindSpore's CPU kernel threads, set once per process on CPU:
            "auto" (the default: :func:`default_cpu_threads`, the fastest measured
            policy), "mindspore" (MindSpore's own thread pool) or a positive int.

    On CPU this also calls ``mindspore.runtime.launch_blocking()``: on a
    2-core machine asynchronous dispatch makes an eager multi-head attention
    forward 6-10x slower than launching its ops synchronously (measured by
    ``benchmarks/dispatch.py``), and sets the kernel threads (see
    docs/performance.md: MindSpore's default pool adds a fixed 20-30 ms to
    every jitted forward+backward when the cores are busy).
    ``device_info()["cpu_threads"]`` tells the policy applied.  Before the
    first op it sets ``MS_DEV_HOST_BLOCKING_RUN=1`` (unless already set):
    MindSpore 2.10's host pipeline then has no ``frontend_queue`` thread,
    which spins on ``sched_yield`` while it waits; on 2 cores it put a
    process into a mode where every jitted call took 15-20 ms more (the
    digits ViT's training step 52-89 ms instead of 31 ms).

    Raises:
        TypeError: ``target`` is not a string.
        ValueError: ``target`` is not one of the names above.
        RuntimeError: ``target`` is not available here, or another device was
            already chosen in this process.
    """
    global _chosen_device
    import mindspore

    check_choice_any_case("target", target, ("auto",) + _PREFERENCE)
    check_int_or_choice("cpu_threads", cpu_threads, CPU_THREAD_POLICIES)
    backends = available_backends()
    if target.lower() == "auto":
        device = next(name for name in _PREFERENCE if name in backends)
    else:
        device = _TARGET_NAMES[target.lower()]
        if device not in backends:
            raise RuntimeError(
                f"device {device!r} is not available in this MindSpore install; "
                f"available: {', '.join(backends)}"
            )
    from .model.functional import compute_dtypes, use_fused_attn, use_matmul_row_sums
    from .model.vit import use_patch_matmul

    for decision in (use_fused_attn, compute_dtypes, use_patch_matmul, use_matmul_row_sums):
        decision.cache_clear()  # decisions that depend on the device
    if _chosen_device == device:
        return device
    if _chosen_device is not None:
        raise RuntimeError(
            f"the device was already set to {_chosen_device!r} in this process and "
            f"MindSpore cannot switch to {device!r}; restart the kernel to change it"
        )
    if device == "CPU":
        # Before any op creates MindSpore's host pipeline: without its frontend_queue thread, which
        # spins on sched_yield while it waits and takes a core from the kernels (docs/performance.md).
        os.environ.setdefault(HOST_BLOCKING_ENV, "1")
    try:
        mindspore.set_device(device)
    except RuntimeError as error:
        current = mindspore.get_context("device_target")
        if current != device:
            raise RuntimeError(
                f"cannot set the device to {device!r}: MindSpore already ran an op on "
                f"{current!r}; call mm.use_device() before any computation ({error})"
            ) from None
    if device == "CPU":
        mindspore.runtime.launch_blocking()
        _apply_cpu_threads(cpu_threads)
    _chosen_device = device
    return device


def seed_everything(seed):
    """Seed MindSpore, NumPy and Python's ``random`` with ``seed``.

    With the same seed, CPU results are bit-identical across processes.
    """
    check_seed(seed)
    import mindspore

    mindspore.set_seed(int(seed))
    np.random.seed(int(seed))
    random.seed(int(seed))


def device_info():
    """Return a dict of MindSpore version, device, available backends and mode.

    ``mindspore_range`` is the range of MindSpore versions the course supports (in pip's
    notation, as in requirements.txt); importing ``mhsa_ms`` outside it raises ImportError.
    """
    import mindspore

    from ._mindspore_version import SUPPORTED_RANGE

    mode = mindspore.get_context("mode")
    return {
        "mindspore": mindspore.__version__,
        "mindspore_range": SUPPORTED_RANGE,
        "cpu_threads": _cpu_threads_applied,
        "device": _chosen_device or mindspore.get_context("device_target"),
        "backends": available_backends(),
        "mode": "PYNATIVE (eager, mindspore.jit where it pays)" if mode == mindspore.PYNATIVE_MODE else "GRAPH",
    }
