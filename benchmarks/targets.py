"""The course's speed targets, measured in one run: one table of ratios, each met or not.

Runs, one after the other, each in a process of its own (so each starts from
``mm.use_device()``'s defaults, as a learner's kernel does):

- ``attention.py`` at the lesson shape, ViT-Ti and N = 64 ... 1024 (torch if installed);
- ``vit_forward.py``: ViT-Ti/16 at 224 px against timm (if installed);
- ``training.py``: the digits ViT with ``mm.DIGITS_RECIPE``, time to 98 % test accuracy;
- ``course.py``: every lesson executed top to bottom (``MHSA_MS_FAST`` unset);
- ``kernels.py``: the work behind the targets under ``mindspore.Profiler``, kernel by kernel;

and prints the targets of docs/performance.md with the measured ratio and a verdict, then where
the time goes in that work (the kernels a target not met is waiting on).
torch and timm are optional yardsticks: without them their rows say "not installed".
``--quick`` shortens every part (course under MHSA_MS_FAST=1, 3 training epochs): a smoke run
whose figures do not decide the targets that need the full run.

    python benchmarks/targets.py [--quick] [--json PATH]
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import run_script, table, write_json  # noqa: E402
from kernels import print_profiles  # noqa: E402

SWEEP = (64, 128, 256, 512, 1024)


def _verdict(value, goal, higher_is_better):
    if value is None:
        return "—"
    return "met" if (value >= goal if higher_is_better else value <= goal) else "not met"


def attention_targets(result):
    """Rows (target, measured, goal, verdict) from attention.py's JSON."""
    rows = []
    by = {(row["shape"], row["pass"]): row for row in result["rows"]}
    has_torch = result.get("torch") is not None
    for shape, goal in [("ViT-Ti", 1.3), ("lesson", 2.0)] + [(f"N={n}", 2.0) for n in SWEEP if n <= 512]:
        row = by.get((shape, "fwd+bwd"))
        if row is None:
            continue
        label = f"MHA fwd+bwd {shape} ({row['B']},{row['N']},{row['D']},{row['h']}): mm / torch CPU"
        if not has_torch:
            rows.append([label, "not installed", f"≤ {goal}x", "—"])
            continue
        ratio = row["ms"]["mm jit"] / row["ms"]["torch"]
        rows.append([label, f"{ratio:.2f}x ({row['ms']['mm jit']:.1f} vs {row['ms']['torch']:.1f} ms)",
                     f"≤ {goal}x", _verdict(ratio, goal, False)])
    for (shape, kind), row in by.items():
        ms_nn = min(row["ms"][name] for name in ("ms.nn eager", "ms.nn jit") if name in row["ms"])
        speedup = ms_nn / row["ms"]["mm jit"]
        rows.append([f"MHA {kind} {shape}: mindspore.nn.MultiheadAttention / mm", f"{speedup:.2f}x", "≥ 2x",
                     _verdict(speedup, 2.0, True)])
    fwd, bwd = by.get(("N=1024", "fwd")), by.get(("N=1024", "fwd+bwd"))
    if fwd is not None and fwd.get("matmul_gflops"):
        matmul = fwd["matmul_gflops"]
        for row, goal in ((fwd, 0.85), (bwd, 0.70)):
            share = row["gflops"]["mm jit"] / matmul
            rows.append([f"attention {row['pass']} N=1024: share of the same run's matmul GFLOP/s",
                         f"{share:.0%} ({row['gflops']['mm jit']:.1f} of {matmul:.1f} GFLOP/s)", f"≥ {goal:.0%}",
                         _verdict(share, goal, True)])
    return rows


# The kernels.py workload whose profile shows where a target's time goes (the first that matches).
PROFILES = (("MHA fwd+bwd ViT-Ti", "vitti-fwd+bwd"),
            ("MHA fwd+bwd lesson", "lesson-fwd+bwd, lesson-fwd+bwd-ms.nn, floor"),
            ("MHA fwd lesson", "lesson-fwd, lesson-fwd-ms.nn, floor"),
            ("MHA fwd+bwd N=128", "n128-fwd+bwd, n128-fwd+bwd-ms.nn"),
            ("attention fwd+bwd N=1024", "n1024-fwd+bwd"), ("attention fwd N=1024", "n1024-fwd"),
            ("ViT-Ti/16 224 px forward", "vit-ti-fwd"), ("digits ViT", "digits-step"))


def profile_of(target, verdict):
    """The kernel profiles that explain a target not met, or "—"."""
    if verdict != "not met":
        return "—"
    return next((workloads for start, workloads in PROFILES if target.startswith(start)), "—")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: every part shortened")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows, parts = [], {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        sizes = ["--sizes", *(str(n) for n in ((256, 1024) if args.quick else SWEEP))]
        plan = [("attention", "attention.py", (["--quick"] if args.quick else []) + sizes),
                ("vit_forward", "vit_forward.py", ["--quick"] if args.quick else []),
                ("training", "training.py", ["--quick"] if args.quick else []),
                ("course", "course.py", ["--fast"] if args.quick else []),
                ("kernels", "kernels.py", ["--quick"] if args.quick else [])]
        for name, script, extra in plan:
            print(f"running {script} {' '.join(extra)}", file=sys.stderr, flush=True)
            result, seconds, error = run_script(script, extra, folder / f"{name}.json")
            parts[name] = {"result": result, "seconds": seconds, "error": error}

    attention = parts["attention"]["result"]
    if attention:
        rows += attention_targets(attention)
    else:
        rows.append(["MHA (attention.py)", f"failed: {parts['attention']['error']}", "", "—"])
    vit = parts["vit_forward"]["result"]
    if vit and vit.get("mm_over_timm") is not None:
        rows.append([f"ViT-Ti/16 224 px forward, batch {vit['batch']}: mm / timm",
                     f"{vit['mm_over_timm']:.2f}x ({vit['ms']['mm jit']:.0f} vs {vit['ms']['timm']:.0f} ms)",
                     "≤ 1.5x", _verdict(vit["mm_over_timm"], 1.5, False)])
    else:
        rows.append(["ViT-Ti/16 224 px forward: mm / timm",
                     "not installed" if vit else f"failed: {parts['vit_forward']['error']}", "≤ 1.5x", "—"])
    training = parts["training"]["result"]
    if training:
        reached = training["training"]["seconds_to_accuracy"].get("98%")
        final = training["training"]["final_accuracy"]
        measured = (f"98 % after {reached:.1f} s" if reached is not None else "98 % not reached") + \
            f" (final {final:.1%}, {training['training']['training_seconds']:.1f} s)"
        verdict = "quick run: not decided" if args.quick else _verdict(reached, 10.0, False) if reached else "not met"
        rows.append([f"digits ViT, mm.DIGITS_RECIPE ({training['training']['recipe']['epochs']} epochs): "
                     "test accuracy ≥ 98 % within 10 s of training", measured, "≤ 10 s", verdict])
    else:
        rows.append(["digits ViT", f"failed: {parts['training']['error']}", "≤ 10 s", "—"])
    course = parts["course"]["result"]
    if course:
        failed = [lesson["lesson"] for lesson in course["lessons"] if lesson["error"]]
        ok = not failed
        measured = f"{course['total_seconds']:.1f} s, " + ("every lesson ok" if ok else "failed: " + ", ".join(failed))
        verdict = "quick run: not decided" if args.quick else \
            ("met" if ok and course["total_seconds"] <= 100 else "not met")
        rows.append(["the course top to bottom (MHSA_MS_FAST " + ("=1" if args.quick else "unset") + ")",
                     measured, "≤ 100 s, all ok", verdict])
    else:
        rows.append(["the course", f"failed: {parts['course']['error']}", "≤ 100 s", "—"])
    load_after = os.getloadavg()[0]
    print(f"Targets ({'quick smoke run' if args.quick else 'full run'}; {os.cpu_count()} cores, 1-minute load "
          f"average {load_before:.1f} before, {load_after:.1f} after; ratios of medians taken in the same process)")
    rows = [row + [profile_of(row[0], row[3])] for row in rows]
    print(table(["target", "measured", "goal", "verdict", "kernel profile (below)"], rows))
    kernels = parts["kernels"]["result"]
    if kernels:
        print("Where the time goes (benchmarks/kernels.py)")
        print_profiles(kernels["results"])
    else:
        print(f"kernels.py failed: {parts['kernels']['error']}")
    path = write_json("targets", {"quick": args.quick, "rows": rows, "parts": parts,
                                  "load_average_before": load_before, "load_average_after": load_after}, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
