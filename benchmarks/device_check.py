"""Device check: does the course run, and how fast, on the device present (CPU, GPU or Ascend)?

On whatever ``mm.use_device()`` picks (or ``--device``), one after the other:

1. **parity**: the fused attention path (``flash_attention_score``, Ascend only; taken by
   ``need_weights=False``) against the plain path (``need_weights=True``) and against a NumPy
   float64 reference, at several shapes; on a device without the fused kernel the fused half
   is reported as skipped and the plain path is still checked against NumPy;
2. **lesson**: one lesson executed under nbval (``MHSA_MS_FAST=1``), as ``make test`` runs it;
3. **attention**: ``mm.MultiHeadAttention`` forward and forward+backward, jitted, with GFLOP/s;
4. **training**: jitted training steps of the digits ViT (``mm.make_train_step``): images/s and
   the loss before and after (it must fall).

It prints one line per check and writes a JSON report (``benchmarks/results/device_check.json``
or ``--json``): the device, versions, and for each check ``status`` (passed, failed or skipped),
``reason`` where skipped or failed, and its figures.  Exit status 1 if a check failed.

    python benchmarks/device_check.py [--device auto] [--tiny] [--lesson 04] [--json PATH]

``--tiny`` makes every check small (the unit test runs it so on CPU); ``--lesson none`` leaves
the lesson out.  The Ascend cloud-notebook route is in docs/devices.md.
"""
import argparse
import glob
import math
import os
import subprocess
import sys
import time
import traceback

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _common import median_ms, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUSED_TOLERANCE = 2e-3  # the fused kernel computes in float16: about 3 decimal digits
PLAIN_TOLERANCE = 1e-4  # float32 against the float64 reference


def _reference_attention(q, k, v):
    """softmax(q k^T / sqrt(d_h)) v in float64 NumPy, (B, h, N, d_h) inputs."""
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])  # (B, h, N, N)
    scores -= scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v  # (B, h, N, d_h)


def check_parity(tiny):
    import mindspore

    import mhsa_ms as mm

    shapes = [(2, 4, 16, 8)] if tiny else [(2, 4, 16, 8), (3, 8, 128, 16), (8, 3, 197, 64), (1, 2, 1024, 64)]
    fused = mm.use_fused_attn()
    rows = []
    for batch, heads, tokens, width in shapes:
        rng = np.random.default_rng(tokens)
        q, k, v = (rng.normal(size=(batch, heads, tokens, width)) for _ in range(3))  # (B, h, N, d_h)
        expected = _reference_attention(q, k, v)
        tensors = [mindspore.Tensor(a.astype(np.float32)) for a in (q, k, v)]
        plain = mm.scaled_dot_product_attention(*tensors, need_weights=True)[0].asnumpy()
        row = {"shape (B, h, N, d_h)": [batch, heads, tokens, width],
               "plain_vs_numpy_max_abs": float(np.abs(plain - expected).max())}
        if fused:
            fast = mm.scaled_dot_product_attention(*tensors, need_weights=False)[0].asnumpy()
            row["fused_vs_plain_max_abs"] = float(np.abs(fast - plain).max())
        rows.append(row)
    failed = [row for row in rows if row["plain_vs_numpy_max_abs"] > PLAIN_TOLERANCE
              or row.get("fused_vs_plain_max_abs", 0.0) > FUSED_TOLERANCE]
    result = {"status": "failed" if failed else "passed", "fused_path": fused, "rows": rows,
              "tolerances": {"plain_vs_numpy": PLAIN_TOLERANCE, "fused_vs_plain": FUSED_TOLERANCE}}
    if failed:
        result["reason"] = f"{len(failed)} shape(s) outside the tolerance"
    if not fused:
        result["skipped"] = ("fused vs plain: the fused flash_attention_score kernel is Ascend-only; "
                             f"on {mm.device_info()['device']} only the plain path was checked (against NumPy)")
    return result


def check_lesson(lesson, device):
    if lesson == "none":
        return {"status": "skipped", "reason": "--lesson none"}
    found = sorted(glob.glob(os.path.join(ROOT, "lessons", "en", f"{lesson}_*.ipynb")))
    if not found:
        return {"status": "failed", "reason": f"no lesson lessons/en/{lesson}_*.ipynb"}
    env = dict(os.environ, MHSA_MS_FAST="1", GLOG_v="4", IPYKERNEL_CELL_NAME="<IPY-INPUT>")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", found[0],
               "--nbval-sanitize-with", os.path.join(ROOT, "lessons", "nbval_sanitize.cfg"),
               "--nbval-cell-timeout=300"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    result = {"status": "passed" if done.returncode == 0 else "failed", "lesson": os.path.basename(found[0]),
              "seconds": seconds, "summary": summary,
              "note": f"the lesson chooses its device itself (mm.use_device(): {device} here)"}
    if done.returncode:
        result["reason"] = done.stdout[-2000:]
    return result


def _sum_loss(mha):
    """inputs -> mha(inputs)[0].sum(): a closure, as mindspore.jit wants it (no default arguments)."""
    def loss(inputs):
        return mha(inputs, need_weights=False)[0].sum()
    return loss


def check_attention(tiny):
    import mindspore

    import mhsa_ms as mm

    shapes = [("tiny", 2, 16, 32, 4)] if tiny else [("lesson", 3, 4, 16, 8), ("ViT-Ti", 8, 197, 192, 3),
                                                    ("N=1024", 1, 1024, 192, 3)]
    rows = []
    for label, batch, tokens, width, heads in shapes:
        mha = mm.MultiHeadAttention(width, heads)
        x = mindspore.Tensor(np.random.default_rng(0).normal(size=(batch, tokens, width)).astype(np.float32))

        loss = _sum_loss(mha)

        forward = mm.jit_compile(mha)
        backward = mm.jit_compile(mindspore.value_and_grad(loss, 0, mha.trainable_params()))
        flops = mm.attention_flops(tokens, width, batch)["total_flops"]
        row = {"shape": label, "B": batch, "N": tokens, "D": width, "h": heads}
        for name, fn, work in (("fwd", lambda: forward(x, need_weights=False), flops),
                               ("fwd+bwd", lambda: backward(x), 3 * flops)):
            def run(fn=fn):
                fn()
                mindspore.runtime.synchronize()
            ms = median_ms(run, 2 if tiny else 5, 3 if tiny else 5)
            row[f"{name}_ms"] = ms
            row[f"{name}_gflops"] = work / ms / 1e6
        rows.append(row)
    return {"status": "passed", "rows": rows}


def check_training(tiny):
    import mindspore

    import mhsa_ms as mm

    mm.seed_everything(0)
    digits = mm.load_digits()
    config = dict(mm.VIT_PRESETS["digits"], **({"depth": 1, "embed_dim": 32} if tiny else {}))
    model = mm.VisionTransformer(**config)
    batch, steps = (32, 5) if tiny else (128, 30)
    optimizer = mm.make_optimizer(model, lr=2e-3, total_steps=steps)
    step = mm.make_train_step(model, mm.cross_entropy, optimizer)
    images = mindspore.Tensor(digits.x_train[:batch])  # (B, C, H, W)
    labels = mindspore.Tensor(digits.y_train[:batch])  # (B,)
    losses = [float(step(images, labels).asnumpy())]  # compiles
    mindspore.runtime.synchronize()
    start = time.perf_counter()
    for _ in range(steps - 1):
        loss = step(images, labels)
    losses.append(float(loss.asnumpy()))
    seconds = time.perf_counter() - start
    ok = all(math.isfinite(value) for value in losses) and losses[-1] < losses[0]
    result = {"status": "passed" if ok else "failed", "config": config, "batch_size": batch, "steps": steps,
              "loss_first": losses[0], "loss_last": losses[-1],
              "images_per_s": batch * (steps - 1) / seconds, "step_ms": seconds / (steps - 1) * 1e3}
    if not ok:
        result["reason"] = "the loss did not fall over the steps on one batch (or is not finite)"
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (default), Ascend, GPU or CPU")
    parser.add_argument("--tiny", action="store_true", help="every check small (seconds; the unit test)")
    parser.add_argument("--lesson", default="04", help="lesson number run under nbval (default 04), or none")
    parser.add_argument("--json", default=None, help="where to write the JSON report")
    args = parser.parse_args(argv)

    import mindspore

    import mhsa_ms as mm

    device = mm.use_device(args.device)
    report = {"device": device, "mindspore": mindspore.__version__, "tiny": args.tiny,
              "backends": mm.available_backends(), "cpu_threads": mm.device_info()["cpu_threads"], "checks": {}}
    checks = (("parity", lambda: check_parity(args.tiny)), ("lesson", lambda: check_lesson(args.lesson, device)),
              ("attention", lambda: check_attention(args.tiny)), ("training", lambda: check_training(args.tiny)))
    for name, run in checks:
        try:
            result = run()
        except Exception as error:  # a device check reports every failure and goes on to the next check
            result = {"status": "failed", "reason": f"{type(error).__name__}: {error}",
                      "traceback": traceback.format_exc()[-3000:]}
        report["checks"][name] = result
        line = f"{name:10s} {result['status']}"
        if result.get("reason"):
            line += f" ({result['reason'].splitlines()[0][:200]})"
        if result.get("skipped"):
            line += f"; skipped {result['skipped']}"
        print(line, flush=True)
    report["skipped"] = [f"{name}: {result.get('skipped') or result.get('reason')}"
                         for name, result in report["checks"].items()
                         if result["status"] == "skipped" or result.get("skipped")]
    report["ok"] = all(result["status"] != "failed" for result in report["checks"].values())
    path = write_json("device_check", report, args.json)
    print(f"device check on {device}: {'ok' if report['ok'] else 'FAILED'}; wrote {path}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
