"""Process-level behaviour: determinism across processes, a silent op-free import, the
``mhsa-ms info`` command, and the choice between the fused and the plain attention path."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import mindspore

import mhsa_ms as mm
from mhsa_ms.model import functional
from support import tensor

DETERMINISM_SCRIPT = textwrap.dedent("""
    import hashlib
    import numpy as np
    import mindspore
    import mhsa_ms as mm

    mm.use_device("CPU")
    for seed in (0, 1):
        mm.seed_everything(seed)
        vit = mm.VisionTransformer(**{**mm.VIT_PRESETS["digits"], "depth": 1, "dropout": 0.1})
        vit.set_train(True)  # dropout draws random numbers too
        images = mindspore.Tensor(np.random.standard_normal((2, 1, 8, 8)).astype(np.float32))
        params = vit.trainable_params()

        def loss_fn(images):
            logits, attention = vit(images, return_attention=True)
            return logits.sum(), logits, attention

        (loss, logits, attention), grads = mindspore.value_and_grad(loss_fn, None, params, has_aux=True)(images)
        digest = hashlib.sha256()
        for array in (logits, *attention, *grads):
            digest.update(array.asnumpy().tobytes())
        print(seed, digest.hexdigest())
""")


def _env():
    env = dict(os.environ)
    env["GLOG_v"] = "4"
    return env


def _run_together(commands, env):
    """Start the commands at once (fresh processes) and wait for all; returns CompletedProcess objects."""
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for command in commands]
    runs = []
    for command, process in zip(commands, processes):
        try:
            stdout, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for started in processes:
                started.kill()
            raise
        runs.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return runs


def test_same_seed_bit_identical_in_two_fresh_processes(tmp_path):
    script = tmp_path / "determinism.py"
    script.write_text(DETERMINISM_SCRIPT)
    runs = _run_together([[sys.executable, str(script)]] * 2, _env())
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.stdout.split() for run in runs)
    assert len(first) == 4 and first[0] == "0" and first[2] == "1"
    assert first == second  # same seed, same bytes: forward, attention, gradients
    assert first[1] != first[3]  # and the seed does matter


IMPORT_SCRIPT = textwrap.dedent("""
    import mhsa_ms
    import mindspore
    mindspore.set_device("CPU")  # refused once any kernel ran: the import ran none
    print("set_device after import: ok")
""")

CONTROL_SCRIPT = textwrap.dedent("""
    import mhsa_ms
    import mindspore
    print((mindspore.ops.ones(2) + 1).asnumpy().tolist())
    try:
        mindspore.set_device("CPU")
    except RuntimeError:
        print("set_device after a kernel: refused")
""")


def test_import_prints_nothing_and_runs_no_op():
    env = _env()
    env.pop("GLOG_v")  # the package must quiet MindSpore by itself
    runs = _run_together([[sys.executable, "-c", script] for script in (IMPORT_SCRIPT, CONTROL_SCRIPT)], env)
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.stderr == ""
    # nothing printed but the script's own line, and set_device still allowed
    assert runs[0].stdout == "set_device after import: ok\n"
    # the probe can fail: after one kernel, set_device is refused
    assert runs[1].stdout == "[2.0, 2.0]\nset_device after a kernel: refused\n"


def test_cli_info_prints_four_lines():
    command = Path(sys.executable).with_name("mhsa-ms")
    run = subprocess.run([str(command), "info"], capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 4, run.stdout
    labels = [line.split(":", 1)[0].strip() for line in lines]
    values = [line.split(":", 1)[1].strip() for line in lines]
    assert labels == ["MindSpore version", "chosen device", "available backends", "mode"]
    assert values[0] == mindspore.__version__
    assert values[1] == mm.use_device()  # the same machine chooses the same device
    assert values[2] == ", ".join(mm.available_backends())
    assert values[3].startswith(("PYNATIVE", "GRAPH"))


@pytest.fixture
def fresh_fused_decision(monkeypatch):
    """Clears use_fused_attn's cached decision before and after the test."""
    monkeypatch.delenv(functional.FUSED_ENV, raising=False)
    mm.use_fused_attn.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    mm.use_fused_attn.cache_clear()


def test_use_fused_attn_only_on_ascend(fresh_fused_decision):
    on_ascend = mindspore.get_context("device_target") == "Ascend"
    assert mm.use_fused_attn() is on_ascend  # False on CPU and GPU
    fresh_fused_decision.setenv(functional.FUSED_ENV, "1")  # cannot force a kernel the device lacks
    mm.use_fused_attn.cache_clear()
    assert mm.use_fused_attn() is on_ascend


def _pretend_device(monkeypatch, target):
    real = mindspore.get_context

    def get_context(key):
        return target if key == "device_target" else real(key)

    monkeypatch.setattr(mindspore, "get_context", get_context)


@pytest.mark.parametrize("setting, expected", [(None, True), ("1", True), ("0", False), (" 0 ", False)])
def test_use_fused_attn_honours_environment_variable(fresh_fused_decision, setting, expected):
    _pretend_device(fresh_fused_decision, "Ascend")  # the decision logic, whatever this machine is
    if setting is not None:
        fresh_fused_decision.setenv(functional.FUSED_ENV, setting)
    assert mm.use_fused_attn() is expected
    _pretend_device(fresh_fused_decision, "GPU")
    assert mm.use_fused_attn() is expected  # decided once: cached until cache_clear ...
    mm.use_fused_attn.cache_clear()
    assert mm.use_fused_attn() is False  # ... then decided again, and GPU has no fused kernel


def test_use_fused_attn_rejects_bad_environment_value(fresh_fused_decision):
    fresh_fused_decision.setenv(functional.FUSED_ENV, "yes")
    with pytest.raises(ValueError, match=r"MHSA_MS_FUSED_ATTN must be one of \('', '0', '1'\), got 'yes'"):
        mm.use_fused_attn()


def test_use_device_resets_the_fused_decision(fresh_fused_decision):
    _pretend_device(fresh_fused_decision, "Ascend")
    assert mm.use_fused_attn() is True  # decided (and cached) before the device was chosen
    fresh_fused_decision.undo()
    mm.use_device(mindspore.get_context("device_target"))
    assert mm.use_fused_attn() is (mindspore.get_context("device_target") == "Ascend")


def test_fused_path_matches_plain_path(fresh_fused_decision):
    if not mm.use_fused_attn():
        pytest.skip("the fused path (mindspore.ops.flash_attention_score) runs only on Ascend; "
                    f"this device is {mindspore.get_context('device_target')}, where the plain path is used")
    rng = np.random.default_rng(0)
    q, k, v = (tensor(rng.standard_normal((2, 4, 128, 64)) * 0.5) for _ in range(3))  # (B, h, N, d_h)
    fused, no_weights = mm.scaled_dot_product_attention(q, k, v, need_weights=False)
    plain, weights = mm.scaled_dot_product_attention(q, k, v)  # asking for weights takes the plain path
    assert no_weights is None and weights is not None
    assert fused.dtype == plain.dtype and fused.shape == plain.shape
    np.testing.assert_allclose(fused.asnumpy(), plain.asnumpy(), rtol=0, atol=5e-3)  # fused runs in float16
    mha = mm.MultiHeadAttention(256, 4)
    x = tensor(rng.standard_normal((2, 128, 256)))
    np.testing.assert_allclose(mha(x, need_weights=False)[0].asnumpy(), mha(x)[0].asnumpy(), rtol=0, atol=5e-3)
