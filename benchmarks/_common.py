"""Shared helpers of the benchmark scripts: interleaved timing, the reference matmul, tables, JSON results.

Every benchmark measures its contenders side by side in one process: each
repetition runs every contender once (in a rotating order), so a slow spell of
a shared machine hits all of them alike; the figures are medians, and the
ratios compare medians taken in the same run.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "4")

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCHMARKS_DIR / "results"


def machine():
    """A short description of the machine the figures were measured on."""
    import mindspore

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "mindspore": mindspore.__version__,
        "device": mindspore.get_context("device_target"),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def interleaved(contenders, repetitions, warmup=2, budget_s=None, cpu=None):
    """Time each ``name -> callable`` ``repetitions`` times, interleaved; median seconds.

    Each callable must block until its result is computed.  ``warmup`` calls
    per contender come first (they compile jitted graphs).  With
    ``budget_s`` the repetitions are cut so that the whole measurement takes
    about that long (at least 3 repetitions).  Returns (medians, repetitions);
    a dict passed as ``cpu`` receives the median process CPU seconds (all
    threads) of each contender, which other processes on a shared machine
    disturb much less than the wall-clock time.
    """
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    if budget_s is not None:
        start = time.perf_counter()
        for name in names:
            contenders[name]()
        one_round = max(time.perf_counter() - start, 1e-6)
        repetitions = max(3, min(repetitions, int(budget_s / one_round)))
    samples = {name: [] for name in names}
    cpu_samples = {name: [] for name in names}
    for rep in range(repetitions):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            contenders[name]()
            samples[name].append(time.perf_counter() - start)
            cpu_samples[name].append(time.process_time() - start_cpu)
    if cpu is not None:
        cpu.update({name: statistics.median(times) for name, times in cpu_samples.items()})
    return {name: statistics.median(times) for name, times in samples.items()}, repetitions


def blocking(fn, *inputs):
    """A callable running ``fn(*inputs)`` and waiting until MindSpore has computed it (what timing needs)."""
    import mindspore

    def run():
        result = fn(*inputs)
        mindspore.runtime.synchronize()
        return result
    return run


#: The reference matmul: (MATMUL_SIZE x MATMUL_SIZE) @ (MATMUL_SIZE x MATMUL_SIZE), MATMUL_FLOPS operations.
MATMUL_SIZE = 1024
MATMUL_FLOPS = 2 * MATMUL_SIZE ** 3


def matmul_operand():
    """The reference matmul's float32 (1024 x 1024) operand, as a NumPy array (the same values every call)."""
    import numpy as np

    return np.random.default_rng(1).normal(size=(MATMUL_SIZE, MATMUL_SIZE)).astype(np.float32)


def matmul_reference():
    """A blocking callable running one float32 (1024 x 1024) @ (1024 x 1024) MindSpore product."""
    import mindspore
    from mindspore import ops

    a = mindspore.Tensor(matmul_operand())
    return blocking(ops.matmul, a, a)


def run_script(script, args, out):
    """Run benchmarks/<script> with ``args`` in a process of its own, writing its JSON to ``out``.

    Returns (result or None, seconds, error or None); the script's standard output goes to stderr.
    """
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(BENCHMARKS_DIR / script), *args, "--json", str(out)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    sys.stderr.write(done.stdout)
    if not out.is_file():
        return None, seconds, (done.stderr.strip().splitlines() or ["no output"])[-1]
    error = None if done.returncode == 0 else f"exit status {done.returncode}"
    return json.loads(out.read_text(encoding="utf-8")), seconds, error


def table(header, rows):
    """A GitHub-markdown table as a string."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(name, result, path=None):
    """Write ``result`` to ``path`` (default benchmarks/results/<name>.json) and return the path."""
    path = Path(path) if path else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = dict(result, benchmark=name, machine=machine(),
                  date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), argv=sys.argv[1:])
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def median_ms(fn, calls, repeats=5, warmup=2):
    """Median milliseconds per call of ``fn`` over ``repeats`` timings of ``calls`` calls each."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(samples)
