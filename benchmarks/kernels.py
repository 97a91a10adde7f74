"""Benchmark: where the time goes, kernel by kernel, in the work behind the unmet speed targets.

Each workload runs jitted with ``mm.use_device()``'s defaults, in a process of its own:

- ``floor``: a jitted graph of one Add, the cost of calling any jitted graph;
- ``lesson-fwd``, ``lesson-fwd+bwd``: ``mm.MultiHeadAttention`` at the lesson shape (3, 4, 16, 8);
  ``vitti-fwd+bwd`` at ViT-Ti's (8, 197, 192, 3); ``n128-fwd+bwd`` at (1, 128, 192, 3); ``n1024-fwd``, ``n1024-fwd+bwd`` at (1, 1024, 192, 3);
  the ``-ms.nn`` ones: ``mindspore.nn.MultiheadAttention`` with the same weights;
- ``vit-ti-fwd``: the ViT-Ti/16 forward at 224 px, batch 8;
- ``digits-step``: one ``mm.make_train_step`` of the digits ViT (batch 128): forward, backward and
  the AdamW update in one jitted graph.

For each: the first call's seconds (it compiles the graph), the wall time per call (median,
profiler off), then under ``mindspore.Profiler`` the kernel time per call of every kernel type
(MatMul, BatchMatMul, LayerNormGrad, ...), the kernels launched per call, and the wall time
outside the kernels (launching them, the runtime).  The profiler slows small kernels: compare
shares within a row, not profiled times with the wall.  Where the work has a
multiply-accumulate count (attention: ``mm.attention_flops``; the backward counted as twice the
forward), the matmul kernels' own GFLOP/s against a 1024^3 matmul timed interleaved with the
workload (as ``attention.py`` does): the share of matmul speed the workload could reach if
every other kernel and all launching took no time at all.

    python benchmarks/kernels.py [--only lesson-fwd vit-ti-fwd] [--quick] [--json PATH]
"""
import argparse
import contextlib
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    MATMUL_FLOPS, blocking, interleaved, matmul_reference, run_script, table, write_json)

WORKLOADS = ("floor", "lesson-fwd", "lesson-fwd-ms.nn", "lesson-fwd+bwd", "lesson-fwd+bwd-ms.nn",
             "vitti-fwd+bwd", "n128-fwd+bwd", "n128-fwd+bwd-ms.nn", "n1024-fwd", "n1024-fwd+bwd", "vit-ti-fwd",
             "digits-step")
MATMUL_KERNELS = ("MatMul", "BatchMatMul")
SHAPES = {"lesson": (3, 4, 16, 8), "vitti": (8, 197, 192, 3), "n128": (1, 128, 192, 3),
          "n1024": (1, 1024, 192, 3)}  # (B, N, D, h)


def _attention(name):
    """(callable, multiply-accumulates per call) of an attention workload ``<shape>-<pass>[-ms.nn]``."""
    import mindspore
    import numpy as np

    import mhsa_ms as mm

    shape, rest = name.split("-", 1)
    backward, reference = rest.startswith("fwd+bwd"), rest.endswith("ms.nn")
    batch, tokens, dim, heads = SHAPES[shape]
    x = mindspore.Tensor(np.random.default_rng(0).normal(size=(batch, tokens, dim)).astype(np.float32))  # (B, N, D)
    mha = mm.MultiHeadAttention(dim, heads)
    module = mha.to_mindspore() if reference else mha

    def forward(inputs):
        if reference:
            return module(inputs, inputs, inputs, need_weights=False)[0]
        return module(inputs, need_weights=False)[0]

    def loss(inputs):
        return forward(inputs).sum()

    fn = mindspore.value_and_grad(loss, 0, module.trainable_params()) if backward else forward
    macs = mm.attention_flops(tokens, dim, batch)["total"] * (3 if backward else 1)
    return blocking(mindspore.jit(fn), x), macs


def _vit_ti_forward():
    import mindspore
    import numpy as np

    import mhsa_ms as mm

    model = mm.VisionTransformer.from_preset("vit_ti_16")
    model.set_train(False)
    images = np.random.default_rng(0).normal(size=(8, 3, 224, 224)).astype(np.float32)  # (B, C, H, W)
    return blocking(mm.jit_compile(model), mindspore.Tensor(images)), None


def _digits_step():
    import mindspore
    import numpy as np

    import mhsa_ms as mm

    model = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
    x_train, y_train, _, _ = mm.load_digits()
    batch = mm.DIGITS_RECIPE["batch_size"]
    images, labels = mindspore.Tensor(x_train[:batch]), mindspore.Tensor(y_train[:batch].astype(np.int32))
    optimizer = mm.make_optimizer(model, lr=mm.DIGITS_RECIPE["lr"], total_steps=10_000,
                                  weight_decay=mm.DIGITS_RECIPE["weight_decay"])
    return blocking(mm.make_train_step(model, mm.cross_entropy, optimizer), images, labels), None


def _floor():
    import mindspore
    import numpy as np

    def plus_one(x):
        return x + 1

    return blocking(mindspore.jit(plus_one), mindspore.Tensor(np.ones((3, 4, 16), np.float32))), None


def build(name):
    """(callable that blocks until done, multiply-accumulates per call or None) for a workload name."""
    if name == "floor":
        return _floor()
    if name == "vit-ti-fwd":
        return _vit_ti_forward()
    if name == "digits-step":
        return _digits_step()
    return _attention(name)


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (the profiler's parser prints its progress there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def kernel_times(run, calls, folder):
    """Under mindspore.Profiler: ({kernel type: (ms per call, launches per call)}, wall ms per call)."""
    import mindspore

    with _quiet_stdout():
        profiler = mindspore.Profiler(output_path=str(folder))
        started = time.perf_counter()
        for _ in range(calls):
            run()
        wall_ms = 1e3 * (time.perf_counter() - started) / calls
        profiler.stop()
        profiler.analyse()
    found = sorted(Path(folder).glob("*/FRAMEWORK/cpu_op_type_info_*.csv"))
    if not found:
        raise RuntimeError(f"mindspore.Profiler wrote no CPU kernel table under {folder} "
                           "(this benchmark reads the CPU profile; other devices write theirs elsewhere)")
    kernels = {}
    with open(found[0], encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            milliseconds, launches = kernels.get(row["op_type"], (0.0, 0.0))
            kernels[row["op_type"]] = (milliseconds + float(row["total_compute_time"]) / calls,
                                       launches + int(row["type_occurrences"]) / calls)
    return kernels, wall_ms


def measure(name, quick):
    """The profile of one workload, in this process."""
    import mhsa_ms as mm

    device = mm.use_device()
    mm.seed_everything(0)
    run, macs = build(name)
    started = time.perf_counter()
    run()  # the first call compiles the graph
    first_call_s = time.perf_counter() - started
    budget = 2.0 if quick else 6.0
    contenders = {"workload": run}
    if macs is not None:  # the reference matmul interleaved with the workload, as benchmarks/attention.py times it
        contenders["matmul"] = matmul_reference()
    seconds, _ = interleaved(contenders, 200, warmup=2, budget_s=budget)
    wall_ms = 1e3 * seconds["workload"]
    calls = max(3, min(50, int(budget / 2 / (wall_ms / 1e3))))
    with tempfile.TemporaryDirectory() as folder:
        kernels, profiled_wall_ms = kernel_times(run, calls, folder)
    result = {"workload": name, "device": device, "cpu_threads": mm.device_info()["cpu_threads"],
              "first_call_s": first_call_s, "wall_ms": wall_ms, "profiled_calls": calls,
              "profiled_wall_ms": profiled_wall_ms,
              "kernels": {kind: {"ms": ms, "launches": n} for kind, (ms, n) in kernels.items()}}
    if macs is not None:
        matmul_kernels_ms = sum(kernels.get(kind, (0.0, 0))[0] for kind in MATMUL_KERNELS)
        result["gflops"] = {"workload": 2 * macs / wall_ms / 1e6,
                            "matmul_kernels": 2 * macs / matmul_kernels_ms / 1e6 if matmul_kernels_ms else None,
                            "reference_matmul": MATMUL_FLOPS / seconds["matmul"] / 1e9}
    return result


def summary_rows(results):
    """One row per workload: wall, kernels, outside kernels, launches, the three largest kernel types."""
    rows = []
    for result in results:
        kernels = result["kernels"]
        kernel_ms = sum(k["ms"] for k in kernels.values())
        launches = sum(k["launches"] for k in kernels.values())
        top = sorted(kernels.items(), key=lambda item: -item[1]["ms"])[:3]
        profiled = result["profiled_wall_ms"]
        top_text = ", ".join(f"{kind} {k['ms']:.2f} ms ({k['ms'] / profiled:.0%}, ×{k['launches']:g})"
                             for kind, k in top)
        row = [result["workload"], f"{result['first_call_s']:.2f}", f"{result['wall_ms']:.2f}",
               f"{profiled:.2f}", f"{kernel_ms:.2f}", f"{max(profiled - kernel_ms, 0.0):.2f}", f"{launches:g}",
               top_text]
        gflops = result.get("gflops")
        if gflops and gflops["matmul_kernels"]:
            reference = gflops["reference_matmul"]
            row.append(f"{gflops['workload'] / reference:.0%} ({gflops['workload']:.1f} GFLOP/s); matmul "
                       f"kernels alone {gflops['matmul_kernels'] / reference:.0%} of {reference:.1f} GFLOP/s")
        else:
            row.append("")
        rows.append(row)
    return rows


def print_profiles(results):
    """Print the table of the measured workloads, then one line per failed one."""
    measured = [r for r in results if "error" not in r]
    if measured:
        print(f"Kernel time per call ({measured[0]['device']}, {measured[0]['cpu_threads']} MindSpore kernel "
              "threads; jitted; wall = median without the profiler; the profiled wall, the kernels and the "
              "shares are under mindspore.Profiler, which slows small kernels)")
        print(table(["workload", "first call s (compiles)", "wall ms", "profiled wall ms", "kernels ms",
                     "outside kernels ms", "kernels launched",
                     "largest kernel types (share of profiled wall, launches)",
                     "share of matmul GFLOP/s (interleaved 1024^3 matmul)"], summary_rows(measured)))
    for result in results:
        if "error" in result:
            print(f"{result['workload']}: failed: {result['error']}")


def run_in_subprocess(name, quick, folder):
    """Profile one workload in a fresh process; its result dict, or {"workload", "error"}."""
    result, _, error = run_script("kernels.py", ["--workload", name] + (["--quick"] if quick else []),
                                  Path(folder) / f"{name}.json")
    return {"workload": name, "error": error} if error else result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=WORKLOADS, default=None, help="these workloads only")
    parser.add_argument("--quick", action="store_true", help="shorter timing (about 2 s per workload)")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    parser.add_argument("--workload", choices=WORKLOADS, default=None, help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args(argv)
    if args.workload:  # one workload, in this process (called by run_in_subprocess)
        Path(args.json).write_text(json.dumps(measure(args.workload, args.quick)), encoding="utf-8")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for name in args.only or WORKLOADS:
            print(f"profiling {name}", file=sys.stderr, flush=True)
            results.append(run_in_subprocess(name, args.quick, folder))
    print_profiles(results)
    print(f"wrote {write_json('kernels', {'results': results}, args.json)}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
