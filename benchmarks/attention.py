"""Benchmark: mm.MultiHeadAttention vs mindspore.nn.MultiheadAttention (and torch, if installed).

Forward and forward+backward (gradients of ``out.sum()`` for the input and
every parameter), eager and under ``mindspore.jit``, at the lesson shape
(B=3, N=4, D=16, h=8), the ViT-Ti shape (8, 197, 192, h=3) and N = 64 ... 2048
at D = 192 (B=1, h=3).  Achieved GFLOP/s use ``mm.attention_flops`` (MACs; the
FLOPs are twice that; backward counts as twice the forward) against the GFLOP/s of a
1024^3 matmul timed interleaved with the forward passes.  Every contender of a shape is timed
interleaved with the others; medians; ratios are taken within the run.

    python benchmarks/attention.py [--quick] [--json PATH]
"""
import argparse
import os
import sys

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import mhsa_ms as mm  # noqa: E402
from _common import (  # noqa: E402
    MATMUL_FLOPS, blocking, interleaved, matmul_operand, matmul_reference, table, write_json)

# torch's OpenMP threads spin while idle by default; in one process with MindSpore's thread pool on a
# few cores, the spinning of each library steals the cores of the other.  Passive waiting keeps the
# interleaved comparison fair (set before torch is imported).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "--no-torch" in sys.argv:
    torch = None
else:
    try:
        import torch
    except ImportError:  # torch is an optional yardstick, never a requirement
        torch = None


def _ms():
    import mindspore

    return mindspore


def mm_contenders(batch, tokens, dim, heads, backward):
    """Closures timing mm.MultiHeadAttention eager / jit and mindspore.nn.MultiheadAttention eager / jit."""
    mindspore = _ms()
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(batch, tokens, dim)).astype(np.float32)
    x = mindspore.Tensor(x_np)
    mha = mm.MultiHeadAttention(dim, heads)
    reference = mha.to_mindspore()

    def mm_forward(inputs):
        return mha(inputs, need_weights=False)[0]

    def ms_forward(inputs):
        return reference(inputs, inputs, inputs, need_weights=False)[0]

    def mm_loss(inputs):
        return mha(inputs, need_weights=False)[0].sum()

    def ms_loss(inputs):
        return reference(inputs, inputs, inputs, need_weights=False)[0].sum()

    if backward:
        mm_eager = mindspore.value_and_grad(mm_loss, 0, mha.trainable_params())
        ms_eager = mindspore.value_and_grad(ms_loss, 0, reference.trainable_params())
    else:
        mm_eager, ms_eager = mm_forward, ms_forward
    mm_jit = mm.jit_compile(mm_eager) if hasattr(mm, "jit_compile") else mindspore.jit(mm_eager)
    ms_jit = mindspore.jit(ms_eager)

    runs = {"mm eager": blocking(mm_eager, x), "mm jit": blocking(mm_jit, x),
            "ms.nn eager": blocking(ms_eager, x), "ms.nn jit": blocking(ms_jit, x)}
    if torch is not None:
        runs["torch"] = torch_contender(mha, x_np, heads, backward)
    # the same weights: the contenders must agree before they are timed
    expected = mm_forward(x).asnumpy()
    np.testing.assert_allclose(ms_forward(x).asnumpy(), expected, rtol=1e-4, atol=1e-4)
    return runs


def torch_contender(mha, x_np, heads, backward):
    dim = x_np.shape[-1]
    m = mha.projection_matrices()
    module = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.from_numpy(np.concatenate([m["W_q"].T, m["W_k"].T, m["W_v"].T])))
        module.in_proj_bias.copy_(torch.from_numpy(np.concatenate([m["b_q"], m["b_k"], m["b_v"]])))
        module.out_proj.weight.copy_(torch.from_numpy(m["W_o"].T.copy()))
        module.out_proj.bias.copy_(torch.from_numpy(m["b_o"]))
    x = torch.from_numpy(x_np)

    if not backward:
        def run():
            with torch.no_grad():
                return module(x, x, x, need_weights=False)[0]
        return run

    x_grad = x.clone().requires_grad_(True)

    def run_backward():
        module.zero_grad(set_to_none=True)
        x_grad.grad = None
        out = module(x_grad, x_grad, x_grad, need_weights=False)[0].sum()
        out.backward()
        return out
    return run_backward


def matmul_gflops(budget_s):
    """The machine's matmul GFLOP/s: a float32 (1024 x 1024) @ (1024 x 1024) product."""
    a_np = matmul_operand()
    runs = {"mindspore": matmul_reference(), "numpy": lambda: a_np @ a_np}
    if torch is not None:
        a_torch = torch.from_numpy(a_np)
        runs["torch"] = lambda: a_torch @ a_torch
    seconds, _ = interleaved(runs, 30, budget_s=budget_s)
    return {name: MATMUL_FLOPS / s / 1e9 for name, s in seconds.items()}


def measure_shape(label, batch, tokens, dim, heads, budget_s):
    rows = []
    flops = mm.attention_flops(tokens, dim, batch)["total_flops"]
    for backward in (False, True):
        runs = mm_contenders(batch, tokens, dim, heads, backward)
        if tokens >= 2048:  # mindspore.nn's jitted module takes seconds per call here
            runs.pop("ms.nn jit")
        if not backward:  # the machine's matmul speed, measured interleaved with the forward passes
            runs["matmul"] = matmul_reference()
        cpu = {}
        seconds, reps = interleaved(runs, 50, warmup=1, budget_s=budget_s, cpu=cpu)
        work = flops * (3 if backward else 1)
        matmul_s = seconds.pop("matmul", None)
        cpu.pop("matmul", None)
        rows.append({
            "matmul_gflops": MATMUL_FLOPS / matmul_s / 1e9 if matmul_s else None,
            "shape": label, "B": batch, "N": tokens, "D": dim, "h": heads,
            "pass": "fwd+bwd" if backward else "fwd", "repetitions": reps,
            "ms": {name: 1e3 * s for name, s in seconds.items()},
            "cpu_ms": {name: 1e3 * s for name, s in cpu.items()},
            "gflops": {name: work / s / 1e9 for name, s in seconds.items()},
        })
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repetitions (about a minute)")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    parser.add_argument("--no-torch", action="store_true", help="leave torch out even if it is installed")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads of MindSpore and torch (default: mm.use_device()'s policy for "
                             "MindSpore, torch's own choice)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None,
                        help="the N of the sweep at D = 192 (default 64 ... 2048; --quick: 256 1024)")
    args = parser.parse_args(argv)
    device = mm.use_device(cpu_threads=args.threads or "auto")
    if args.threads and torch is not None:
        torch.set_num_threads(args.threads)
    mm.seed_everything(0)
    budget = 1.5 if args.quick else 6.0
    shapes = [("lesson", 3, 4, 16, 8), ("ViT-Ti", 8, 197, 192, 3)]
    sweep = args.sizes if args.sizes is not None else (256, 1024) if args.quick else (64, 128, 256, 512, 1024, 2048)
    shapes += [(f"N={n}", 1, n, 192, 3) for n in sweep]

    matmul = matmul_gflops(budget)
    rows = []
    for shape in shapes:
        rows.extend(measure_shape(*shape, budget))
        print(f"measured {shape[0]}", file=sys.stderr, flush=True)

    has_torch = torch is not None

    def best_ms_nn(times):
        return min(times[name] for name in ("ms.nn eager", "ms.nn jit") if name in times)

    def cell(times, name):
        return f"{times[name]:.2f}" if name in times else "-"

    header = ["shape (B,N,D,h)", "pass", "ms.nn / mm jit", "ms.nn / mm jit (CPU time)"]
    header += ["mm jit / torch", "mm jit / torch (CPU time)"] if has_torch else []
    header += ["mm eager / mm jit", "mm eager ms", "mm jit ms", "ms.nn eager ms", "ms.nn jit ms"]
    header += ["torch ms"] if has_torch else []
    header += ["mm jit GFLOP/s", "matmul GFLOP/s (same run)"]
    lines = []
    for row in rows:
        t, c = row["ms"], row["cpu_ms"]
        line = [f"{row['shape']} ({row['B']},{row['N']},{row['D']},{row['h']})", row["pass"],
                f"{best_ms_nn(t) / t['mm jit']:.2f}x", f"{best_ms_nn(c) / c['mm jit']:.2f}x"]
        if has_torch:
            line += [f"{t['mm jit'] / t['torch']:.2f}x", f"{c['mm jit'] / c['torch']:.2f}x"]
        line += [f"{t['mm eager'] / t['mm jit']:.2f}x"]
        line += [cell(t, name) for name in ("mm eager", "mm jit", "ms.nn eager", "ms.nn jit")]
        line += [cell(t, "torch")] if has_torch else []
        line += [f"{row['gflops']['mm jit']:.1f}",
                 f"{row['matmul_gflops']:.1f}" if row["matmul_gflops"] else ""]
        lines.append(line)
    print(f"Attention on {device} ({mm.device_info()['cpu_threads']} MindSpore kernel threads); matmul 1024^3: " +
          ", ".join(f"{name} {value:.1f} GFLOP/s" for name, value in matmul.items()))
    print("ms.nn = the faster of mindspore.nn.MultiheadAttention eager and jit; a ratio A / B is A's time "
          "over B's (ms.nn / mm jit = 2: mm jit is twice as fast); medians of interleaved repetitions")
    print(table(header, lines))
    print("the targets these figures are judged by: `mhsa-ms bench` (benchmarks/targets.py)")
    path = write_json("attention", {"device": device, "threads": args.threads,
                                    "cpu_threads": mm.device_info()["cpu_threads"], "matmul_gflops": matmul,
                                    "rows": rows, "torch": torch.__version__ if has_torch else None},
                      args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
