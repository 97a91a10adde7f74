"""Benchmark: what the grading sandbox costs, sandboxed vs --no-sandbox side by side.

Two measurements, each interleaved (every repetition runs both contenders, in turn):

- the fixed cost: start a sandbox and run ``python -c pass`` in it (as root also the stage,
  the cgroup and becoming nobody) vs the same Python started directly;
- one graded notebook end to end: ``grade()`` of one submission (the reference solution of a
  lesson handed in as a student's) in the sandbox vs with ``sandbox=False``.

    python benchmarks/grading.py [--lesson 01] [--repetitions 3] [--json PATH]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GLOG_v", "4")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import interleaved, table, write_json  # noqa: E402

LESSONS = Path(__file__).resolve().parent.parent / "lessons" / "en"


def sandbox_start(root):
    """Callable: start one sandbox (with a cgroup where it can) running ``python -c pass``."""
    from mhsa_tools.grading import limits, sandbox

    support = sandbox.prepare_support(root / "support")
    run_dir, cases = root / "run", root / "cases"
    run_dir.mkdir()
    cases.mkdir()
    for name in ("graded.ipynb", "pytest.ini"):
        (run_dir / name).write_text("")
    sandbox.make_readable(run_dir)
    sandbox.make_readable(cases)
    mounts = sandbox.allow_list(support, run_dir, cases)

    def run():
        cgroup = limits.Cgroup.create(4096 << 20)
        try:
            command = sandbox.sandboxed_command(mounts, [sys.executable, "-c", "pass"],
                                                cgroup.procs_files if cgroup else ())
            subprocess.run(command, check=True, env=sandbox.minimal_env({}), stdin=subprocess.DEVNULL)
        finally:
            if cgroup is not None:
                cgroup.remove()

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="01", help="number of the lesson handed in (default 01)")
    parser.add_argument("--repetitions", type=int, default=3, help="graded notebooks per contender (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    from mhsa_tools.grading import grade, sandbox_available

    usable, why = sandbox_available()
    if not usable:
        parser.error(f"no sandbox here ({why}): nothing to compare")
    lesson = next(iter(sorted(LESSONS.glob(f"{args.lesson.zfill(2)}_*.ipynb"))), None)
    if lesson is None:
        parser.error(f"no lesson {args.lesson} in {LESSONS}")
    root = Path(tempfile.mkdtemp(prefix="mhsa-ms-bench-"))
    try:
        subs = root / "subs" / "student"
        subs.mkdir(parents=True)
        shutil.copy(lesson, subs / lesson.name)  # the solutions, as a student would hand them in
        start_cost, reps = interleaved({
            "sandboxed": sandbox_start(root / "start"),
            "direct": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
        }, repetitions=10, warmup=1)
        verdicts = {}

        def graded(sandbox):
            def run():
                results = grade(root / "subs", LESSONS, jobs=1, progress=False, sandbox=sandbox)
                verdicts[sandbox] = [row.status for result in results for row in result.rows]
            return run

        repetitions = 1 if args.quick else args.repetitions
        per_notebook, _ = interleaved({"sandboxed": graded(True), "--no-sandbox": graded(False)},
                                      repetitions=repetitions, warmup=0)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"grading sandbox: fixed cost and one graded notebook ({lesson.name}), medians; load average {load:.1f}\n")
    print(table(["measurement", "sandboxed (s)", "without (s)", "difference (s)", "ratio"], [
        ["start + python -c pass", f"{start_cost['sandboxed']:.3f}", f"{start_cost['direct']:.3f}",
         f"{start_cost['sandboxed'] - start_cost['direct']:.3f}",
         f"{start_cost['sandboxed'] / start_cost['direct']:.1f}"],
        [f"grade one {lesson.stem}", f"{per_notebook['sandboxed']:.1f}", f"{per_notebook['--no-sandbox']:.1f}",
         f"{per_notebook['sandboxed'] - per_notebook['--no-sandbox']:.1f}",
         f"{per_notebook['sandboxed'] / per_notebook['--no-sandbox']:.2f}"],
    ]))
    print(f"\nverdicts (same both ways): {verdicts[True]}")
    if verdicts[True] != verdicts[False]:
        print(f"verdicts differ without the sandbox: {verdicts[False]}")
        return 1
    path = write_json("grading", {"lesson": lesson.name, "start_s": start_cost, "per_notebook_s": per_notebook,
                                  "start_repetitions": reps, "repetitions": repetitions, "verdicts": verdicts[True],
                                  "load_average_after": load}, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
