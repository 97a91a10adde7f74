"""The ``mhsa-ms`` command line."""
import argparse
import sys

from .i18n import gettext as _
from .i18n import language_from_environment as language


def _in_worker(code, argv):
    """Run ``code`` in a new Python process (one that may load MindSpore) with ``argv``; return its exit code."""
    import subprocess

    return subprocess.run([sys.executable, "-c", code, *argv]).returncode


def _add_info(commands):
    info = commands.add_parser("info", help=_("print MindSpore version, device, backends and mode"))
    info.add_argument("--device", default="auto", help=_("auto (default), Ascend, GPU or CPU"))
    info.set_defaults(handler=lambda args: _in_worker(
        "import sys; from mhsa_ms.__main__ import main; sys.exit(main(sys.argv[1:]))", ["--device", args.device]))


def _add_train(commands):
    # The training worker parses its own options, --help included.
    train = commands.add_parser(
        "train", add_help=False, prefix_chars="\0",
        help=_("train the ViT on the digits, on one device or data-parallel under msrun (--help: its options)"))
    train.add_argument("options", nargs=argparse.REMAINDER)
    train.set_defaults(handler=lambda args: _in_worker(
        "import sys; from mhsa_tools.train import main; sys.exit(main(sys.argv[1:], prog='mhsa-ms train'))",
        args.options))


def _release(args):
    from .release import release

    try:
        written = release(args.lessons, args.out)
    except ValueError as exc:
        print(f"mhsa-ms release: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _grade(args):
    import signal
    from pathlib import Path

    from .grading import GradingInterrupted, grade, summary_table, write_csv, write_feedback

    def terminate(signum, frame):  # SIGTERM stops grading like Ctrl-C
        stopped.append("SIGTERM")
        raise KeyboardInterrupt

    stopped = []
    previous = signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C stops grading even where the caller started us with SIGINT ignored (a background job
    # of a shell without job control, a CI runner), in which case Python installs no handler itself.
    previous_interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 0
    try:
        results = grade(args.submissions, lessons_dir=args.lessons, timeout=args.timeout, jobs=args.jobs,
                        memory_mb=args.memory, sandbox=not args.no_sandbox)
    except ValueError as exc:
        print(f"mhsa-ms grade: error: {exc}", file=sys.stderr)
        return 2
    except GradingInterrupted as exc:
        results = exc.results
        status = 143 if stopped else 130
    except KeyboardInterrupt:
        print("mhsa-ms grade: " + _("interrupted before grading started; nothing written"), file=sys.stderr)
        return 143 if stopped else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_interrupt)
    write_csv(results, args.out)
    feedback = Path(args.feedback) if args.feedback else Path(args.out).with_name("feedback")
    write_feedback(results, feedback)
    print(summary_table(results))
    print("\n" + _("wrote {gradebook} and {feedback}/<student>.md; student code ran {isolation}").format(
        gradebook=args.out, feedback=feedback, isolation=results.sandbox))
    if results.interrupted:
        left = sum(1 for result in results if any(row.status == "interrupted" for row in result.rows))
        print(_("INTERRUPTED by {signal}: {count} notebook(s) not graded (status 'interrupted' in {gradebook})").format(
            signal=stopped[0] if stopped else "Ctrl-C", count=left, gradebook=args.out), file=sys.stderr)
    return status


def _add_grading(commands):
    release = commands.add_parser("release", help=_("write the student edition of lessons (solutions stubbed)"))
    release.add_argument("lessons", nargs="+", help=_("reference lesson notebooks, of either edition"))
    release.add_argument("--out", required=True, help=_("output folder (never the lessons' own folder)"))
    release.set_defaults(handler=_release)
    grade = commands.add_parser("grade", help=_("grade a folder of submissions (one sub-folder per student)"))
    grade.add_argument("submissions", help=_("folder with one sub-folder of .ipynb files per student"))
    grade.add_argument("--out", required=True, help=_("the gradebook CSV to write, e.g. grades.csv"))
    grade.add_argument("--lessons", default="lessons",
                       help=_("folder of the executed reference lessons, either edition or both (subfolders "
                              "included)"))
    grade.add_argument("--timeout", type=float, default=300.0, help=_("seconds per submission (default 300)"))
    grade.add_argument("--jobs", type=int, default=1, help=_("submissions graded in parallel (default 1)"))
    grade.add_argument("--memory", type=int, default=4096,
                       help=_("memory limit of a submission in MiB, all its processes together (default 4096, "
                              "0: none)"))
    grade.add_argument("--feedback", default=None,
                       help=_("folder of per-student feedback, each in the language of the student's edition "
                              "(default: feedback/ beside --out)"))
    grade.add_argument("--no-sandbox", action="store_true",
                       help=_("run student code WITHOUT the bubblewrap sandbox (only for notebooks you trust); "
                              "without this flag, grading refuses to start when no sandbox can be made"))
    grade.set_defaults(handler=_grade)


def _slides(args):
    from pathlib import Path

    import nbformat

    from .slides import build_deck, count_slides, ensure_assets, lesson_notebooks

    notebooks = args.notebooks or lesson_notebooks(args.lessons)
    if not notebooks:
        print(_("no lesson notebooks NN_name.ipynb in {folder}/").format(folder=args.lessons), file=sys.stderr)
        return 1
    modules = ensure_assets()
    failed = 0
    for notebook in notebooks:
        try:
            deck = build_deck(notebook, Path(args.out) / f"{Path(notebook).stem}.html", modules)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        slides = count_slides(nbformat.read(notebook, as_version=4))
        print(_("{deck}  {size:.0f} KiB  {slides} slides  (from {notebook})").format(
            deck=deck, size=deck.stat().st_size / 1024, slides=slides, notebook=Path(notebook).name))
    return 1 if failed else 0


def _add_slides(commands):
    slides = commands.add_parser("slides", help=_("build one offline HTML slide deck per lesson notebook"))
    slides.add_argument("notebooks", nargs="*", help=_("notebooks (default: every NN_name.ipynb of --lessons)"))
    slides.add_argument("--lessons", default=f"lessons/{language()}",
                        help=_("folder of the lessons, one edition (default: the edition of your language, "
                               "lessons/{language})").format(language=language()))
    slides.add_argument("--out", default=f"slides/{language()}",
                        help=_("folder of the decks (default slides/{language})").format(language=language()))
    slides.set_defaults(handler=_slides)


_BENCHMARKS = ("attention", "training", "course", "dispatch", "grading")
# More scripts of benchmarks/ by name: `bench` alone runs the targets (all of them in one table).
_SCRIPTS = {"targets": "targets", "threads": "threads", "vit": "vit_forward", "device": "device_check",
            "kernels": "kernels",
            **{name: name for name in _BENCHMARKS}}


def _bench(args):
    import subprocess
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / "_common.py").is_file():
        print(_("the benchmarks ship with the repository, not the package; no benchmarks/ at {folder}").format(
            folder=folder), file=sys.stderr)
        return 1
    status = 0
    for name in _BENCHMARKS if args.benchmark == "all" else (args.benchmark,):
        script = _SCRIPTS[name]
        extra = ["--quick"] if args.quick and name not in ("course", "device") else []
        extra += ["--fast"] if args.quick and name == "course" else []
        extra += ["--tiny"] if args.quick and name == "device" else []
        if args.out:
            extra += ["--json", str(Path(args.out) / f"{script}.json")]
        status = subprocess.run([sys.executable, str(folder / f"{script}.py"), *extra]).returncode or status
    return status


def _add_bench(commands):
    bench = commands.add_parser("bench", help=_("run the benchmarks (benchmarks/*.py): print tables, write JSON"))
    bench.add_argument("benchmark", nargs="?", default="targets", choices=(*_SCRIPTS, "all"),
                       help=_("targets (default): every speed target in one table, measured in one run; "
                              "attention: MHA vs mindspore.nn (and torch); training: ViT on digits; "
                              "course: each lesson's run time; dispatch: eager CPU with vs without "
                              "launch_blocking; grading: the sandbox's cost, side by side; threads: the CPU "
                              "kernel-thread policies, quiet and under load; vit: ViT-Ti/16 forward vs timm; "
                              "device: the device check (parity, a lesson, attention, training; JSON report); "
                              "kernels: where the time goes, kernel by kernel, in the work of the unmet targets; "
                              "all: attention, training, course, dispatch and grading"))
    bench.add_argument("--quick", action="store_true",
                       help=_("fewer shapes / epochs (course: MHSA_MS_FAST=1; device: --tiny)"))
    bench.add_argument("--out", default=None, help=_("folder of the JSON results (default benchmarks/results)"))
    bench.set_defaults(handler=_bench)


def build_parser():
    parser = argparse.ArgumentParser(prog="mhsa-ms", description=_("Multi-head self-attention course tools"))
    commands = parser.add_subparsers(dest="command", required=True)
    _add_info(commands)
    _add_train(commands)
    _add_grading(commands)
    _add_slides(commands)
    _add_bench(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
