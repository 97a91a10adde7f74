"""Benchmark: each lesson's execution time, top to bottom, in a fresh kernel.

Executes every ``lessons/NN_*.ipynb`` (a copy: the stored outputs are left
alone) with nbclient, one after another, and reports the seconds per lesson
and in total, against the course's target (docs/performance.md): every lesson ok, 100 s in all.
``--fast`` sets ``MHSA_MS_FAST=1`` (the documented switch that trains less,
as ``make test`` does).

    python benchmarks/course.py [--fast] [--only 04 07] [--json PATH]
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "4")
os.environ.setdefault("IPYKERNEL_CELL_NAME", "<IPY-INPUT>")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import table, write_json  # noqa: E402

LESSONS = Path(__file__).resolve().parent.parent / "lessons" / "en"
COURSE_TARGET_S = 100.0


def run_lesson(path, timeout):
    """Execute one notebook in a fresh kernel; (seconds, error or None)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except Exception as exc:  # report the failing lesson and go on with the others
        name, value = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
        error = f"{name}: {' '.join(str(value).split())[:300]}"
    return time.perf_counter() - start, error


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="set MHSA_MS_FAST=1, as make test does")
    parser.add_argument("--only", nargs="*", default=None, help="lesson numbers to run, e.g. 04 07")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    parser.add_argument("--json", default=None, help="where to write the JSON result")
    args = parser.parse_args(argv)
    if args.fast:
        os.environ["MHSA_MS_FAST"] = "1"
    lessons = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        lessons = [p for p in lessons if p.name[:2] in {n.zfill(2) for n in args.only}]
    if not lessons:
        parser.error(f"no lessons found in {LESSONS}")
    results = []
    for path in lessons:
        seconds, error = run_lesson(path, args.timeout)
        results.append({"lesson": path.name, "seconds": seconds, "error": error})
        print(f"{path.name}: {seconds:.1f} s" + (f"  FAILED {error}" if error else ""), file=sys.stderr, flush=True)
    total = sum(r["seconds"] for r in results)
    rows = [[r["lesson"], f"{r['seconds']:.1f}", f"{r['seconds'] / total:.0%}",
             "failed: " + r["error"] if r["error"] else "ok"] for r in results]
    rows.append(["total", f"{total:.1f}", f"{total / COURSE_TARGET_S:.0%} of the {COURSE_TARGET_S:.0f} s target", ""])
    print(f"Lesson execution times (MHSA_MS_FAST={os.environ.get('MHSA_MS_FAST', '0')})")
    print(table(["lesson", "seconds", "share of the total", "status"], rows))
    path = write_json("course", {"fast": args.fast, "lessons": results, "total_seconds": total}, args.json)
    print(f"wrote {path}")
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
