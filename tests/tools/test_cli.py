"""The mhsa-ms command line: its parser, and the commands that run in a worker process."""
import subprocess
import sys

import pytest

from mhsa_tools.cli import build_parser


def test_bench_command_line():
    args = build_parser().parse_args(["bench", "training", "--quick"])
    assert (args.benchmark, args.quick, args.out) == ("training", True, None)
    assert build_parser().parse_args(["bench"]).benchmark == "targets"  # every target in one table
    for name in ("attention", "threads", "vit", "device", "all"):
        assert build_parser().parse_args(["bench", name]).benchmark == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "nonsense"])


def test_train_help_is_the_training_workers():
    done = subprocess.run([sys.executable, "-m", "mhsa_tools", "train", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: mhsa-ms train") and "--resume" in done.stdout


def test_train_errors_come_from_the_worker_with_exit_code_2():
    done = subprocess.run([sys.executable, "-m", "mhsa_tools", "train", "--epochs", "2", "--warmup-epochs", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "mhsa-ms train: error: warmup_epochs=2 must be smaller than epochs=2" in done.stderr
