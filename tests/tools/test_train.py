"""The training entry point: exact resume, configuration errors, data parallelism under msrun."""
import os
import sys
import time

import numpy as np
import mindspore
import psutil
import pytest

from mhsa_ms import VisionTransformer
from mhsa_tools import msrun as msrun_module
from mhsa_tools.msrun import ConfigurationError, check_launch, launch_environment, run_msrun
from mhsa_tools.train import main as train_main, train

# Short runs (2 epochs of 5 steps): the checks compare weights, not accuracy.
EPOCHS, BATCH = 2, 256


def _weights(path, optimizer_state=False):
    """{name: array} of a checkpoint's model weights (and optimizer state if asked), without metadata."""
    model_names = {p.name for p in VisionTransformer.from_preset("digits").get_parameters()}
    params = mindspore.load_checkpoint(str(path))
    return {name: p.asnumpy() for name, p in params.items()
            if name in model_names or (optimizer_state and name not in ("epoch", "config"))}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A single-process run of EPOCHS epochs with global batch BATCH."""
    out = tmp_path_factory.mktemp("uninterrupted")
    return train(epochs=EPOCHS, batch_size=BATCH, output_dir=str(out), progress=False, log=None)


def test_resume_after_interruption_is_exact(uninterrupted, tmp_path):
    first = train(epochs=EPOCHS, batch_size=BATCH, stop_after=1, output_dir=str(tmp_path), progress=False,
                  log=None)
    assert first["epoch"] == 1 and int(mindspore.load_checkpoint(first["checkpoint"])["epoch"].asnumpy()) == 1
    resumed = train(resume=first["checkpoint"], progress=False, log=None)
    assert resumed["start_epoch"] == 1 and resumed["epoch"] == EPOCHS
    assert resumed["config"] == uninterrupted["config"]
    expected = _weights(uninterrupted["checkpoint"], optimizer_state=True)
    actual = _weights(resumed["checkpoint"], optimizer_state=True)
    assert sorted(actual) == sorted(expected)
    assert len(actual) > 3 * len(_weights(first["checkpoint"]))  # weights, both AdamW moments, step
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)  # bit-identical on CPU
    assert resumed["correct"] == uninterrupted["correct"]


def test_resume_rejects_conflicting_options_and_finished_runs(uninterrupted):
    with pytest.raises(ConfigurationError, match=r"--batch-size 32 \(checkpoint: 256\)"):
        train(resume=uninterrupted["checkpoint"], batch_size=32, progress=False, log=None)
    with pytest.raises(ConfigurationError, match="already finished all 2 epochs"):
        train(resume=uninterrupted["checkpoint"], progress=False, log=None)
    with pytest.raises(ConfigurationError, match="does not exist"):
        train(resume=uninterrupted["checkpoint"] + ".missing", progress=False, log=None)


def test_launch_environment_and_checks():
    assert launch_environment({}) is None
    assert check_launch(False, 63, {}) == 1
    assert check_launch(True, 64, {"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "4"}) == 4
    with pytest.raises(ConfigurationError, match="not started by msrun"):
        check_launch(True, 64, {})
    with pytest.raises(ConfigurationError, match="global batch size 63 does not divide across 2 workers"):
        check_launch(False, 63, {"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2"})
    with pytest.raises(RuntimeError, match="do not describe an msrun launch"):
        launch_environment({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "two"})


def _cli_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--no-progress", *argv], prog="mhsa-ms train")
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_cli_distributed_without_msrun_is_a_clear_error(capsys, monkeypatch):
    for name in ("MS_ROLE", "MS_WORKER_NUM"):
        monkeypatch.delenv(name, raising=False)
    error = _cli_error(["--distributed"], capsys)
    assert "mhsa-ms train: error: --distributed needs one process per worker started by msrun" in error
    assert "msrun --worker_num=N" in error


def test_cli_batch_size_not_dividing_across_ranks_is_a_clear_error(capsys, monkeypatch):
    # the environment msrun gives a worker; the check runs before communication.init()
    monkeypatch.setenv("MS_ROLE", "MS_WORKER")
    monkeypatch.setenv("MS_WORKER_NUM", "2")
    error = _cli_error(["--batch-size", "63"], capsys)
    assert "the global batch size 63 does not divide across 2 workers" in error


@pytest.mark.parametrize("argv, message", [
    (["--preset", "vit_b_16"], "takes 3x224x224 images"),
    (["--epochs", "2", "--warmup-epochs", "2"], "warmup_epochs=2 must be smaller than epochs=2"),
    (["--epochs", "2", "--stop-after", "3"], "stop_after must be an int in (0, 2]"),
    (["--batch-size", "4096"], "larger than the 1347 training images"),
    (["--shards", "0"], "shards must be a positive int, got 0"),
    (["--batch-size", "64", "--shards", "3"], "the global batch size 64 does not divide into 3 shards"),
])
def test_cli_rejects_bad_options(argv, message, capsys, tmp_path):
    assert message in _cli_error([*argv, "--output-dir", str(tmp_path)], capsys)


@pytest.mark.timeout(300)
def test_two_msrun_workers_match_a_single_process(uninterrupted, tmp_path):
    """2 CPU workers on 127.0.0.1, each reading half of every global batch."""
    result = run_msrun(2, ["--distributed", "--epochs", EPOCHS, "--batch-size", BATCH, "--output-dir", tmp_path,
                           "--save-rank-weights",
                           "--no-progress"], tmp_path / "logs", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:]
    # msrun echoes the workers' logs with `tail -f`, which it may stop before their last lines: read the log
    rank0_log = (tmp_path / "logs" / "worker_0.log").read_text()
    assert f"global batch {BATCH} (2 ranks x {BATCH // 2}, backend mccl)" in rank0_log
    assert "test accuracy: " in rank0_log
    rank0, rank1 = _weights(tmp_path / "rank_0.ckpt"), _weights(tmp_path / "rank_1.ckpt")
    # one process doing the workers' arithmetic: the gradient of each half, then (g_0 + g_1) x 1/2
    sharded = train(epochs=EPOCHS, batch_size=BATCH, shards=2, output_dir=str(tmp_path / "sharded"),
                    progress=False, log=None)
    single, sharded = _weights(uninterrupted["checkpoint"]), _weights(sharded["checkpoint"])
    assert sorted(rank0) == sorted(rank1) == sorted(sharded)
    for name in sharded:
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)  # replicas stay identical
        np.testing.assert_array_equal(rank0[name], sharded[name], err_msg=name)  # the same float32 operations
    # the whole batch in one process sums each mean in another order: equal only up to rounding
    assert any(not np.array_equal(rank0[name], single[name]) for name in single)


@pytest.mark.timeout(60)
def test_msrun_job_past_its_time_limit_is_killed(tmp_path):
    with pytest.raises(TimeoutError, match="did not finish within 3 s and was killed"):
        run_msrun(2, ["--epochs", 1, "--output-dir", tmp_path], tmp_path / "logs", timeout=3)

    def left_over():  # msrun, its scheduler and workers all carry tmp_path on their command line
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            command_line = " ".join(process.info["cmdline"] or [])
            if process.info["status"] != psutil.STATUS_ZOMBIE and str(tmp_path) in command_line:
                found.append(process)
        return found

    deadline = time.monotonic() + 10
    while left_over() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left_over() == []


@pytest.mark.parametrize("preset, expected", [
    ({}, {"MS_RETRY_INTERVAL_LOWER": "1", "MS_RETRY_INTERVAL_UPPER": "1"}),
    ({"MS_RETRY_INTERVAL_LOWER": "4", "MS_RETRY_INTERVAL_UPPER": "6"},
     {"MS_RETRY_INTERVAL_LOWER": "4", "MS_RETRY_INTERVAL_UPPER": "6"}),
])
def test_msrun_job_retries_its_scheduler_every_second_unless_told_otherwise(preset, expected, monkeypatch,
                                                                           tmp_path):
    for name in expected:
        monkeypatch.delenv(name, raising=False)
    for name, value in preset.items():
        monkeypatch.setenv(name, value)
    launched = {}

    class FinishedLauncher:  # stands in for msrun: records what it was started with, exits at once
        def __init__(self, command, env, **options):
            launched.update(command=command, env=env)
            self.returncode = 0

        def communicate(self, timeout=None):
            return "", None

    monkeypatch.setattr(msrun_module.subprocess, "Popen", FinishedLauncher)
    result = run_msrun(2, ["--epochs", 1], tmp_path / "logs")
    assert result.returncode == 0
    assert {name: launched["env"][name] for name in expected} == expected
    assert launched["env"]["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
