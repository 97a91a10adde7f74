"""Benchmark: eager MindSpore on CPU with and without ``launch_blocking``.

``mm.use_device()`` calls ``mindspore.runtime.launch_blocking()`` on CPU.  The
setting lasts for the whole process, so each mode runs in its own child
process; the children alternate (blocking, asynchronous, blocking, ...) so a
slow spell of a shared machine hits both alike.  Reported: the median time of
one eager ``mm.MultiHeadAttention`` forward at the lesson shape (3, 4, 16, h=8)
and at (8, 64, 64, h=4), and the ratio asynchronous / blocking.

    python benchmarks/dispatch.py [--rounds 3] [--json PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import table, write_json  # noqa: E402

SHAPES = ((3, 4, 16, 8), (8, 64, 64, 4))  # (B, N, D, h)
CALLS = 100


def child(mode):
    """Time eager forwards in this process under ``mode``; print a JSON dict shape -> ms."""
    import mindspore
    import numpy as np

    import mhsa_ms as mm

    if mode == "blocking":
        mm.use_device("CPU")  # what every lesson does: launch_blocking on CPU
    else:
        mindspore.set_device("CPU")  # MindSpore's default asynchronous dispatch
    result = {}
    for batch, tokens, width, heads in SHAPES:
        mha = mm.MultiHeadAttention(width, heads)
        x = mindspore.Tensor(np.random.default_rng(0).normal(size=(batch, tokens, width)).astype(np.float32))
        for _ in range(10):
            mha(x)[0].asnumpy()
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(CALLS):
                mha(x)[0].asnumpy()
            samples.append((time.perf_counter() - start) / CALLS * 1e3)
        result[str((batch, tokens, width, heads))] = statistics.median(samples)
    print(json.dumps(result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="child processes per mode")
    parser.add_argument("--quick", action="store_true", help="one round per mode")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    parser.add_argument("--child", choices=("blocking", "async"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    runs = {"blocking": [], "async": []}
    for _ in range(1 if args.quick else args.rounds):
        for mode in runs:
            out = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True,
                                 text=True, check=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    rows, figures = [], {}
    for shape in runs["blocking"][0]:
        blocking = statistics.median(run[shape] for run in runs["blocking"])
        asynchronous = statistics.median(run[shape] for run in runs["async"])
        figures[shape] = {"blocking_ms": blocking, "async_ms": asynchronous, "ratio": asynchronous / blocking}
        rows.append([shape, f"**{asynchronous / blocking:.1f}x**", f"{blocking:.2f}", f"{asynchronous:.2f}"])
    print("Eager mm.MultiHeadAttention forward on CPU: launch_blocking (mm.use_device) vs asynchronous dispatch")
    print(table(["shape (B, N, D, h)", "async / blocking", "blocking ms", "async ms"], rows))
    path = write_json("dispatch", {"calls": CALLS, "runs": runs, "figures": figures}, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
