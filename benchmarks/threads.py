"""Benchmark: MindSpore's CPU kernel-thread policy, on a quiet machine and under a fixed load.

MindSpore's CPU kernels run on a thread pool (``mindspore.device_context.cpu.op_tuning.threads_num``,
MindSpore's default: 25 threads, capped by the cores).  The policy lasts a process, so each
policy runs in child processes of its own, alternating (policy A, B, C, A, B, C, ...), and each
child times, jitted, what the course really runs:

- ``mm.MultiHeadAttention`` forward+backward at the lesson shape (3, 4, 16, h=8) and at ViT-Ti
  (8, 197, 192, h=3);
- one training step of the digits ViT (``mm.make_train_step``, batch 128);
- a 1024^3 float32 matmul (what more threads are for).

Every policy is measured twice: quiet (whatever else the machine runs), and under a fixed
background load started and stopped by this script: one busy process per core.  The children
apply a policy with ``mm.use_device(cpu_threads=...)``, the switch the package's default uses.

    python benchmarks/threads.py [--rounds 2] [--quick] [--json PATH]
"""
import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import median_ms, table, write_json  # noqa: E402

#: The policies compared: MindSpore's default thread pool, one kernel thread, one per core.
POLICIES = ("mindspore-default", "1", "cores")


def _busy():
    while True:
        pass


class BackgroundLoad:
    """One busy process per core while the ``with`` block runs (started and stopped here)."""

    def __init__(self, processes=None):
        self.count = processes or os.cpu_count() or 1
        self.processes = []

    def __enter__(self):
        context = multiprocessing.get_context("spawn")
        self.processes = [context.Process(target=_busy, daemon=True) for _ in range(self.count)]
        for process in self.processes:
            process.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join()
        self.processes = []
        return False


def _sum_loss(mha):
    """inputs -> mha(inputs)[0].sum(): a closure, as mindspore.jit wants it (no default arguments)."""
    def loss(inputs):
        return mha(inputs, need_weights=False)[0].sum()
    return loss


def child(policy, quick):
    """Time the course's work under ``policy`` in this process; print a JSON dict name -> ms."""
    import mindspore
    import numpy as np

    import mhsa_ms as mm

    threads = {"mindspore-default": None, "1": 1, "cores": os.cpu_count()}[policy]
    mm.use_device("CPU", cpu_threads=threads if threads else "mindspore")
    mm.seed_everything(0)
    result = {}
    for label, (batch, tokens, width, heads) in (("lesson fwd+bwd", (3, 4, 16, 8)),
                                                   ("ViT-Ti fwd+bwd", (8, 197, 192, 3))):
        mha = mm.MultiHeadAttention(width, heads)
        x = mindspore.Tensor(np.random.default_rng(0).normal(size=(batch, tokens, width)).astype(np.float32))

        loss = _sum_loss(mha)

        step = mm.jit_compile(mindspore.value_and_grad(loss, 0, mha.trainable_params()))

        def run(step=step, x=x):
            step(x)
            mindspore.runtime.synchronize()

        result[label] = median_ms(run, 5 if tokens > 100 else 20, 3 if quick else 5)
    digits = mm.load_digits()
    model = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
    optimizer = mm.make_optimizer(model, lr=1e-3, total_steps=10_000)
    train_step = mm.make_train_step(model, mm.cross_entropy, optimizer)
    images = mindspore.Tensor(digits.x_train[:128])  # (B, C, H, W)
    labels = mindspore.Tensor(digits.y_train[:128])  # (B,)

    def train():
        train_step(images, labels)
        mindspore.runtime.synchronize()

    result["digits ViT train step"] = median_ms(train, 3, 3 if quick else 5)
    a = mindspore.Tensor(np.random.default_rng(1).normal(size=(1024, 1024)).astype(np.float32))

    def matmul():
        mindspore.ops.matmul(a, a)
        mindspore.runtime.synchronize()

    result["matmul 1024^3"] = median_ms(matmul, 3, 3 if quick else 5)
    print(json.dumps(result))


def measure(rounds, quick):
    runs = {policy: [] for policy in POLICIES}
    for index in range(rounds):
        order = POLICIES[index % len(POLICIES):] + POLICIES[:index % len(POLICIES)]
        for policy in order:
            argv = [sys.executable, os.path.abspath(__file__), "--child", policy] + (["--quick"] if quick else [])
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"child {policy} failed:\n{done.stderr[-3000:]}")
            runs[policy].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {policy: {name: statistics.median(run[name] for run in found) for name in found[0]}
            for policy, found in runs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="child processes per policy and load")
    parser.add_argument("--quick", action="store_true", help="one round, fewer repetitions")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    parser.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.quick)
        return 0
    rounds = 1 if args.quick else args.rounds
    load_before = os.getloadavg()[0]
    quiet = measure(rounds, args.quick)
    with BackgroundLoad() as load:
        loaded = measure(rounds, args.quick)
    figures = {"quiet": quiet, "loaded": loaded}
    names = list(quiet["mindspore-default"])
    header = ["work", "load"] + [f"{policy} ms" for policy in POLICIES] + ["default / 1 thread"]
    rows = []
    for condition, found in figures.items():
        for name in names:
            times = [found[policy][name] for policy in POLICIES]
            rows.append([name, condition] + [f"{t:.1f}" for t in times]
                        + [f"**{found['mindspore-default'][name] / found['1'][name]:.2f}x**"])
    print(f"MindSpore CPU kernel threads ({os.cpu_count()} cores; 'loaded' = {load.count} busy processes "
          f"started by this script; 1-minute load average before: {load_before:.1f}); medians in ms")
    print(table(header, rows))
    path = write_json("threads", {"policies": POLICIES, "figures": figures, "load_average_before": load_before,
                                  "busy_processes": load.count}, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
